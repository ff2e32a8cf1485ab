# audioconv on Google Cloud: App Engine services (default = API, worker, notify)
# joined by Pub/Sub push subscriptions, files in Cloud Storage, state in Cloud SQL.
# Split by concern: storage.tf, sql.tf, pubsub.tf, iam.tf, secrets.tf.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  services = toset([
    "appengine.googleapis.com",
    "cloudbuild.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ])

  bucket_name       = coalesce(var.bucket_name, "${var.project_id}-${var.name_prefix}")
  sql_instance_name = coalesce(var.sql_instance_name, "${var.name_prefix}-pg")

  # Google-managed service agents.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # App Engine URLs: https://SERVICE-dot-PROJECT_ID.REGION_ID.r.appspot.com; the
  # default service (the API) has no prefix. The worker and notify URLs are also
  # the OIDC audiences of the pushes to them (pubsub.tf).
  app_hostname = google_app_engine_application.app.default_hostname
  api_url      = "https://${local.app_hostname}"
  worker_url   = "https://worker-dot-${local.app_hostname}"
  notify_url   = "https://notify-dot-${local.app_hostname}"

  # Login of the app service account as a Cloud SQL IAM database user.
  db_iam_user = trimsuffix(google_service_account.app.email, ".gserviceaccount.com")
  db_app_user = var.db_iam_auth ? local.db_iam_user : var.db_user
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.services : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# One App Engine application per project, and it can never be deleted: if the
# project already has one, import it (docs/deploy.md).
resource "google_app_engine_application" "app" {
  project     = var.project_id
  location_id = var.app_engine_location
  # App-level default runtime identity of every service and version.
  service_account = google_service_account.app.email

  depends_on = [google_project_service.apis]
}
