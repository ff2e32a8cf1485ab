# Secrets the services need, in Secret Manager. The services read them by name
# at start-up (AUDIOCONV_*_SECRET, scripts/render_deploy_config.py), so no value
# is in any deployed config.
#
# No value is in the Terraform state either: the passwords are ephemeral
# resources (made anew in every run, never stored) written through write-only
# arguments (secret_data_wo, password_wo), which Terraform sends only when their
# *_wo_version changes. Bump db_password_version or secret_key_version to
# rotate; smtp_password is an ephemeral variable written when
# smtp_password_version changes.

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

ephemeral "random_password" "db" {
  length  = 32
  special = false
}

ephemeral "random_password" "secret_key" {
  length  = 64
  special = false
}

# The same ephemeral password goes to the built-in SQL user (sql.tf) in the same run.
resource "google_secret_manager_secret_version" "db_password" {
  secret                 = google_secret_manager_secret.app["db_password"].id
  secret_data_wo         = ephemeral.random_password.db.result
  secret_data_wo_version = var.db_password_version
}

resource "google_secret_manager_secret_version" "secret_key" {
  secret                 = google_secret_manager_secret.app["secret_key"].id
  secret_data_wo         = ephemeral.random_password.secret_key.result
  secret_data_wo_version = var.secret_key_version
}

resource "google_secret_manager_secret_version" "smtp_password" {
  count = var.smtp_password_version > 0 ? 1 : 0

  secret                 = google_secret_manager_secret.app["smtp_password"].id
  secret_data_wo         = var.smtp_password
  secret_data_wo_version = var.smtp_password_version
}
