"""Cross references: the clauses a text cites ("Sections 3 and 4", "第4条から第9条",
"前条"), resolved against the clause it belongs to."""

from __future__ import annotations

import re
from dataclasses import replace

from ingest.legal.labels import (
    _EN_KEYWORDS,
    _EN_NUM,
    _JA,
    _JA_LABEL,
    _LETTERED,
    _N,
    _en_number,
    _int,
    _Ja,
)
from ingest.legal.subclauses import _paren_kind

_EN_ITEM = rf"(?:{_EN_NUM}|[IVX]+\b|\([a-z0-9]{{1,4}}\))"
_EN_SEP = r"\s*(?:,\s*(?:and|or)\s+|,\s*|and\s+|or\s+|through\s+|thru\s+|to\s+|-|–)\s*"
_EN_RANGE = ("through", "thru", "to", "-", "–")
_EN_REF = re.compile(
    r"(?<![\w§])(?P<kw>(?i:(?:sub)?sections?|articles?|clauses?)|§§?"
    r"|Chapters?|Parts?|Exhibits?|Schedules?|Annex(?:es)?|Appendix|Appendices)\s*"
    rf"(?P<items>{_EN_ITEM}(?:{_EN_SEP}{_EN_ITEM})*)"
)
_EN_ITEMS = re.compile(rf"(?P<sep>{_EN_SEP})?(?P<item>{_EN_ITEM})")
_EN_RELATIVE = re.compile(
    r"(?i:\b(?:sub)?(?:paragraph|subsection|clause)s?)\s+(?P<item>\([a-z0-9]{1,4}\))"
)
# 第4条から第9条; 第7条b (a lettered sub-clause, as the CC Japan licences cite them)
_JA_REF = re.compile(
    rf"{_JA}(?P<letter>[a-z](?![A-Za-z]))?"
    rf"(?:\s*(?:から|ないし|〜|~|-)\s*第?(?P<to>{_N})条(?!の|第?(?:{_N})[項号]))?"
)
_JA_RELATIVE = re.compile(rf"[前次][条項号](?!件)|前各[項号]|前(?:{_N})条")
# 著作権法第18条, 政令第3号, 規則第2条: another instrument's articles, not this document's;
# so are the ones listed right after them (著作権法第18条2項〜4項、第19条2項).
_EXTERNAL_BEFORE = tuple("法律令則")
_LIST_GAP = re.compile(
    r"[\s、,・及並びにおよまたは又若しくもからないし〜~\-項号条第0-9〇一二三四五六七八九十百千]*"
)
# What follows a label that heads its own line: a caption, a bracketed caption, nothing.
_HEADING_TAIL = re.compile(r"[ \t]*$|[ \t]*[.:\-–—]?[ \t]*[A-Z(]|[ \t]+[^\x00-\x7f]", re.MULTILINE)
_MAX_RANGE = 50


def find_references(text: str, current: str | None = None) -> list[str]:
    """Labels of the clauses ``text`` refers to, in order, each once: "Sections 3 and 4" ->
    "Section 3", "Section 4"; "第12条第3項"; "第4条から第9条" -> six labels. Relative ones
    (前条, 次項, 前号, 第2項, "paragraph (b)") are resolved against ``current``, the label of
    the clause the text belongs to, and left out without it; ``current`` itself is left out.
    A label heading its own line is not a reference, nor is another law's article
    (著作権法第30条)."""
    spans: list[tuple[int, int, list[str], bool]] = []  # start, end, labels, relative
    for match in _EN_REF.finditer(text):
        spans.append((match.start(), match.end(), _en_items(match["kw"], match["items"]), False))
    spans += [(m.start(), m.end(), [m["item"]], True) for m in _EN_RELATIVE.finditer(text)]
    external_end = -1
    for match in _JA_REF.finditer(text):
        own = _Ja.of(match)
        if own == _Ja():
            continue
        external = text.endswith(_EXTERNAL_BEFORE, 0, match.start()) or (
            external_end >= 0 and _LIST_GAP.fullmatch(text, external_end, match.start()) is not None
        )
        external_end = match.end() if external else -1
        if not external:
            spans.append((match.start(), match.end(), _ja_items(match, own), own.art is None))
    for match in _JA_RELATIVE.finditer(text):
        if not text.endswith(_EXTERNAL_BEFORE, 0, match.start()):
            spans.append((match.start(), match.end(), [match[0]], True))
    found: list[str] = []
    taken_until = -1
    for start, end, labels, relative in sorted(spans, key=lambda span: (span[0], -span[1])):
        if start < taken_until or _is_heading(text, start, end):
            continue
        taken_until = end
        for label in labels:
            targets = (resolve_relative(label, current) if current else []) if relative else [label]
            found.extend(t for t in targets if t not in found and t != current)
    return found


