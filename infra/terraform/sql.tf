# PostgreSQL 15 (the version the tests run against), reached by the services
# through the Cloud SQL Python connector (IAM-authorized, TLS): no authorized
# networks, and a private IP only when db_private_network is set.
resource "google_sql_database_instance" "main" {
  #checkov:skip=CKV_GCP_60:Public IP is the default so App Engine standard can use the Cloud SQL connector without a VPC connector; it has no authorized networks, so only IAM-authorized connector clients reach it. Set db_private_network for a private IP only.
  #checkov:skip=CKV_GCP_79:PostgreSQL 15 is pinned on purpose: it is the version CI and local tests run against.
  #checkov:skip=CKV2_GCP_13:log_duration=on logs a line for every statement (cost, noise); Query Insights records statement latency instead.
  name                = local.sql_instance_name
  project             = var.project_id
  region              = var.region
  database_version    = "POSTGRES_15"
  deletion_protection = var.deletion_protection

  settings {
    tier                        = var.db_tier
    edition                     = "ENTERPRISE"
    availability_type           = var.db_availability_type
    disk_type                   = "PD_SSD"
    disk_size                   = var.db_disk_size_gb
    disk_autoresize             = true
    deletion_protection_enabled = var.deletion_protection
    user_labels                 = var.labels

    backup_configuration {
      enabled                        = true
      start_time                     = "03:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = var.db_log_retention_days

      backup_retention_settings {
        retained_backups = var.db_backup_retained_count
        retention_unit   = "COUNT"
      }
    }

    ip_configuration {
      ipv4_enabled    = var.db_private_network == null
      private_network = var.db_private_network
      # The Cloud SQL connector always presents a client certificate.
      ssl_mode = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    }

    maintenance_window {
      day          = 7
      hour         = 4
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }

    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }
    # Stated, not left to the tier's default: the services' pools are sized
    # against it (tests/infra/test_capacity.py adds them up).
    database_flags {
      name  = "max_connections"
      value = tostring(var.db_max_connections)
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "pgaudit.log"
      value = "ddl,role"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_sql_database" "app" {
  name     = var.db_name
  project  = var.project_id
  instance = google_sql_database_instance.main.name
  # terraform destroy (or a renamed database) leaves the data where it is: the
  # instance's deletion protection does not cover its databases.
  deletion_policy = "ABANDON"
}

# Built-in user: owner of schema public, the migrate job's login (and the
# services' when db_iam_auth is false). Its password is the ephemeral one of
# secrets.tf, written only (never in the state), again when db_password_version
# changes.
resource "google_sql_user" "app" {
  name                = var.db_user
  project             = var.project_id
  instance            = google_sql_database_instance.main.name
  password_wo         = ephemeral.random_password.db.result
  password_wo_version = var.db_password_version
  # A PostgreSQL role that owns the schema cannot be dropped; leave it on destroy.
  deletion_policy = "ABANDON"
}

# IAM database users of the accounts that log in with IAM database authentication
# (the services and the sweep; not migrate, which owns the schema). The migrate
# job grants them data access, no DDL (audioconv migrate --grant-to).
resource "google_sql_user" "iam" {
  for_each = var.db_iam_auth ? toset(["api", "worker", "notify", "sweep"]) : toset([])

  name            = local.db_users[each.key]
  project         = var.project_id
  instance        = google_sql_database_instance.main.name
  type            = "CLOUD_IAM_SERVICE_ACCOUNT"
  deletion_policy = "ABANDON"
}
