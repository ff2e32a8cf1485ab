"""A small static model of infra/terraform, parsed with python-hcl2 (no provider needed).

Values keep Terraform's interpolation syntax; ``resolve`` substitutes
``local.*`` and ``var.*`` (by default) so tests can read what a push endpoint
or a name will be, while references to resource attributes stay as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "infra" / "terraform"

_META_KEYS = {"__is_block__", "__comments__", "__start_line__", "__end_line__"}
_REF = re.compile(r"\$\{(local|var)\.([A-Za-z0-9_]+)\}")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def normalize(node: Any) -> Any:
    """Strip python-hcl2's quotes and metadata keys."""
    if isinstance(node, dict):
        return {_unquote(k): normalize(v) for k, v in node.items() if k not in _META_KEYS}
    if isinstance(node, list):
        return [normalize(v) for v in node]
    if isinstance(node, str):
        return _unquote(node)
    return node


@dataclass
class Terraform:
    files: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform_blocks: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, tf_dir: Path = TF_DIR) -> Terraform:
        files = {}
        for path in sorted(tf_dir.glob("*.tf")):
            with path.open() as f:
                files[path.name] = normalize(hcl2.load(f))
        model = cls(files)
        for doc in files.values():
            for kind, target in (("resource", model.resources), ("data", model.data)):
                for entry in doc.get(kind, []):
                    for rtype, named in entry.items():
                        for name, body in named.items():
                            assert name not in target.setdefault(rtype, {}), f"{rtype}.{name} twice"
                            target[rtype][name] = body
            for entry in doc.get("variable", []):
                model.variables.update(entry)
            for entry in doc.get("output", []):
                model.outputs.update(entry)
            for entry in doc.get("locals", []):
                model.locals.update(entry)
            model.terraform_blocks += doc.get("terraform", [])
        return model

    def resource(self, address: str) -> dict[str, Any]:
        rtype, name = address.split(".")
        return self.resources[rtype][name]

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(rtype, {})

    def default(self, var: str) -> Any:
        return self.variables[var].get("default")

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """Substitute local.* and var.* (defaults) until only resource references are left."""
        if not isinstance(value, str) or depth > 20:
            return value

        def sub(m: re.Match[str]) -> str:
            kind, name = m.group(1), m.group(2)
            if kind == "local":
                if name not in self.locals:
                    return m.group(0)
                resolved = self.resolve(self.locals[name], depth + 1)
            else:
                if name not in self.variables or "default" not in self.variables[name]:
                    return m.group(0)
                resolved = self.default(name)
            return resolved if isinstance(resolved, str) else str(resolved)

        whole = _REF.fullmatch(value)
        if whole:
            kind, name = whole.groups()
            if kind == "var" and name in self.variables and "default" in self.variables[name]:
                default = self.default(name)
                if not isinstance(default, str):
                    return default
        new = _REF.sub(sub, value)
        return new if new == value else self.resolve(new, depth + 1)


def ref_name(value: str, rtype: str) -> str | None:
    """`${rtype.NAME.attr}` -> NAME (None when value references no such resource)."""
    pattern = r"\$\{" + re.escape(rtype) + r"\.([A-Za-z0-9_]+)(\[[^\]]+\])?\.[a-z_]+\}"
    m = re.fullmatch(pattern, value)
    return m.group(1) if m else None