def _is_heading(text: str, start: int, end: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    return not text[line_start:start].strip() and _HEADING_TAIL.match(text, end) is not None


def _en_items(keyword: str, items: str) -> list[str]:
    word = "§" if keyword[0] == "§" else keyword.lower().removesuffix("s")
    name = _EN_KEYWORDS[{"annexe": "annex", "appendice": "appendix"}.get(word, word)]
    labels: list[str] = []
    for match in _EN_ITEMS.finditer(items):
        item, sep = match["item"], (match["sep"] or "").strip()
        if item.startswith("("):
            if labels:  # "Section 4(a) and (b)": (b) is in Section 4
                labels.append(re.sub(r"\([a-z0-9]+\)$", "", labels[-1]) + item)
            continue
        number = item if name in _LETTERED else _en_number(item)
        last = labels[-1].rpartition(" ")[2] if labels else ""
        is_range = sep in _EN_RANGE and last.isdigit() and number.isdigit()
        if is_range and 0 < int(number) - int(last) <= _MAX_RANGE:
            labels.extend(f"{name} {n}" for n in range(int(last) + 1, int(number) + 1))
        else:
            labels.append(f"{name} {number}")
    return labels


def _ja_items(match: re.Match[str], own: _Ja) -> list[str]:
    if match["letter"]:
        return [f"{own}({match['letter']})"]
    if match["to"] and own.art and own == _Ja(own.art):
        last = _int(match["to"])
        if 0 < last - own.art <= _MAX_RANGE:
            return [f"第{n}条" for n in range(own.art, last + 1)]
    return [str(own)]


def resolve_relative(ref: str, current: str) -> list[str]:
    """The clauses a relative reference names, seen from ``current``: "前条" in "第12条" ->
    ["第11条"], "第2項" in "第12条第3項" -> ["第12条第2項"], "(b)" in "Section 4(a)" ->
    ["Section 4(b)"], "前各項" in "第5条第3項" -> its 第1項 and 第2項. Empty when it cannot
    be resolved; an absolute label comes back as it is."""
    if ref.startswith("("):
        return _resolve_paren(ref, current)
    own, here = _Ja.of(_JA_LABEL.match(ref)), _Ja.of(_JA_LABEL.match(current))
    if own.para:  # 第2項: of the current article
        return [str(replace(here, para=own.para, item=own.item))] if here.art else []
    if own.item:
        return [str(replace(here, item=own.item))] if here.art or here.para else []
    if own.art or ref[0] not in "前次":
        return [ref]
    if ref.endswith("条"):
        if here.art is None:
            return []
        if here.branch:  # 第12条の2: 前条 is 第12条; 次条 is 第12条の3 or 第13条
            previous = _Ja(here.art, here.branch - 1 if here.branch > 2 else None)
            return [str(previous)] if ref == "前条" else []
        return [str(_Ja(n)) for n in _relative_numbers(ref, here.art)]
    if ref.endswith("項"):  # the unnumbered first paragraph is 第1項
        numbers = _relative_numbers(ref, here.para or 1)
        return [str(_Ja(here.art, here.branch, n)) for n in numbers] if here.art else []
    if here.item:
        return [str(replace(here, item=n)) for n in _relative_numbers(ref, here.item)]
    if tail := re.search(r"\((\d+)\)$", current):  # "(2)" items standing in for 号
        return [f"{current[: tail.start()]}({n})" for n in _relative_numbers(ref, int(tail[1]))]
    return []


def _relative_numbers(ref: str, number: int) -> list[int]:
    """前 / 次 / 前各 / 前二 applied to the current clause's ``number``."""
    if ref[0] == "次":
        return [number + 1]
    if ref[1] == "各":
        return list(range(1, number))
    count = 1 if len(ref) == 2 else _int(ref[1:-1])
    return list(range(max(1, number - count), number))


def _resolve_paren(ref: str, current: str) -> list[str]:
    tails = re.search(r"(?:\([a-zA-Z0-9]+\))*$", current)
    assert tails is not None  # the pattern matches the empty string
    if not (base := current[: tails.start()]):
        return []
    stack: list[tuple[str, str]] = []
    for piece in re.findall(r"\([a-zA-Z0-9]+\)", tails[0]):
        stack.append((_paren_kind(piece[1:-1], stack), piece))
    kinds = [kind for kind, _ in stack]
    kind = _paren_kind(ref[1:-1], stack)
    if kind in kinds:  # a sibling: "(c)" in "Section 4(b)(ii)" -> "Section 4(c)"
        stack = stack[: kinds.index(kind)]
    return [base + "".join(piece for _, piece in stack) + ref]
