"""The API docs in Chromium: Swagger UI and ReDoc render from kura's own files, and the
browser asks no other host for anything (the Content-Security-Policy lets nothing through)."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request

from tests.browser.conftest import Kura

pytestmark = pytest.mark.browser


def watch(page: Page) -> tuple[list[str], list[str]]:
    requested: list[str] = []
    console: list[str] = []

    def on_request(request: Request) -> None:
        requested.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        console.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    return requested, console


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/docs", {".swagger-ui .info .title": "kura", ".opblock-summary-path": "/v1/query"}),
        ("/redoc", {"h1": "kura", "h2": "Readyz"}),
    ],
)
def test_api_docs_render_from_kura_alone(
    page: Page, kura: Kura, path: str, rendered: dict[str, str]
) -> None:
    requested, console = watch(page)
    page.goto(kura.url + path)
    page.wait_for_load_state("networkidle")
    for selector, expected in rendered.items():
        texts = page.locator(selector).all_inner_texts()
        assert any(expected in text for text in texts), (selector, texts)
    assert requested
    assert all(url.startswith((kura.url, "data:", "blob:")) for url in requested), [
        u for u in requested if not u.startswith(kura.url)
    ]
    assert not [m for m in console if "Content Security Policy" in m], console
