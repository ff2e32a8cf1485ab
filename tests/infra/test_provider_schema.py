"""infra/terraform against the real schemas of the providers it pins, offline.

There is no provider download here, so no ``terraform validate``. The schemas
come from the cdktn prebuilt provider packages pinned in requirements-dev.txt
(``cdktn-provider-google`` 21.1.0 is generated from hashicorp/google 8.7.0,
``-google-beta`` 21.1.0 from google-beta 8.7.0, ``-random`` 15.0.1 from random
3.9.1, ``-time`` 14.0.2 from time 0.14.2; the gcs backend's arguments come from
the cdktn core package); see tests/infra/tfschema.py.
"""

from __future__ import annotations

import pytest

from tests.infra import tfschema
from tests.infra.tfvalidate import check, parse, parse_dir, required_providers, version_allows
from tests.support.tfmodel import TF_DIR

# Provider source -> the release whose schema the packages carry.
RELEASES = {
    "hashicorp/google": "8.7.0",
    "hashicorp/google-beta": "8.7.0",
    "hashicorp/random": "3.9.1",
    "hashicorp/time": "0.14.2",
}


@pytest.fixture(scope="session")
def schemas() -> dict[str, tfschema.ProviderSchema]:
    """Every provider schema, extracted once and cached under build/tfschema/."""
    return {source: tfschema.load(source) for source in tfschema.PACKAGES}


def test_schemas_are_the_pinned_releases(schemas: dict[str, tfschema.ProviderSchema]) -> None:
    assert {s: schema.version for s, schema in schemas.items()} == RELEASES
    google = schemas["hashicorp/google"]
    assert len(google.resources) > 1000 and len(google.data_sources) > 300
    app = google.resources["google_app_engine_application"]
    assert set(app.attributes) - {"id"} == {
        "project",
        "auth_domain",
        "location_id",
        "serving_status",
        "ssl_policy",
        "database_type",
    }
    assert set(app.blocks) == {"feature_settings", "iap", "timeouts"}
    assert app.attributes["location_id"] is True, "location_id is required"


def test_terraform_matches_the_provider_schemas(
    schemas: dict[str, tfschema.ProviderSchema],
) -> None:
    """What `terraform validate` would find: unknown types, arguments and blocks."""
    assert check(parse_dir(TF_DIR), schemas) == []


def test_every_required_provider_has_a_schema(schemas: dict[str, tfschema.ProviderSchema]) -> None:
    required = required_providers(parse_dir(TF_DIR))
    assert {spec["source"] for spec in required.values()} <= set(schemas)


def test_google_providers_are_pinned_to_the_current_major() -> None:
    required = required_providers(parse_dir(TF_DIR))
    for name in ("google", "google-beta"):
        constraint = required[name]["version"]
        assert version_allows(constraint, RELEASES[f"hashicorp/{name}"]), constraint
        assert version_allows(constraint, "8.40.1"), f"{name}: any later 8.x"
        assert not version_allows(constraint, "9.0.0"), f"{name}: no next major"
        assert not version_allows(constraint, "7.30.0"), f"{name}: no previous major"
    assert required["google"]["version"] == required["google-beta"]["version"]
    assert version_allows(required["random"]["version"], RELEASES["hashicorp/random"])
    assert not version_allows(required["random"]["version"], "4.0.0")


def test_version_constraints_read_like_terraform() -> None:
    assert version_allows("~> 8.7", "8.7.0") and version_allows("~> 8.7", "8.12.3")
    assert not version_allows("~> 8.7", "8.6.9") and not version_allows("~> 8.7", "9.0.0")
    assert version_allows("~> 8.7.1", "8.7.5") and not version_allows("~> 8.7.1", "8.8.0")
    assert version_allows(">= 6.10.0, < 7.0.0", "6.49.0")
    assert not version_allows(">= 6.10.0, < 7.0.0", "8.7.0")
    assert version_allows("8.7.0", "8.7.0") and not version_allows("!= 8.7.0", "8.7.0")


