"""The page when the model is down (a reader sees the passages, an admin the fix) and the
documents table (file name and real title; a writer deletes a document or a failed entry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Kura
from tests.browser.test_web import ANSWER_TIMEOUT, JAPANESE, ask

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def open_as(page: Page, url: str, key: str) -> None:
    page.add_init_script(f"localStorage.setItem('kura.apiKey', {json.dumps(key)})")
    page.goto(url)
    expect(page.locator("#collection")).to_have_value("corpus")


def test_a_reader_sees_the_passages_without_operator_detail(
    page: Page, kura_down_keys: Kura, artifacts: Path
) -> None:
    open_as(page, kura_down_keys.url, kura_down_keys.reader_key)
    turn = ask(page, "非常停止ボタンを押すとどうなりますか")
    error = turn.locator(".error")
    expect(error).to_contain_text("Answers are unavailable right now; here are the passages.")
    expect(turn.locator(".sources")).to_be_visible()
    expect(turn.locator(".source-list li").first).to_contain_text("guide.html")
    turn.locator(".source-list button.source").first.click()  # the passages can be read
    expect(page.locator("#passage-text")).to_contain_text(JAPANESE)
    page.get_by_role("button", name="Close").click()
    text = turn.inner_text()
    assert "127.0.0.1" not in text
    assert "ollama serve" not in text.lower()
    page.screenshot(path=artifacts / "llm-down-reader.png")


def test_an_admin_sees_what_to_fix(page: Page, kura_down_keys: Kura) -> None:
    page.set_viewport_size(PHONE)
    open_as(page, kura_down_keys.url, kura_down_keys.key)
    turn = ask(page, "What does error E-417 mean on the HX-400?")
    expect(turn.locator(".error")).to_contain_text("Answers are unavailable right now")
    detail = turn.locator(".error-detail")
    expect(detail).to_contain_text("ollama serve")
    expect(detail).to_contain_text("127.0.0.1")


def test_documents_table_titles_and_deletes(
    page: Page, kura_down_keys: Kura, artifacts: Path
) -> None:
    open_as(page, kura_down_keys.url, kura_down_keys.key)
    table = page.locator("#documents")
    manual = table.locator('tr[data-source="hx400-manual.docx"]')
    expect(manual.locator(".doc-file")).to_have_text("hx400-manual.docx")
    expect(manual.locator(".doc-title")).to_have_text("HX-400 Maintenance Manual")
    license_row = table.locator('tr[data-source="apache-license-2.0.txt"]')
    expect(license_row.locator(".doc-file")).to_be_visible()
    expect(license_row.locator(".doc-title")).to_have_count(0)  # not "1. Definitions."

    page.set_input_files(
        "#files",
        files=[
            {"name": "壊れた.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\nbroken"}
        ],
    )
    page.get_by_role("button", name="Upload").click()
    failed = table.locator('tr[data-source="壊れた.pdf"]')
    expect(failed).to_have_attribute("data-status", "failed", timeout=ANSWER_TIMEOUT)
    page.screenshot(path=artifacts / "documents-failed.png", full_page=True)
    page.on("dialog", lambda dialog: dialog.accept())
    failed.get_by_role("button", name="Delete 壊れた.pdf").click()
    expect(failed).to_have_count(0)

    changelog = table.locator('tr[data-source="changelog.md"]')
    changelog.get_by_role("button", name="Delete changelog.md").click()
    expect(changelog).to_have_count(0)
    page.reload()
    expect(table.locator('tr[data-source="hx400-manual.docx"]')).to_be_visible()
    expect(changelog).to_have_count(0)
    expect(failed).to_have_count(0)


def test_a_reader_gets_no_delete_buttons(page: Page, kura_down_keys: Kura) -> None:
    open_as(page, kura_down_keys.url, kura_down_keys.reader_key)
    rows = page.locator("#documents tbody tr")
    expect(rows.first).to_be_visible()
    expect(page.locator("#documents").get_by_role("button", name="Delete")).to_have_count(0)
