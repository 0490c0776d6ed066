"""The web page's words: the English and Japanese catalogues hold the same messages with the
same {placeholders}, every key the page uses exists and every key is used, and nothing the
page shows by itself is left outside them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

STATIC = Path(__file__).resolve().parents[2] / "app" / "static"
LANGUAGES = ("en", "ja")
PLURALS = {"en": {"one", "other"}, "ja": {"other"}}  # Intl.PluralRules' categories
PLACEHOLDER = re.compile(r"\{(\w+)\}")
MODULE = re.compile(r"^(?://[^\n]*\n)*export default (\{.*\});\n$", re.DOTALL)
# t("key", ...) and msg("key", ...) in the scripts; data-i18n[-attr]="key" in the page.
SCRIPT_USE = re.compile(r"\b(?:t|msg)\(\s*\"([^\"]+)\"")
ANY_CALL = re.compile(r"\b(?:t|msg)\((?!\s*\")")
HTML_USE = re.compile(r"\bdata-i18n(?:-placeholder|-aria-label|-title)?=\"([^\"]+)\"")
TRANSLATED_ATTRIBUTES = ("placeholder", "aria-label", "title")
# English the page would show by itself, written where a message belongs.
LITERAL_WORDS = re.compile(
    r"(?:\b(?:text|title)|\"aria-label\"):\s*[\"`][A-Za-z]"
    r"|textContent\s*=\s*[\"`][A-Za-z]"
    r"|\b(?:confirm|showNotice|fail)\(\s*[\"`]"
)


def catalogue(language: str) -> dict[str, str | dict[str, str]]:
    text = (STATIC / "js" / f"messages-{language}.js").read_text(encoding="utf-8")
    match = MODULE.match(text)
    assert match, f"messages-{language}.js is not `export default {{JSON}};`"
    loaded: dict[str, str | dict[str, str]] = json.loads(match[1])
    return loaded


def forms(value: str | dict[str, str]) -> list[str]:
    return list(value.values()) if isinstance(value, dict) else [value]


def scripts() -> dict[str, str]:
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted((STATIC / "js").glob("*.js"))
        if path.name != "i18n.js" and not path.name.startswith("messages-")
    }


def used_keys() -> set[str]:
    keys = {key for source in scripts().values() for key in SCRIPT_USE.findall(source)}
    return keys | set(HTML_USE.findall((STATIC / "index.html").read_text(encoding="utf-8")))


def test_both_catalogues_hold_the_same_keys() -> None:
    en, ja = (catalogue(language) for language in LANGUAGES)
    assert sorted(set(en) - set(ja)) == []
    assert sorted(set(ja) - set(en)) == []


def test_every_message_has_the_same_placeholders_and_no_empty_form() -> None:
    en, ja = (catalogue(language) for language in LANGUAGES)
    for key in en:
        names = {frozenset(PLACEHOLDER.findall(f)) for f in forms(en[key]) + forms(ja[key])}
        assert len(names) == 1, f"{key}: placeholders differ: {names}"
        for language, value in (("en", en[key]), ("ja", ja[key])):
            assert all(f.strip() for f in forms(value)), f"{key} is empty in {language}"


def test_plural_forms_are_the_languages_own_and_count_something() -> None:
    for language in LANGUAGES:
        for key, value in catalogue(language).items():
            if not isinstance(value, dict):
                continue
            assert set(value) == PLURALS[language], f"{key} ({language}): {sorted(value)}"
            assert all("{count}" in f for f in value.values()), key


def test_every_key_the_page_uses_exists_and_every_key_is_used() -> None:
    keys = set(catalogue("en"))
    used = used_keys()
    assert sorted(used - keys) == [], "used but not in the catalogues"
    assert sorted(keys - used) == [], "in the catalogues but never used"


def test_keys_are_written_out_so_the_scan_sees_them() -> None:
    for name, source in scripts().items():
        calls = [source[m.start() : m.start() + 40] for m in ANY_CALL.finditer(source)]
        assert calls == [], f"{name}: a message key that is not a string literal: {calls}"


def test_the_scripts_write_no_words_of_their_own() -> None:
    for name, source in scripts().items():
        found = [source[m.start() : m.start() + 60] for m in LITERAL_WORDS.finditer(source)]
        assert found == [], f"{name}: words outside the catalogues: {found}"


class _Untranslated(HTMLParser):
    """Text and translatable attributes of index.html that no data-i18n* covers, outside
    translate="no"."""

    VOID = frozenset({"meta", "link", "input", "br", "img", "hr"})

    def __init__(self) -> None:
        super().__init__()
        # (tag, its text is covered, it is under translate="no")
        self.stack: list[tuple[str, bool, bool]] = []
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = dict(attrs)
        _, covered, kept = self.stack[-1] if self.stack else ("", False, False)
        kept = kept or given.get("translate") == "no"
        for name in TRANSLATED_ATTRIBUTES:
            if name in given and f"data-i18n-{name}" not in given and not kept:
                self.found.append(f"<{tag} {name}={given[name]!r}>")
        if tag not in self.VOID:
            self.stack.append((tag, covered or kept or "data-i18n" in given, kept))

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() and not (self.stack and self.stack[-1][1]):
            self.found.append(data.strip())


def test_the_page_shows_no_words_outside_the_catalogues() -> None:
    parser = _Untranslated()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert parser.found == []
