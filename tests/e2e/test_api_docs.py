"""The API docs at ``/api/docs`` as a person opens them, in headless Chromium against
``audioconv serve``, with every request off this machine refused: the page must
render from the files the server ships, under its Content-Security-Policy, with no
console error, and "Try it out" must work. The screenshots (api-docs.png,
api-docs-try.png) go to the test's tmp_path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route, expect, sync_playwright

from tests.support.procs import embedded_server

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with embedded_server(tmp_path_factory.mktemp("docs-server")) as url:
        yield url


def test_docs_render_offline_with_every_operation(base_url: str, tmp_path: Path) -> None:
    outside: list[str] = []
    problems: list[str] = []

    def only_this_server(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", only_this_server)
        page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
        page.on(
            "console",
            lambda msg: problems.append(f"{msg.type}: {msg.text}") if msg.type == "error" else None,
        )
        page.goto(f"{base_url}/api/docs")
        expect(page.get_by_role("heading", name="audioconv")).to_be_visible()
        upload = page.locator("#operations-tasks-create_task")
        expect(upload).to_be_visible()
        expect(page.locator("#operations-uploads-put_blob")).to_be_visible()
        upload.locator(".opblock-summary").first.click()  # open it: its form shows
        body = upload.locator(".opblock-body")
        expect(body.get_by_text("Request body")).to_be_visible()
        # The file is required; the format too, unless a preset gives it.
        expect(body.get_by_role("row", name=re.compile(r"^fileName \*required"))).to_be_visible()
        for field in ("newFormat", "preset"):  # the form's fields (the query has them too)
            expect(body.locator(f'tr[data-property-name="{field}"]')).to_be_visible()
        expect(page.get_by_role("button", name="Authorize")).to_be_visible()
        upload.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=False)
        formats = page.locator("#operations-formats-formats")  # try a request from the page
        formats.locator(".opblock-summary").first.click()
        formats.get_by_role("button", name="Try it out").click()
        formats.get_by_role("button", name="Execute").click()
        live = formats.locator(".live-responses-table tbody .response-col_status").first
        expect(live).to_have_text("200")
        expect(formats.get_by_text('"mp3"').first).to_be_visible()
        formats.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "api-docs-try.png"), full_page=False)
        browser.close()
    assert outside == []
    assert problems == []
