variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project that hosts audioconv (App Engine, Cloud SQL, Pub/Sub, GCS)."
}

variable "region" {
  type        = string
  description = "Region for Cloud SQL and the bucket; keep it next to the App Engine location (us-central1 for us-central, europe-west1 for europe-west)."
  default     = "us-central1"
}

variable "app_engine_location" {
  type        = string
  description = "App Engine location ID (for example us-central or europe-west). It cannot be changed once the application exists."
  default     = "us-central"
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name. The topic names it yields must match AUDIOCONV_CONVERSION_TOPIC / AUDIOCONV_FINISHED_TOPIC (the render script passes them)."
  default     = "audioconv"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name_prefix))
    error_message = "name_prefix must be 3-21 characters: lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that takes labels."
  default     = { app = "audioconv" }
}

variable "enable_apis" {
  type        = bool
  description = "Enable the Google APIs audioconv needs (set false when a platform team manages them)."
  default     = true
}

variable "build_service_account" {
  type        = string
  description = "E-mail of the service account Cloud Build runs App Engine builds as; null means the Compute Engine default service account (PROJECT_NUMBER-compute@developer.gserviceaccount.com), which new projects use, and enables the Compute Engine API that creates it."
  default     = null
}

variable "compute_default_account_wait" {
  type        = string
  description = "How long to wait after enabling the Compute Engine API for Google to create its default service account (the build account) before granting it a role."
  default     = "90s"
}

variable "deprivilege_default_service_accounts" {
  type        = bool
  description = "Remove roles/editor from the App Engine and Compute Engine default service accounts (no code of ours runs as them). Set false when a platform team manages those bindings."
  default     = true
}

variable "image_keep_count" {
  type        = number
  description = "Newest images the Artifact Registry cleanup policy always keeps (rollback targets)."
  default     = 5
}

variable "image_retention_days" {
  type        = number
  description = "Images older than this (and not among the newest image_keep_count) are deleted by the cleanup policy."
  default     = 30
}

variable "sweep_schedule" {
  type        = string
  description = "Cron schedule (UTC) of the recovery sweep job: how soon a lost message or an expired lease is retried."
  default     = "*/5 * * * *"
}

variable "job_subnetwork" {
  type        = string
  description = "Subnetwork (self link or name) in db_private_network the Cloud Run jobs (migrations, sweep) reach the private IP through, by Direct VPC egress; needed when db_private_network is set."
  default     = null
}

variable "grant_build_roles" {
  type        = bool
  description = "Grant the build service account the Cloud Build Service Account role (roles/cloudbuild.builds.builder) that App Engine builds need; new projects no longer grant it automatically. Set false when a platform team manages it."
  default     = true
}

# --- Cloud Storage ---------------------------------------------------------

variable "bucket_name" {
  type        = string
  description = "Name of the bucket for uploads and converted files; null means PROJECT_ID-audioconv."
  default     = null
}

variable "bucket_location" {
  type        = string
  description = "Location of the bucket; null means var.region."
  default     = null
}

variable "cors_origins" {
  type        = list(string)
  description = "Browser origins (scheme://host[:port], no path, no wildcard) allowed to PUT to signed upload URLs and GET signed downloads, for example [\"https://PROJECT_ID.uc.r.appspot.com\"]. Empty means no CORS rule: only non-browser clients can use direct uploads."
  default     = []

  validation {
    condition = alltrue([
      for origin in var.cors_origins :
      can(regex("^(https://[a-z0-9.-]+|http://(localhost|127\\.0\\.0\\.1))(:[0-9]{1,5})?$", origin))
    ])
    error_message = "cors_origins must be origins such as https://app.example.com (https, or http only for localhost), with no path, trailing slash or wildcard."
  }
}

variable "cors_methods" {
  type        = list(string)
  description = "HTTP methods browsers may use on the bucket from cors_origins: PUT for direct uploads to signed URLs, GET and HEAD for signed downloads. Preflight OPTIONS requests need no entry."
  default     = ["PUT", "GET", "HEAD"]

  validation {
    condition     = length(var.cors_methods) > 0 && alltrue([for m in var.cors_methods : contains(["PUT", "GET", "HEAD"], m)])
    error_message = "cors_methods must be a non-empty subset of PUT, GET and HEAD (the app never POSTs or DELETEs from a browser)."
  }
}

variable "cors_max_age_seconds" {
  type        = number
  description = "How long browsers may cache a CORS preflight answer."
  default     = 3600

  validation {
    condition     = var.cors_max_age_seconds >= 0 && var.cors_max_age_seconds <= 86400
    error_message = "cors_max_age_seconds must be between 0 and 86400."
  }
}

variable "retention_hours" {
  type        = number
  description = "Hours after which the sweep deletes a task and all its files (AUDIOCONV_RETENTION_HOURS); 0 keeps them until their owner deletes them. The bucket has no age rule of its own: it would delete files tasks still point at."
  default     = 0
  validation {
    condition     = var.retention_hours >= 0
    error_message = "retention_hours must be 0 (keep) or more."
  }
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days a deleted or overwritten object version is kept (versioning is on) before it is removed for good."
  default     = 7
}

variable "force_destroy_bucket" {
  type        = bool
  description = "Let terraform destroy delete the bucket with its objects (for throwaway environments only)."
  default     = false
}

# --- Cloud SQL -------------------------------------------------------------

variable "sql_instance_name" {
  type        = string
  description = "Cloud SQL instance name; null means NAME_PREFIX-pg. A deleted name cannot be reused for about a week."
  default     = null
}

variable "db_tier" {
  type        = string
  description = "Cloud SQL machine tier. db-g1-small (shared core, 1.7 GB) is the cheapest that holds the services' connections (docs/cost.md); it has no SLA: use db-custom-1-3840 or larger for one, and raise db_max_connections with it."
  default     = "db-g1-small"
}

