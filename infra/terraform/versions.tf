terraform {
  required_version = ">= 1.5.0"

  # tests/infra/test_provider_schema.py checks every resource against the
  # schema of google and google-beta 8.7.0 and random 3.9.1 (the cdktn provider
  # packages in requirements-dev.txt): keep these ranges around those releases.
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.7"
    }
    # Only for google_project_service_identity, which the GA provider lacks (iam.tf).
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 8.7"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
