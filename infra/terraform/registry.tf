# The image the worker (App Engine flexible) and the Cloud Run jobs (migrations,
# the recovery sweep) run: built once per source by scripts/deploy.sh with Cloud
# Build, tagged with the hash of what goes into it.

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption; the image holds our public code and pinned open-source packages, no data or secret (those are read at start-up from Secret Manager).
  project       = var.project_id
  location      = var.region
  repository_id = var.name_prefix
  description   = "audioconv images (worker, migrations, sweep)"
  format        = "DOCKER"
  labels        = var.labels

  # Every deploy of changed code adds an image of ~300 MB: keep the newest few
  # (what a rollback needs) and delete the rest once they are old enough.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_keep_count
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "${var.image_retention_days * 86400}s"
    }
  }

  depends_on = [google_project_service.apis]
}

# App Engine flexible VMs pull the image as the version's service account, not as
# the App Engine default account (which had the project's Editor role for that).
resource "google_artifact_registry_repository_iam_member" "worker_pulls" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = local.members.worker
}

# The build account pushes the image (gcloud builds submit).
resource "google_artifact_registry_repository_iam_member" "build_pushes" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${local.build_service_account}"

  depends_on = [time_sleep.compute_default_account]
}
