# Topics, OIDC-authenticated push subscriptions to the App Engine services, and
# a shared dead-letter topic whose pull subscription keeps what could not be
# delivered (the CloudPubSubDeadLetterSourceSubscription attribute says where
# each message came from).

resource "google_pubsub_topic" "conversion_requests" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages carry only ids and formats, never file contents.
  name                       = "${var.name_prefix}-conversion-requests"
  project                    = var.project_id
  labels                     = var.labels
  message_retention_duration = var.message_retention_duration

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "conversion_finished" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; messages carry only ids and formats, never file contents.
  name                       = "${var.name_prefix}-conversion-finished"
  project                    = var.project_id
  labels                     = var.labels
  message_retention_duration = var.message_retention_duration

  depends_on = [google_project_service.apis]
}

# GCS OBJECT_FINALIZE notifications for direct uploads (storage.tf).
resource "google_pubsub_topic" "direct_uploads" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; notifications carry only object metadata.
  name                       = "${var.name_prefix}-direct-uploads"
  project                    = var.project_id
  labels                     = var.labels
  message_retention_duration = var.message_retention_duration

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letters" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; dead letters carry only ids and object metadata.
  name                       = "${var.name_prefix}-dead-letters"
  project                    = var.project_id
  labels                     = var.labels
  message_retention_duration = var.dead_letter_retention_duration

  depends_on = [google_project_service.apis]
}

# Dead letters are kept here until someone looks at them (or replays them).
resource "google_pubsub_subscription" "dead_letters" {
  name                       = "${var.name_prefix}-dead-letters"
  project                    = var.project_id
  topic                      = google_pubsub_topic.dead_letters.id
  labels                     = var.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

# Conversion requests -> worker service.
resource "google_pubsub_subscription" "conversion_requests_push" {
  name                       = "${var.name_prefix}-conversion-requests-worker"
  project                    = var.project_id
  topic                      = google_pubsub_topic.conversion_requests.id
  labels                     = var.labels
  ack_deadline_seconds       = var.conversion_ack_deadline_seconds
  message_retention_duration = var.message_retention_duration

  push_config {
    push_endpoint = local.conversion_requests_push_endpoint

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.worker_push_audience
    }
  }

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_pubsub_topic_iam_member.pubsub_publishes_dead_letters]
}

# Finalized direct uploads (GCS notifications) -> worker service.
resource "google_pubsub_subscription" "direct_uploads_push" {
  name                       = "${var.name_prefix}-direct-uploads-worker"
  project                    = var.project_id
  topic                      = google_pubsub_topic.direct_uploads.id
  labels                     = var.labels
  ack_deadline_seconds       = var.conversion_ack_deadline_seconds
  message_retention_duration = var.message_retention_duration

  push_config {
    push_endpoint = local.direct_uploads_push_endpoint

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.worker_push_audience
    }
  }

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_pubsub_topic_iam_member.pubsub_publishes_dead_letters]
}

# Conversion finished -> notify service.
resource "google_pubsub_subscription" "conversion_finished_push" {
  name                       = "${var.name_prefix}-conversion-finished-notify"
  project                    = var.project_id
  topic                      = google_pubsub_topic.conversion_finished.id
  labels                     = var.labels
  ack_deadline_seconds       = var.notify_ack_deadline_seconds
  message_retention_duration = var.message_retention_duration

  push_config {
    push_endpoint = local.conversion_finished_push_endpoint

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.notify_push_audience
    }
  }

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_pubsub_topic_iam_member.pubsub_publishes_dead_letters]
}
