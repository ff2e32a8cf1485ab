terraform {
  # 1.11: write-only arguments (secret_data_wo, password_wo) and ephemeral
  # resources, so that no password or key is ever written to the state.
  required_version = ">= 1.11.0"

  # State lives in a versioned Cloud Storage bucket, never on the laptop that ran
  # apply. The bucket is per project, so it is given at init (partial
  # configuration): scripts/deploy.sh creates it first and runs
  #   terraform init -backend-config=bucket=PROJECT_ID-tfstate -backend-config=prefix=audioconv
  backend "gcs" {}

  # tests/infra/test_provider_schema.py checks every resource against the
  # schema of google and google-beta 8.7.0, random 3.9.1 and time 0.14.2 (the
  # cdktn provider packages in requirements-dev.txt): keep these ranges around
  # those releases.
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
    # 3.7: the ephemeral random_password (secrets.tf).
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
    # Only to wait for the Compute Engine default service account (defaults.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.14"
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
