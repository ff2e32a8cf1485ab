# Service accounts with least privilege: one per process that runs our code, each
# with only what that process uses (tests/infra/test_terraform.py checks the
# table below against what the code does), and the grants Google's service
# agents need for dead letters, OIDC push and GCS notifications.

locals {
  # Runtime account key -> what runs as it. The App Engine services name theirs
  # in their rendered yaml (service_account:, scripts/render_deploy_config.py);
  # the Cloud Run jobs with --service-account (scripts/deploy.sh).
  runtimes = {
    api     = "audioconv API (App Engine default service)"
    worker  = "audioconv conversion worker (App Engine flexible)"
    notify  = "audioconv notifier (App Engine)"
    sweep   = "audioconv recovery sweep (Cloud Run job)"
    migrate = "audioconv migrations (Cloud Run job)"
  }

  # Project-level roles per account (Cloud SQL client cannot be granted on one
  # instance). cloudsql.instanceUser: logging in as its IAM database user.
  runtime_project_roles = {
    api     = ["roles/cloudsql.client", "roles/cloudsql.instanceUser", "roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent"]
    worker  = ["roles/cloudsql.client", "roles/cloudsql.instanceUser", "roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent"]
    notify  = ["roles/cloudsql.client", "roles/cloudsql.instanceUser", "roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/cloudtrace.agent"]
    sweep   = ["roles/cloudsql.client", "roles/cloudsql.instanceUser", "roles/logging.logWriter"]
    migrate = ["roles/cloudsql.client", "roles/logging.logWriter"]
  }
  runtime_project_grants = merge([
    for key, roles in local.runtime_project_roles : {
      for role in roles : "${key} ${role}" => { account = key, role = role }
    }
  ]...)

  # Objects in the one bucket: the API receives uploads, signs downloads and
  # deletes; the worker reads inputs and writes outputs; the sweep job deletes
  # the files of expired tasks (var.retention_hours). The notifier and the
  # migrate job never touch a file. objectUser: objects only, no IAM on them.
  bucket_users = ["api", "worker", "sweep"]

  # Secret -> the accounts that read it at start-up. Every cloud process needs the
  # token signing key (audioconv.config refuses to start without one); the DB
  # password only the migrate job (it logs in as the owner), or everyone when the
  # services log in with the password (db_iam_auth = false); SMTP only notify.
  secret_readers = {
    secret_key    = ["api", "worker", "notify", "sweep", "migrate"]
    db_password   = var.db_iam_auth ? ["migrate"] : ["api", "worker", "notify", "sweep", "migrate"]
    smtp_password = ["notify"]
  }
  secret_grants = merge([
    for secret, accounts in local.secret_readers : {
      for key in accounts : "${secret} ${key}" => { secret = secret, account = key }
    }
  ]...)

  gcs_service_agent = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"

  # Publisher grants, grant -> topic key (pubsub.tf) and member: each account on
  # the topics its code publishes to (services/messages.py, services/webhook_delivery.py).
  topic_publishers = {
    # Uploads and retargets request conversions; the cron sweep runs here too.
    api_conversion_requests = { topic = "conversion_requests", member = local.members.api }
    api_conversion_finished = { topic = "conversion_finished", member = local.members.api }
    api_report_requests     = { topic = "report_requests", member = local.members.api }
    api_webhook_deliveries  = { topic = "webhook_deliveries", member = local.members.api }
    # A finalized direct upload requests its conversion; a conversion announces its
    # end and asks for its report pass.
    worker_conversion_requests = { topic = "conversion_requests", member = local.members.worker }
    worker_conversion_finished = { topic = "conversion_finished", member = local.members.worker }
    worker_report_requests     = { topic = "report_requests", member = local.members.worker }
    # A finished conversion's webhook, and each retry of it.
    notify_webhook_deliveries = { topic = "webhook_deliveries", member = local.members.notify }
    # The sweep republishes whatever the database says is still due.
    sweep_conversion_requests = { topic = "conversion_requests", member = local.members.sweep }
    sweep_conversion_finished = { topic = "conversion_finished", member = local.members.sweep }
    sweep_report_requests     = { topic = "report_requests", member = local.members.sweep }
    sweep_webhook_deliveries  = { topic = "webhook_deliveries", member = local.members.sweep }
    # The Pub/Sub service agent forwards undeliverable messages to the dead-letter topic.
    pubsub_dead_letters = { topic = "dead_letters", member = local.pubsub_service_agent }
    # The Cloud Storage service agent publishes the bucket's finalize notifications.
    gcs_direct_uploads = { topic = "direct_uploads", member = local.gcs_service_agent }
  }

  members = { for key, account in google_service_account.runtime : key => "serviceAccount:${account.email}" }

  # Token Creator grants on a service account, grant -> account and member.
  token_creators = {
    # V4 signed upload and download URLs without a key file: the API signs with
    # IAM signBlob as itself, which needs Token Creator on its own account.
    api_signs_as_itself = {
      service_account_id = google_service_account.runtime["api"].name
      member             = local.members.api
    }
    # The Pub/Sub service agent mints the OIDC tokens of the push account.
    pubsub_mints_push_tokens = {
      service_account_id = google_service_account.push.name
      member             = local.pubsub_service_agent
    }
  }
}

resource "google_service_account" "runtime" {
  for_each = local.runtimes

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = each.value
}

# Identity that Pub/Sub puts in the OIDC token of every push; the services
# accept pushes only from it (AUDIOCONV_PUSH_SERVICE_ACCOUNT). It needs no role.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-push"
  display_name = "audioconv Pub/Sub push invoker"
}

resource "google_project_iam_member" "runtime" {
  for_each = local.runtime_project_grants

  project = var.project_id
  role    = each.value.role
  member  = local.members[each.value.account]
}

resource "google_storage_bucket_iam_member" "objects" {
  for_each = toset(local.bucket_users)

  bucket = google_storage_bucket.files.name
  role   = "roles/storage.objectUser"
  member = local.members[each.key]
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

# Each account reads only its own secrets, one secret at a time.
resource "google_secret_manager_secret_iam_member" "readers" {
  for_each = local.secret_grants

  project   = var.project_id
  secret_id = google_secret_manager_secret.app[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.members[each.value.account]
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

# The worker pulls (and acks) its subscriptions, and nothing else: Subscriber on
# each subscription, not on the project.
resource "google_pubsub_subscription_iam_member" "worker_pulls" {
  for_each = local.pull_subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.pull[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.members.worker
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
