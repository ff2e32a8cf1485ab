# The recovery sweep (republish whatever the database says is still due) runs as
# a Cloud Run job from our image, started by Cloud Scheduler, instead of a cron
# request to the API: a request every few minutes would keep an API instance
# running around the clock (docs/cost.md), a job bills seconds.

locals {
  # Cloud Run jobs made by scripts/deploy.sh (gcloud run jobs deploy) from the image.
  jobs = {
    migrate = "${var.name_prefix}-migrate"
    sweep   = "${var.name_prefix}-sweep"
  }
}

# Identity Cloud Scheduler starts the sweep job as (roles/run.invoker on that one
# job, granted by scripts/deploy.sh once the job exists).
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "audioconv Cloud Scheduler (starts the sweep job)"
}

resource "google_cloud_scheduler_job" "sweep" {
  name             = local.jobs.sweep
  project          = var.project_id
  region           = var.region
  description      = "audioconv: republish conversions, reports, mails and webhooks that are still due"
  schedule         = var.sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count = 1
  }

  # Cloud Run Admin API: run the job (each run is one execution).
  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${local.jobs.sweep}:run"

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_project_service.apis]
}
