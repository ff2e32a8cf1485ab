"""README's "What a conversion keeps" is the table GET /api/formats serves."""

from __future__ import annotations

from pathlib import Path

from audioconv.entrypoints.keeps_table import END, START, markdown, rewritten
from audioconv.entrypoints.routes.pages import format_catalog

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_has_the_table_the_api_serves() -> None:
    text = README.read_text()
    assert rewritten(text, markdown(format_catalog())) == text, (
        "README's table is stale: run .venv/bin/python -m audioconv.entrypoints.keeps_table"
    )
    table = text.split(START)[1].split(END)[0]
    assert "| flac | the input's: 16, 24 |" in table
    assert "| wma |" in table and "| no: ASF cannot say" in table
