"""Presets: a user's saved choice of target format and conversion options, named.

An upload that names a preset (``preset``) takes its format and options; what the
upload sets itself overrides the preset's, field by field. A preset's options are
checked against its format by the very rules an upload's are (domain/options.py),
when it is saved and again when it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audioconv.domain.model import utcnow

MAX_PRESET_NAME_CHARS = 100
MAX_PRESETS_PER_USER = 100


@dataclass(eq=False)
class Preset:
    user_id: int
    name: str
    output_format: str
    options: dict[str, Any]
    id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def change(
        self, name: str, output_format: str, options: Mapping[str, Any], at: datetime
    ) -> None:
        """Replace the name, format and options, all at once (an option left out is no
        longer set), changed ``at``; the id, owner and creation time stay."""
        self.name, self.output_format, self.options = name, output_format, dict(options)
        self.updated_at = at

    def merged(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """An upload's fields over this preset: the preset's format and options, then
        whatever the upload gives itself (an empty value counts as not given)."""
        given = {name: value for name, value in fields.items() if value not in (None, "")}
        kept = dict(self.options)
        for one, other in _EXCLUSIVE:  # the upload's bitrate replaces the preset's quality
            if one in given:
                kept.pop(other, None)
        return {"newFormat": self.output_format, **kept, **given}


# Options of which a request may give only one: giving one drops the preset's other.
_EXCLUSIVE = (("bitrate", "quality"), ("quality", "bitrate"))
