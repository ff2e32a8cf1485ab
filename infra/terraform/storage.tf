# Uploads, direct (signed URL) uploads and converted files, private to the app.

locals {
  # Headers a signed upload URL signs, which the browser must send and so the
  # preflight must allow (tests/infra/test_terraform.py checks them against
  # audioconv.services.direct_uploads), then headers scripts may read.
  cors_response_headers = [
    "Content-Type",
    "x-goog-if-generation-match",
    "x-goog-content-length-range",
    "Content-Disposition",
    "Content-Length",
    "ETag",
  ]
}

resource "google_storage_bucket" "files" {
  #checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs (Data Access logs for storage); a second logging bucket would itself need a log bucket.
  name                        = local.bucket_name
  project                     = var.project_id
  location                    = coalesce(var.bucket_location, var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_bucket
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # Overwritten or deleted versions are kept only for a short undo window.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  # Browsers that give up on a multipart upload leave parts behind.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  # No age rule deletes live objects: the app's sweep deletes a task and its files
  # together (var.retention_hours), so no task ever points at a missing file.

  # Browsers PUT straight to signed upload URLs and GET signed downloads.
  # response_header is both what a preflight may ask to send
  # (Access-Control-Allow-Headers: every header the upload URL signs) and what
  # scripts may read from the answer.
  dynamic "cors" {
    for_each = length(var.cors_origins) > 0 ? [var.cors_origins] : []
    content {
      origin          = cors.value
      method          = var.cors_methods
      response_header = local.cors_response_headers
      max_age_seconds = var.cors_max_age_seconds
    }
  }

  depends_on = [google_project_service.apis]
}

# Finalized direct uploads are announced on a topic that pushes to the worker.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_storage_notification" "direct_uploads" {
  bucket             = google_storage_bucket.files.name
  payload_format     = "JSON_API_V1"
  topic              = google_pubsub_topic.topics["direct_uploads"].id
  event_types        = ["OBJECT_FINALIZE"]
  object_name_prefix = local.direct_upload_prefix

  # The Cloud Storage service agent must be able to publish (publishers["gcs_direct_uploads"]).
  depends_on = [google_pubsub_topic_iam_member.publishers]
}
