"""Static checks of the wiring in infra/terraform (python-hcl2; no provider, no network)."""

from __future__ import annotations

import json
import re

import pytest

from audioconv.config import Settings
from audioconv.services import direct_uploads
from tests.support.tfmodel import TF_DIR, Terraform, ref_name

APP_HOST = "${google_app_engine_application.app.default_hostname}"
WORKER_URL = f"https://worker-dot-{APP_HOST}"
NOTIFY_URL = f"https://notify-dot-{APP_HOST}"
API_URL = f"https://{APP_HOST}"
PUSH_SA = "${google_service_account.push.email}"
PUBSUB_AGENT = (
    "serviceAccount:service-${data.google_project.this.number}"
    "@gcp-sa-pubsub.iam.gserviceaccount.com"
)


def topic(key: str) -> str:
    """Address of a topic instance, as ``ref_name`` and ``Terraform.instances`` give it."""
    return f'topics["{key}"]'


# Source topic -> App Engine service URL its push subscription must target.
EXPECTED_PUSH_TARGETS = {
    topic("conversion_finished"): NOTIFY_URL,
    topic("webhook_deliveries"): NOTIFY_URL,
}
# Source topics the worker pulls (App Engine flexible; long conversions), and the
# setting naming each subscription.
EXPECTED_PULLS = {
    topic("conversion_requests"): "conversion_subscription",
    topic("direct_uploads"): "direct_upload_subscription",
    topic("report_requests"): "report_subscription",
}
WORKER_MEMBER = "${local.members.worker}"


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform.load()


def push_subscriptions(tf: Terraform) -> dict[str, dict]:
    subs = tf.instances("google_pubsub_subscription")
    return {n: s for n, s in subs.items() if "push_config" in s}


def source_subscriptions(tf: Terraform) -> dict[str, dict]:
    """Every subscription delivering work (push or pull), not the dead letters' own."""
    subs = tf.instances("google_pubsub_subscription")
    return {n: s for n, s in subs.items() if "dead_letter_policy" in s}


def worker_pulls(tf: Terraform) -> dict[str, tuple[str, dict]]:
    """Source topic -> address and body of the pull subscription the worker takes it from."""
    subs = source_subscriptions(tf)
    return {topic_of(s): (a, s) for a, s in subs.items() if "push_config" not in s}


def topic_of(sub: dict) -> str:
    name = ref_name(sub["topic"], "google_pubsub_topic")
    assert name, f"subscription topic is not a google_pubsub_topic reference: {sub['topic']}"
    return name


def depends_on(body: dict, rtype: str, address: str) -> bool:
    """Whether body depends on the resource (or the instance) at rtype.address."""
    targets = {f"${{{rtype}.{address}}}", f"${{{rtype}.{address.split('[')[0]}}}"}
    return bool(targets & set(body.get("depends_on", [])))


# --- variables, outputs, versions -------------------------------------------


def test_every_variable_is_typed_and_described(tf: Terraform) -> None:
    assert tf.variables
    for name, var in tf.variables.items():
        assert var.get("type"), f"variable {name} has no type"
        assert len(var.get("description", "")) > 10, f"variable {name} has no description"


def test_every_output_is_described(tf: Terraform) -> None:
    for name, out in tf.outputs.items():
        assert out.get("description"), f"output {name} has no description"
        assert "value" in out


def test_every_variable_is_used(tf: Terraform) -> None:
    text = "\n".join(p.read_text() for p in sorted(TF_DIR.glob("*.tf")))
    for name in tf.variables:
        assert f"var.{name}" in text, f"variable {name} is never used"


def test_required_apis_are_enabled(tf: Terraform) -> None:
    services = tf.locals["services"]
    for api in (
        "appengine",
        # worker.yaml: env flex, from our image.
        "appengineflex",
        "sqladmin",
        "pubsub",
        "secretmanager",
        "storage",
        "iamcredentials",
        "cloudbuild",
        "artifactregistry",
        # The sweep job runs on a Cloud Scheduler schedule (scheduler.tf).
        "cloudscheduler",
    ):
        assert f"{api}.googleapis.com" in services
    apis = tf.resource("google_project_service.apis")
    assert "local.apis" in apis["for_each"]
    assert "local.services" in tf.locals["apis"]
    # The default build account is the Compute Engine default service account,
    # which exists only once the Compute Engine API is enabled.
    assert '"compute.googleapis.com"' in tf.locals["apis"]
    assert "var.build_service_account == null" in tf.locals["apis"]
    assert apis["disable_on_destroy"] is False


