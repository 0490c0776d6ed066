"""The page in the browser's language: a Japanese browser gets the Japanese page (buttons,
placeholder, the place in line, the documents table, the model-down notice, confirm dialogs),
the switch in the header changes it in place and the choice survives a reload; an English
browser gets English."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Kura
from tests.browser.test_web import ANSWER_TIMEOUT, JAPANESE, ask
from tests.support.sse import wait_for

pytestmark = pytest.mark.browser

Opener = Callable[[str], Page]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def open_in(browser: Browser) -> Iterator[Opener]:
    """Pages in browser contexts of a given locale; an uncaught script error fails the test."""
    errors: list[str] = []
    contexts = []

    def opener(locale: str) -> Page:
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not errors, f"script errors on the page: {errors}"


def visit(page: Page, kura: Kura, key: str | None = None) -> None:
    """Open the page with an API key saved, as on a second visit."""
    if key or kura.key:
        page.add_init_script(f"localStorage.setItem('kura.apiKey', {json.dumps(key or kura.key)})")
    page.goto(kura.url)
    expect(page.locator("#collection")).to_have_value("corpus")


def expect_japanese_page(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#ask-button")).to_have_text("送信")
    expect(page.locator("#question")).to_have_attribute(
        "placeholder", "例: 契約期間はいつまでですか？ / エラー E-417 の意味は？"
    )
    expect(page.locator("#documents thead th")).to_have_text(["文書", "状態", "箇所数", "操作"])
    expect(page.get_by_role("button", name="新しい会話")).to_be_visible()
    expect(page.get_by_role("group", name="表示言語")).to_be_visible()
    expect(page.get_by_role("button", name="日本語")).to_have_attribute("aria-pressed", "true")


def expect_english_page(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#ask-button")).to_have_text("Send")
    expect(page.locator("#question")).to_have_attribute(
        "placeholder", "e.g. What does error E-417 mean? / 契約期間はいつまでですか？"
    )
    expect(page.locator("#documents thead th")).to_have_text(
        ["Document", "Status", "Passages", "Actions"]
    )
    expect(page.get_by_role("button", name="New conversation")).to_be_visible()
    expect(page.get_by_role("button", name="English")).to_have_attribute("aria-pressed", "true")


def test_a_japanese_browser_gets_the_japanese_page_and_can_switch(
    open_in: Opener, kura: Kura, artifacts: Path
) -> None:
    assert kura.standin is not None
    state = kura.standin.state
    first, page = open_in("en-US"), open_in("ja-JP")
    visit(first, kura)
    visit(page, kura)
    expect_japanese_page(page)
    expect(page.locator("#key-status")).to_have_text("API キーはこのブラウザに保存されています。")
    expect(page.locator("#collection option").first).to_contain_text("文書")
    manual = page.locator('#documents tr[data-source="hx400-manual.docx"]')
    expect(manual.locator(".badge")).to_have_text("索引済み")
    expect(manual.get_by_role("button", name="hx400-manual.docx を削除")).to_have_text("削除")
    prompts: list[str] = []
    page.on("dialog", lambda dialog: (prompts.append(dialog.message), dialog.dismiss()))
    manual.get_by_role("button", name="hx400-manual.docx を削除").click()
    expect(manual).to_be_visible()  # dismissed: nothing deleted
    assert prompts == ["corpus から hx400-manual.docx（すべての版）を削除しますか？"]

    hold = threading.Event()
    state.hold, state.delay_per_token = hold, 0.1
    try:
        answering = len(state.generations)
        first.fill("#question", "What does error E-417 mean on the HX-400?")
        first.press("#question", "Enter")
        wait_for(lambda: len(state.generations) > answering)  # it holds the one turn
        page.fill("#question", "契約期間はいつまでですか")
        page.press("#question", "Enter")
        status = page.locator(".turn .status")
        expect(status).to_contain_text("順番待ち: 1 番目", timeout=ANSWER_TIMEOUT)
        expect(status).to_contain_text("件の箇所が見つかりました")
        expect(page.locator("#stop")).to_have_text("停止")
        page.screenshot(path=artifacts / "queued-ja.png")

        page.get_by_role("button", name="English").click()  # in place, while it waits
        expect(status).to_contain_text("Queued: position 1 in line")
        expect(page.locator("#stop")).to_have_text("Stop")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.get_by_role("button", name="日本語").click()
        expect(status).to_contain_text("順番待ち: 1 番目")
    finally:
        hold.set()
        state.hold, state.delay_per_token = None, 0.0
    expect(page.locator("#conversation")).to_have_attribute(
        "aria-busy", "false", timeout=ANSWER_TIMEOUT
    )
    turn = page.locator(".turn").last
    expect(turn.locator(".answer")).to_contain_text(JAPANESE)
    expect(turn.get_by_role("button", name="コピー")).to_be_visible()
    expect(turn.locator(".sources h3")).to_have_text("引用された出典")
    expect(turn.locator(".meta")).to_contain_text("トークン")
    expect(turn.locator("button.cite").first).to_have_attribute("aria-label", JAPANESE)
    page.screenshot(path=artifacts / "answer-ja-ui.png", full_page=True)

    page.get_by_role("button", name="English").click()
    expect_english_page(page)
    expect(turn.get_by_role("button", name="Copy")).to_be_visible()
    expect(turn.locator(".sources h3")).to_have_text("Sources cited")
    expect(turn.locator(".meta")).to_contain_text("tokens")
    expect(manual.locator(".badge")).to_have_text("indexed")
    expect(page.locator("#key-status")).to_have_text("Key saved in this browser.")
    page.reload()  # the choice is kept
    expect(page.locator("#collection")).to_have_value("corpus")
    expect_english_page(page)
    expect(page.locator(".turn").last.get_by_role("button", name="Regenerate")).to_be_visible()


def test_an_english_browser_gets_the_english_page(open_in: Opener, kura: Kura) -> None:
    page = open_in("en-US")
    visit(page, kura)
    expect_english_page(page)
    expect(page.locator('#documents tr[data-source="hx400-manual.docx"] .badge')).to_have_text(
        "indexed"
    )
    turn = ask(page, "非常停止ボタンを押すとどうなりますか")  # a Japanese question, English words
    expect(turn.locator(".answer")).to_have_attribute("lang", "ja")
    expect(turn.get_by_role("button", name="Copy")).to_be_visible()


def test_the_first_visit_in_japanese_points_to_english(
    open_in: Opener, kura: Kura, artifacts: Path
) -> None:
    page = open_in("ja-JP")
    page.set_viewport_size(PHONE)
    page.goto(kura.url)
    welcome = page.locator("#welcome")
    expect(welcome.locator("h2")).to_have_text("kura へようこそ")
    header = page.locator("header.top").bounding_box()
    assert header is not None
    assert header["height"] <= 200, header  # the switch keeps the phone's header compact
    page.screenshot(path=artifacts / "first-run-390-ja.png")
    expect(welcome).to_contain_text("管理者に API キーの発行を依頼してください")
    expect(welcome.locator('[lang="en"]')).to_contain_text("also available in English")
    page.fill("#api-key", "kura_000000000000_" + "x" * 43)
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#notice")).to_have_text(
        "この API キーは受け付けられませんでした。有効な API キーを入力してください。"
    )
    page.get_by_role("button", name="English").click()  # the page's own words follow
    expect(page.locator("#notice")).to_have_text(
        "This API key was rejected. Enter a valid API key."
    )
    expect(welcome.locator('[lang="ja"]')).to_contain_text("日本語")


def test_the_model_down_notice_in_japanese_keeps_the_servers_words(
    open_in: Opener, kura_no_ollama: Kura
) -> None:
    page = open_in("ja-JP")
    visit(page, kura_no_ollama)
    turn = ask(page, "非常停止ボタンを押すとどうなりますか")
    error = turn.locator(".error")
    expect(error).to_contain_text("現在、回答を作成できません。見つかった箇所を表示します。")
    detail = turn.locator(".error-detail")
    expect(detail).to_contain_text("Ollama")  # the server's text, as sent
    expect(turn.locator(".sources h3")).to_have_text("見つかった箇所")
    sent = detail.inner_text()
    page.get_by_role("button", name="English").click()
    expect(error).to_contain_text("Answers are unavailable right now; here are the passages.")
    expect(detail).to_have_text(sent)
    page.reload()  # kept in the browser, the headline still follows the language
    expect(page.locator(".turn .error")).to_contain_text("Answers are unavailable right now")
    page.get_by_role("button", name="日本語").click()
    expect(page.locator(".turn .error")).to_contain_text("現在、回答を作成できません")


def test_the_file_picker_speaks_the_pages_language_not_the_browsers(
    open_in: Opener, kura: Kura, artifacts: Path
) -> None:
    page = open_in("en-US")  # the browser's own file button would say "Choose Files"
    visit(page, kura)
    page.get_by_role("button", name="日本語").click()
    picker = page.locator(".file-picker")
    expect(picker.locator("label")).to_have_text("ファイルを選択…")
    expect(page.locator("#files-chosen")).to_have_text("ファイルが選択されていません")
    shown = page.locator("#files").bounding_box()  # the browser's button: not to be seen
    assert shown is not None
    assert shown["width"] <= 1
    assert shown["height"] <= 1
    page.locator("#upload-button").click()  # nothing chosen: the page says so, in its words
    expect(page.locator("#notice")).to_have_text("アップロードするファイルを選んでください。")
    with page.expect_file_chooser() as chooser:  # the page's label opens the browser's chooser
        picker.locator("label").click()
    chooser.value.set_files(
        [
            {"name": "点検手順.txt", "mimeType": "text/plain", "buffer": "冷却水".encode()},
            {"name": "保守契約.txt", "mimeType": "text/plain", "buffer": "契約".encode()},
        ]
    )
    expect(page.locator("#files-chosen")).to_have_text(
        "2 個のファイル: 点検手順.txt · 保守契約.txt"
    )
    expect(page.get_by_label("追加するファイル")).to_have_count(1)  # the input keeps its name
    page.screenshot(path=artifacts / "file-picker-ja.png")
    page.get_by_role("button", name="English").click()
    expect(picker.locator("label")).to_have_text("Choose files…")
    expect(page.locator("#files-chosen")).to_have_text("2 files: 点検手順.txt · 保守契約.txt")
