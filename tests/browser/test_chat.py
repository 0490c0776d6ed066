"""The page as people use it every day, on a desktop (1280x800) and a phone (390x844), in
English and Japanese: the first visit, the queue, Stop while streaming, conversations kept
per key across reloads, Markdown answers, copy / regenerate / edit."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Kura
from tests.browser.test_web import ANSWER_TIMEOUT, JAPANESE, ask, open_with_key
from tests.support.sse import wait_for

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])


def in_viewport(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None
    assert size is not None
    return box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] >= 0


@SIZES
def test_first_visit_is_a_welcome_not_an_error(
    page: Page, kura: Kura, artifacts: Path, size: dict[str, int]
) -> None:
    page.set_viewport_size(size)
    page.goto(kura.url)
    welcome = page.locator("#welcome")
    expect(welcome).to_be_visible()
    expect(welcome).to_contain_text("Ask your kura administrator")
    expect(welcome).to_contain_text("kura keys create")
    expect(welcome.locator('[lang="ja"]').first).to_contain_text(JAPANESE)
    expect(page.locator("#notice")).to_be_hidden()  # no red "invalid key" on a first visit
    expect(page.locator("#api-key")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#api-key")).to_be_focused()
    page.screenshot(path=artifacts / f"first-run-{size['width']}.png")

    # a key that is refused is a different thing: said as such
    page.fill("#api-key", "kura_000000000000_" + "x" * 43)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_contain_text("This API key was rejected")
    expect(page.locator("#api-key")).to_have_attribute("aria-invalid", "true")

    page.fill("#api-key", kura.key)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#collection")).to_have_value("corpus")
    expect(welcome).to_be_hidden()


@SIZES
def test_phone_header_is_compact_and_the_input_bar_pinned(
    page: Page, kura: Kura, size: dict[str, int]
) -> None:
    page.set_viewport_size(size)
    open_with_key(page, kura)
    header = page.locator("header.top").bounding_box()
    assert header is not None
    assert header["height"] <= (200 if size == PHONE else 160), header
    for _ in range(3):
        ask(page, "What does error E-417 mean on the HX-400?")
    page.locator(".turn").first.scroll_into_view_if_needed()
    assert in_viewport(page, "#ask-form")  # pinned: still there with the first turn in view
    assert in_viewport(page, "#ask-button")


@SIZES
def test_stop_is_reachable_while_streaming_and_stops_it(
    page: Page, kura: Kura, artifacts: Path, size: dict[str, int]
) -> None:
    assert kura.standin is not None
    page.set_viewport_size(size)
    open_with_key(page, kura)
    for question in (
        "What does error E-417 mean on the HX-400?",
        "非常停止ボタンを押すとどうなりますか",
    ):
        ask(page, question)
    kura.standin.state.delay_per_token = 0.5
    before = kura.standin.state.cancelled
    try:
        page.fill("#question", "What does error E-212 mean?")
        page.press("#question", "Enter")
        expect(page.locator(".turn").last.locator(".answer")).not_to_be_empty(
            timeout=ANSWER_TIMEOUT
        )
        stop = page.locator("#stop")
        expect(stop).to_be_visible()
        expect(page.locator("#ask-button")).to_be_hidden()  # Stop takes Send's place
        assert in_viewport(page, "#stop")
        page.screenshot(path=artifacts / f"streaming-{size['width']}.png")
        stop.click()  # a real click: Playwright refuses one on a covered button
        expect(page.locator(".turn").last.locator(".error")).to_have_text("Stopped.")
        expect(page.locator("#ask-button")).to_be_visible()
        deadline = time.monotonic() + 10
        while kura.standin.state.cancelled == before and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        kura.standin.state.delay_per_token = 0.0
    assert kura.standin.state.cancelled == before + 1


def test_the_place_in_line_counts_down_then_writing_never_writing_while_queued(
    browser: Browser, kura: Kura, artifacts: Path
) -> None:
    assert kura.standin is not None
    state = kura.standin.state
    first, second, third = (
        browser.new_context(viewport=size).new_page() for size in (DESKTOP, PHONE, PHONE)
    )
    hold = threading.Event()
    state.hold, state.delay_per_token = hold, 0.3
    try:
        for opened in (first, second, third):
            open_with_key(opened, kura)
        answering = len(state.generations)
        first.fill("#question", "What does error E-417 mean on the HX-400?")
        first.press("#question", "Enter")
        wait_for(lambda: len(state.generations) > answering)  # it holds the one turn
        second.fill("#question", "契約期間はいつまでですか")
        second.press("#question", "Enter")
        expect(second.locator(".turn .status")).to_contain_text(
            "Queued: position 1 in line", timeout=ANSWER_TIMEOUT
        )
        third.fill("#question", "非常停止ボタンを押すとどうなりますか")
        third.press("#question", "Enter")
        status = third.locator(".turn .status")
        expect(status).to_contain_text("Queued: position 2 in line", timeout=ANSWER_TIMEOUT)
        third.screenshot(path=artifacts / "queued-390-ja.png")
        hold.set()  # the first answer goes on: the line moves, and the page says so
        expect(status).to_contain_text("Queued: position 1 in line", timeout=ANSWER_TIMEOUT)
        expect(status).not_to_contain_text("Writing")
        # the second answer done, the third gets its turn
        expect(status).to_have_text("Writing the answer…", timeout=ANSWER_TIMEOUT)
        expect(third.locator(".turn .answer")).to_contain_text(JAPANESE, timeout=ANSWER_TIMEOUT)
    finally:
        hold.set()
        state.hold, state.delay_per_token = None, 0.0
        for opened in (first, second, third):
            opened.context.close()


def stored_values(page: Page) -> list[str]:
    return page.evaluate("Object.keys(localStorage).map((k) => k + '=' + localStorage[k])")


def test_conversations_survive_a_reload_and_stay_with_their_key(page: Page, kura: Kura) -> None:
    open_with_key(page, kura)
    question = "非常停止ボタンを押すとどうなりますか"
    ask(page, question)
    ask(page, "What does error E-417 mean on the HX-400?")
    page.reload()
    expect(page.locator(".turn")).to_have_count(2)
    first = page.locator(".turn").first
    expect(first.locator(".question")).to_have_text(question)
    expect(first.locator(".answer")).to_contain_text(JAPANESE)
    first.locator(".answer button.cite").first.click()  # citations work after a reload
    expect(page.locator("#passage-text")).to_contain_text(JAPANESE)
    page.get_by_role("button", name="Close").click()
    # a follow-up after the reload carries the kept turns
    with page.expect_request("**/v1/query") as request:
        ask(page, "契約期間はいつまでですか")
    assert len(request.value.post_data_json["history"]) == 4

    # kept encrypted, under a name that is not the key's
    values = "\n".join(stored_values(page))
    assert "kura.conversations." in values
    assert question not in values
    assert "E-417" not in values

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".turn")).to_have_count(0)
    ask(page, "What does error E-212 mean?")
    page.reload()
    expect(page.locator(".turn")).to_have_count(1)
    page.locator("#history summary").click()
    items = page.locator("#conversation-list li")
    expect(items).to_have_count(2)
    items.filter(has_text=question).locator(".conversation-open").click()
    expect(page.locator(".turn")).to_have_count(3)

    # another key sees none of them, and alice's come back with her key
    page.fill("#api-key", kura.reader_key)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#conversation-list li")).to_have_count(0)
    page.fill("#api-key", kura.key)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".turn")).to_have_count(3)
    expect(items).to_have_count(2)

    page.locator("#history summary").click()
    items.filter(has_text=question).get_by_role("button", name="Delete").click()
    expect(items).to_have_count(1)
    expect(page.locator(".turn")).to_have_count(0)  # the open one was deleted
    page.reload()
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#history-count")).to_have_text("(1)")
    page.locator("#history summary").click()
    expect(items).to_have_count(1)
    expect(items).to_contain_text("E-212")


MARKDOWN = """## 結果

