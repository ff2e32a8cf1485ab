"""Numbers the deployment must respect, read from the real files (issue 22, items 10-12).

- Cloud SQL connections: every process's pool times how many of it may run at once
  must fit under the instance's max_connections (a database flag in sql.tf).
- App Engine standard's /tmp is memory: what one API instance may hold at once must
  fit its instance class.
- App Engine flexible restarts its VMs weekly (and scales in, and redeploys): the
  longest conversion allowed must be short next to that, and a restart must cost a
  retry, not the task.

The measured figures below come from this repository's benchmarks on the 2-core
development machine (docs/cost.md has the runs): change them with a new run.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from audioconv.config import Settings
from audioconv.entrypoints.appengine import MAX_REQUEST_BYTES
from tests.support.deploy_config import fake_has_version, fake_outputs, render
from tests.support.tfmodel import ROOT, Terraform

MIB = 1024 * 1024
# App Engine standard instance memory (MB), /tmp included: the platform's figures.
INSTANCE_MEMORY_MB = {"F1": 384, "F2": 768, "F4": 1536, "F4_1G": 3072}
# Measured (docs/cost.md): the API process with the Google client libraries loaded,
# after serving a few requests (VmHWM), and ffprobe's peak RSS on a 32 MB WAV.
API_PROCESS_MIB = 150
FFPROBE_PEAK_MIB = 41
# Head room left for what no one measured (Python's allocator, gunicorn's queue).
MEMORY_MARGIN = 0.8
# Connections PostgreSQL keeps for superusers (Cloud SQL's default
# superuser_reserved_connections): not available to the services.
RESERVED_CONNECTIONS = 3
# Cloud Run job executions that can be connected at once: one migration; two sweeps
# (one running late when the next starts: a sweep takes seconds, every 5 minutes).
JOB_EXECUTIONS = {"migrate": 1, "sweep": 2}
# Measured by bench/bench_cost.py (docs/cost.md): the slowest format family (opus),
# conversion plus report pass, CPU seconds per hour of input audio; and the slowest
# wall-clock transfer assumed for the worker's disk <-> Cloud Storage.
WORST_CPU_SECONDS_PER_AUDIO_HOUR = 151
TRANSFER_BYTES_PER_SECOND = 50 * 10**6
WEEK_SECONDS = 7 * 24 * 3600
SERVICES = ("app.yaml", "notify.yaml", "worker.yaml")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / name).read_text())
    assert isinstance(data, dict)
    return data


def pool(env: dict[str, str]) -> int:
    """Connections one process may open: pool_size + max_overflow (code defaults)."""
    fields = Settings.model_fields
    size = int(env.get("AUDIOCONV_DB_POOL_SIZE", fields["db_pool_size"].default))
    overflow = int(env.get("AUDIOCONV_DB_MAX_OVERFLOW", fields["db_max_overflow"].default))
    return size + overflow


def max_instances(service: dict[str, Any]) -> int:
    scaling = service["automatic_scaling"]
    return int(scaling.get("max_instances", scaling.get("max_num_instances")))


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform.load()


@pytest.fixture(scope="module")
def job_envs(tf: Terraform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    out = tmp_path_factory.mktemp("capacity")
    render.render(fake_outputs(tf), fake_has_version, out / ".deploy", out)
    return {
        job: yaml.safe_load((out / ".deploy" / f"{job}.env.yaml").read_text())
        for job in JOB_EXECUTIONS
    }


def connections(job_envs: dict[str, dict[str, str]]) -> dict[str, int]:
    """Most connections each process kind may hold at once."""
    used = {}
    for name in SERVICES:
        service = load(name)
        used[name] = max_instances(service) * pool(service["env_variables"])
    for job, executions in JOB_EXECUTIONS.items():
        used[job] = executions * pool(job_envs[job])
    return used


def test_every_connection_fits_under_max_connections(
    tf: Terraform, job_envs: dict[str, dict[str, str]]
) -> None:
    flags = tf.resource("google_sql_database_instance.main")["settings"][0]["database_flags"]
    flag = next(f["value"] for f in flags if f["name"] == "max_connections")
    assert flag == "${tostring(var.db_max_connections)}"
    limit = tf.default("db_max_connections")
    used = connections(job_envs)
    total = sum(used.values()) + RESERVED_CONNECTIONS
    assert total <= limit, f"{used} + {RESERVED_CONNECTIONS} reserved = {total} > {limit}"
    # The shape issue 22 found: 5 + 2 per process, 20 API, 5 notify, 10 worker.
    assert (20 + 5 + 10) * (5 + 2) == 245 > limit


def test_no_process_opens_more_connections_than_it_has_threads() -> None:
    """A pool larger than a process's concurrency only holds idle connections."""
    api = load("app.yaml")["env_variables"]
    assert pool(api) == int(api["THREADS"])
    notify = load("notify.yaml")["env_variables"]
    assert pool(notify) <= int(notify["THREADS"])
    worker = load("worker.yaml")["env_variables"]
    # A conversion slot, a report pass and a finalize pull at once.
    assert pool(worker) == int(worker["AUDIOCONV_MAX_CONCURRENT_CONVERSIONS"]) + 2


