"""Tables are chunked by rows, each chunk repeating the caption and header row."""

from __future__ import annotations

import pytest

from ingest.chunk import chunk_blocks, table_row_text
from ingest.parse import Block, _table_rows

pytestmark = pytest.mark.unit


def count_words(text: str) -> int:
    return len(text.split())


def test_html_table_cells_and_caption() -> None:
    rows, caption = _table_rows(
        "<table><caption>故障コード表</caption><tr><th>コード</th><th>内容</th></tr>"
        "<tr><td>E-417</td><td>冷却水温度の異常</td></tr><tr><td></td><td></td></tr></table>"
    )
    assert caption == "故障コード表"
    assert rows == (("コード", "内容"), ("E-417", "冷却水温度の異常"))
    assert _table_rows("no table here") == ((), "")


def test_rows_name_their_columns() -> None:
    assert table_row_text(("Code", "Meaning"), ("E-417", "Overheating")) == (
        "Code: E-417 | Meaning: Overheating"
    )
    assert table_row_text(("Code", ""), ("E-417", "x")) == "Code: E-417 | x"


def test_a_long_table_is_split_by_rows_with_the_header_in_every_chunk() -> None:
    header = ("Code", "Meaning", "Action")
    rows = [header] + [(f"E-{i:03d}", f"fault number {i}", "call service") for i in range(60)]
    table = Block("flat text", "Table", 4, ("Fault codes",), rows=tuple(rows), caption="Table 3")
    blocks = [Block("Intro text before the table.", "NarrativeText", 4, ("Fault codes",)), table]
    chunks = chunk_blocks(
        blocks, chunk_size=80, overlap=10, count_tokens=count_words, max_tokens=256
    )
    prose, tables = chunks[0], chunks[1:]
    assert prose.text == "Intro text before the table."
    assert len(tables) > 3
    seen = []
    for chunk in tables:
        lines = chunk.text.split("\n")
        assert lines[:2] == ["Table 3", "Code | Meaning | Action"]
        assert all(line.startswith("Code: E-") for line in lines[2:])
        assert count_words(chunk.text) <= 80
        assert chunk.element_types == ("Table",)
        assert chunk.page_start == 4
        seen.extend(lines[2:])
    assert len(seen) == 60  # every row exactly once, none split
