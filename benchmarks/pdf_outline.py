"""How well a real book's outline is read from its PDF: Debian Reference 2.100 as Debian ships
it, in Japanese and English (packages debian-reference-ja / -en).

Prints, per language, the chunks after the front matter (page 30 on) whose top heading is no
chapter at all (a list step, a quantity, a program's output taken for a heading), those whose
chapter is not named in full ("Chapter 2" without "Debian パッケージ管理"), and the chunks
still carrying contents leaders.

    PYTHONPATH=. .venv/bin/python benchmarks/pdf_outline.py
"""

from __future__ import annotations

import re
from pathlib import Path

from ingest.chunk import chunk_blocks
from ingest.detect import DocType
from ingest.parse import ParseOptions, parse_document

BOOK = "/usr/share/debian-reference/debian-reference.{}.pdf"
NAMED_CHAPTER = re.compile(r"^(?:Chapter|Appendix) \S+ \S")


def main() -> None:
    for language in ("ja", "en"):
        path = Path(BOOK.format(language))
        doc = parse_document(path.read_bytes(), DocType.PDF, path.name, ParseOptions())
        chunks = chunk_blocks(
            doc.blocks, chunk_size=256, overlap=32, count_tokens=len, max_tokens=512
        )
        body = [c for c in chunks if c.page_start and c.page_start > 30]
        tops = [c.section[0] if c.section else "" for c in body]
        stray = sum(not top.startswith(("Chapter", "Appendix")) for top in tops)
        unnamed = sum(not NAMED_CHAPTER.match(top) for top in tops)
        leaders = sum(". . . . ." in c.text for c in chunks)
        print(
            f"{language}: {len(chunks)} chunks, {len(body)} after the front matter; "
            f"top heading no chapter: {stray}; chapter not named in full: {unnamed}; "
            f"with contents leaders: {leaders}"
        )


if __name__ == "__main__":
    main()
