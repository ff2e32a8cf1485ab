"""Checks of API answers against the OpenAPI document."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator


def conforms(spec: dict[str, Any], model: str, instance: Any) -> None:
    """Assert ``instance`` is valid against the document's schema ``model`` and has
    exactly its properties (nothing undocumented, nothing missing)."""
    schema = {"$ref": f"#/components/schemas/{model}", "components": spec["components"]}
    Draft202012Validator(schema).validate(instance)
    properties = spec["components"]["schemas"][model]["properties"]
    assert set(instance) == set(properties), model
