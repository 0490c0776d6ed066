"""Structure-aware chunking: chunks never cross a section, never split a sentence when they can
avoid it, and never exceed what the embedding model reads.

Why not llama-index's SentenceSplitter: it chunks one flat text, so page numbers and heading
paths of the pieces are lost, and its sentence tokenizer is English-only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ingest.parse import Block
from ingest.text import NO_SPACE, detect_language, split_sentences

TokenCounter = Callable[[str], int]

# Japanese text is written without spaces: sentences joined inside a chunk get none either.
_NO_SPACE = re.compile(f"[{NO_SPACE}]")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed whole."""

    text: str
    section: tuple[str, ...]
    page_start: int | None
    page_end: int | None
    element_types: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    page: int | None
    category: str
    first: bool = False  # opens a paragraph (or other block)


def _hard_split(text: str, max_tokens: int, count: TokenCounter) -> Iterator[str]:
    """Split a sentence longer than ``max_tokens``: at spaces if it has them, else by characters.

    Each piece is the longest run of words that fits. The run is found by a search around the
    previous piece's length, so each piece costs a few token counts of about its own length:
    growing the piece a word at a time re-counted it for every word, O(n x piece), minutes
    for a 3 MB line without punctuation.
    """
    words = re.split(r"(?<=\s)", text) if " " in text else list(text)
    start, guess = 0, 1
    while start < len(words):
        taken = _longest_fit(words, start, max_tokens, count, guess)
        piece = "".join(words[start : start + taken]).strip()
        start, guess = start + taken, taken
        if taken == 1 and len(piece) > 1 and count(piece) > max_tokens:
            # One "word" longer than a chunk (letters without spaces): split it by characters.
            yield from _hard_split(piece, max_tokens, count)
        elif piece:
            yield piece


def _longest_fit(
    words: list[str], start: int, max_tokens: int, count: TokenCounter, guess: int
) -> int:
    """How many words from ``start`` on fit in ``max_tokens`` (at least one).

    Gallops from ``guess`` (up while the words fit, down while they do not), then bisects.
    """
    remaining = len(words) - start

    def fits(n: int) -> bool:
        return count("".join(words[start : start + n])) <= max_tokens

    guess = max(1, min(guess, remaining))
    step = 1
    if guess == 1 or fits(guess):
        fitting = guess
        while fitting + step <= remaining and fits(fitting + step):
            fitting, step = fitting + step, step * 2
        too_many = min(fitting + step, remaining + 1)
    else:
        too_many = guess
        while too_many - step > 1 and not fits(too_many - step):
            too_many, step = too_many - step, step * 2
        fitting = max(1, too_many - step)
    while too_many - fitting > 1:
        middle = (fitting + too_many) // 2
        if fits(middle):
            fitting = middle
        else:
            too_many = middle
    return fitting


def table_row_text(header: tuple[str, ...], row: tuple[str, ...]) -> str:
    """One table row that names its columns: "Code: E-417 | Meaning: Overheating"."""
    cells = []
    for i, value in enumerate(row):
        if not value:
            continue
        name = header[i] if i < len(header) else ""
        cells.append(f"{name}: {value}" if name and name != value else value)
    return " | ".join(cells)


def _table_chunks(
    block: Block, section: tuple[str, ...], budget: int, count: TokenCounter, language: str
) -> list[Chunk]:
    """A table split by rows; every chunk repeats the caption and header row, rows stay whole."""
    header = block.rows[0] if len(block.rows) > 1 else ()
    body = block.rows[1:] if header else block.rows
    head = "\n".join(x for x in (block.caption, " | ".join(header)) if x)
    head_tokens = count(head) + 1 if head else 0
    row_budget = max(8, budget - head_tokens)
    chunks: list[Chunk] = []
    lines: list[str] = []
    size = 0

    def flush() -> None:
        text = "\n".join([head, *lines]) if head else "\n".join(lines)
        chunks.append(
            Chunk(
                text,
                section,
                block.page,
                block.page,
                ("Table",),
                language if (lang := detect_language(text)) == "und" else lang,
            )
        )

    for row in body:
        line = table_row_text(header, row)
        if not line:
            continue
        # a row longer than a chunk is split like prose
        too_long = count(line) + 1 > row_budget
        pieces = list(_hard_split(line, row_budget, count)) if too_long else [line]
        for piece in pieces:
            piece_tokens = count(piece) + 1
            if lines and size + piece_tokens > row_budget:
                flush()
                lines, size = [], 0
            lines.append(piece)
            size += piece_tokens
    if lines:
        flush()
    return chunks


