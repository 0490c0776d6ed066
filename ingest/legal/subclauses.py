"""Sub-clauses inside a clause body: "(a)", "(a)(i)", Japanese 項 and 号, labelled with their
nesting."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.legal.labels import _CJK, _N, _PAREN, _int, join_label

_MARKER = re.compile(
    r"^[ \t]*(?P<marker>"
    rf"\((?P<paren>{_PAREN})\)"
    rf"|(?P<letter>[a-zA-Z]|[ivx]{{2,5}})[.)](?=[ \t]|[{_CJK}「])"
    r"|(?P<dotted>\d{1,3}(?:\.\d{1,3})+)\.?(?=[ \t])"
    r"|(?P<num>\d{1,3})(?P<num_end>[.)])(?=[ \t]|[^\W\d_]|「)"
    rf"|第(?P<para>{_N})項|第(?P<item>{_N})号"
    r"|(?P<kanji>[一二三四五六七八九十]+)(?=[ \t])"
    rf"|(?P<bare>\d{{1,2}})(?=[ \t]+[{_CJK}「]))",
    re.MULTILINE,
)
_ROMAN_NEXT = {"i": "h", "v": "u", "x": "w"}  # (i) after (h) is a letter, not a roman one


@dataclass(frozen=True)
class SubClause:
    """A sub-clause start inside a clause body."""

    start: int  # offset of the marker in the text
    marker: str  # as written: "(b)", "2", "一", "第3項"
    label: str  # relative to the enclosing clause, nesting included: "(b)(ii)", "第2項第1号"


def paragraph_labels(text: str) -> list[SubClause]:
    """Sub-clause starts at line starts of a clause body (without its heading line), each
    labelled with its nesting: "(a)", "(a)(i)", "(1)"; Japanese 項 ("2 甲は…", "第2項") and
    号 ("一 …") as "第2項第1号". Join a label to its clause's with ``join_label``. A body
    whose first numbered 項 is 2 gets 第1項 at its start: Japanese drafting leaves the first
    paragraph unnumbered."""
    found: list[SubClause] = []
    stack: list[tuple[str, str]] = []  # (kind, label piece), outermost first
    for match in _MARKER.finditer(text):
        kind, piece = _marker_piece(match, stack)
        kinds = [k for k, _ in stack]
        # a kind already open is a sibling there; a new kind nests; "12.3.1" stands alone
        depth = 0 if kind == "dotted" else kinds.index(kind) if kind in kinds else len(stack)
        stack = [*stack[:depth], (kind, piece)]
        if piece == "第2項" and not found and text[: match.start()].strip():
            found.append(SubClause(0, "", "第1項"))
        label = ""
        for _, part in stack:
            label = join_label(label, part)
        found.append(SubClause(match.start("marker"), match["marker"], label))
    return found


def _marker_piece(match: re.Match[str], stack: list[tuple[str, str]]) -> tuple[str, str]:
    if value := match["paren"] or match["letter"]:
        return _paren_kind(value, stack), f"({value})"
    if match["dotted"]:
        return "dotted", f"Section {match['dotted']}"
    if match["num"]:
        return ("num" if match["num_end"] == ")" else "num-dot"), f"({match['num']})"
    if para := match["para"] or match["bare"]:
        return "項", f"第{_int(para)}項"
    return "号", f"第{_int(match['item'] or match['kanji'])}号"


def _paren_kind(value: str, stack: list[tuple[str, str]]) -> str:
    """Which list a "(x)" belongs to: numbers, letters or roman numerals, by case."""
    if value.isdigit():
        return "num"
    case = "lower" if value.islower() else "upper"
    if len(value) > 1:
        return f"roman-{case}"
    if (prev := _ROMAN_NEXT.get(value.lower())) is not None:
        letters = [piece for kind, piece in stack if kind == f"alpha-{case}"]
        if letters and letters[-1].lower() == f"({prev})":
            return f"alpha-{case}"
        if value.lower() == "i" or f"roman-{case}" in (kind for kind, _ in stack):
            return f"roman-{case}"
    return f"alpha-{case}"