variable "db_max_connections" {
  type        = number
  description = "PostgreSQL max_connections (a database flag). The services' pools times their scaling caps must fit under it (tests/infra/test_capacity.py); Cloud SQL's default for db-g1-small is 50, for 3.75-6 GB tiers 100."
  default     = 50

  validation {
    condition     = var.db_max_connections >= 25
    error_message = "db_max_connections must be at least 25."
  }
}

variable "db_availability_type" {
  type        = string
  description = "ZONAL or REGIONAL (high availability) Cloud SQL instance."
  default     = "ZONAL"

  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.db_availability_type)
    error_message = "db_availability_type must be ZONAL or REGIONAL."
  }
}

variable "db_disk_size_gb" {
  type        = number
  description = "Initial Cloud SQL disk size in GB (auto-resize is on)."
  default     = 10
}

variable "db_private_network" {
  type        = string
  description = "Self link of a VPC network with private services access; when set, the instance gets a private IP only and the services need a Serverless VPC Access connector (see docs/deploy.md). null means public IP reached only through the Cloud SQL connector (no authorized networks)."
  default     = null
}

variable "db_name" {
  type        = string
  description = "Name of the application database."
  default     = "audioconv"
}

variable "db_user" {
  type        = string
  description = "Built-in PostgreSQL user of the application; its password is generated and kept in Secret Manager."
  default     = "audioconv"
}

variable "db_iam_auth" {
  type        = bool
  description = "The services and the sweep log in as their service accounts' Cloud SQL IAM users (IAM database authentication, no password), with data access only. Migrations run as the built-in user, which owns schema public, and grant the IAM users that access (audioconv migrate --grant-to, docs/deploy.md). false: everything logs in as the built-in owner with its password."
  default     = true
}

variable "db_password_version" {
  type        = number
  description = "Version of the built-in user's generated password: raise it to rotate (a new ephemeral password is written to the SQL user and to the secret; nothing is stored in the state)."
  default     = 1
}

variable "secret_key_version" {
  type        = number
  description = "Version of the generated token signing key: raise it to rotate (logs every user out once instances restart)."
  default     = 1
}

variable "db_backup_retained_count" {
  type        = number
  description = "Number of daily automated backups kept."
  default     = 7
}

variable "db_log_retention_days" {
  type        = number
  description = "Days of write-ahead log kept for point-in-time recovery (1-7)."
  default     = 7
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the Cloud SQL instance from deletion (terraform and API)."
  default     = true
}

# --- Pub/Sub ---------------------------------------------------------------

variable "conversion_ack_deadline_seconds" {
  type        = number
  description = "Ack deadline of the worker's pull subscriptions. The worker's client library extends it while a conversion runs (up to AUDIOCONV_MAX_LEASE_SECONDS), so it only says how soon the message of a worker that died is delivered again."
  default     = 60

  validation {
    condition     = var.conversion_ack_deadline_seconds >= 10 && var.conversion_ack_deadline_seconds <= 600
    error_message = "conversion_ack_deadline_seconds must be between 10 and 600."
  }
}

variable "notify_ack_deadline_seconds" {
  type        = number
  description = "Ack deadline of the notify push subscription (sending one mail)."
  default     = 60

  validation {
    condition     = var.notify_ack_deadline_seconds >= 10 && var.notify_ack_deadline_seconds <= 600
    error_message = "notify_ack_deadline_seconds must be between 10 and 600."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of one message before it goes to the dead-letter topic (5-100)."
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "retry_minimum_backoff" {
  type        = string
  description = "Minimum delay before Pub/Sub redelivers a nacked or failed push."
  default     = "10s"
}

variable "retry_maximum_backoff" {
  type        = string
  description = "Maximum delay before Pub/Sub redelivers a nacked or failed push."
  default     = "600s"
}

variable "message_retention_duration" {
  type        = string
  description = "How long the push subscriptions keep undelivered messages."
  default     = "604800s"
}

variable "dead_letter_retention_duration" {
  type        = string
  description = "How long the dead-letter topic keeps messages (up to 31 days), so they can be replayed."
  default     = "2678400s"
}

# --- Mail ------------------------------------------------------------------

variable "mail_from" {
  type        = string
  description = "From address of notification mails (AUDIOCONV_MAIL_FROM)."
  default     = "audioconv <noreply@example.com>"
}

variable "smtp_host" {
  type        = string
  description = "SMTP relay host used by the notify service (AUDIOCONV_SMTP_HOST). App Engine blocks outbound port 25: use 587 or 465."
  default     = "smtp.example.com"
}

variable "smtp_port" {
  type        = number
  description = "SMTP relay port (AUDIOCONV_SMTP_PORT)."
  default     = 587
}

variable "smtp_user" {
  type        = string
  description = "SMTP user name (AUDIOCONV_SMTP_USER); empty for an unauthenticated relay."
  default     = ""
}

variable "smtp_starttls" {
  type        = bool
  description = "Use STARTTLS with the SMTP relay (AUDIOCONV_SMTP_STARTTLS)."
  default     = true
}

variable "smtp_password" {
  type        = string
  description = "SMTP password, written to the smtp-password secret when smtp_password_version changes (write-only: never in the state or a plan). Or add a version with gcloud (docs/deploy.md)."
  default     = ""
  sensitive   = true
  ephemeral   = true
}

variable "smtp_password_version" {
  type        = number
  description = "0: Terraform writes no SMTP password (an unauthenticated relay, or one added with gcloud). Set 1 with smtp_password to write it, and raise it to write a new one."
  default     = 0
}
