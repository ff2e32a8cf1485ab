# Service accounts with least privilege, and the grants Google's service agents
# need for dead letters, OIDC push and GCS notifications.

# Runtime identity of the three App Engine services (service_account in the yaml).
resource "google_service_account" "app" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-app"
  display_name = "audioconv App Engine runtime"
}

# Identity that Pub/Sub puts in the OIDC token of every push; the services
# accept pushes only from it (AUDIOCONV_PUSH_SERVICE_ACCOUNT). It needs no role.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-push"
  display_name = "audioconv Pub/Sub push invoker"
}

locals {
  app_member = "serviceAccount:${google_service_account.app.email}"

  # Project-level roles: Cloud SQL client cannot be granted on one instance.
  app_project_roles = concat(
    [
      "roles/cloudsql.client",
      "roles/logging.logWriter",
      "roles/monitoring.metricWriter",
      "roles/cloudtrace.agent",
    ],
    var.db_iam_auth ? ["roles/cloudsql.instanceUser"] : [],
  )
}

resource "google_project_iam_member" "app" {
  for_each = toset(local.app_project_roles)

  project = var.project_id
  role    = each.value
  member  = local.app_member
}

# Objects in the one bucket, nothing else in Cloud Storage.
resource "google_storage_bucket_iam_member" "app_objects" {
  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectAdmin"
  member = local.app_member
}

# Publish on the two topics the code publishes to, nothing else.
resource "google_pubsub_topic_iam_member" "app_publishes_conversion_requests" {
  project = var.project_id
  topic   = google_pubsub_topic.conversion_requests.name
  role    = "roles/pubsub.publisher"
  member  = local.app_member
}

resource "google_pubsub_topic_iam_member" "app_publishes_conversion_finished" {
  project = var.project_id
  topic   = google_pubsub_topic.conversion_finished.name
  role    = "roles/pubsub.publisher"
  member  = local.app_member
}

# Read its own secrets (for code or jobs that fetch them at run time).
resource "google_secret_manager_secret_iam_member" "app" {
  for_each = google_secret_manager_secret.app

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.app_member
}

# V4 signed upload URLs without a key file: the app signs with IAM signBlob as
# itself, which needs Token Creator on its own account.
resource "google_service_account_iam_member" "app_signs_as_itself" {
  service_account_id = google_service_account.app.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.app_member
}

# Pub/Sub service agent: mint OIDC tokens for the push account...
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent

  depends_on = [google_project_service.apis]
}

# ...forward undeliverable messages to the dead-letter topic...
resource "google_pubsub_topic_iam_member" "pubsub_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letters.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

# ...and acknowledge them on the source subscriptions.
resource "google_pubsub_subscription_iam_member" "pubsub_acks_conversion_requests" {
  project      = var.project_id
  subscription = google_pubsub_subscription.conversion_requests_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_acks_direct_uploads" {
  project      = var.project_id
  subscription = google_pubsub_subscription.direct_uploads_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_acks_conversion_finished" {
  project      = var.project_id
  subscription = google_pubsub_subscription.conversion_finished_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Cloud Storage service agent publishes the bucket's finalize notifications.
resource "google_pubsub_topic_iam_member" "gcs_publishes_direct_uploads" {
  project = var.project_id
  topic   = google_pubsub_topic.direct_uploads.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}
