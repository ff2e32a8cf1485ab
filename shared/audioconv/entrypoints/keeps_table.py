"""README's "What a conversion keeps" table, made from the table ``GET /api/formats``
serves (entrypoints/routes/pages.py ``format_catalog``), so the two cannot disagree.

``python -m audioconv.entrypoints.keeps_table README.md`` rewrites the table between
its markers; tests/unit/test_keeps_table.py fails when README's copy is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from audioconv.entrypoints.routes.pages import format_catalog

START, END = "<!-- keeps-table: made from GET /api/formats -->", "<!-- /keeps-table -->"
_SAMPLE_FORMATS = {
    "u8": "8", "s16": "16", "s24": "24", "s32": "32", "f32": "32 float", "f64": "64 float",
}  # fmt: skip


def markdown(catalog: list[dict[str, Any]]) -> str:
    """The table, one row per format."""
    rows = [
        "| format | bit depth | sample rates (Hz) | channels | tags | cover art | exact length |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for fmt in catalog:
        keeps = fmt["keeps"]
        depths = keeps["sampleFormats"]
        depth = (
            "the input's: " + ", ".join(_SAMPLE_FORMATS[d] for d in _SAMPLE_FORMATS if d in depths)
            if depths
            else "lossy (decoded as floating point)"
        )
        rates = keeps["sampleRates"]
        rate = f"{rates[0]}-{rates[-1]}" if len(rates) > 6 else ", ".join(map(str, rates))
        exact = "yes" if keeps["exactLength"] else f"no: {keeps['exactLengthReason']}"
        rows.append(
            f"| {fmt['name']} | {depth} | {rate} | up to {keeps['maxChannels']} "
            f"| {'yes' if keeps['tags'] else 'no'} | {'yes' if keeps['coverArt'] else 'no'} "
            f"| {exact} |"
        )
    return "\n".join(rows)


def rewritten(text: str, table: str) -> str:
    """``text`` with the table between the markers replaced by ``table``."""
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"no {START} ... {END} markers")
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "README.md")
    path.write_text(rewritten(path.read_text(), markdown(format_catalog())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
