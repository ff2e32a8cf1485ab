"""Parse App Engine yaml files with the installed gcloud's own parser; print JSON.

Run by tests/infra/test_appengine.py under gcloud's Python, with the SDK's
``lib`` and ``lib/third_party`` first on sys.path (this file imports nothing
from the project, and keeps to what every Python gcloud supports)::

    python3 gcloud_appyaml.py SDK_ROOT app.yaml worker.yaml ... app.deploy.yaml ...

``googlecloudsdk.api_lib.app.yaml_parsing`` is what ``gcloud app deploy``
parses deployables with: it validates them with ``appinfo`` / ``croninfo`` and
merges each service's ``includes:`` into its ``env_variables``. A file it
refuses is reported as ``{"error": ...}``.
"""

import json
import os
import sys


def main(argv):
    sdk = argv[1]
    sys.path[:0] = [os.path.join(sdk, "lib"), os.path.join(sdk, "lib", "third_party")]
    from googlecloudsdk.api_lib.app import yaml_parsing

    out = {}
    for path in argv[2:]:
        name = os.path.basename(path)
        try:
            config = yaml_parsing.ConfigYamlInfo.FromFile(path)
            if config is not None:
                out[name] = {"config": config.config, "parsed": config.parsed.ToDict()}
                continue
            info = yaml_parsing.ServiceYamlInfo.FromFile(path)
        except Exception as exc:  # any refusal is the answer
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        parsed = info.parsed
        out[name] = {
            "service": info.module,
            "environment": info.env.name,
            "second_generation": bool(info.is_ti_runtime),
            "runtime": parsed.runtime,
            "entrypoint": parsed.entrypoint,
            "instance_class": parsed.instance_class,
            "service_account": parsed.service_account,
            "parsed": parsed.ToDict(),
        }
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv)
