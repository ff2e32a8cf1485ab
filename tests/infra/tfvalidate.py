"""Check Terraform configuration against the providers' real schemas, offline.

What ``terraform validate`` would reject without a provider download: an
unknown resource, data source or ephemeral resource type, an unknown backend or
backend argument, an argument or nested block the
provider does not have, a block written as an argument (or the reverse), a
missing required argument or block, a resource of a provider that is not in
``required_providers``, version constraints that exclude the release the
schema comes from, and references to undeclared resources or to attributes
their type does not have. Expressions are not evaluated otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import hcl2

from tests.infra import tfschema
from tests.infra.tfschema import Block, ProviderSchema

# Meta-arguments Terraform itself accepts in resource and data blocks.
RESOURCE_META_ARGS = {"count", "for_each", "depends_on", "provider"}
RESOURCE_META_BLOCKS = {"lifecycle", "provisioner", "connection"}
DATA_META_BLOCKS = {"lifecycle"}
_META_KEYS = {"__is_block__", "__comments__", "__start_line__", "__end_line__"}
_PROVIDER_REF = re.compile(r"\$\{([A-Za-z][\w-]*)(?:\.[\w-]+)?\}")
# TYPE.NAME[KEY].ATTR, data.TYPE.NAME.ATTR or ephemeral.TYPE.NAME.ATTR in an expression.
_REFERENCE = re.compile(
    r"(?<![\w.-])(data\.|ephemeral\.)?((?:google|random|time)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"
    r"(?:\[[^\]]*\])?(?:\.([A-Za-z_]\w*))?"
)
KINDS = ("resource", "data", "ephemeral")


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def parse(text: str) -> dict[str, Any]:
    """Raw python-hcl2 parse: blocks are lists of dicts marked ``__is_block__``."""
    return dict(hcl2.loads(text))


def parse_dir(tf_dir: Path) -> dict[str, dict[str, Any]]:
    return {p.name: parse(p.read_text()) for p in sorted(tf_dir.glob("*.tf"))}


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def check_block(
    body: Mapping[str, Any],
    schema: Block,
    where: str,
    meta_args: Iterable[str] = (),
    meta_blocks: Iterable[str] = (),
) -> list[str]:
    """Errors of one block body against its schema (recursing into nested blocks)."""
    errors: list[str] = []
    present: set[str] = set()
    meta_args, meta_blocks = set(meta_args), set(meta_blocks)
    for key, value in body.items():
        if key in _META_KEYS:
            continue
        if key == "dynamic" and isinstance(value, list):
            for entry in value:
                for label, dyn in entry.items():
                    if label in _META_KEYS:
                        continue
                    name = _unquote(label)
                    present.add(name)
                    if name not in schema.blocks:
                        errors.append(f"{where}: dynamic {name!r}: unsupported block type")
                        continue
                    for content in dyn.get("content", []):
                        errors += check_block(content, schema.nested(name), f"{where}.{name}")
            continue
        if _is_block(value):
            present.add(key)
            if key in meta_blocks:
                continue
            if key not in schema.blocks:
                hint = (
                    " (it is an argument: write `name = value`)" if key in schema.attributes else ""
                )
                errors.append(f"{where}: unsupported block type {key!r}{hint}")
                continue
            for item in value:
                errors += check_block(item, schema.nested(key), f"{where}.{key}")
            continue
        present.add(key)
        if key in meta_args:
            continue
        if key not in schema.attributes:
            hint = f" (it is a block: write `{key} {{ ... }}`)" if key in schema.blocks else ""
            errors.append(f"{where}: unsupported argument {key!r}{hint}")
    for name, required in sorted(schema.attributes.items()):
        if required and name not in present:
            errors.append(f"{where}: missing required argument {name!r}")
    for name, required in sorted(schema.blocks.items()):
        if required and name not in present:
            errors.append(f"{where}: missing required block {name!r}")
    return errors


def required_providers(docs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Local provider name -> {source, version} from every ``terraform`` block."""
    out: dict[str, dict[str, str]] = {}
    for doc in docs.values():
        for block in doc.get("terraform", []):
            for entry in block.get("required_providers", []):
                for name, spec in entry.items():
                    if name in _META_KEYS:
                        continue
                    out[name] = {k: _unquote(v) for k, v in spec.items() if k not in _META_KEYS}
    return out


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _pad(parts: tuple[int, ...], n: int = 3) -> tuple[int, ...]:
    return parts + (0,) * (n - len(parts))