# --- Pub/Sub ----------------------------------------------------------------


def test_push_subscriptions_target_the_right_service(tf: Terraform) -> None:
    subs = push_subscriptions(tf)
    by_topic = {topic_of(s): s for s in subs.values()}
    assert set(by_topic) == set(EXPECTED_PUSH_TARGETS), "one push subscription per source topic"
    for topic, base in EXPECTED_PUSH_TARGETS.items():
        push = by_topic[topic]["push_config"][0]
        endpoint = tf.resolve(push["push_endpoint"])
        assert endpoint == base or endpoint.startswith(base + "/"), (topic, endpoint)
        oidc = push["oidc_token"][0]
        assert tf.resolve(oidc["audience"]) == base, f"{topic}: audience must be the service URL"
        assert oidc["service_account_email"] == PUSH_SA


def test_the_worker_pulls_its_work_with_leases_it_can_extend(tf: Terraform) -> None:
    """Pull, not push: a push is cut at 600 s. The client library extends the ack
    deadline while a conversion runs; the deadline only says how soon the work of a
    worker that died comes back. Names are the code's defaults and the outputs."""
    pulls = worker_pulls(tf)
    assert set(pulls) == set(EXPECTED_PULLS)
    fields = Settings.model_fields
    for source, setting in EXPECTED_PULLS.items():
        address, sub = pulls[source]
        name = tf.resolve(sub["name"])
        assert name == fields[setting].default, (source, name)
        deadline = tf.resolve(sub["ack_deadline_seconds"])
        assert isinstance(deadline, int) and 10 <= deadline <= 120, (source, deadline)
        output = tf.outputs[setting]["value"]
        assert ref_name(output, "google_pubsub_subscription") == address, (setting, output)


def test_the_worker_may_pull_its_subscriptions_and_nothing_more(tf: Terraform) -> None:
    grants = {
        (ref_name(b["subscription"], "google_pubsub_subscription"), b["role"], b["member"])
        for b in tf.instances("google_pubsub_subscription_iam_member").values()
        if b["member"] != "${local.pubsub_service_agent}"
    }
    addresses = {address for address, _ in worker_pulls(tf).values()}
    assert len(addresses) == len(EXPECTED_PULLS)
    assert grants == {(a, "roles/pubsub.subscriber", WORKER_MEMBER) for a in addresses}
    for roles in tf.locals["runtime_project_roles"].values():
        assert not any("pubsub" in r for r in roles)


def test_source_subscriptions_retry_and_dead_letter(tf: Terraform) -> None:
    dead_letter_topics = set()
    subs = source_subscriptions(tf)
    assert {topic_of(s) for s in subs.values()} == set(EXPECTED_PUSH_TARGETS) | set(EXPECTED_PULLS)
    for name, sub in subs.items():
        deadline = tf.resolve(sub["ack_deadline_seconds"])
        assert isinstance(deadline, int) and 10 <= deadline <= 600, (name, deadline)
        retry = sub["retry_policy"][0]
        assert retry["minimum_backoff"] and retry["maximum_backoff"]
        dlp = sub["dead_letter_policy"][0]
        dl_topic = ref_name(dlp["dead_letter_topic"], "google_pubsub_topic")
        assert dl_topic and dl_topic != topic_of(sub), name
        attempts = tf.resolve(dlp["max_delivery_attempts"])
        assert 5 <= attempts <= 100
        assert sub["expiration_policy"][0]["ttl"] == "", f"{name} must never expire"
        dead_letter_topics.add(dl_topic)
    assert dead_letter_topics


def test_every_dead_letter_topic_keeps_its_messages(tf: Terraform) -> None:
    dl_topics = {
        ref_name(s["dead_letter_policy"][0]["dead_letter_topic"], "google_pubsub_topic")
        for s in source_subscriptions(tf).values()
    }
    pulls = {
        topic_of(s)
        for s in tf.instances("google_pubsub_subscription").values()
        if "push_config" not in s
    }
    for topic in dl_topics:
        assert topic in pulls, f"dead-letter topic {topic} has no pull subscription"
        assert "dead_letter_policy" not in push_subscriptions(tf).get(topic, {})


