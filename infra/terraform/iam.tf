# Service accounts with least privilege, and the grants Google's service agents
# need for dead letters, OIDC push and GCS notifications.

# Runtime identity of the three App Engine services (named by gcloud app deploy
# --service-account; on App Engine flexible, the worker's VMs run as it too).
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

  # Account Cloud Build runs App Engine builds as.
  build_service_account = coalesce(
    var.build_service_account,
    "${data.google_project.this.number}-compute@developer.gserviceaccount.com",
  )

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

locals {
  gcs_service_agent = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"

  # Publisher grants, grant -> topic key (pubsub.tf) and member.
  topic_publishers = {
    # The app publishes on the four topics the code publishes to, nothing else.
    app_conversion_requests = { topic = "conversion_requests", member = local.app_member }
    app_conversion_finished = { topic = "conversion_finished", member = local.app_member }
    app_report_requests     = { topic = "report_requests", member = local.app_member }
    app_webhook_deliveries  = { topic = "webhook_deliveries", member = local.app_member }
    # The Pub/Sub service agent forwards undeliverable messages to the dead-letter topic.
    pubsub_dead_letters = { topic = "dead_letters", member = local.pubsub_service_agent }
    # The Cloud Storage service agent publishes the bucket's finalize notifications.
    gcs_direct_uploads = { topic = "direct_uploads", member = local.gcs_service_agent }
  }

  # Token Creator grants on a service account, grant -> account and member.
  token_creators = {
    # V4 signed upload URLs without a key file: the app signs with IAM signBlob
    # as itself, which needs Token Creator on its own account.
    app_signs_as_itself = {
      service_account_id = google_service_account.app.name
      member             = local.app_member
    }
    # The Pub/Sub service agent mints the OIDC tokens of the push account.
    pubsub_mints_push_tokens = {
      service_account_id = google_service_account.push.name
      member             = local.pubsub_service_agent
    }
  }
}

resource "google_pubsub_topic_iam_member" "publishers" {
  for_each = local.topic_publishers

  project = var.project_id
  topic   = google_pubsub_topic.topics[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = each.value.member

  # pubsub_dead_letters grants to the Pub/Sub service agent.
  depends_on = [google_project_service_identity.pubsub]
}

# Read its own secrets (for code or jobs that fetch them at run time).
resource "google_secret_manager_secret_iam_member" "app" {
  for_each = google_secret_manager_secret.app

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.app_member
}

resource "google_service_account_iam_member" "token_creators" {
  for_each = local.token_creators

  service_account_id = each.value.service_account_id
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = each.value.member

  # pubsub_mints_push_tokens grants to the Pub/Sub service agent.
  depends_on = [google_project_service.apis, google_project_service_identity.pubsub]
}

# The Pub/Sub service agent acknowledges dead-lettered messages on their source
# subscriptions: the notifier's push one and the worker's pull ones.
resource "google_pubsub_subscription_iam_member" "pubsub_acks" {
  for_each = local.push_subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

resource "google_pubsub_subscription_iam_member" "pubsub_acks_pull" {
  for_each = local.pull_subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.pull[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent

  depends_on = [google_project_service_identity.pubsub]
}

# The worker pulls (and acks) its two subscriptions as the app service account,
# and nothing else: Subscriber on each subscription, not on the project.
resource "google_pubsub_subscription_iam_member" "worker_pulls" {
  for_each = local.pull_subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.pull[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.app_member
}

# The Pub/Sub service agent (service-PROJECT_NUMBER@gcp-sa-pubsub) is created
# lazily, so on a new project the grants above could name an account that does
# not exist yet ("Service account ... does not exist"). Create it first. The GA
# provider has no resource for this (hashicorp/google 8.7.0 lacks
# google_project_service_identity), so it comes from google-beta, as the
# provider documents; the grants keep the documented agent address (the API
# returns no e-mail for some services) and depend on this resource.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.apis]
}

# App Engine deploys build each version with Cloud Build. Since 2024 new
# projects run builds as the Compute Engine default service account and, where
# the organization disables automatic grants to default service accounts, that
# account has no role: Google's documented fix is the Cloud Build Service
# Account role on it (or on the account in var.build_service_account).
resource "google_project_iam_member" "build" {
  #checkov:skip=CKV_GCP_46:The default build account is the Compute Engine default service account on new projects; this grants it the one role Google documents for App Engine builds (set build_service_account to build as another account).
  #checkov:skip=CKV_GCP_49:roles/cloudbuild.builds.builder is the role Cloud Build's build account needs; the build account is not a runtime identity of the app.
  count = var.grant_build_roles ? 1 : 0

  project = var.project_id
  role    = "roles/cloudbuild.builds.builder"
  member  = "serviceAccount:${local.build_service_account}"

  depends_on = [google_project_service.apis]
}