# --- the checker catches each kind of defect ----------------------------------

VERSIONS = """
terraform {
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.7"
    }
  }
}
"""


def errors_of(snippet: str, schemas: dict[str, tfschema.ProviderSchema]) -> list[str]:
    return check({"versions.tf": parse(VERSIONS), "main.tf": parse(snippet)}, schemas)


def test_catches_the_app_engine_service_account_argument(
    schemas: dict[str, tfschema.ProviderSchema],
) -> None:
    """The defect of issue 10: plan fails with "Unsupported argument"."""
    errors = errors_of(
        """
        resource "google_service_account" "app" {
          account_id = "app"
        }
        resource "google_app_engine_application" "app" {
          project         = var.project_id
          location_id     = var.app_engine_location
          service_account = google_service_account.app.email
        }
        """,
        schemas,
    )
    assert errors == [
        "main.tf: google_app_engine_application.app: unsupported argument 'service_account'"
    ]


def test_catches_unknown_nested_blocks_and_their_arguments(
    schemas: dict[str, tfschema.ProviderSchema],
) -> None:
    errors = errors_of(
        """
        resource "google_storage_bucket" "b" {
          name     = "b"
          location = "EU"
          versioning = { enabled = true }
          retention {
            days = 3
          }
          dynamic "cors" {
            for_each = var.origins
            content {
              origins = cors.value
            }
          }
          lifecycle_rule {
            action {
              type = "Delete"
            }
          }
          lifecycle {
            prevent_destroy = true
          }
        }
        """,
        schemas,
    )
    where = "main.tf: google_storage_bucket.b"
    assert sorted(errors) == sorted(
        [
            f"{where}: unsupported argument 'versioning'"
            " (it is a block: write `versioning { ... }`)",
            f"{where}: unsupported block type 'retention'",
            f"{where}.cors: unsupported argument 'origins'",
            f"{where}.lifecycle_rule: missing required block 'condition'",
        ]
    )


def test_catches_unknown_types_missing_arguments_and_beta_only_resources(
    schemas: dict[str, tfschema.ProviderSchema],
) -> None:
    errors = errors_of(
        """
        resource "google_pubsub_topik" "t" {
          name = "t"
        }
        resource "google_sql_user" "u" {
          instance = "i"
        }
        resource "google_project_service_identity" "pubsub" {
          service = "pubsub.googleapis.com"
        }
        resource "random_password" "p" {
          length = 8
        }
        data "google_project" "p" {
          project_number = 1
        }
        """,
        schemas,
    )
    assert sorted(errors) == sorted(
        [
            "main.tf: google_pubsub_topik.t: hashicorp/google 8.7.0 has no resource type "
            "'google_pubsub_topik'",
            "main.tf: google_sql_user.u: missing required argument 'name'",
            "main.tf: google_project_service_identity.pubsub: hashicorp/google 8.7.0 has no "
            "resource type 'google_project_service_identity' (it is in hashicorp/google-beta)",
            "main.tf: random_password.p: provider 'random' is not in required_providers",
            "main.tf: data.google_project.p: unsupported argument 'project_number'",
        ]
    )


def test_catches_a_constraint_that_excludes_the_checked_release(
    schemas: dict[str, tfschema.ProviderSchema],
) -> None:
    old = VERSIONS.replace("~> 8.7", ">= 6.10.0, < 7.0.0")
    errors = check({"versions.tf": parse(old)}, schemas)
    assert len(errors) == 1 and "excludes hashicorp/google 8.7.0" in errors[0]


def test_catches_references_to_missing_resources_and_attributes(
    schemas: dict[str, tfschema.ProviderSchema],
) -> None:
    errors = errors_of(
        """
        resource "google_service_account" "app" {
          account_id = "app"
        }
        output "typo" {
          value = google_service_account.app.emial
        }
        output "computed" {
          value = "https://${google_app_engine_application.app.default_hostname}"
        }
        output "gone" {
          value = data.google_project.this.number
        }
        """,
        schemas,
    )
    assert errors == [
        "main.tf: google_service_account.app has no attribute 'emial'",
        "main.tf: reference to undeclared data.google_project.this",
        "main.tf: reference to undeclared google_app_engine_application.app",
    ]