def test_an_api_instance_holds_what_it_accepts_in_memory() -> None:
    """Issue 22, item 11: /tmp is memory. gunicorn reads a request's body only in one
    of its THREADS threads, so at most THREADS uploads (each capped at App Engine's
    32 MB) are spooled at once, each with its ffprobe child."""
    api = load("app.yaml")
    threads = int(api["env_variables"]["THREADS"])
    memory = INSTANCE_MEMORY_MB[api["instance_class"]]
    per_request = MAX_REQUEST_BYTES / MIB + FFPROBE_PEAK_MIB
    held = API_PROCESS_MIB + threads * per_request
    assert held <= MEMORY_MARGIN * memory, (held, memory)
    assert api["automatic_scaling"]["max_concurrent_requests"] >= threads, "keep threads busy"
    # What issue 22 found: 40 requests at once, each spooling 32 MB.
    assert API_PROCESS_MIB + 40 * per_request > memory


def test_the_notifier_fits_its_instance() -> None:
    notify = load("notify.yaml")
    assert notify["instance_class"] == "F1"
    assert MEMORY_MARGIN * INSTANCE_MEMORY_MB["F1"] >= API_PROCESS_MIB


def test_the_longest_conversion_is_short_next_to_a_weekly_restart() -> None:
    """Issue 22, item 12: App Engine flexible restarts each VM weekly (and a scale-in or
    a deploy stops one). A stopped conversion starts over on another instance; what it
    costs is bounded by the longest conversion allowed."""
    worker = load("worker.yaml")
    env = worker["env_variables"]
    settings = Settings(
        max_input_seconds=float(env["AUDIOCONV_MAX_INPUT_SECONDS"]),
        max_upload_bytes=int(env["AUDIOCONV_MAX_UPLOAD_BYTES"]),
        max_output_bytes=int(env["AUDIOCONV_MAX_OUTPUT_BYTES"]),
        max_concurrent_conversions=int(env["AUDIOCONV_MAX_CONCURRENT_CONVERSIONS"]),
    )
    cores_per_slot = worker["resources"]["cpu"] / settings.conversion_slots
    assert cores_per_slot >= 1
    cpu = settings.max_input_seconds / 3600 * WORST_CPU_SECONDS_PER_AUDIO_HOUR
    transfer = (settings.max_upload_bytes + settings.max_output_bytes) / TRANSFER_BYTES_PER_SECOND
    longest = cpu / cores_per_slot + transfer
    assert longest < 30 * 60, f"a 6-hour input takes {longest / 60:.0f} min"
    # Odds that one weekly restart lands on a given longest conversion: under 0.5 %.
    assert longest / WEEK_SECONDS < 0.005
    # ffmpeg's CPU limit is far above what a conversion needs (it only stops runaways).
    limit = settings.ffmpeg_cpu_seconds_per_input_second * 3600
    assert limit >= 10 * WORST_CPU_SECONDS_PER_AUDIO_HOUR
    # The lease the client library keeps extending outlasts the longest conversion.
    assert settings.resolved_max_lease_seconds > longest


def test_a_restart_costs_a_retry_not_the_task(tf: Terraform) -> None:
    """A stopped conversion's message comes back (one delivery of
    max_delivery_attempts) and its claim counts one attempt of max_attempts: both
    leave several restarts' room before a task fails or a message is dead-lettered."""
    deliveries = tf.default("max_delivery_attempts")
    attempts = Settings.model_fields["max_attempts"].default
    assert deliveries >= 5 and attempts >= 3
    subs = tf.instances("google_pubsub_subscription")
    pulled = [s for s in subs.values() if "push_config" not in s and "dead_letter_policy" in s]
    assert pulled and all(
        s["dead_letter_policy"][0]["max_delivery_attempts"] == "${var.max_delivery_attempts}"
        for s in pulled
    )
