"""A small static model of infra/terraform, parsed with python-hcl2 (no provider needed).

Values keep Terraform's interpolation syntax; ``resolve`` substitutes
``local.*`` and ``var.*`` (by default) so tests can read what a push endpoint
or a name will be, while references to resource attributes stay as text.
``instances`` expands ``for_each`` over a local map or list into one body per
instance (address ``NAME["KEY"]``) with ``each.key`` and ``each.value``
substituted.
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
_LOCAL = re.compile(r"\$\{local\.([A-Za-z0-9_]+)\}")
_EACH_VALUE_INTERP = re.compile(r"\$\{each\.value(?:\.([A-Za-z0-9_]+))?\}")
_EACH_VALUE = re.compile(r"\beach\.value(?:\.([A-Za-z0-9_]+))?\b")


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


def _each_value(value: Any, attr: str | None) -> Any:
    return value if attr is None else value[attr]


def _as_expression(value: Any) -> str:
    """A value as it would stand inside ``${...}``."""
    if isinstance(value, str):
        m = re.fullmatch(r"\$\{(.*)\}", value)
        return m.group(1) if m else '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def substitute_each(node: Any, key: str, value: Any) -> Any:
    """Replace each.key / each.value[.attr] in a resource body by one instance's."""
    if isinstance(node, dict):
        return {k: substitute_each(v, key, value) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_each(v, key, value) for v in node]
    if not isinstance(node, str) or "each." not in node:
        return node
    whole = _EACH_VALUE_INTERP.fullmatch(node)
    if whole:
        return _each_value(value, whole.group(1))
    if node == "${each.key}":
        return key
    # Template interpolations: "...${each.key}..." / "...${each.value.attr}...".
    text = node.replace("${each.key}", key)
    text = _EACH_VALUE_INTERP.sub(lambda m: str(_each_value(value, m.group(1))), text)
    # Inside larger expressions, e.g. topics[each.key] or topics[each.value.topic].
    text = re.sub(r"\beach\.key\b", _as_expression(key), text)
    text = _EACH_VALUE.sub(lambda m: _as_expression(_each_value(value, m.group(1))), text)
    assert "each." not in text, f"cannot substitute each.* in {node!r}"
    return text


@dataclass
class Terraform:
    files: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform_blocks: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)

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
            model.moved += doc.get("moved", [])
        return model

    def resource(self, address: str) -> dict[str, Any]:
        rtype, name = address.split(".")
        return self.resources[rtype][name]

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(rtype, {})

    def for_each(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Instance key -> each.value, when for_each is a local map or list (else None)."""
        m = _LOCAL.fullmatch(str(body.get("for_each", "")))
        if not m or m.group(1) not in self.locals:
            return None
        collection = self.locals[m.group(1)]
        if isinstance(collection, dict):
            return dict(collection)
        if isinstance(collection, list):
            return {item: item for item in collection}
        return None

    def instances(self, rtype: str) -> dict[str, dict[str, Any]]:
        """Address (NAME or NAME["KEY"]) -> body of every instance of a resource type.

        Resources whose for_each cannot be expanded statically stay one body."""
        out: dict[str, dict[str, Any]] = {}
        for name, body in self.of_type(rtype).items():
            each = self.for_each(body)
            if each is None:
                out[name] = body
                continue
            rest = {k: v for k, v in body.items() if k != "for_each"}
            for key, value in each.items():
                out[f'{name}["{key}"]'] = substitute_each(rest, key, value)
        return out

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
    """`${rtype.NAME.attr}` -> NAME, `${rtype.NAME["KEY"].attr}` -> NAME["KEY"]: the
    address of the instance referenced, as in ``Terraform.instances`` (None when
    value references no such resource, or an instance by a key that is not a string).
    """
    pattern = r"\$\{" + re.escape(rtype) + r'\.([A-Za-z0-9_]+)(\["[^"\]]+"\])?\.[a-z_]+\}'
    m = re.fullmatch(pattern, value)
    return m.group(1) + (m.group(2) or "") if m else None
