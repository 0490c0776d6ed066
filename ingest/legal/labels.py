"""Clause labels: the citation key of a clause heading ("ARTICLE IV" -> "Article 4",
"第十二条" -> "第12条"), joined along a heading path; and the numeral and pattern pieces
the other legal modules share."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ingest.text import JAPANESE_LETTERS

_CJK = JAPANESE_LETTERS  # kana and kanji: what Japanese labels and terms are written in
_N = r"[0-9]+|[〇零一二三四五六七八九十百千]+"  # arabic or kanji numerals
_KANJI_DIGITS = {**{ch: n for n, ch in enumerate("〇一二三四五六七八九")}, "零": 0}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50}

# 第12条の2第3項第1号; statutes also write "2項" without 第. It matches empty where a 第
# starts no label (第三者): callers check that a part matched.
_JA = (
    rf"(?=第)(?:第(?P<art>{_N})条(?:の(?P<branch>{_N}))?)?"
    rf"(?:第?(?P<para>{_N})項)?(?:第?(?P<item>{_N})号)?"
)
_JA_LABEL = re.compile(rf"^(?:第(?P<unit_n>{_N})(?P<unit>[編部章節款目])|{_JA})")
_EN_NUM = r"\d{1,3}(?:\.\d{1,3})*(?:[a-z](?![A-Za-z]))?(?:\s?\([a-z0-9]{1,4}\))*"
_EN_KEYWORDS = {
    "article": "Article", "art.": "Article", "section": "Section", "sec.": "Section",
    "subsection": "Section", "clause": "Section", "§": "Section", "chapter": "Chapter",
    "part": "Part", "exhibit": "Exhibit", "schedule": "Schedule", "annex": "Annex",
    "appendix": "Appendix",
}  # fmt: skip
_LETTERED = ("Exhibit", "Schedule", "Annex", "Appendix")  # "Exhibit C" is not roman 100
_EN_HEADING = re.compile(
    r"^(?P<kw>(?i:article|art\.|section|sec\.|clause|chapter|part|exhibit|schedule|annex"
    rf"|appendix)|§)\s*(?P<num>{_EN_NUM}|[IVX]+\b|[A-Z]\b)"
)
_BARE_HEADING = re.compile(
    rf"^(?P<num>\d{{1,3}}(?:\.\d{{1,3}})*)(?:\.(?=\s|$|[{_CJK}])|(?=\s|\()|$)"
    r"(?:\s?(?P<parens>(?:\([a-z0-9]{1,4}\))+))?"
)
_PAREN = r"[a-zA-Z]|[ivxl]{2,6}|[IVXL]{2,6}|\d{1,3}"
_PAREN_HEADING = re.compile(
    rf"^(?:\((?P<paren>{_PAREN})\)|(?P<letter>[a-zA-Z]|[ivx]{{2,5}})[.)](?=\s|[{_CJK}「]))"
)


def _int(text: str) -> int:
    if text.isascii():
        return int(text)
    if not any(ch in _KANJI_UNITS for ch in text):  # positional, as in 一〇
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in text))
    total = digit = 0
    for ch in text:
        if ch in _KANJI_UNITS:
            total += (digit or 1) * _KANJI_UNITS[ch]
            digit = 0
        else:
            digit = _KANJI_DIGITS[ch]
    return total + digit


def _en_number(number: str) -> str:
    """``12.3`` as is, ``IV`` -> ``4``, ``6b`` -> ``6(b)``, ``4 (b)`` -> ``4(b)``."""
    number = number.replace(" ", "")
    if re.fullmatch(r"[IVX]+", number):
        values = [_ROMAN[ch] for ch in number]
        return str(sum(-v if v < n else v for v, n in zip(values, [*values[1:], 0], strict=True)))
    return re.sub(r"^([\d.]+)([a-z])", r"\1(\2)", number)


@dataclass(frozen=True)
class _Ja:
    """The 条 (with its の branch), 項 and 号 numbers of a Japanese label."""

    art: int | None = None
    branch: int | None = None
    para: int | None = None
    item: int | None = None

    @classmethod
    def of(cls, match: re.Match[str] | None) -> _Ja:
        if match is None or not match[0] or match.groupdict().get("unit"):
            return cls()
        return cls(
            *(_int(match[g]) if match[g] else None for g in ("art", "branch", "para", "item"))
        )

    def __str__(self) -> str:
        return (
            (f"第{self.art}条" if self.art else "")
            + (f"の{self.branch}" if self.branch else "")
            + (f"第{self.para}項" if self.para else "")
            + (f"第{self.item}号" if self.item else "")
        )


def clause_label(heading: str) -> str | None:
    """The citation label of the clause ``heading`` opens, None if it carries no clause number.

    "ARTICLE IV" -> "Article 4", "Section 12.3" / "12.3 Scope" -> "Section 12.3", "4(b)" ->
    "Section 4(b)", "(b)" / "b." -> "(b)", "第十二条（秘密保持）" -> "第12条", "第3項" -> "第3項".
    """
    text = heading.strip()
    if (match := _JA_LABEL.match(text)) and match[0]:
        return f"第{_int(match['unit_n'])}{match['unit']}" if match["unit"] else str(_Ja.of(match))
    if match := _EN_HEADING.match(text):
        keyword, number = _EN_KEYWORDS[match["kw"].lower()], match["num"]
        return f"{keyword} {number if keyword in _LETTERED else _en_number(number)}"
    if match := _BARE_HEADING.match(text):
        return f"Section {match['num']}{match['parens'] or ''}"
    if match := _PAREN_HEADING.match(text):
        return f"({match['paren'] or match['letter']})"
    return None


def join_label(parent: str | None, child: str) -> str:
    """``child`` read inside ``parent``: "Section 4" + "(b)" -> "Section 4(b)", "第12条" +
    "第3項" -> "第12条第3項"; a child that names itself fully ("Section 4.1") stands alone."""
    if not parent:
        return child
    if child.startswith("("):
        return parent + child
    own, outer = _Ja.of(_JA_LABEL.match(child)), _Ja.of(_JA_LABEL.match(parent))
    if own.art or not (own.para or own.item):
        return child
    return str(replace(outer, para=outer.para if own.item else None, item=None)) + child


def clause_path(section_path: Iterable[str]) -> str | None:
    """The citation of the innermost clause of a heading path (outermost first), its levels
    joined: ("Apache License", "4. Redistribution", "(b)") -> "Section 4(b)"; None if no
    heading carries a clause number."""
    label: str | None = None
    for heading in section_path:
        if (own := clause_label(heading)) is not None:
            label = join_label(label, own)
    return label
