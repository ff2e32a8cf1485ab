# Google's default service accounts: the build account App Engine builds run as,
# and taking Editor away from the defaults, so that nothing deployed without an
# explicit identity runs as a project editor.

locals {
  # Created by Google when the App Engine application, and the Compute Engine API,
  # are created: PROJECT_ID@appspot.gserviceaccount.com and
  # PROJECT_NUMBER-compute@developer.gserviceaccount.com. Unless the organization
  # policy iam.automaticIamGrantsForDefaultServiceAccounts is enforced, Google
  # makes both project Editors.
  default_service_accounts = {
    app_engine = "serviceAccount:${var.project_id}@appspot.gserviceaccount.com"
    compute    = "serviceAccount:${data.google_project.this.number}-compute@developer.gserviceaccount.com"
  }

  # Account Cloud Build runs App Engine builds as: since 2024 new projects build
  # as the Compute Engine default service account.
  build_service_account = coalesce(
    var.build_service_account,
    "${data.google_project.this.number}-compute@developer.gserviceaccount.com",
  )
}

# Enabling the Compute Engine API returns before Google has created its default
# service account, so a grant to it in the same apply can fail with "Service
# account ...-compute@developer.gserviceaccount.com does not exist". Wait for it
# here (scripts/deploy.sh also polls for the account before Terraform runs).
resource "time_sleep" "compute_default_account" {
  count = var.build_service_account == null ? 1 : 0

  create_duration = var.compute_default_account_wait

  depends_on = [google_project_service.apis]
}

# App Engine deploys build each version with Cloud Build. Where the organization
# disables automatic grants to default service accounts, the build account has no
# role: Google's documented fix is the Cloud Build Service Account role on it (or
# on the account in var.build_service_account). It also pushes the worker's image
# (registry.tf).
resource "google_project_iam_member" "build" {
  #checkov:skip=CKV_GCP_46:The default build account is the Compute Engine default service account on new projects; this grants it the one role Google documents for App Engine builds (set build_service_account to build as another account).
  #checkov:skip=CKV_GCP_49:roles/cloudbuild.builds.builder is the role Cloud Build's build account needs; the build account is not a runtime identity of the app.
  count = var.grant_build_roles ? 1 : 0

  project = var.project_id
  role    = "roles/cloudbuild.builds.builder"
  member  = "serviceAccount:${local.build_service_account}"

  depends_on = [google_project_service.apis, time_sleep.compute_default_account]
}

# Take Editor away from the default service accounts. Every version names its own
# account and the application's default is the API's (scripts/deploy.sh), so no
# code of ours runs as these; a binding that is not there is left alone.
resource "google_project_iam_member_remove" "default_editors" {
  for_each = var.deprivilege_default_service_accounts ? local.default_service_accounts : {}

  project = var.project_id
  role    = "roles/editor"
  member  = each.value

  depends_on = [
    google_app_engine_application.app,
    time_sleep.compute_default_account,
    google_project_iam_member.build,
  ]
}
