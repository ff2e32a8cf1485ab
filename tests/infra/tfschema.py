"""The real schemas of the Terraform providers we use, read offline from PyPI packages.

The cdktn prebuilt provider packages (``cdktn-provider-google`` and friends) are
generated from a provider release, and their jsii assembly
(``_jsii/*.jsii.tgz``, ``package/.jsii``) describes every resource and data
source: a ``TerraformResource`` / ``TerraformDataSource`` class whose doc links
``docs/resources/<type>`` and names the Terraform type, and a ``...Config``
struct whose properties are the arguments, each linking ``#<argument>``. A
property typed as another struct (or a list of them) is a nested block.

The assembly is a 130 MB JSON document; ``load`` reduces it to a small JSON
schema once per package version and caches it under ``build/tfschema/``.
The package is never imported (importing it would start jsii's node runtime).
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.tfmodel import ROOT

CACHE_DIR = ROOT / "build" / "tfschema"
FORMAT = 3  # bump when the cached layout changes

# Provider source -> the PyPI distribution that carries its schema.
PACKAGES = {
    "hashicorp/google": "cdktn-provider-google",
    "hashicorp/google-beta": "cdktn-provider-google-beta",
    "hashicorp/random": "cdktn-provider-random",
    "hashicorp/time": "cdktn-provider-time",
}
# Backend type -> the cdktn core struct of its arguments (``terraform { backend "gcs" {} }``).
BACKENDS = {"gcs": "cdktn.GcsBackendConfig"}

_CLASS_DOC = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/([\w-]+/[\w-]+)/([\w.]+)/docs/"
    r"(resources|data-sources|ephemeral-resources)/\w+ (\w+)\}"
)
_ANCHOR = re.compile(r"/docs(?:/[\w-]+/\w+)?#(\w+) ")


@dataclass(frozen=True)
class Block:
    """One block's arguments (name -> required) and nested blocks (name -> required).

    Nested block schemas are looked up by struct id in the provider's table, as
    provider schemas can be recursive."""

    attributes: dict[str, bool]
    blocks: dict[str, bool]
    struct_ids: dict[str, str]
    table: dict[str, Block]

    def nested(self, name: str) -> Block:
        return self.table[self.struct_ids[name]]


@dataclass(frozen=True)
class ProviderSchema:
    source: str  # e.g. hashicorp/google
    version: str  # the provider release the package was generated from
    package: str  # e.g. cdktn-provider-google==21.1.0
    provider: Block
    resources: dict[str, Block]
    data_sources: dict[str, Block]
    ephemeral_resources: dict[str, Block]
    # Type -> every attribute a reference may read (arguments and computed ones).
    resource_attributes: dict[str, frozenset[str]]
    data_source_attributes: dict[str, frozenset[str]]
    ephemeral_attributes: dict[str, frozenset[str]]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _doc_text(entry: dict[str, Any]) -> str:
    docs = entry.get("docs", {})
    return f"{docs.get('summary', '')}\n{docs.get('remarks', '')}"


def _struct_of(prop_type: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The struct fqn when a property is a nested block (struct or list of structs)."""
    candidates = prop_type.get("union", {}).get("types", [prop_type])
    for candidate in candidates:
        if "collection" in candidate:
            candidate = candidate["collection"]["elementtype"]
        fqn = candidate.get("fqn")
        if fqn and types.get(fqn, {}).get("datatype"):
            return str(fqn)
    return None


def _struct_json(fqn: str, types: dict[str, Any], table: dict[str, Any]) -> None:
    """Add a struct (and the structs of its nested blocks) to table as cache JSON."""
    todo = [fqn]
    while todo:
        current = todo.pop()
        if current in table:
            continue
        attributes: dict[str, bool] = {}
        blocks: dict[str, list[Any]] = {}
        for prop in types[current].get("properties", []):
            anchor = _ANCHOR.search(_doc_text(prop))
            name = anchor.group(1) if anchor else _snake(prop["name"])
            required = not prop.get("optional", False)
            struct = _struct_of(prop["type"], types)
            if struct is None:
                attributes[name] = required
            else:
                blocks[name] = [required, struct]
                todo.append(struct)
        table[current] = {"attributes": attributes, "blocks": blocks}


