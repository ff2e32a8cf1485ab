# audioconv on Google Cloud: App Engine services (default = API and notify on
# standard, worker on flexible) joined by Pub/Sub (the worker pulls, notify is
# pushed to), files in Cloud Storage, state in Cloud SQL.
# Split by concern: storage.tf, sql.tf, pubsub.tf, iam.tf, secrets.tf.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  services = toset([
    "appengine.googleapis.com",
    # The worker runs on App Engine flexible (worker.yaml: env flex, our image).
    "appengineflex.googleapis.com",
    # App Engine standard builds store their images in Artifact Registry.
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    # The recovery sweep runs on a Cloud Scheduler schedule (scheduler.tf).
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    # Migrations and the recovery sweep run as Cloud Run jobs from our image.
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ])
  # The Compute Engine API creates the Compute Engine default service account,
  # which new projects' Cloud Build uses to build App Engine versions (iam.tf).
  apis = setunion(local.services, var.build_service_account == null ? ["compute.googleapis.com"] : [])

  bucket_name       = coalesce(var.bucket_name, "${var.project_id}-${var.name_prefix}")
  sql_instance_name = coalesce(var.sql_instance_name, "${var.name_prefix}-pg")

  # Google-managed service agents. The Pub/Sub one is created explicitly
  # (google_project_service_identity.pubsub, iam.tf): every grant to it must
  # depend on that resource.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # Object name prefix of direct (signed URL) uploads: the bucket notification
  # announces finalized objects under it. It must equal PREFIX in
  # shared/audioconv/services/direct_uploads.py, where the API signs upload URLs
  # (tests/infra/test_terraform.py compares them), so it is not a variable.
  direct_upload_prefix = "direct-uploads/"

  # App Engine URLs: https://SERVICE-dot-PROJECT_ID.REGION_ID.r.appspot.com; the
  # default service (the API) has no prefix. The worker and notify URLs are also
  # the OIDC audiences of the pushes to them (pubsub.tf).
  app_hostname = google_app_engine_application.app.default_hostname
  api_url      = "https://${local.app_hostname}"
  worker_url   = "https://worker-dot-${local.app_hostname}"
  notify_url   = "https://notify-dot-${local.app_hostname}"

  # Database login of each runtime account: its Cloud SQL IAM user (the e-mail
  # without .gserviceaccount.com) with db_iam_auth, else the built-in user. The
  # migrate job always logs in as the built-in user, which owns schema public.
  db_users = {
    for key in keys(local.runtimes) : key => (
      var.db_iam_auth && key != "migrate"
      ? trimsuffix(google_service_account.runtime[key].email, ".gserviceaccount.com")
      : var.db_user
    )
  }
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.apis : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# One App Engine application per project, and it can never be deleted: if the
# project already has one, import it (docs/deploy.md). The provider cannot set
# the application's default service account (no such argument in 8.x):
# scripts/deploy.sh makes it the API's account (`gcloud app update
# --service-account`), and every version names its own in its rendered yaml.
resource "google_app_engine_application" "app" {
  project     = var.project_id
  location_id = var.app_engine_location

  depends_on = [google_project_service.apis]
}
