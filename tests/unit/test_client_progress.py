"""The client's progress output: redrawn on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from audioconv.client.progress import Progress, human_bytes


def test_a_terminal_gets_one_line_redrawn() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    for pct in (0, 50, 100):
        progress.update("a.flac", "uploading", pct)
    progress.line("a.flac: converted")
    assert out.getvalue() == (
        "\r\x1b[Ka.flac: uploading 0%\r\x1b[Ka.flac: uploading 50%"
        "\r\x1b[Ka.flac: uploading 100%\r\x1b[Ka.flac: converted\n"
    )


def test_elsewhere_plain_lines_every_ten_percent() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False)
    for pct in (0, 3, 9, 10, 55, 57, 100, 100):
        progress.update("a.flac", "converting", pct)
    progress.line("a.flac: converted")
    assert out.getvalue().splitlines() == [
        "a.flac: converting 0%", "a.flac: converting 10%", "a.flac: converting 55%",
        "a.flac: converting 100%", "a.flac: converted",
    ]  # fmt: skip


def test_sizes_read_as_people_write_them() -> None:
    assert [human_bytes(n) for n in (0, 999, 45_500, 3_200_000_000)] == [
        "0 B", "999 B", "45.5 kB", "3.2 GB",
    ]  # fmt: skip