def test_catches_misspelt_write_only_ephemeral_and_backend_arguments(
    schemas: dict[str, tfschema.ProviderSchema],
) -> None:
    """What issue 22 added: the state backend, ephemeral passwords, write-only
    arguments, Artifact Registry cleanup policies, the scheduler job. A misspelt one
    fails here as `terraform validate` would fail."""
    versions = VERSIONS.replace(
        "  required_providers {",
        '  backend "gcs" {\n    prefix = "audioconv"\n    bukcet = "x"\n  }\n'
        "  required_providers {",
    ).replace(
        "    google = {",
        '    random = {\n      source  = "hashicorp/random"\n      version = "~> 3.7"\n    }\n'
        "    google = {",
    )
    snippet = """
        ephemeral "random_password" "db" {
          length  = 32
          specail = false
        }
        ephemeral "random_pasword" "typo" {
          length = 8
        }
        resource "google_secret_manager_secret_version" "v" {
          secret                 = "s"
          secret_data_wo         = ephemeral.random_password.db.result
          secret_data_wo_verison = 1
        }
        resource "google_sql_user" "u" {
          name        = "u"
          instance    = "i"
          password_wo = ephemeral.random_password.db.reslt
        }
        resource "google_artifact_registry_repository" "r" {
          format        = "DOCKER"
          repository_id = "r"
          cleanup_policies {
            id     = "keep"
            action = "KEEP"
            most_recent_versions {
              keep_cuont = 5
            }
          }
        }
        resource "google_cloud_scheduler_job" "j" {
          name = "j"
          http_target {
            uri = "https://run.googleapis.com/"
            oauth_token {
              service_acount_email = "a@b"
            }
          }
        }
    """
    errors = check({"versions.tf": parse(versions), "main.tf": parse(snippet)}, schemas)
    assert sorted(errors) == sorted(
        [
            "versions.tf: backend 'gcs': unsupported argument 'bukcet'",
            "main.tf: ephemeral.random_password.db: unsupported argument 'specail'",
            "main.tf: ephemeral.random_pasword.typo: hashicorp/random 3.9.1 has no "
            "ephemeral resource type 'random_pasword'",
            "main.tf: google_secret_manager_secret_version.v: unsupported argument "
            "'secret_data_wo_verison'",
            "main.tf: google_artifact_registry_repository.r.cleanup_policies"
            ".most_recent_versions: unsupported argument 'keep_cuont'",
            "main.tf: google_cloud_scheduler_job.j.http_target.oauth_token: unsupported "
            "argument 'service_acount_email'",
            "main.tf: google_cloud_scheduler_job.j.http_target.oauth_token: missing required "
            "argument 'service_account_email'",
            "main.tf: ephemeral.random_password.db has no attribute 'reslt'",
        ]
    )


def test_the_terraform_uses_what_issue_22_relies_on(
    schemas: dict[str, tfschema.ProviderSchema],
) -> None:
    """The arguments the fixes of issue 22 rest on exist in the pinned releases."""
    google, random = schemas["hashicorp/google"], schemas["hashicorp/random"]
    version = google.resources["google_secret_manager_secret_version"].attributes
    assert {"secret_data_wo", "secret_data_wo_version"} <= set(version)
    sql_user = google.resources["google_sql_user"].attributes
    assert {"password_wo", "password_wo_version"} <= set(sql_user)
    assert "deletion_policy" in google.resources["google_sql_database"].attributes
    assert "google_project_iam_member_remove" in google.resources
    assert "cleanup_policies" in google.resources["google_artifact_registry_repository"].blocks
    assert "random_password" in random.ephemeral_resources
    assert "result" in random.ephemeral_attributes["random_password"]
    assert "time_sleep" in schemas["hashicorp/time"].resources
