"""Numbered headings in text without heading markup (PDF text layers, plain text, e-mail).

A line is a heading when it opens with a section number ("1.6.3 Replacement expressions",
"Chapter 2", "第3条(定義)") and reads like a title, not a sentence, a quantity or a program's
output. In a document whose sections are numbered on several levels, a line numbered on one
level only ("4. 設定ファイルを…削除") is a chapter only where the outline has room for one.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence

# Numbered headings: "1.6.3 Replacement expressions", "Chapter 2", "Article 12", "第3条(定義)",
# an appendix and its sections ("Appendix A", "A.1 Debian maze").
# A part has at most three digits ("1970 年 1 月 1 日から…" opens with a year, not a section),
# and the title opens with a letter or a bracket, not a number or a sign ("3 3.141593" and
# "2 * x" are a program's output). "Chapter 2", "Section 12 Confidentiality": the word and its
# number end the line or a capitalised title follows; a line a PDF wrapped mid-sentence that
# opens with a cross-reference ("Section 1.4.8.", "Section 2.1.5).", "Section 1.1.4 and
# Section 7.8.") is none.
_NUMBERED_HEADING = re.compile(
    r"^(?:(?P<num>\d{1,3}(?:\.\d{1,3})*|(?-i:[A-Z])(?:\.\d{1,3})+)\.?\s+(?:[^\W\d_]|[(\[「『“\"'])"
    r"|(?:chapter|section|article|part|appendix)\s+(?:[\dIVXivx]+(?:\.\d+)*|(?-i:[A-Z]))"
    r"(?:$|[.:]?\s*(?-i:[^\W\d_a-z]|[(\[「『“\"']))"
    r"|第[0-9一二三四五六七八九十百千]+[編章節条款])",
    re.IGNORECASE,
)
_SENTENCE_END = tuple(".。!?！？:：;；,、")
# A number that counts is a quantity, not a section: "2 つのパネル", "6 年経った時点で", "1 行の
# シェルスクリプト", and in English a lowercase word after a bare number: "255 heads, 63
# sectors/track", "1 packets transmitted" (command output). A kanji counter counts when a
# particle or a verb follows it: "3 日常点検" and "3 個人情報の取り扱い" are headings.
_QUANTITY = re.compile(
    r"^\d{1,3}\s*(?:つ|(?:[年月日時分秒行個回人台件枚本冊度倍週歳桁]|時間|種類|文字|バイト)"
    r"(?=[のがをはもにでと、。]|経|以[上下内]|前|後|間)|(?-i:[a-z]))"
)
# A sentence ends inside the line and another goes on: body text, never a heading.
_SENTENCES = re.compile(r"[。！？]\s*\S")
# A chapter's number alone on its line ("Chapter 2", "第2章", "Appendix A"): in books set by
# DocBook and LaTeX its title is the line after it.
BARE_CHAPTER = re.compile(
    r"^(?:(?:chapter|part|appendix)\s+[\dA-Z]{1,3}|第[0-9一二三四五六七八九十百]+[章編部])$", re.I
)


def heading_depth(text: str) -> int | None:
    """Depth of a numbered heading (``1`` -> 0, ``1.6.3`` -> 2), None if ``text`` is not one.

    Used for formats without heading markup (plain text, PDF text layers, e-mail), where
    unstructured's title guesses are unreliable, above all for Japanese.
    """
    found = _numbered(text)
    return None if found is None else found[0]


def heading_number(text: str) -> str | None:
    """The section number of a numbered heading ("2.1.8", "4"); None for other text and for
    headings numbered by a word ("Chapter 2", "第3条")."""
    found = _numbered(text)
    return None if found is None else found[1]


def _numbered(text: str) -> tuple[int, str | None] | None:
    """(depth, section number) of a numbered heading, None if ``text`` is not one."""
    if len(text) > 120 or "\n" in text:
        return None
    if text.count(")") > text.count("("):
        # a bracket closed that the line never opened: the end of a sentence a PDF wrapped
        # ("Section 2.10 [What is CRAN?], page 9).")
        return None
    # "1. Definitions." is a heading; "1. The Licensor grants ... ." is a clause body.
    short = len(text.split()) <= 8 and not text.endswith(_SENTENCE_END[1:])
    question = text.endswith(("?", "？"))
    if text.endswith(_SENTENCE_END) and not short and not question:
        return None
    match = _NUMBERED_HEADING.match(text)
    if match is None or _QUANTITY.match(text) or _SENTENCES.search(text):
        return None
    number = match.group("num")
    if question and not short and "." not in (number or "").strip("."):
        # "2.11 Can I use R for commercial purposes?" heads a FAQ's section; "1. Is the
        # power on?" is a step of a checklist
        return None
    return (number.count(".") if number else 0), number


def list_numbers(numbers: Sequence[str | None]) -> set[int]:
    """Indexes of the ``numbers`` (each text's heading number, None for other text) numbered
    on one level ("4.", "3") whose texts are items of a numbered list, by the outline the
    document's sections numbered on several levels draw: chapter k comes after the sections
    of earlier chapters and before its own or later ones. "4. 設定ファイルを…削除" between
    sections 2.1.8 and 2.2 is a step of a list; "3 Term" between 2.1 and 4.1 is a chapter.
    With no such sections, every numbered line stays a heading."""
    chapters: list[tuple[int, int]] = []  # (index, number) of one-level numbers
    sections: list[tuple[int, int]] = []  # (index, chapter number) of multi-level numbers
    for index, dotted in enumerate(numbers):
        if dotted and dotted[0].isdigit():  # an appendix's sections (A.1) are not counted
            parts = dotted.split(".")
            (sections if len(parts) > 1 else chapters).append((index, int(parts[0])))
    if not sections:
        return set()
    where = [index for index, _ in sections]
    listed = set()
    for index, number in chapters:
        at = bisect_left(where, index)
        before = sections[at - 1][1] if at > 0 else None
        after = sections[at][1] if at < len(sections) else None
        if (before is not None and before >= number) or (after is not None and after < number):
            listed.add(index)
    return listed
