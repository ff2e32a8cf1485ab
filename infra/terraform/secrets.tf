# Secrets the services need. App Engine standard cannot reference Secret Manager
# from app.yaml, so scripts/render_deploy_config.py reads them at deploy time
# into gitignored .deploy/*.env.yaml files that app.yaml, worker.yaml and
# notify.yaml include (docs/deploy.md).

locals {
  secrets = {
    db_password   = "${var.name_prefix}-db-password"
    secret_key    = "${var.name_prefix}-secret-key"
    smtp_password = "${var.name_prefix}-smtp-password"
  }
}

resource "google_secret_manager_secret" "app" {
  for_each = local.secrets

  secret_id = each.value
  project   = var.project_id
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret_version" "db_password" {
  secret      = google_secret_manager_secret.app["db_password"].id
  secret_data = random_password.db.result
}

resource "google_secret_manager_secret_version" "secret_key" {
  secret      = google_secret_manager_secret.app["secret_key"].id
  secret_data = random_password.secret_key.result
}

resource "google_secret_manager_secret_version" "smtp_password" {
  count = nonsensitive(var.smtp_password != "") ? 1 : 0

  secret      = google_secret_manager_secret.app["smtp_password"].id
  secret_data = var.smtp_password
}
