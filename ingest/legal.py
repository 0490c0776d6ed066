"""Contract and statute structure, English and Japanese: clause labels, cross references and
defined terms, so a chunk can be cited as "Section 4(b)" or "第12条第3項" and shown with the
clauses and definitions it leans on.

Pure functions over text that is already NFKC-normalised (full-width digits and brackets are
ASCII). A label is a citation key, not the text as written: numbers are arabic (第十二条 ->
第12条, Article IV -> Article 4), "Clause" and "§" read as "Section", a bare heading number
"12.3" reads as "Section 12.3" and "6b" as "6(b)", so that a reference and the clause it
names compare equal. A reference also names every clause whose label starts with it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ingest.text import JAPANESE_LETTERS

_CJK = JAPANESE_LETTERS
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


# --- sub-clauses inside a clause body -------------------------------------------------------

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


# --- cross references -----------------------------------------------------------------------

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


# --- defined terms --------------------------------------------------------------------------

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