def _readable(cls: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Attributes of a resource class: its getters (computed ones too) and arguments."""
    getters = {
        _snake(p["name"])
        for p in cls.get("properties", [])
        if not p.get("static") and not p["name"].endswith("Input")
    }
    return sorted(getters | set(config["attributes"]) | set(config["blocks"]) | {"id"})


def _config_fqn(cls: dict[str, Any]) -> str:
    params = cls["initializer"]["parameters"]
    return str(next(p for p in params if p["name"] == "config")["type"]["fqn"])


def extract(assembly: dict[str, Any], package: str) -> dict[str, Any]:
    """Reduce a provider package's jsii assembly to its Terraform schema (cache JSON)."""
    types: dict[str, Any] = assembly["types"]
    table: dict[str, Any] = {}
    out: dict[str, Any] = {"format": FORMAT, "package": package, "structs": table}
    resources: dict[str, str] = {}
    data_sources: dict[str, str] = {}
    ephemeral: dict[str, str] = {}
    readable: dict[str, dict[str, list[str]]] = {
        "resources": {},
        "data_sources": {},
        "ephemeral": {},
    }
    kinds = {"resources": resources, "data-sources": data_sources, "ephemeral-resources": ephemeral}
    for cls in types.values():
        base = cls.get("base")
        if cls.get("kind") != "class" or "initializer" not in cls:
            continue
        summary = cls.get("docs", {}).get("summary", "")
        if base in (
            "cdktn.TerraformResource",
            "cdktn.TerraformDataSource",
            "cdktn.TerraformEphemeralResource",
        ):
            m = _CLASS_DOC.search(summary)
            assert m, f"no Terraform type in the docs of {cls['fqn']}"
            out["source"], out["version"], kind, tf_type = m.groups()
            kinds[kind][tf_type] = _config_fqn(cls)
            _struct_json(_config_fqn(cls), types, table)
            key = {"resources": "resources", "data-sources": "data_sources"}.get(kind, "ephemeral")
            readable[key][tf_type] = _readable(cls, table[_config_fqn(cls)])
        elif base == "cdktn.TerraformProvider":
            out["provider"] = _config_fqn(cls)
            _struct_json(_config_fqn(cls), types, table)
    assert "provider" in out and resources, f"{package}: not a Terraform provider assembly"
    out["resources"] = resources
    out["data_sources"] = data_sources
    out["ephemeral_resources"] = ephemeral
    out["readable"] = readable
    return out


def _from_json(data: dict[str, Any]) -> ProviderSchema:
    table: dict[str, Block] = {}
    for fqn, struct in data["structs"].items():
        table[fqn] = Block(
            dict(struct["attributes"]),
            {n: b[0] for n, b in struct["blocks"].items()},
            {n: b[1] for n, b in struct["blocks"].items()},
            table,
        )
    return ProviderSchema(
        data["source"],
        data["version"],
        data["package"],
        table[data["provider"]],
        {k: table[v] for k, v in data["resources"].items()},
        {k: table[v] for k, v in data["data_sources"].items()},
        {k: table[v] for k, v in data["ephemeral_resources"].items()},
        {k: frozenset(v) for k, v in data["readable"]["resources"].items()},
        {k: frozenset(v) for k, v in data["readable"]["data_sources"].items()},
        {k: frozenset(v) for k, v in data["readable"]["ephemeral"].items()},
    )


def _assembly_bytes(dist: importlib.metadata.Distribution) -> bytes:
    tgz = [f for f in dist.files or [] if str(f).endswith(".jsii.tgz")]
    assert len(tgz) == 1, f"{dist.metadata['Name']}: expected one jsii tarball, found {tgz}"
    with tarfile.open(str(dist.locate_file(tgz[0])), "r:gz") as tar:
        member = tar.extractfile("package/.jsii")
        assert member is not None
        return member.read()


def load(source: str, cache_dir: Path = CACHE_DIR) -> ProviderSchema:
    """The schema of a provider (``hashicorp/google``...), from its installed cdktn package.

    Raises ``importlib.metadata.PackageNotFoundError`` when the package is not installed.
    """
    dist = importlib.metadata.distribution(PACKAGES[source])
    package = f"{dist.metadata['Name']}=={dist.version}"
    cached = cache_dir / f"{package.replace('==', '-')}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
        if data.get("format") == FORMAT and data.get("package") == package:
            return _from_json(data)
    data = extract(json.load(io.BytesIO(_assembly_bytes(dist))), package)
    assert data["source"] == source, f"{package} describes {data['source']}, not {source}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(cached)
    return _from_json(data)


def backend(name: str, cache_dir: Path = CACHE_DIR) -> Block | None:
    """The arguments of a backend (``gcs``), from the cdktn core package's assembly;
    None for a backend we have no schema of."""
    fqn = BACKENDS.get(name)
    if fqn is None:
        return None
    dist = importlib.metadata.distribution("cdktn")
    cached = cache_dir / f"cdktn-{dist.version}-backend-{name}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
    else:
        types = json.load(io.BytesIO(_assembly_bytes(dist)))["types"]
        data = {}
        _struct_json(fqn, types, data)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cached)
    table: dict[str, Block] = {}
    for key, struct in data.items():
        table[key] = Block(
            dict(struct["attributes"]),
            {n: b[0] for n, b in struct["blocks"].items()},
            {n: b[1] for n, b in struct["blocks"].items()},
            table,
        )
    return table[fqn]