def version_allows(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint (``>= 8.0, < 9.0``, ``~> 8.7``) admits version."""
    have = _pad(_version(version))
    for clause in constraint.split(","):
        m = re.fullmatch(r"\s*(~>|>=|<=|!=|>|<|=)?\s*v?([\d.]+)\s*", clause)
        assert m, f"cannot read version constraint {clause!r}"
        op, raw = m.group(1) or "=", m.group(2)
        want = _version(raw)
        bound = _pad(want)
        if op == "~>":
            upper = (*want[:-2], want[-2] + 1) if len(want) > 1 else (want[0] + 1,)
            ok = have >= bound and have < _pad(upper)
        else:
            ok = {
                "=": have == bound,
                "!=": have != bound,
                ">": have > bound,
                ">=": have >= bound,
                "<": have < bound,
                "<=": have <= bound,
            }[op]
        if not ok:
            return False
    return True


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str) and "${" in node:
        yield node


def check_references(
    docs: Mapping[str, Mapping[str, Any]], schemas: Mapping[str, ProviderSchema]
) -> list[str]:
    """References to undeclared resources, or to attributes their type does not have.

    ``moved`` blocks are skipped: their ``from`` addresses are gone on purpose."""
    declared: dict[tuple[str, str], set[str]] = {(kind, ""): set() for kind in KINDS}
    for doc in docs.values():
        for kind in KINDS:
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    names = {_unquote(n) for n in named if n not in _META_KEYS}
                    declared.setdefault((kind, _unquote(rtype)), set()).update(names)
    attributes: dict[tuple[str, str], frozenset[str]] = {}
    for schema in schemas.values():
        for rtype, attrs in schema.resource_attributes.items():
            attributes.setdefault(("resource", rtype), attrs)
        for rtype, attrs in schema.data_source_attributes.items():
            attributes.setdefault(("data", rtype), attrs)
        for rtype, attrs in schema.ephemeral_attributes.items():
            attributes.setdefault(("ephemeral", rtype), attrs)
    errors: set[str] = set()
    for file, doc in sorted(docs.items()):
        body = {k: v for k, v in doc.items() if k != "moved"}
        for text in _strings(body):
            for m in _REFERENCE.finditer(text):
                prefix, rtype, name, attr = m.groups()
                kind = prefix.rstrip(".") if prefix else "resource"
                address = f"{prefix or ''}{rtype}.{name}"
                if name not in declared.get((kind, rtype), set()):
                    errors.add(f"{file}: reference to undeclared {address}")
                elif attr and (kind, rtype) in attributes and attr not in attributes[(kind, rtype)]:
                    errors.add(f"{file}: {address} has no attribute {attr!r}")
    return sorted(errors)


def check_backends(file: str, doc: Mapping[str, Any]) -> list[str]:
    """Each ``backend`` of a ``terraform`` block against that backend's arguments. A
    required one may be missing: it can be given at ``terraform init``
    (``-backend-config``, a partial configuration)."""
    errors: list[str] = []
    for block in doc.get("terraform", []):
        for entry in block.get("backend", []):
            for name_q, body in entry.items():
                if name_q in _META_KEYS:
                    continue
                name = _unquote(name_q)
                where = f"{file}: backend {name!r}"
                schema = tfschema.backend(name)
                if schema is None:
                    errors.append(f"{where}: no offline schema for this backend")
                    continue
                optional = Block(
                    dict.fromkeys(schema.attributes, False),
                    dict.fromkeys(schema.blocks, False),
                    schema.struct_ids,
                    schema.table,
                )
                errors += check_block(body, optional, where)
    return errors


def _provider_name(rtype: str, body: Mapping[str, Any]) -> str:
    """Local name of the provider configuration a resource uses."""
    ref = body.get("provider")
    if isinstance(ref, str):
        m = _PROVIDER_REF.fullmatch(ref) or re.fullmatch(r"([A-Za-z][\w-]*)", ref)
        if m:
            return m.group(1)
    return rtype.split("_", 1)[0]


def check(
    docs: Mapping[str, Mapping[str, Any]], schemas: Mapping[str, ProviderSchema]
) -> list[str]:
    """Every error of a configuration (file name -> raw parse) against provider schemas
    (source -> schema). Providers without a schema are reported, not skipped silently."""
    errors: list[str] = []
    required = required_providers(docs)
    for name, spec in sorted(required.items()):
        source = spec.get("source", f"hashicorp/{name}")
        schema = schemas.get(source)
        if schema is None:
            errors.append(f"required_providers.{name}: no offline schema for {source}")
        elif "version" not in spec:
            errors.append(f"required_providers.{name}: no version constraint")
        elif not version_allows(spec["version"], schema.version):
            errors.append(
                f"required_providers.{name}: {spec['version']!r} excludes {source} "
                f"{schema.version}, the release whose schema is checked ({schema.package})"
            )

    def schema_for(provider: str, where: str) -> ProviderSchema | None:
        if provider not in required:
            errors.append(f"{where}: provider {provider!r} is not in required_providers")
            return None
        return schemas.get(required[provider].get("source", f"hashicorp/{provider}"))

    def table_of(schema: ProviderSchema, kind: str) -> dict[str, Block]:
        return {
            "resource": schema.resources,
            "data": schema.data_sources,
            "ephemeral": schema.ephemeral_resources,
        }[kind]

    noun = {"resource": "resource", "data": "data source", "ephemeral": "ephemeral resource"}
    for file, doc in sorted(docs.items()):
        for kind in KINDS:
            for entry in doc.get(kind, []):
                for rtype_q, named in entry.items():
                    rtype = _unquote(rtype_q)
                    for name_q, body in named.items():
                        if name_q in _META_KEYS:
                            continue
                        prefix = "" if kind == "resource" else f"{kind}."
                        where = f"{file}: {prefix}{rtype}.{_unquote(name_q)}"
                        provider = _provider_name(rtype, body)
                        schema = schema_for(provider, where)
                        if schema is None:
                            continue
                        table = table_of(schema, kind)
                        if rtype not in table:
                            elsewhere = [
                                s.source for s in schemas.values() if rtype in table_of(s, kind)
                            ]
                            hint = f" (it is in {', '.join(elsewhere)})" if elsewhere else ""
                            errors.append(
                                f"{where}: {schema.source} {schema.version} has no "
                                f"{noun[kind]} type {rtype!r}{hint}"
                            )
                            continue
                        errors += check_block(
                            body,
                            table[rtype],
                            where,
                            RESOURCE_META_ARGS,
                            RESOURCE_META_BLOCKS if kind == "resource" else DATA_META_BLOCKS,
                        )
        errors += check_backends(file, doc)
        for entry in doc.get("provider", []):
            for name_q, body in entry.items():
                if name_q in _META_KEYS:
                    continue
                name = _unquote(name_q)
                where = f"{file}: provider {name!r}"
                schema = schema_for(name, where)
                if schema is not None:
                    errors += check_block(body, schema.provider, where, {"alias"})
    return errors + check_references(docs, schemas)