def test_pubsub_service_agent_can_dead_letter_and_mint_tokens(tf: Terraform) -> None:
    agent = tf.resolve("${local.pubsub_service_agent}")
    assert agent == PUBSUB_AGENT
    topic_grants = {
        (ref_name(b["topic"], "google_pubsub_topic"), b["role"])
        for b in tf.instances("google_pubsub_topic_iam_member").values()
        if tf.resolve(b["member"]) == PUBSUB_AGENT
    }
    sub_grants = {
        (ref_name(b["subscription"], "google_pubsub_subscription"), b["role"])
        for b in tf.instances("google_pubsub_subscription_iam_member").values()
        if tf.resolve(b["member"]) == PUBSUB_AGENT
    }
    dl_grants = {
        address
        for address, b in tf.instances("google_pubsub_topic_iam_member").items()
        if tf.resolve(b["member"]) == PUBSUB_AGENT and b["role"] == "roles/pubsub.publisher"
    }
    for name, sub in source_subscriptions(tf).items():
        dl = ref_name(sub["dead_letter_policy"][0]["dead_letter_topic"], "google_pubsub_topic")
        assert (dl, "roles/pubsub.publisher") in topic_grants
        assert any(depends_on(sub, "google_pubsub_topic_iam_member", g) for g in dl_grants), name
    for name in source_subscriptions(tf):
        assert (name, "roles/pubsub.subscriber") in sub_grants, name
    minting = [
        b
        for b in tf.instances("google_service_account_iam_member").values()
        if b["service_account_id"] == "${google_service_account.push.name}"
        and b["role"] == "roles/iam.serviceAccountTokenCreator"
        and tf.resolve(b["member"]) == PUBSUB_AGENT
    ]
    assert minting


def test_topic_names_match_the_code_defaults(tf: Terraform) -> None:
    fields = Settings.model_fields
    topics = {n: tf.resolve(t["name"]) for n, t in tf.instances("google_pubsub_topic").items()}
    assert topics[topic("conversion_requests")] == fields["conversion_topic"].default
    assert topics[topic("conversion_finished")] == fields["finished_topic"].default
    assert topics[topic("webhook_deliveries")] == fields["webhook_topic"].default
    assert topics[topic("direct_uploads")] == fields["direct_uploads_topic"].default
    assert topics[topic("report_requests")] == fields["report_topic"].default


# --- GCS --------------------------------------------------------------------


def test_buckets_are_private_and_uniform(tf: Terraform) -> None:
    buckets = tf.of_type("google_storage_bucket")
    assert buckets
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
        assert bucket["versioning"][0]["enabled"] is True, name
        rules = bucket.get("lifecycle_rule", [])
        assert any(r["action"][0]["type"] == "Delete" for r in rules), f"{name}: no deletion rule"


def test_no_age_rule_deletes_a_file_a_task_points_at(tf: Terraform) -> None:
    """Issue 23: live objects go only with their task (the sweep, AUDIOCONV_RETENTION_HOURS);
    the bucket deletes only old versions of objects already deleted or overwritten."""
    bucket = tf.resource("google_storage_bucket.files")
    assert not any("lifecycle_rule" in block for block in bucket.get("dynamic", []))
    for rule in bucket.get("lifecycle_rule", []):
        if rule["action"][0]["type"] == "Delete":
            condition = rule["condition"][0]
            assert condition.get("with_state") == "ARCHIVED", condition
            assert "age" not in condition, condition
    assert "object_retention_days" not in tf.variables
    assert tf.default("retention_hours") == 0  # keep, unless the operator says otherwise


# Headers a signed upload URL binds, so the browser must send them and the CORS
# preflight must allow them: the code's upload_headers (with the size range).
SIGNED_UPLOAD_HEADERS = set(direct_uploads.upload_headers(1))


def test_bucket_cors_allows_browser_put_from_configured_origins(tf: Terraform) -> None:
    bucket = tf.resource("google_storage_bucket.files")
    cors = next(d["cors"] for d in bucket["dynamic"] if "cors" in d)
    assert "var.cors_origins" in cors["for_each"]
    content = cors["content"][0]
    assert content["origin"] == "${cors.value}"
    assert content["method"] == "${var.cors_methods}"
    assert tf.default("cors_methods") == ["PUT", "GET", "HEAD"]
    assert content["max_age_seconds"] == "${var.cors_max_age_seconds}"
    assert content["response_header"] == "${local.cors_response_headers}"
    allowed = {h.lower() for h in tf.locals["cors_response_headers"]}
    missing = {h for h in SIGNED_UPLOAD_HEADERS if h.lower() not in allowed}
    assert not missing, f"a browser preflight for a signed upload would be refused: {missing}"
    assert "content-disposition" in allowed, "scripts read the download's file name"


