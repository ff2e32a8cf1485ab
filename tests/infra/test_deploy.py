"""scripts/deploy.sh against a stand-in of gcloud and terraform (tests/infra/fake_cloud.py).

There is no Google Cloud account here: the stand-in remembers one project in a JSON
file, answers deploy.sh's look-ups from it and applies its changes to it. What is
checked: the dry run's commands and their order from an empty project, with nothing
changed; a real run reaching a serving project (each service as its own account,
migrations run once in the cloud, the URL printed); a second run changing nothing;
a change of one file redeploying only what it touches; and --rollback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.fake_cloud import is_change
from tests.support.deploy_config import fake_outputs
from tests.support.tfmodel import ROOT, Terraform

PROJECT = "audioconv-test-1"
# What deploy.sh hashes and deploys, copied into a scratch repository per test.
COPIED = [
    "Dockerfile", ".dockerignore", ".gcloudignore", ".gitignore", "cloudbuild.yaml",
    "requirements.txt",
    "app.yaml", "worker.yaml", "notify.yaml", "scripts", "functions", "shared",
]  # fmt: skip


@dataclass
class Cloud:
    repo: Path
    state: Path
    log: Path
    env: dict[str, str]

    def deploy(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        proc = subprocess.run(
            [str(self.repo / "scripts" / "deploy.sh"), PROJECT, *args],
            capture_output=True, text=True, env=self.env, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def changes(self) -> list[list[str]]:
        return [c for c in self.calls() if is_change(c[0], c[1:])]

    def project(self) -> dict[str, Any]:
        return json.loads(self.state.read_text())


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / name)
    (repo / "infra" / "terraform").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = Path(__file__).with_name("fake_cloud.py")
    for tool in ("gcloud", "terraform"):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {fake} {tool} "$@"\n')
        wrapper.chmod(0o755)
    state = tmp_path / "project.json"
    outputs = fake_outputs(Terraform.load(), project=PROJECT)
    state.write_text(json.dumps({"outputs": outputs}))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_CLOUD_STATE": str(state),
        "FAKE_CLOUD_LOG": str(tmp_path / "calls.log"),
    }
    yield Cloud(repo, state, tmp_path / "calls.log", env)


def printed(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The commands a run printed as changes ("+ " lines)."""
    return [line[2:] for line in proc.stdout.splitlines() if line.startswith("+ ")]


# Each step of a deploy from an empty project, as the start of its command line.
STATE = "gs://audioconv-test-1-tfstate"
FROM_ZERO = [
    "gcloud --project=audioconv-test-1 --quiet services enable serviceusage.googleapis.com",
    f"gcloud --project=audioconv-test-1 --quiet storage buckets create {STATE}",
    f"gcloud --project=audioconv-test-1 --quiet storage buckets update {STATE} --versioning",
    "terraform -chdir=",  # init, with the state bucket
    "terraform -chdir=",  # apply of the plan
    "gcloud --project=audioconv-test-1 --quiet builds submit",
    "gcloud --project=audioconv-test-1 --quiet run jobs deploy audioconv-migrate",
    "gcloud --project=audioconv-test-1 --quiet run jobs deploy audioconv-sweep",
    "gcloud --project=audioconv-test-1 --quiet run jobs add-iam-policy-binding audioconv-sweep",
    "gcloud --project=audioconv-test-1 --quiet run jobs execute audioconv-migrate",
    "gcloud --project=audioconv-test-1 --quiet storage cp",
    "gcloud --project=audioconv-test-1 --quiet app update --service-account=audioconv-api@",
    "gcloud --project=audioconv-test-1 --quiet app deploy",  # default
    "gcloud --project=audioconv-test-1 --quiet app deploy",  # worker
    "gcloud --project=audioconv-test-1 --quiet app deploy",  # notify
]  # fmt: skip


def test_a_dry_run_prints_every_command_and_changes_nothing(cloud: Cloud) -> None:
    proc = cloud.deploy("--dry-run")
    commands = [c for c in printed(proc) if not c.startswith("python3 ")]
    assert len(commands) == len(FROM_ZERO), "\n".join(commands)
    for command, start in zip(commands, FROM_ZERO, strict=True):
        assert command.startswith(start), (command, start)
    assert "init -input=false -backend-config=bucket=audioconv-test-1-tfstate" in commands[3]
    assert commands[4].endswith("apply -input=false " + str(cloud.repo / ".deploy" / "tfplan"))
    deploys = [c for c in commands if " app deploy " in c]
    assert [c.split(" app deploy ")[1].split()[0] for c in deploys] == [
        str(cloud.repo / name)
        for name in ("app.deploy.yaml", "worker.deploy.yaml", "notify.deploy.yaml")
    ]
    # The worker runs the image's worker target (its command: audioconv pull-worker).
    repository = "us-central1-docker.pkg.dev/audioconv-test-1/audioconv"
    assert f"--image-url={repository}/audioconv-worker:" in deploys[1]
    assert f"--config={cloud.repo / 'cloudbuild.yaml'}" in commands[5]
    assert "--wait" in commands[9]
    assert cloud.changes() == [], "a dry run changed the project"
    # Before the first apply the URL is not known yet (its region ID is Google's).
    assert proc.stdout.rstrip().endswith("audioconv is deployed: <terraform output api_url>")


