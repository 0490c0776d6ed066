"""A document's own table of contents, found so it is not indexed as content.

A manual's contents pages list every heading with dot leaders and a page number
("2.2 What machines does R run on? . . . . . 3", "第2章 設置 ………… 12"). Read as text, each
line is taken for a numbered heading and becomes a chunk of its own that matches every
question about that heading and says nothing, and the headings after them get wrong paths.
An entry is told from content by the document itself: its title is a heading the document
has elsewhere, with content. So a price list or a parts list with dot leaders ("Filter
HX-7731 ........ 12") stays: none of its lines is a heading of the document.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import islice
from typing import Any

from ingest.text import NO_SPACE

# Four or more leaders, spaced or not: ". . . .", "....", "…………", "・・・・".
_LEADERS = re.compile(r"(?:[.．・·…‥]\s*){4,}")
_TRAILING = re.compile(r"[\s.．・·…‥]+$")


# A caption's label before its number: a list of tables names "Table 12.9: Dialog programs"
# (図 3.1, Figure 2-4) by the number and title alone.
_CAPTION = re.compile(r"^\S{1,12} ([0-9]+(?:[.-][0-9]+)*)[:.]?(?= )")
# An entry without leaders: a chapter's title and its page ("2 Debian パッケージ管理 38").
_PAGE = re.compile(r"\s+[0-9]{1,4}\s*$")
# A number set against its title, as narrow columns print it ("11.10List of XML tools").
_TIGHT_NUMBER = re.compile(r"^(\d+(?:\.\d+)+)(?=[^\W\d_])")


def _key(text: str) -> str:
    """A heading as entries and headings are compared: no trailing leaders, spaces squeezed,
    a space after its number, case folded."""
    return " ".join(_TIGHT_NUMBER.sub(r"\1 ", _TRAILING.sub("", text)).split()).casefold()


def entry_title(text: str) -> str | None:
    """The title of a contents entry (the text before its leaders; "" for a line of leaders
    alone), or None when ``text`` has no run of leaders."""
    match = _LEADERS.search(text)
    return None if match is None else _key(text[: match.start()])


# Titles and the text they name are compared on at most this many words: enough for any
# heading, and what bounds the work per element (a hostile file of a million lines sharing
# their first words must cost a million look-ups, not a million squared).
PREFIX_WORDS = 12

# Japanese is written without spaces: each of its characters counts as a word.
_WORD = re.compile(f"[{NO_SPACE}]|[^\\s{NO_SPACE}]+")


def _words(key: str) -> list[str]:
    """The first words of a key, as prefixes are compared."""
    return [m.group() for m in islice(_WORD.finditer(key), PREFIX_WORDS)]


def contents_entries(texts: Sequence[tuple[Any, str]]) -> set[int]:
    """The indexes of the elements of ``texts`` ((page, text) each, in order) that are a
    table of contents: on a page where most elements have leaders and most of those entries
    name text that opens an element of another page (its heading, a paragraph it opens, or a
    caption it names by number and title), each entry, line of leaders, entry title whose
    leaders went to the next line ("1.1 Legalese ."), or entry set without leaders ("2 Debian
    パッケージ管理 38"). Other text there stays."""
    titles = [entry_title(text) for _, text in texts]
    counts = Counter(page for page, _ in texts)
    entries: dict[Any, list[str]] = {}
    for (page, _), title in zip(texts, titles, strict=True):
        if title is not None and page is not None:
            entries.setdefault(page, []).append(title)
    candidates = {page: found for page, found in entries.items() if 2 * len(found) >= counts[page]}
    if not candidates:
        return set()  # most documents: no page of leaders, no index of what lines open
    opened: dict[str, set[Any]] = {}  # a word prefix -> up to two pages of text it opens
    whole: dict[str, set[Any]] = {}  # an element's text -> up to two pages that hold it
    for (page, text), title in zip(texts, titles, strict=True):
        if title is not None:
            continue
        key = _key(text)
        for variant in {key, _CAPTION.sub(r"\1", key, count=1)}:
            words = _words(variant)
            for n in range(1, len(words) + 1):
                _add(opened, " ".join(words[:n]), page)
            _add(whole, " ".join(words), page)

    def elsewhere(title: str, page: Any) -> bool:
        prefix = " ".join(_words(title))
        return bool(opened.get(prefix, set()) - {page})

    def wraps_heading(text: str, page: Any) -> bool:
        """An entry's first line, wrapped later than the heading it names ("7.36 Why are
        there unwanted borders, lines or grid-like artifacts when" for a heading that ends
        at "grid-like"): it opens with the whole text of an element of another page."""
        words = _words(_key(text))
        return any(whole.get(" ".join(words[:n]), set()) - {page} for n in range(2, len(words)))

    pages = set()
    for page, found in candidates.items():
        named = [t for t in found if t]
        if 2 * sum(elsewhere(t, page) for t in named) >= len(named) > 0:
            pages.add(page)
    return {
        n
        for n, ((page, text), title) in enumerate(zip(texts, titles, strict=True))
        if page in pages
        and (
            title is not None
            or elsewhere(_key(text), page)
            or elsewhere(_key(_PAGE.sub("", text)), page)
            or wraps_heading(text, page)
        )
    }


def _add(index: dict[str, set[Any]], key: str, page: Any) -> None:
    pages = index.setdefault(key, set())
    if len(pages) < 2:  # two pages tell "another page" from any one page
        pages.add(page)