def test_cors_variables_refuse_wildcards_and_paths(tf: Terraform) -> None:
    """The validation regex of cors_origins, run with Python's re (same syntax here)."""
    condition = tf.variables["cors_origins"]["validation"][0]["condition"]
    pattern = re.search(r'regex\("(.+?)", origin\)', condition)
    assert pattern, condition
    regex = re.compile(pattern.group(1).replace("\\\\", "\\"))
    for good in ("https://app.example.com", "https://x.uc.r.appspot.com", "http://localhost:5173"):
        assert regex.search(good), good
    for bad in ("*", "https://*.example.com", "https://app.example.com/", "http://example.com"):
        assert not regex.search(bad), bad
    methods = tf.variables["cors_methods"]["validation"][0]["condition"]
    assert '["PUT", "GET", "HEAD"]' in methods


def test_direct_uploads_are_announced_to_the_worker(tf: Terraform) -> None:
    notes = tf.of_type("google_storage_notification")
    assert len(notes) == 1
    note = next(iter(notes.values()))
    assert note["event_types"] == ["OBJECT_FINALIZE"]
    assert note["payload_format"] == "JSON_API_V1"
    # One source: the code signs upload URLs under PREFIX, Terraform watches it.
    assert tf.resolve(note["object_name_prefix"]) == direct_uploads.PREFIX
    assert tf.resolve(tf.outputs["direct_upload_prefix"]["value"]) == direct_uploads.PREFIX
    assert "direct_upload_prefix" not in tf.variables, "a variable could drift from the code"
    assert ref_name(note["bucket"], "google_storage_bucket") == "files"
    note_topic = ref_name(note["topic"], "google_pubsub_topic")
    assert note_topic in EXPECTED_PULLS, "the worker pulls the notifications"
    gcs_publishers = [
        address
        for address, b in tf.instances("google_pubsub_topic_iam_member").items()
        if ref_name(b["topic"], "google_pubsub_topic") == note_topic
        and b["role"] == "roles/pubsub.publisher"
        and "google_storage_project_service_account.gcs.email_address" in tf.resolve(b["member"])
    ]
    assert gcs_publishers, "the GCS service agent must publish on the notification topic"
    assert any(depends_on(note, "google_pubsub_topic_iam_member", g) for g in gcs_publishers)


# --- Cloud SQL and secrets ---------------------------------------------------


def test_cloud_sql_is_postgres15_with_backups_and_protection(tf: Terraform) -> None:
    sql = tf.resource("google_sql_database_instance.main")
    assert sql["database_version"] == "POSTGRES_15"
    assert tf.resolve(sql["deletion_protection"]) is True
    settings = sql["settings"][0]
    backup = settings["backup_configuration"][0]
    assert backup["enabled"] is True and backup["point_in_time_recovery_enabled"] is True
    ip = settings["ip_configuration"][0]
    assert "authorized_networks" not in ip
    assert ip["ssl_mode"] in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
    assert "var.db_private_network" in ip["private_network"]
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert flags["cloudsql.iam_authentication"] == "on"


