# Addresses of resources that became instances of for_each resources, so that
# an existing deployment's state maps onto them with no destroy/create.

# pubsub.tf
moved {
  from = google_pubsub_topic.conversion_requests
  to   = google_pubsub_topic.topics["conversion_requests"]
}

moved {
  from = google_pubsub_topic.conversion_finished
  to   = google_pubsub_topic.topics["conversion_finished"]
}

moved {
  from = google_pubsub_topic.direct_uploads
  to   = google_pubsub_topic.topics["direct_uploads"]
}

moved {
  from = google_pubsub_topic.dead_letters
  to   = google_pubsub_topic.topics["dead_letters"]
}

moved {
  from = google_pubsub_subscription.conversion_requests_push
  to   = google_pubsub_subscription.push["conversion_requests"]
}

moved {
  from = google_pubsub_subscription.direct_uploads_push
  to   = google_pubsub_subscription.push["direct_uploads"]
}

# The worker's subscriptions became pull subscriptions (same names): Terraform
# updates them in place, dropping their push_config (a chain of moves).
moved {
  from = google_pubsub_subscription.push["conversion_requests"]
  to   = google_pubsub_subscription.pull["conversion_requests"]
}

moved {
  from = google_pubsub_subscription.push["direct_uploads"]
  to   = google_pubsub_subscription.pull["direct_uploads"]
}

moved {
  from = google_pubsub_subscription.conversion_finished_push
  to   = google_pubsub_subscription.push["conversion_finished"]
}

# iam.tf
moved {
  from = google_pubsub_topic_iam_member.app_publishes_conversion_requests
  to   = google_pubsub_topic_iam_member.publishers["app_conversion_requests"]
}

moved {
  from = google_pubsub_topic_iam_member.app_publishes_conversion_finished
  to   = google_pubsub_topic_iam_member.publishers["app_conversion_finished"]
}

moved {
  from = google_pubsub_topic_iam_member.pubsub_publishes_dead_letters
  to   = google_pubsub_topic_iam_member.publishers["pubsub_dead_letters"]
}

moved {
  from = google_pubsub_topic_iam_member.gcs_publishes_direct_uploads
  to   = google_pubsub_topic_iam_member.publishers["gcs_direct_uploads"]
}

moved {
  from = google_pubsub_subscription_iam_member.pubsub_acks_conversion_requests
  to   = google_pubsub_subscription_iam_member.pubsub_acks["conversion_requests"]
}

moved {
  from = google_pubsub_subscription_iam_member.pubsub_acks_direct_uploads
  to   = google_pubsub_subscription_iam_member.pubsub_acks["direct_uploads"]
}

# The worker's subscriptions are pull subscriptions now (pubsub.tf).
moved {
  from = google_pubsub_subscription_iam_member.pubsub_acks["conversion_requests"]
  to   = google_pubsub_subscription_iam_member.pubsub_acks_pull["conversion_requests"]
}

moved {
  from = google_pubsub_subscription_iam_member.pubsub_acks["direct_uploads"]
  to   = google_pubsub_subscription_iam_member.pubsub_acks_pull["direct_uploads"]
}

moved {
  from = google_pubsub_subscription_iam_member.pubsub_acks_conversion_finished
  to   = google_pubsub_subscription_iam_member.pubsub_acks["conversion_finished"]
}

moved {
  from = google_service_account_iam_member.app_signs_as_itself
  to   = google_service_account_iam_member.token_creators["app_signs_as_itself"]
}

moved {
  from = google_service_account_iam_member.pubsub_mints_push_tokens
  to   = google_service_account_iam_member.token_creators["pubsub_mints_push_tokens"]
}

# One service account per process (iam.tf): the former shared account's grants
# became the API's. (The API's account has a new id, so Terraform replaces it.)
moved {
  from = google_service_account.app
  to   = google_service_account.runtime["api"]
}

moved {
  from = google_service_account_iam_member.token_creators["app_signs_as_itself"]
  to   = google_service_account_iam_member.token_creators["api_signs_as_itself"]
}

moved {
  from = google_pubsub_topic_iam_member.publishers["app_conversion_requests"]
  to   = google_pubsub_topic_iam_member.publishers["api_conversion_requests"]
}

moved {
  from = google_pubsub_topic_iam_member.publishers["app_conversion_finished"]
  to   = google_pubsub_topic_iam_member.publishers["api_conversion_finished"]
}

moved {
  from = google_pubsub_topic_iam_member.publishers["app_report_requests"]
  to   = google_pubsub_topic_iam_member.publishers["api_report_requests"]
}

moved {
  from = google_pubsub_topic_iam_member.publishers["app_webhook_deliveries"]
  to   = google_pubsub_topic_iam_member.publishers["api_webhook_deliveries"]
}
