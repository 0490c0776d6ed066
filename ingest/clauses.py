"""Contract structure on chunks: the clause each chunk belongs to, the clauses it refers to,
and the defined terms of its document (see ``ingest.legal`` for the reading rules).

Stored on every point, so retrieval can cite "Section 4(b)" or "第12条第3項", fetch a clause
a passage refers to ("subject to Section 9"), and supply the definition of a term a passage
uses ("Licensor").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.chunk import Chunk
from ingest.legal import (
    clause_path,
    find_definitions,
    find_references,
    join_label,
    paragraph_labels,
)

_MAX_TERMS = 200
_NUMBERED_PARAGRAPH = re.compile(
    r"^(\d{1,3})\.\s+\S", re.MULTILINE
)  # defined terms kept per document


@dataclass(frozen=True)
class ClauseInfo:
    """A chunk's place in a contract's structure."""

    clause: str = ""  # citation label of the clause at the chunk's start ("Section 4(b)")
    clauses: tuple[str, ...] = ()  # every clause label the chunk holds, with their parents
    references: tuple[str, ...] = ()  # clauses the chunk refers to
    defines: tuple[str, ...] = ()  # terms the chunk defines


def annotate(chunks: list[Chunk]) -> tuple[list[ClauseInfo], tuple[str, ...]]:
    """Clause information per chunk, and the document's defined terms."""
    infos: list[ClauseInfo] = []
    terms: list[str] = []
    sub: str | None = None  # the sub-clause open at the end of the previous chunk
    previous_base: str | None = None
    numbered: str | None = None  # the numbered paragraph open, in a text without headings
    for chunk in chunks:
        base = clause_path(chunk.section)
        if base is None and not chunk.section:
            # "3. You may copy and distribute ..." (GPL-2): numbered paragraphs are the clauses.
            found = list(_NUMBERED_PARAGRAPH.finditer(chunk.text))
            clause = f"Section {found[0][1]}" if found and found[0].start() == 0 else numbered
            if found:
                numbered = f"Section {found[-1][1]}"
            labels = [x for x in (clause, *(f"Section {m[1]}" for m in found)) if x]
        else:
            if base != previous_base:
                sub, previous_base = None, base
            # "(b)" means something only inside a numbered clause.
            body = chunk.text
            if chunk.section and body.startswith(chunk.section[-1]):
                body = body[len(chunk.section[-1]) :].lstrip()  # the heading is no sub-clause
            markers = paragraph_labels(body) if base else []
            opening = markers[0].label if markers and markers[0].start == 0 else sub
            clause = join_label(base, opening) if opening else base
            labels = [x for x in (base, clause) if x]
            labels += [join_label(base, m.label) for m in markers]
            if markers:
                sub = markers[-1].label
        defined = tuple(find_definitions(chunk.text))
        terms.extend(t for t in defined if t not in terms)
        infos.append(
            ClauseInfo(
                clause=clause or "",
                clauses=tuple(dict.fromkeys(labels)),
                references=tuple(find_references(chunk.text, clause)),
                defines=defined,
            )
        )
    return infos, tuple(terms[:_MAX_TERMS])


def definition_of(term: str, text: str) -> str | None:
    """The sentence of ``text`` that defines ``term``, if any."""
    return find_definitions(text).get(term)
