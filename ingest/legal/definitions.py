"""Defined terms: the terms a contract defines with the sentence that defines each, and the
defined terms a text uses."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

from ingest.legal.labels import _CJK
from ingest.legal.subclauses import _MARKER

_MAX_DEFINITION = 400
_Q = r'["“](?P<term>[^\W\d_][^"“”\n]{0,59}?)["”]'
# "Licensor" shall mean, "Source" form shall mean, A "covered work" means, "You" (or "Your").
_EN_MEANS = re.compile(
    rf'{_Q}(?P<alts>\s*\((?:or|and)\s+["“][^"“”\n]{{1,60}}["”]\))?(?:[^"“”.;:]{{0,60}}?'
    r"\b(?:shall\s+mean|(?:also\s+)?means|mean|shall\s+refer\s+to|refers?\s+to|shall\s+include"
    r"|includes?|has\s+the\s+meaning)\b|\s+(?:is|are)\s)"
)
# What may stand before a term that a definition opens with: nothing, an article, a comma.
_DEF_LEAD = re.compile(r"(?:\A|[\n.;:,(]|\b(?i:an?|the|to|each|any)|\w's)[ \t]*\n?[ \t]*\Z")
_EN_CALLED = re.compile(
    r"\b(?:is|are)\s+(?:(?:also|hereinafter|collectively)\s+)?(?:called|referred\s+to\s+as"
    rf"|known\s+as|addressed\s+as)\s+(?:(?:an?|the)\s+)?{_Q}"
)
# (the "Agreement"), ("Licensee"), (each a "Party" and together the "Parties")
_EN_PAREN = re.compile(r"\(([^()]{1,120})\)")
_QUOTED = re.compile(r'["“]([^\W\d_][^"“”\n]{0,59}?)["”]')
_PAREN_FILLER = re.compile(
    r"(?i)(?:[\s,;]|\b(?:the|an?|or|and|each|collectively|together|individually|jointly"
    r"|hereinafter|hereafter|herein|referred|to|as|called|also)\b)*"
)
_JA_TOWA = re.compile(
    r"「[^「」]{1,40}」(?:(?:又は|または|若しくは|もしくは|及び|および|、|・)「[^「」]{1,40}」)*とは"
)
# （以下「甲」という。）, （以下、この二つを併せて「編集著作物等」という。）, これを「X」という
_JA_HEREAFTER = re.compile(
    r"(?:以下[^「」()。]{0,20}?|を)「(?P<term>[^「」]{1,40})」と(?:いう|いい|総称する|称する|略称する)"
)
# （以下単に本ソフトウェアといいます）: unquoted, but fenced by the parenthesis
_JA_HEREAFTER_BARE = re.compile(
    r"\(以下(?:、|単に|、単に)?(?P<term>[^「」()、。\s]{1,20}?)と(?:いい(?:ます)?|いう|総称する|称する)。?\)"
)
_JA_TERM = re.compile(r"「([^「」]{1,40})」")
_OPEN, _CLOSE = "(「『[【", ")」』]】"
_EN_BREAK = re.compile(r"""["”')]*\s+(?=["“(\[]?[A-Z0-9])""")
_NO_BREAK_BEFORE = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|Inc|Ltd|Co|Corp|No|Nos|Sec|Art|vs|cf|U\.S|Mr|Ms|Dr|St)|\b[A-Za-z]|\d)$"
)
_CJK_GAP = re.compile(rf"(?<=[{_CJK}]) (?=[{_CJK}])")


def find_definitions(text: str) -> dict[str, str]:
    """Defined terms and the sentence that defines each, first definition winning: English
    ``"Licensor" shall mean …``, ``"This License" refers to …``, ``(the "Agreement")``,
    ``"You" (or "Your")``; Japanese ``「本契約」とは…をいう。``, ``（以下「甲」という。）``."""
    hits: list[tuple[int, str]] = []  # (offset, term)
    for match in _EN_MEANS.finditer(text):
        if not _DEF_LEAD.search(text, max(0, match.start() - 40), match.start()):
            continue  # 'displays "Appropriate Legal Notices" to the extent that it includes'
        hits.append((match.start(), match["term"]))
        hits.extend((match.start(), alt) for alt in _QUOTED.findall(match["alts"] or ""))
    hits.extend((match.start(), match["term"]) for match in _EN_CALLED.finditer(text))
    for match in _EN_PAREN.finditer(text):
        inside = match[1]
        terms = _QUOTED.findall(inside)
        if terms and _PAREN_FILLER.fullmatch(_QUOTED.sub(" ", inside)):
            hits.extend((match.start(), term) for term in terms)
    for match in _JA_TOWA.finditer(text):
        hits.extend((match.start(), term) for term in _JA_TERM.findall(match.group()))
    for pattern in (_JA_HEREAFTER, _JA_HEREAFTER_BARE):
        hits.extend((match.start(), match["term"]) for match in pattern.finditer(text))
    spans = _sentence_spans(text)
    starts = [start for start, _ in spans]
    definitions: dict[str, str] = {}
    for offset, term in sorted(hits):
        term = term.strip().rstrip(",.")
        if term and term not in definitions:
            start, end = spans[bisect_right(starts, offset) - 1]
            definitions[term] = _excerpt(text[start:end], offset - start)
    return definitions


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences as (start, end) offsets covering all of ``text``; a 。 or . inside brackets
    (（以下「甲」という。）) does not end one, a blank line or a sub-clause marker does."""
    spans: list[tuple[int, int]] = []
    start = depth = 0
    for i, ch in enumerate(text):
        depth = depth + 1 if ch in _OPEN else max(0, depth - 1) if ch in _CLOSE else depth
        end = None
        if ch == "\n" and (text[i + 1 : i + 2] == "\n" or _MARKER.match(text, i + 1)):
            end, depth = i + 1, 0
        elif depth == 0 and (ch in "。！？" or _is_english_break(text, i)):
            end = i + 1
        if end is not None:
            spans.append((start, end))
            start = end
    spans.append((start, len(text) + 1))
    return spans


def _is_english_break(text: str, i: int) -> bool:
    return (
        text[i] in ".!?;"
        and _EN_BREAK.match(text, i + 1) is not None
        and _NO_BREAK_BEFORE.search(text, max(0, i - 6), i) is None
    )


def _excerpt(sentence: str, offset: int) -> str:
    """The sentence on one line, without a leading sub-clause marker, cut to the definition's
    neighbourhood when it is long."""
    if len(sentence) > _MAX_DEFINITION:
        begin = max(0, min(offset - _MAX_DEFINITION // 4, len(sentence) - _MAX_DEFINITION))
        sentence = ("…" if begin else "") + sentence[begin : begin + _MAX_DEFINITION] + "…"
    sentence = _CJK_GAP.sub("", " ".join(sentence.split()))
    marker = _MARKER.match(sentence)
    return sentence[marker.end() :].strip() if marker else sentence


def terms_used(text: str, terms: Iterable[str]) -> list[str]:
    """The ``terms`` that ``text`` uses, in order of first use. English terms match whole
    words, case-sensitively ("Work" is not "work"; a lowercase term may open a sentence),
    plurals included; Japanese terms match anywhere. A longer term hides the shorter ones
    inside it ("Derivative Works" is not a use of "Works")."""
    ordered = sorted(set(terms), key=lambda term: (-len(term), term))
    if not ordered:
        return []
    # one alternation, longest first: at each position the longest term wins
    pattern = re.compile("|".join(f"({_term_pattern(term)})" for term in ordered))
    used: dict[str, None] = {}
    for match in pattern.finditer(text):
        used.setdefault(ordered[(match.lastindex or 1) - 1])
    return list(used)


def _term_pattern(term: str) -> str:
    if re.search(f"[{_CJK}]", term):
        return re.escape(term)
    head = f"[{term[0]}{term[0].upper()}]" if term[0].islower() else re.escape(term[0])
    return rf"(?<![\w-]){head}{re.escape(term[1:])}(?:s|es)?(?![\w-])"
