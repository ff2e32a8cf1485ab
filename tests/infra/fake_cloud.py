"""A stand-in for ``gcloud`` and ``terraform`` that remembers a project, for deploy tests.

There is no Google Cloud account here, so tests/infra/test_deploy.py puts this on
PATH under both names (small wrappers) and runs scripts/deploy.sh against it. It
answers the look-ups deploy.sh makes from a JSON state file (``FAKE_CLOUD_STATE``)
and applies the changes deploy.sh makes to it, logging every call, one JSON list
of arguments per line, to ``FAKE_CLOUD_LOG``. Unknown commands fail loudly, so a
command the script starts to use must be taught here first.

    python fake_cloud.py gcloud ARGS...   |   python fake_cloud.py terraform ARGS...
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

# Commands (their leading words) that change the project; everything else only reads.
CHANGES = {
    "gcloud": [
        "services enable", "storage buckets create", "storage buckets update",
        "builds submit", "run jobs deploy", "run jobs add-iam-policy-binding",
        "run jobs execute", "storage cp", "app update", "app deploy",
        "app services set-traffic", "app versions start", "app versions delete",
    ],
    "terraform": ["apply"],
}  # fmt: skip


def words(args: list[str]) -> list[str]:
    return [a for a in args if not a.startswith("-")]


def flag(args: list[str], name: str) -> str | None:
    for a in args:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None


def is_change(tool: str, args: list[str]) -> bool:
    joined = " ".join(words(args))
    return any(joined.startswith(c) for c in CHANGES[tool])


class Cloud:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        self.state.setdefault("apis", [])
        self.state.setdefault("buckets", {})
        self.state.setdefault("images", [])
        self.state.setdefault("jobs", {})
        self.state.setdefault("executions", [])
        self.state.setdefault("objects", {})
        self.state.setdefault("versions", {})  # service -> [{id, created, status}]
        self.state.setdefault("traffic", {})  # service -> version id

    def save(self) -> None:
        self.path.write_text(json.dumps(self.state, indent=1))

    # -- terraform -------------------------------------------------------------
    def terraform(self, args: list[str]) -> int:
        w = words(args)
        if w[0] == "init":
            return 0
        if w[0] == "plan":
            config = self.state.get("tf_config_wanted", "v1")
            return 0 if self.state.get("tf_applied") == config else 2
        if w[0] == "apply":
            self.state["tf_applied"] = self.state.get("tf_config_wanted", "v1")
            return 0
        if w[0] == "output" and "-json" in args:
            if not self.state.get("tf_applied"):
                print("no outputs", file=sys.stderr)
                return 1
            print(json.dumps({k: {"value": v} for k, v in self.state["outputs"].items()}))
            return 0
        raise SystemExit(f"fake terraform: unknown command {args}")

    # -- gcloud ------------------------------------------------------------------
    def gcloud(self, args: list[str]) -> int:
        w, s = words(args), self.state
        cmd = " ".join(w)
        if cmd == "services list":
            print("\n".join(s["apis"]))
        elif cmd.startswith("services enable"):
            s["apis"] += [a for a in w[2:] if a not in s["apis"]]
        elif cmd.startswith("storage buckets describe"):
            return 0 if w[3] in s["buckets"] else 1
        elif cmd.startswith("storage buckets create"):
            s["buckets"][w[3]] = {"versioning": False}
        elif cmd.startswith("storage buckets update"):
            s["buckets"][w[3]]["versioning"] = "--versioning" in args
        elif cmd.startswith("projects describe"):
            print("123456789012")
        elif cmd.startswith("iam service-accounts describe"):
            print(w[3])
        elif cmd.startswith("secrets versions describe"):
            print("ENABLED")
        elif cmd.startswith("artifacts docker images describe"):
            return 0 if w[4] in s["images"] else 1
        elif cmd.startswith("builds submit"):
            if flag(args, "tag"):
                s["images"].append(flag(args, "tag"))
            else:  # --config=cloudbuild.yaml: the images its substitutions name
                config = Path(flag(args, "config") or "").read_text()
                given = dict(
                    kv.split("=", 1) for kv in (flag(args, "substitutions") or "").split(",")
                )
                for name in re.findall(r"--tag=\$\{(_[A-Z_]+)\}", config):
                    s["images"].append(given[name])
        elif cmd.startswith("run jobs describe"):
            job = s["jobs"].get(w[3])
            if job is None:
                return 1
            print(job["labels"].get("audioconv-config", ""))
        elif cmd.startswith("run jobs deploy"):
            labels = dict(kv.split("=", 1) for kv in (flag(args, "labels") or "").split(",") if kv)
            old = s["jobs"].get(w[3], {})
            s["jobs"][w[3]] = {
                "image": flag(args, "image"), "args": flag(args, "args"), "labels": labels,
                "invokers": old.get("invokers", []),
            }  # fmt: skip
        elif cmd.startswith("run jobs get-iam-policy"):
            job = s["jobs"].get(w[3])
            if job is None:
                return 1
            print(
                json.dumps(
                    {"bindings": [{"role": "roles/run.invoker", "members": job["invokers"]}]}
                )
            )
        elif cmd.startswith("run jobs add-iam-policy-binding"):
            s["jobs"][w[3]]["invokers"].append(flag(args, "member"))
        elif cmd.startswith("run jobs execute"):
            s["executions"].append({"job": w[3], "image": s["jobs"][w[3]]["image"]})
        elif cmd.startswith("storage objects describe"):
            return 0 if w[3] in s["objects"] else 1
        elif cmd.startswith("storage cp"):
            s["objects"][w[3]] = Path(w[2]).read_text()
        elif cmd == "app describe":
            print(s.get("app_service_account", ""))
        elif cmd == "app update":
            s["app_service_account"] = flag(args, "service-account")
        elif cmd.startswith("app services describe"):
            serving = s["traffic"].get(w[3])
            if serving is None:
                return 1
            print(f"{serving}=1.0")
        elif cmd.startswith("app services set-traffic"):
            version = (flag(args, "splits") or "").split("=")[0]
            s["traffic"][w[3]] = version
            self._version(w[3], version)["status"] = "SERVING"
        elif cmd.startswith("app versions describe"):
            version = self._version(flag(args, "service") or "", w[3], create=False)
            if version is None:
                return 1
            print(version["status"] if "servingStatus" in (flag(args, "format") or "") else w[3])
        elif cmd.startswith("app versions list"):
            service = flag(args, "service") or ""
            for v in sorted(s["versions"].get(service, []), key=lambda v: -v["created"]):
                split = "1.00" if s["traffic"].get(service) == v["id"] else "0.00"
                print(f"{v['id']}\t{split}")
        elif cmd.startswith("app versions delete"):
            service = flag(args, "service") or ""
            s["versions"][service] = [v for v in s["versions"][service] if v["id"] not in w[3:]]
        elif cmd.startswith("app versions start"):
            self._version(flag(args, "service") or "", w[3])["status"] = "SERVING"
        elif cmd.startswith("app deploy"):
            text = Path(w[2]).read_text()
            service = "default"
            for line in text.splitlines():
                if line.startswith("service:"):
                    service = line.split(":", 1)[1].strip()
            version = flag(args, "version") or "v"
            self._version(service, version)["account"] = next(
                (ln.split(":", 1)[1].strip() for ln in text.splitlines()
                 if ln.startswith("service_account:")), None,
            )  # fmt: skip
            old = s["traffic"].get(service)
            if old and service == "worker":  # flexible: the old version is stopped
                self._version(service, old)["status"] = "STOPPED"
            s["traffic"][service] = version
        else:
            raise SystemExit(f"fake gcloud: unknown command {args}")
        return 0

    def _version(self, service: str, vid: str, create: bool = True) -> Any:
        versions = self.state["versions"].setdefault(service, [])
        for v in versions:
            if v["id"] == vid:
                return v
        if not create:
            return None
        v = {
            "id": vid,
            "created": sum(len(v) for v in self.state["versions"].values()),
            "status": "SERVING",
        }
        versions.append(v)
        return v


def main(argv: list[str]) -> int:
    tool, args = argv[1], argv[2:]
    with open(os.environ["FAKE_CLOUD_LOG"], "a") as log:
        log.write(json.dumps([tool, *args]) + "\n")
    cloud = Cloud(Path(os.environ["FAKE_CLOUD_STATE"]))
    code = cloud.terraform(args) if tool == "terraform" else cloud.gcloud(args)
    cloud.save()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