def test_no_secret_value_reaches_the_state(tf: Terraform) -> None:
    """Issue 22, item 5: the passwords and the signing key are ephemeral (never
    stored) and written only through write-only arguments; the state itself lives
    in a versioned Cloud Storage bucket, not on a laptop."""
    assert "random_password" not in tf.resources, "a random_password resource is stored"
    ephemeral = sorted(
        (rtype, name)
        for doc in tf.files.values()
        for entry in doc.get("ephemeral", [])
        for rtype, named in entry.items()
        for name in named
    )
    assert ephemeral == [("random_password", "db"), ("random_password", "secret_key")]
    user = tf.resource("google_sql_user.app")
    assert "password" not in user
    assert user["password_wo"] == "${ephemeral.random_password.db.result}"
    assert user["password_wo_version"] == "${var.db_password_version}"
    db = tf.resource("google_secret_manager_secret_version.db_password")
    assert "secret_data" not in db
    assert db["secret_data_wo"] == "${ephemeral.random_password.db.result}"
    assert db["secret_data_wo_version"] == "${var.db_password_version}"
    key = tf.resource("google_secret_manager_secret_version.secret_key")
    assert key["secret_data_wo"] == "${ephemeral.random_password.secret_key.result}"
    assert tf.variables["smtp_password"]["ephemeral"] is True
    # Every use of an ephemeral value is a write-only argument.
    uses = 0
    for rtype, named in tf.resources.items():
        for name, body in named.items():
            for arg, value in body.items():
                text = str(value)
                if "ephemeral." in text or "var.smtp_password}" in text:
                    assert arg.endswith("_wo"), f"{rtype}.{name}.{arg} would store {text}"
                    uses += 1
    assert uses == 4
    assert set(tf.locals["secrets"]) == {"db_password", "secret_key", "smtp_password"}
    block = next(b for b in tf.terraform_blocks if "backend" in b)
    assert list(block["backend"][0]) == ["gcs"], "state in Cloud Storage"
    assert block["required_version"] == ">= 1.11.0", "write-only arguments need 1.11"


def test_the_database_outlives_terraform_destroy(tf: Terraform) -> None:
    """Issue 22, item 8: google_sql_database deletes by default."""
    assert tf.resource("google_sql_database.app")["deletion_policy"] == "ABANDON"
    for name, user in tf.of_type("google_sql_user").items():
        assert user["deletion_policy"] == "ABANDON", name


# --- service accounts --------------------------------------------------------

SERVICE_ROLES = [
    "roles/cloudsql.client",
    "roles/cloudsql.instanceUser",
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/cloudtrace.agent",
]
# Issue 22, item 9: each account and what its code uses, nothing more.
LEAST_PRIVILEGE = {
    "api": {
        "project": SERVICE_ROLES,
        "bucket": True,
        "publishes": {"conversion_requests", "conversion_finished", "report_requests",
                      "webhook_deliveries"},
        "secrets": {"secret_key"},
    },
    "worker": {
        "project": SERVICE_ROLES,
        "bucket": True,
        "publishes": {"conversion_requests", "conversion_finished", "report_requests"},
        "secrets": {"secret_key"},
    },
    "notify": {
        "project": SERVICE_ROLES,
        "bucket": False,
        "publishes": {"webhook_deliveries"},
        "secrets": {"secret_key", "smtp_password"},
    },
    "sweep": {
        "project": ["roles/cloudsql.client", "roles/cloudsql.instanceUser",
                    "roles/logging.logWriter"],
        "bucket": True,  # deletes expired tasks' files (issue 23)
        "publishes": {"conversion_requests", "conversion_finished", "report_requests",
                      "webhook_deliveries"},
        "secrets": {"secret_key"},
    },
    "migrate": {
        "project": ["roles/cloudsql.client", "roles/logging.logWriter"],
        "bucket": False,
        "publishes": set(),
        "secrets": {"secret_key", "db_password"},
    },
}  # fmt: skip


