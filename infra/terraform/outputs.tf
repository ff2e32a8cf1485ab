# Everything a deploy needs. scripts/render_deploy_config.py turns these into
# the env_variables of the App Engine services (docs/deploy.md has the table).

output "project_id" {
  description = "Project ID (AUDIOCONV_GCP_PROJECT; gcloud --project)."
  value       = var.project_id
}

output "region" {
  description = "Region of Cloud SQL and the bucket."
  value       = var.region
}

output "app_engine_hostname" {
  description = "Default hostname of the App Engine application (PROJECT_ID.REGION_ID.r.appspot.com)."
  value       = local.app_hostname
}

output "api_url" {
  description = "URL of the default service, the HTTP API (AUDIOCONV_PUBLIC_URL)."
  value       = local.api_url
}

output "worker_url" {
  description = "URL of the worker service (App Engine flexible; it answers health checks only: it pulls its work)."
  value       = local.worker_url
}

output "notify_url" {
  description = "URL of the notify service; OIDC audience of the pushes to it (AUDIOCONV_PUSH_AUDIENCE of notify.yaml)."
  value       = local.notify_url
}

output "push_endpoints" {
  description = "Push endpoint of each push subscription (the notifier's)."
  value       = { for sub in google_pubsub_subscription.push : sub.name => sub.push_config[0].push_endpoint }
}

output "conversion_subscription" {
  description = "Pull subscription of conversion requests (AUDIOCONV_CONVERSION_SUBSCRIPTION of the worker)."
  value       = google_pubsub_subscription.pull["conversion_requests"].name
}

output "report_subscription" {
  description = "Pull subscription of report-pass requests (AUDIOCONV_REPORT_SUBSCRIPTION of the worker)."
  value       = google_pubsub_subscription.pull["report_requests"].name
}

output "direct_upload_subscription" {
  description = "Pull subscription of the bucket's finalize notifications (AUDIOCONV_DIRECT_UPLOAD_SUBSCRIPTION of the worker)."
  value       = google_pubsub_subscription.pull["direct_uploads"].name
}

output "bucket_name" {
  description = "Bucket for uploads and converted files (AUDIOCONV_GCS_BUCKET)."
  value       = google_storage_bucket.files.name
}

output "direct_upload_prefix" {
  description = "Object prefix of direct (signed URL) uploads that the worker is notified about: PREFIX in audioconv.services.direct_uploads, where the API signs upload URLs."
  value       = local.direct_upload_prefix
}

output "sql_instance_name" {
  description = "Cloud SQL instance name (gcloud sql commands)."
  value       = google_sql_database_instance.main.name
}

output "sql_instance_connection_name" {
  description = "Cloud SQL connection name project:region:instance (AUDIOCONV_CLOUD_SQL_INSTANCE)."
  value       = google_sql_database_instance.main.connection_name
}

output "db_private_ip" {
  description = "Whether the services must connect to the private IP (AUDIOCONV_DB_PRIVATE_IP)."
  value       = var.db_private_network != null
}

output "db_name" {
  description = "Application database (AUDIOCONV_DB_NAME)."
  value       = google_sql_database.app.name
}

output "db_users" {
  description = "Database login of each runtime account (AUDIOCONV_DB_USER of each service and job): its IAM database user when db_iam_auth (migrate: always the built-in owner)."
  value       = local.db_users
}

output "db_admin_user" {
  description = "Built-in PostgreSQL user whose password is in the db_password secret."
  value       = google_sql_user.app.name
}

output "db_iam_auth" {
  description = "Whether the services log in with IAM database authentication (AUDIOCONV_DB_IAM_AUTH); then no DB password is deployed."
  value       = var.db_iam_auth
}

output "conversion_topic" {
  description = "Topic of conversion requests (AUDIOCONV_CONVERSION_TOPIC)."
  value       = google_pubsub_topic.topics["conversion_requests"].name
}

output "finished_topic" {
  description = "Topic of finished conversions (AUDIOCONV_FINISHED_TOPIC)."
  value       = google_pubsub_topic.topics["conversion_finished"].name
}

output "report_topic" {
  description = "Topic of report-pass requests (AUDIOCONV_REPORT_TOPIC)."
  value       = google_pubsub_topic.topics["report_requests"].name
}

output "webhook_topic" {
  description = "Topic of webhook delivery attempts (AUDIOCONV_WEBHOOK_TOPIC)."
  value       = google_pubsub_topic.topics["webhook_deliveries"].name
}

output "direct_uploads_topic" {
  description = "Topic of the bucket's OBJECT_FINALIZE notifications for direct uploads."
  value       = google_pubsub_topic.topics["direct_uploads"].name
}

output "dead_letter_topic" {
  description = "Dead-letter topic shared by the worker's pull and the notifier's push subscriptions."
  value       = google_pubsub_topic.topics["dead_letters"].name
}

output "dead_letter_subscription" {
  description = "Pull subscription that keeps dead letters (gcloud pubsub subscriptions pull)."
  value       = google_pubsub_subscription.dead_letters.name
}

output "push_service_account_email" {
  description = "Account in the OIDC token of every push (AUDIOCONV_PUSH_SERVICE_ACCOUNT)."
  value       = google_service_account.push.email
}

output "service_accounts" {
  description = "Runtime account of each service and job (api, worker, notify: service_account of the rendered yaml; sweep, migrate: the Cloud Run jobs'). The API's also signs upload and download URLs (AUDIOCONV_SIGNING_SERVICE_ACCOUNT)."
  value       = { for key, account in google_service_account.runtime : key => account.email }
}

output "scheduler_service_account_email" {
  description = "Account Cloud Scheduler starts the sweep job as (scripts/deploy.sh grants it roles/run.invoker on that job)."
  value       = google_service_account.scheduler.email
}

output "jobs" {
  description = "Names of the Cloud Run jobs scripts/deploy.sh makes from the image: migrate (run once per release), sweep (started by Cloud Scheduler)."
  value       = local.jobs
}

output "image_repository" {
  description = "Artifact Registry path images are pushed to (REGION-docker.pkg.dev/PROJECT_ID/REPOSITORY)."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "db_private_network" {
  description = "VPC network of the instance's private IP (null: public IP through the connector); the jobs reach it by Direct VPC egress."
  value       = var.db_private_network
}

output "job_subnetwork" {
  description = "Subnetwork the Cloud Run jobs egress through when db_private_network is set."
  value       = var.job_subnetwork
}

output "secret_ids" {
  description = "Secret Manager secret IDs, by role: db_password (AUDIOCONV_DB_PASSWORD), secret_key (AUDIOCONV_SECRET_KEY), smtp_password (AUDIOCONV_SMTP_PASSWORD)."
  value       = { for key, secret in google_secret_manager_secret.app : key => secret.secret_id }
}

output "retention_hours" {
  description = "AUDIOCONV_RETENTION_HOURS: the API shows each task's expiry, the sweep job deletes expired tasks."
  value       = var.retention_hours
}

output "mail_from" {
  description = "AUDIOCONV_MAIL_FROM."
  value       = var.mail_from
}

output "smtp_host" {
  description = "AUDIOCONV_SMTP_HOST."
  value       = var.smtp_host
}

output "smtp_port" {
  description = "AUDIOCONV_SMTP_PORT."
  value       = var.smtp_port
}

output "smtp_user" {
  description = "AUDIOCONV_SMTP_USER."
  value       = var.smtp_user
}

output "smtp_starttls" {
  description = "AUDIOCONV_SMTP_STARTTLS."
  value       = var.smtp_starttls
}