def _units(blocks: Iterable[Block], max_tokens: int, count: TokenCounter) -> Iterator[_Unit]:
    for block in blocks:
        # Table rows are kept whole per line; prose is split into sentences.
        if block.category == "Table":
            pieces = block.text.split("\n")
        elif block.category == "Title":
            pieces = [block.text]  # "4. Redistribution." is one heading, not two sentences
        else:
            pieces = split_sentences(block.text)
        for i, piece in enumerate(pieces):
            tokens = count(piece)
            if tokens <= max_tokens:
                yield _Unit(piece, tokens, block.page, block.category, i == 0)
                continue
            for j, part in enumerate(_hard_split(piece, max_tokens, count)):
                yield _Unit(part, count(part), block.page, block.category, i == j == 0)


def _joined(units: list[_Unit]) -> str:
    out = ""
    previous: _Unit | None = None
    for unit in units:
        if previous is not None:
            if previous.category == "Title" or unit.category in ("Title", "Table") or unit.first:
                out += "\n"  # headings, table rows and paragraphs keep their own lines
            elif not (_NO_SPACE.match(unit.text[:1]) and _NO_SPACE.match(out[-1:])):
                out += " "
        out += unit.text
        previous = unit
    return out


def _make_chunk(units: list[_Unit], section: tuple[str, ...], fallback_language: str) -> Chunk:
    pages = [u.page for u in units if u.page is not None]
    text = _joined(units)
    return Chunk(
        text=text,
        section=section,
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
        element_types=tuple(sorted({u.category for u in units})),
        language=language if (language := detect_language(text)) != "und" else fallback_language,
    )


def _units_and_tables(
    blocks: list[Block], max_tokens: int, count: TokenCounter
) -> Iterator[_Unit | Block]:
    for block in blocks:
        if block.category == "Table" and block.rows:
            yield block
        else:
            yield from _units([block], max_tokens, count)


def _only_headings(blocks: list[Block]) -> bool:
    return all(b.category == "Title" for b in blocks)


def chunk_blocks(
    blocks: list[Block],
    *,
    chunk_size: int,
    overlap: int,
    count_tokens: TokenCounter,
    max_tokens: int,
) -> list[Chunk]:
    """Pack a document's blocks into chunks of at most ``min(chunk_size, max_tokens)`` tokens.

    ``max_tokens`` is what the embedding model reads of the chunk and its section path; the
    section path's tokens come off it.

    A chunk holds text of one section only. Sentences are packed whole; a new chunk in the
    same section starts with the last sentences of the previous one, up to ``overlap`` tokens.
    Token counts are the embedding model's, measured on each sentence; joining sentences can
    differ by a token or two, so the budget keeps a small margin.
    """
    chunks: list[Chunk] = []
    sections: list[tuple[tuple[str, ...], list[Block]]] = []
    for block in blocks:
        if sections and sections[-1][0] == block.section:
            sections[-1][1].append(block)
        else:
            sections.append((block.section, [block]))

    document_language = detect_language(" ".join(b.text for b in blocks[:200]))
    for position, (section, section_blocks) in enumerate(sections):
        following = sections[position + 1][0] if position + 1 < len(sections) else ()
        if _only_headings(section_blocks) and following[: len(section)] == section:
            # A heading directly followed by a subsection: its text lives on in the
            # subsection's heading path; alone it would be a chunk with nothing to say.
            continue
        # The section path is embedded with every chunk of the section: it takes budget too.
        section_cost = count_tokens(" > ".join(section)) + 1 if section else 0
        budget = max(8, min(chunk_size, max_tokens - section_cost) - 4)
        current: list[_Unit] = []
        size = 0
        fresh = 0  # units in ``current`` that no earlier chunk holds
        for unit in _units_and_tables(section_blocks, budget, count_tokens):
            if isinstance(unit, Block):  # a table: the prose before it ends, its rows follow
                if fresh and not all(u.category == "Title" for u in current):
                    # (the section's heading alone says nothing: the table's chunks carry
                    # it in their section path)
                    chunks.append(_make_chunk(current, section, document_language))
                current, size, fresh = [], 0, 0
                chunks.extend(_table_chunks(unit, section, budget, count_tokens, document_language))
                continue
            if current and size + unit.tokens > budget:
                chunks.append(_make_chunk(current, section, document_language))
                carried: list[_Unit] = []
                carried_size = 0
                for prev in reversed(current):
                    if carried_size + prev.tokens > overlap or prev.category == "Title":
                        break
                    carried.insert(0, prev)
                    carried_size += prev.tokens
                if carried_size + unit.tokens > budget:
                    carried, carried_size = [], 0
                current, size, fresh = carried, carried_size, 0
            current.append(unit)
            size += unit.tokens
            fresh += 1
        if current and fresh:
            chunks.append(_make_chunk(current, section, document_language))
    return chunks