| Code | Meaning |
|------|---------|
| E-417 | Coolant **pressure** low [1] |
| E-212 | 冷却水の流量不足 [2] |

```sh
rm -rf / [1]
```

<script>window.__pwned = 1</script>
<img src="x" onerror="window.__pwned = 2">
[click](javascript:window.__pwned=3) and [docs](https://example.com/docs) `code [2]`
"""


@SIZES
def test_markdown_tables_code_and_inert_html(page: Page, kura: Kura, size: dict[str, int]) -> None:
    page.set_viewport_size(size)
    open_with_key(page, kura)
    result = page.evaluate(
        """async (text) => {
            const { renderAnswer } = await import('/static/js/markdown.js');
            const box = document.createElement('div');
            box.className = 'answer';
            document.querySelector('#conversation').append(box);
            renderAnswer(box, text, (n) => {
                const b = document.createElement('button');
                b.className = 'cite'; b.dataset.n = n; b.textContent = `[${n}]`;
                return b;
            });
            await new Promise((r) => setTimeout(r, 100));
            const links = [...box.querySelectorAll('a')];
            return {
                cells: [...box.querySelectorAll('table td')].map((c) => c.textContent),
                headers: [...box.querySelectorAll('table th')].map((c) => c.textContent),
                cellCites: box.querySelectorAll('td button.cite').length,
                code: box.querySelector('pre code')?.textContent,
                codeCites: box.querySelectorAll('pre button.cite, code button.cite').length,
                inlineCode: [...box.querySelectorAll('p code')].map((c) => c.textContent),
                strong: box.querySelector('td strong')?.textContent,
                heading: box.querySelector('h2')?.textContent,
                lang: box.getAttribute('lang'),
                scripts: box.querySelectorAll('script, img').length,
                handlers: [...box.querySelectorAll('*')].filter(
                    (e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
                shownAsText: box.textContent.includes('<script>window.__pwned = 1</script>'),
                hrefs: links.map((a) => a.getAttribute('href')),
                rel: links.map((a) => a.getAttribute('rel')),
                pwned: window.__pwned ?? null,
            };
        }""",
        MARKDOWN,
    )
    assert result["headers"] == ["Code", "Meaning"]
    assert result["cells"][0] == "E-417"
    assert result["cells"][3] == "冷却水の流量不足 [2]"
    assert result["cellCites"] == 2  # citations inside a table still become buttons
    assert result["strong"] == "pressure"
    assert result["heading"] == "結果"
    assert result["lang"] == "ja"
    assert result["code"] == "rm -rf / [1]\n"  # fenced code is code, its [1] left alone
    assert result["codeCites"] == 0
    assert result["inlineCode"] == ["code [2]"]
    assert result["scripts"] == 0
    assert result["handlers"] == 0
    assert result["shownAsText"] is True  # raw HTML in an answer is text, not markup
    assert result["hrefs"] == ["https://example.com/docs"]  # javascript: links are dropped
    assert result["rel"] == ["noopener noreferrer"]
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned ?? null") is None


def test_copy_regenerate_and_edit(browser: Browser, kura: Kura) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=kura.url)
    page = context.new_page()
    try:
        open_with_key(page, kura)
        question = "非常停止ボタンを押すとどうなりますか"
        turn = ask(page, question)
        answer = page.evaluate(
            "() => Array.from(document.querySelectorAll('.turn .answer'))[0].textContent"
        )
        turn.get_by_role("button", name="Copy").click()
        expect(turn.get_by_role("button", name="Copied")).to_be_visible()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("資料によると")
        assert "[1]" in copied  # the Markdown as written, citation marks included
        assert "".join(copied.split()) == "".join(answer.split())

        with page.expect_request("**/v1/query") as request:
            turn.get_by_role("button", name="Regenerate").click()
        assert request.value.post_data_json["question"] == question
        assert request.value.post_data_json["history"] == []
        expect(page.locator("#conversation")).to_have_attribute(
            "aria-busy", "false", timeout=ANSWER_TIMEOUT
        )
        expect(page.locator(".turn")).to_have_count(1)
        expect(page.locator(".turn .answer")).to_contain_text(JAPANESE)

        page.locator(".turn").get_by_role("button", name="Edit").click()
        expect(page.locator(".turn")).to_have_count(0)
        expect(page.locator("#question")).to_have_value(question)
        expect(page.locator("#question")).to_be_focused()
        page.keyboard.type("？")
        with page.expect_request("**/v1/query") as request:
            page.keyboard.press("Enter")
        assert request.value.post_data_json["question"] == question + "？"
    finally:
        context.close()


def test_the_vendored_libraries_are_served_by_kura(page: Page, kura: Kura) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    open_with_key(page, kura)
    ask(page, "What does error E-417 mean on the HX-400?")
    assert any(u.endswith("/static/vendor/markdown-it.js") for u in requested)
    assert any(u.endswith("/static/vendor/purify.js") for u in requested)
    assert all(u.startswith(kura.url) for u in requested), json.dumps(requested)