def test_a_deploy_serves_each_service_as_its_own_account_then_changes_nothing(
    cloud: Cloud,
) -> None:
    first = cloud.deploy()
    project = cloud.project()
    outputs = project["outputs"]
    accounts = outputs["service_accounts"]
    assert {"serviceusage.googleapis.com", "compute.googleapis.com"} <= set(project["apis"])
    assert project["buckets"] == {"gs://audioconv-test-1-tfstate": {"versioning": True}}
    assert project["tf_applied"]
    image, worker_image = project["images"]  # the Dockerfile's two targets, one build
    assert worker_image == image.replace("/audioconv:", "/audioconv-worker:")
    # The jobs run the one image, each as its own account; migrations ran once, in
    # the cloud, granting every service's IAM database user data access.
    assert {j["image"] for j in project["jobs"].values()} == {image}
    migrate = project["jobs"]["audioconv-migrate"]
    assert migrate["args"].split(",") == [
        "migrate",
        *(f"--grant-to=audioconv-{k}@{PROJECT}.iam" for k in ("api", "notify", "sweep", "worker")),
    ]
    assert project["executions"] == [{"job": "audioconv-migrate", "image": image}]
    assert project["jobs"]["audioconv-sweep"]["invokers"] == [
        f"serviceAccount:{outputs['scheduler_service_account_email']}"
    ]
    assert project["app_service_account"] == accounts["api"]
    for service, account in (("default", "api"), ("worker", "worker"), ("notify", "notify")):
        (version,) = project["versions"][service]
        assert project["traffic"][service] == version["id"]
        assert version["account"] == accounts[account], service
    assert first.stdout.rstrip().endswith(f"audioconv is deployed: {outputs['api_url']}")

    again = cloud.deploy()
    assert cloud.changes() == [], "a second deploy with nothing changed changed something"
    assert printed(again) == []
    assert cloud.project() == project
    cloud.deploy("--dry-run")
    assert cloud.changes() == []


def test_a_changed_service_yaml_redeploys_that_service_only(cloud: Cloud) -> None:
    cloud.deploy()
    notify = cloud.repo / "notify.yaml"
    notify.write_text(notify.read_text().replace('THREADS: "4"', 'THREADS: "3"'))
    proc = cloud.deploy()
    changes = cloud.changes()
    assert [c[3:5] for c in changes] == [["app", "deploy"]], printed(proc)
    assert changes[0][5].endswith("notify.deploy.yaml")
    assert len(cloud.project()["versions"]["notify"]) == 2


def test_changed_code_builds_migrates_and_redeploys_once(cloud: Cloud) -> None:
    cloud.deploy()
    code = cloud.repo / "shared" / "audioconv" / "__init__.py"
    code.write_text(code.read_text() + "\n# a change\n")
    cloud.deploy()
    project = cloud.project()
    assert len(project["images"]) == 2 * 2 and len(project["executions"]) == 2
    assert all(len(v) == 2 for v in project["versions"].values())
    cloud.deploy()
    assert cloud.changes() == []


def test_rollback_returns_each_service_to_its_previous_version(cloud: Cloud) -> None:
    cloud.deploy()
    first = {s: v[0]["id"] for s, v in cloud.project()["versions"].items()}
    code = cloud.repo / "functions" / "notify" / "main.py"
    code.write_text(code.read_text() + "\n# a change\n")
    cloud.deploy()
    assert all(cloud.project()["traffic"][s] != first[s] for s in first)

    dry = cloud.deploy("--rollback", "--dry-run")
    assert cloud.changes() == []
    commands = printed(dry)
    prefix = f"gcloud --project={PROJECT} --quiet"
    assert commands == [
        f"{prefix} app services set-traffic default --splits={first['default']}=1",
        # The flexible worker's previous version was stopped by the deploy.
        f"{prefix} app versions start {first['worker']} --service=worker",
        f"{prefix} app services set-traffic worker --splits={first['worker']}=1",
        f"{prefix} app services set-traffic notify --splits={first['notify']}=1",
    ]
    cloud.deploy("--rollback")
    assert cloud.project()["traffic"] == first


def test_with_a_private_ip_the_jobs_egress_through_the_vpc(cloud: Cloud) -> None:
    """Issue 22, item 4: migrations reach a private-IP-only instance from the cloud."""
    project = cloud.project()
    network = f"projects/{PROJECT}/global/networks/private"
    subnet = f"projects/{PROJECT}/regions/us-central1/subnetworks/jobs"
    project["outputs"] |= {"db_private_ip": True, "db_private_network": network,
                           "job_subnetwork": subnet}  # fmt: skip
    cloud.state.write_text(json.dumps(project))
    cloud.deploy()
    deploys = [c for c in cloud.changes() if c[3:6] == ["run", "jobs", "deploy"]]
    assert len(deploys) == 2
    for call in deploys:
        assert f"--network={network}" in call and f"--subnet={subnet}" in call, call
        assert "--vpc-egress=private-ranges-only" in call
    env = (cloud.repo / ".deploy" / "migrate.env.yaml").read_text()
    assert 'AUDIOCONV_DB_PRIVATE_IP: "true"' in env


def test_versions_past_the_newest_five_without_traffic_are_deleted(cloud: Cloud) -> None:
    project = cloud.project()
    project["versions"] = {
        "notify": [{"id": f"old-{n}", "created": -10 + n, "status": "SERVING"} for n in range(6)]
    }
    project["traffic"] = {"notify": "old-5"}
    cloud.state.write_text(json.dumps(project))
    cloud.deploy()  # a new notify version, then the oldest two beyond five go
    left = [v["id"] for v in cloud.project()["versions"]["notify"]]
    assert left == ["old-2", "old-3", "old-4", "old-5", cloud.project()["traffic"]["notify"]]
    cloud.deploy()
    assert cloud.changes() == []
