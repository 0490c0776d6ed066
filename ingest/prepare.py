"""Detect, parse and chunk one document: the step that runs in a parsing worker process.

Kept apart from ``ingest.pipeline`` so a worker imports only the parsers and the tokenizer, not
llama-index, the embedding model or the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.chunk import Chunk, chunk_blocks
from ingest.defaults import from_setting
from ingest.detect import DocType, detect_type
from ingest.errors import DocumentTooLarge
from ingest.parse import ParsedDocument, ParseOptions, parse_document
from ingest.tokens import TokenCounter

if TYPE_CHECKING:  # not at run time: a worker process needs no settings
    from ingest.settings import IndexSettings


def content_version(data: bytes) -> str:
    """A document version: the sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PrepareOptions:
    """What parsing and chunking need; picklable, so worker processes can use it."""

    parse: ParseOptions
    chunk_size: int
    chunk_overlap: int
    max_tokens: int  # word pieces the embedding model reads
    model_dir: str  # for its tokenizer
    max_chunks: int = from_setting("max_document_chunks")  # a document making more is refused

    @classmethod
    def from_settings(
        cls, settings: IndexSettings, *, max_tokens: int, model_dir: str
    ) -> PrepareOptions:
        """The options ``settings`` ask for, for the embedding model given (its window and
        tokenizer)."""
        return cls(
            parse=settings.parse_options,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            max_tokens=max_tokens,
            model_dir=model_dir,
            max_chunks=settings.max_document_chunks,
        )


@dataclass
class Prepared:
    """A document parsed and chunked, ready to embed."""

    source: str
    version: str
    doc_type: DocType
    parsed: ParsedDocument
    chunks: list[Chunk]


def prepare_document(
    data: bytes, source: str, options: PrepareOptions, version: str | None = None
) -> Prepared:
    """Detect, parse and chunk one document (no model, no store: runs in any process).

    ``version`` is the content hash when the caller has already computed it.
    """
    count = TokenCounter(options.model_dir)
    doc_type = detect_type(data, source)
    parsed = parse_document(data, doc_type, source, options.parse)
    # The model reads [CLS] title \n section \n text [SEP]; the chunker takes the section
    # off the rest.
    limit = options.max_tokens - 2 - count(parsed.title) - 2
    chunks = chunk_blocks(
        parsed.blocks,
        chunk_size=options.chunk_size,
        overlap=options.chunk_overlap,
        count_tokens=count,
        max_tokens=limit,
    )
    if len(chunks) > options.max_chunks:
        raise DocumentTooLarge(
            source,
            f"{len(chunks):,} chunks is over the limit of {options.max_chunks:,} "
            "(KURA_MAX_DOCUMENT_CHUNKS)",
        )
    return Prepared(source, version or content_version(data), doc_type, parsed, chunks)
