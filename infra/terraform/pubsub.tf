# Topics, the worker's pull subscriptions, an OIDC-authenticated push
# subscription to the notify service, and a shared dead-letter topic whose pull subscription keeps what could not be
# delivered (the CloudPubSubDeadLetterSourceSubscription attribute says where
# each message came from).

locals {
  # Topic key -> name and message retention.
  topics = {
    conversion_requests = {
      name      = "${var.name_prefix}-conversion-requests"
      retention = var.message_retention_duration
    }
    conversion_finished = {
      name      = "${var.name_prefix}-conversion-finished"
      retention = var.message_retention_duration
    }
    # Report passes (loudness, exact length, waveform) the worker runs after each
    # conversion, when no conversion is waiting (services/report.py).
    report_requests = {
      name      = "${var.name_prefix}-report-requests"
      retention = var.message_retention_duration
    }
    # Signed webhook attempts (docs/webhooks.md): a retry is published with a
    # notBefore attribute, nacked until then, and redelivered by the retry policy.
    webhook_deliveries = {
      name      = "${var.name_prefix}-webhook-deliveries"
      retention = var.message_retention_duration
    }
    # GCS OBJECT_FINALIZE notifications for direct uploads (storage.tf).
    direct_uploads = {
      name      = "${var.name_prefix}-direct-uploads"
      retention = var.message_retention_duration
    }
    dead_letters = {
      name      = "${var.name_prefix}-dead-letters"
      retention = var.dead_letter_retention_duration
    }
  }

  # Source topic key -> the worker's pull subscription. The worker (App Engine
  # flexible, worker.yaml) pulls with the client library's streaming pull, which
  # extends each message's ack deadline while its conversion runs, for hours if
  # need be: a push would be cut at 600 s (the longest push ack deadline) and at
  # App Engine's 10-minute request limit. The ack deadline here is only how soon
  # a message held by a worker that died comes back.
  pull_subscriptions = {
    # Conversion requests -> worker service.
    conversion_requests = {
      name = "${var.name_prefix}-conversion-requests-worker"
    }
    # Finalized direct uploads (GCS notifications) -> worker service.
    direct_uploads = {
      name = "${var.name_prefix}-direct-uploads-worker"
    }
    # Report requests -> worker service (pulled beside the conversions, fewer at once).
    report_requests = {
      name = "${var.name_prefix}-report-requests-worker"
    }
  }

  # Source topic key -> its push subscription: the App Engine service it pushes
  # to and the path there. functions-framework serves a CloudEvent function on
  # every path; the paths only tell the subscriptions apart in request logs. The
  # OIDC audience is the service URL, the same for every subscription pushing to
  # that service, and the service checks it (AUDIOCONV_PUSH_AUDIENCE).
  push_subscriptions = {
    # Conversion finished -> notify service (one mail: short).
    conversion_finished = {
      name         = "${var.name_prefix}-conversion-finished-notify"
      service_url  = local.notify_url
      path         = "/pubsub/conversion-finished"
      ack_deadline = var.notify_ack_deadline_seconds
    }
    # Webhook attempts -> notify service (one POST of at most 10 s each).
    webhook_deliveries = {
      name         = "${var.name_prefix}-webhook-deliveries-notify"
      service_url  = local.notify_url
      path         = "/pubsub/webhook-deliveries"
      ack_deadline = var.notify_ack_deadline_seconds
    }
  }
}

resource "google_pubsub_topic" "topics" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages (and dead letters) carry only ids, formats and object metadata, never file contents.
  for_each = local.topics

  name                       = each.value.name
  project                    = var.project_id
  labels                     = var.labels
  message_retention_duration = each.value.retention

  depends_on = [google_project_service.apis]
}

# Dead letters are kept here until someone looks at them (or replays them).
resource "google_pubsub_subscription" "dead_letters" {
  name                       = "${var.name_prefix}-dead-letters"
  project                    = var.project_id
  topic                      = google_pubsub_topic.topics["dead_letters"].id
  labels                     = var.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "pull" {
  for_each = local.pull_subscriptions

  name                       = each.value.name
  project                    = var.project_id
  topic                      = google_pubsub_topic.topics[each.key].id
  labels                     = var.labels
  ack_deadline_seconds       = var.conversion_ack_deadline_seconds
  message_retention_duration = var.message_retention_duration

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topics["dead_letters"].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  # The Pub/Sub service agent must be able to publish dead letters first.
  depends_on = [google_pubsub_topic_iam_member.publishers]
}

resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions

  name                       = each.value.name
  project                    = var.project_id
  topic                      = google_pubsub_topic.topics[each.key].id
  labels                     = var.labels
  ack_deadline_seconds       = each.value.ack_deadline
  message_retention_duration = var.message_retention_duration

  push_config {
    push_endpoint = "${each.value.service_url}${each.value.path}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = each.value.service_url
    }
  }

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topics["dead_letters"].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  # The Pub/Sub service agent must be able to publish dead letters first.
  depends_on = [google_pubsub_topic_iam_member.publishers]
}