def test_each_process_has_its_own_account_with_least_privilege(tf: Terraform) -> None:
    locals_ = tf.locals
    assert set(locals_["runtimes"]) == set(LEAST_PRIVILEGE)
    assert tf.resource("google_service_account.runtime")["account_id"] == (
        "${var.name_prefix}-${each.key}"
    )
    publishers = tf.instances("google_pubsub_topic_iam_member")
    # Issue 22, item 7: by default the services log in as their own IAM database
    # users (data access only, granted by the migrate job), not as the schema owner;
    # then only migrate reads the owner's password.
    assert tf.default("db_iam_auth") is True
    iam_users = tf.resource("google_sql_user.iam")
    assert iam_users["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    assert '["api", "worker", "notify", "sweep"]' in iam_users["for_each"]
    readers = locals_["secret_readers"]
    db_readers = re.fullmatch(
        r"\$\{var\.db_iam_auth \? (\[.*?\]) : (\[.*?\])\}", readers["db_password"]
    )
    assert db_readers, readers["db_password"]
    assert json.loads(db_readers.group(1)) == ["migrate"]
    assert set(json.loads(db_readers.group(2))) == set(LEAST_PRIVILEGE)
    for key, wanted in LEAST_PRIVILEGE.items():
        member = f"${{local.members.{key}}}"
        assert locals_["runtime_project_roles"][key] == wanted["project"], key
        assert (key in locals_["bucket_users"]) == wanted["bucket"], key
        topics = {
            ref_name(b["topic"], "google_pubsub_topic")
            for b in publishers.values()
            if b["member"] == member
        }
        assert topics == {topic(t) for t in wanted["publishes"]}, key
        secrets = {
            s for s, accounts in readers.items() if isinstance(accounts, list) and key in accounts
        }
        assert secrets | ({"db_password"} if key == "migrate" else set()) == wanted["secrets"], key
    for b in publishers.values():
        assert b["role"] == "roles/pubsub.publisher"
    # Project grants: the runtime table and the build account's role, nothing else.
    assert set(tf.of_type("google_project_iam_member")) == {"runtime", "build"}
    assert tf.resource("google_project_iam_member.runtime")["for_each"] == (
        "${local.runtime_project_grants}"
    )
    bucket = tf.resource("google_storage_bucket_iam_member.objects")
    assert bucket["role"] == "roles/storage.objectUser", "objects only, no IAM on them"
    assert bucket["member"] == "${local.members[each.key]}"
    secret = tf.resource("google_secret_manager_secret_iam_member.readers")
    assert secret["role"] == "roles/secretmanager.secretAccessor"
    assert secret["for_each"] == "${local.secret_grants}", "one secret at a time"
    # Only the API signs, and only as itself.
    signers = {
        (b["service_account_id"], b["member"])
        for b in tf.instances("google_service_account_iam_member").values()
        if b["member"].startswith("${local.members")
    }
    assert signers == {('${google_service_account.runtime["api"].name}', "${local.members.api}")}


def test_the_worker_may_pull_its_image(tf: Terraform) -> None:
    """Issue 22, item 3: a flexible VM pulls the image as the version's account."""
    grant = tf.resource("google_artifact_registry_repository_iam_member.worker_pulls")
    assert grant["role"] == "roles/artifactregistry.reader"
    assert grant["member"] == WORKER_MEMBER
    assert grant["repository"] == "${google_artifact_registry_repository.images.name}"
    repo = tf.resource("google_artifact_registry_repository.images")
    assert repo["format"] == "DOCKER" and repo["cleanup_policy_dry_run"] is False
    policies = {p["id"]: p for p in repo["cleanup_policies"]}
    assert policies["keep-recent"]["action"] == "KEEP"
    assert policies["delete-old"]["action"] == "DELETE"
    assert tf.default("image_keep_count") >= 2, "the previous image, for a rollback"


def test_default_accounts_lose_editor(tf: Terraform) -> None:
    """Issue 22, item 6: nothing runs as an Editor by default any more."""
    remove = tf.resource("google_project_iam_member_remove.default_editors")
    assert remove["role"] == "roles/editor"
    assert "local.default_service_accounts" in remove["for_each"]
    assert tf.default("deprivilege_default_service_accounts") is True
    members = tf.locals["default_service_accounts"]
    assert members["app_engine"] == "serviceAccount:${var.project_id}@appspot.gserviceaccount.com"
    assert members["compute"].endswith("-compute@developer.gserviceaccount.com")
    for dependency in ("google_app_engine_application.app", "time_sleep.compute_default_account"):
        assert f"${{{dependency}}}" in remove["depends_on"], dependency


def test_the_build_grant_waits_for_the_compute_default_account(tf: Terraform) -> None:
    """Issue 22, item 2: Google creates the account after the API call returns."""
    wait = tf.resource("time_sleep.compute_default_account")
    assert wait["depends_on"] == ["${google_project_service.apis}"]
    assert wait["count"] == "${var.build_service_account == null ? 1 : 0}"
    assert int(tf.default("compute_default_account_wait").removesuffix("s")) >= 60
    for address in ("google_project_iam_member.build",
                    "google_artifact_registry_repository_iam_member.build_pushes"):  # fmt: skip
        assert "${time_sleep.compute_default_account}" in tf.resource(address)["depends_on"]


def test_the_sweep_is_a_scheduled_job_of_the_image(tf: Terraform) -> None:
    """Issue 22, item 13: the schedule is Terraform's; no cron.yaml keeps the API warm."""
    assert not (TF_DIR.parents[1] / "cron.yaml").exists()
    job = tf.resource("google_cloud_scheduler_job.sweep")
    target = job["http_target"][0]
    assert tf.resolve(target["uri"]).endswith(":run")
    assert "/jobs/${local.jobs.sweep}:run" in target["uri"]
    assert target["http_method"] == "POST"
    assert target["oauth_token"][0]["service_account_email"] == (
        "${google_service_account.scheduler.email}"
    )
    assert tf.resolve(job["schedule"]) == "*/5 * * * *"
    from audioconv import cli  # the image's entrypoint: `audioconv sweep` is the job

    assert cli.parser().parse_args(["sweep"]).command == "sweep"
    deploy = (TF_DIR.parents[1] / "scripts" / "deploy.sh").read_text()
    assert 'deploy_job "$JOB_SWEEP" "$SA_SWEEP" "$DEPLOY_DIR/sweep.env.yaml" "sweep"' in deploy
    assert '--member="$invoker" --role=roles/run.invoker' in deploy


def test_app_engine_application_sets_no_runtime_identity(tf: Terraform) -> None:
    """The provider has no service_account argument (tests/infra/test_provider_schema.py
    proves it); the deploy command names the runtime account instead (docs/deploy.md)."""
    app = tf.resource("google_app_engine_application.app")
    assert "service_account" not in app
    assert tf.resolve("${local.api_url}") == API_URL


def test_pubsub_service_agent_exists_before_its_grants(tf: Terraform) -> None:
    identity = tf.resource("google_project_service_identity.pubsub")
    assert identity["service"] == "pubsub.googleapis.com"
    # Beta-only in provider 8.x: without this, Terraform looks for it in google.
    assert identity["provider"] == "google-beta"
    grants = {
        "google_pubsub_topic_iam_member": tf.instances("google_pubsub_topic_iam_member"),
        "google_pubsub_subscription_iam_member": tf.instances(
            "google_pubsub_subscription_iam_member"
        ),
        "google_service_account_iam_member": tf.instances("google_service_account_iam_member"),
        "google_project_iam_member": tf.instances("google_project_iam_member"),
    }
    to_agent = [
        (rtype, address, body)
        for rtype, instances in grants.items()
        for address, body in instances.items()
        if tf.resolve(body["member"]) == PUBSUB_AGENT
    ]
    assert len(to_agent) >= 3, "dead letters, acks and OIDC tokens"
    for rtype, address, body in to_agent:
        assert depends_on(body, "google_project_service_identity", "pubsub"), (rtype, address)


def test_build_service_account_gets_the_cloud_build_role(tf: Terraform) -> None:
    build = tf.resource("google_project_iam_member.build")
    assert build["role"] == "roles/cloudbuild.builds.builder"
    assert build["count"] == "${var.grant_build_roles ? 1 : 0}"
    assert tf.default("grant_build_roles") is True
    assert build["member"] == "serviceAccount:${local.build_service_account}"
    assert tf.default("build_service_account") is None
    default_sa = "${data.google_project.this.number}-compute@developer.gserviceaccount.com"
    assert default_sa in tf.locals["build_service_account"]


def test_moved_blocks_map_old_addresses_onto_declared_instances(tf: Terraform) -> None:
    """State of a deployment made before the for_each refactor moves, not recreated."""
    assert tf.moved
    declared = {f"{rtype}.{address}" for rtype in tf.resources for address in tf.instances(rtype)}
    sources = [m["from"].removeprefix("${").removesuffix("}") for m in tf.moved]
    targets = [m["to"].removeprefix("${").removesuffix("}") for m in tf.moved]
    assert len(set(sources)) == len(sources) and len(set(targets)) == len(targets)
    for source, target in zip(sources, targets, strict=True):
        assert source not in declared, f"{source} is still declared"
        # A chain of moves (A -> B, B -> C) ends at a declared instance.
        assert target in declared or target in sources, f"moved to {target}, not declared"
    for rtype, named in {
        "google_pubsub_topic": ["conversion_requests", "conversion_finished", "direct_uploads"],
        "google_pubsub_subscription": ["conversion_requests_push", "conversion_finished_push"],
    }.items():
        for name in named:
            assert f"{rtype}.{name}" in sources, f"{rtype}.{name} has no moved block"


def test_outputs_point_at_the_push_audiences(tf: Terraform) -> None:
    assert tf.resolve(tf.outputs["worker_url"]["value"]) == WORKER_URL  # its health checks
    assert tf.resolve(tf.outputs["notify_url"]["value"]) == NOTIFY_URL
    assert tf.outputs["push_service_account_email"]["value"] == PUSH_SA
