"""Settings for everything that writes the index (env prefix ``KURA_``)."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.parse import ParseOptions

PACKAGED_EMBED_MODEL = "packaged:all-MiniLM-L6-v2"
# A server's address as the settings name one (KURA_QDRANT_URL, the LLM hosts)
HTTP_URL = re.compile(r"^https?://[^/\s]+")
# Ollama's keep_alive: seconds, or a Go duration (api.Duration, time.ParseDuration)
KEEP_ALIVE_PATTERN = r"^-?\d+(\.\d+)?$|^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$"


@dataclass(frozen=True)
class CollectionLayout:
    """How a new collection is spread over a Qdrant cluster; None leaves Qdrant's default."""

    shards: int | None = None
    replication: int | None = None
    write_consistency: int | None = None


class IndexSettings(BaseSettings):
    """Where the index lives, how documents are chunked and embedded."""

    # populate_by_name: fields read from more than one variable (validation_alias) can still be
    # given by name, as tests do.
    model_config = SettingsConfigDict(
        env_prefix="KURA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        Path("data"), description="kura's state: the embedded Qdrant store lives under it."
    )
    qdrant_url: str | None = Field(
        None,
        description="Qdrant server URL (e.g. http://qdrant:6333). Unset: embedded Qdrant Edge "
        "stored under qdrant_path. `:memory:`: qdrant-client's in-process mode (tests).",
    )
    qdrant_api_key: SecretStr | None = Field(None, description="API key for the Qdrant server.")
    qdrant_path: Path | None = Field(
        None, description="Embedded Qdrant storage folder. Default: <data_dir>/qdrant."
    )
    qdrant_shards: int | None = Field(
        None,
        ge=1,
        description="Shards of each collection kura creates on a Qdrant server (shard_number); "
        "fixed once the collection exists. Unset: Qdrant's default (1 on one node, one per node "
        "in a cluster).",
    )
    qdrant_replication: int | None = Field(
        None,
        ge=1,
        description="Copies of each shard on a Qdrant cluster (replication_factor); 2 keeps "
        "every collection readable and writable with one node down. Unset: Qdrant's default (1).",
    )
    qdrant_write_consistency: int | None = Field(
        None,
        ge=1,
        description="Replicas that must confirm a write before Qdrant answers "
        "(write_consistency_factor), at most KURA_QDRANT_REPLICATION. Unset: Qdrant's default (1).",
    )
    database_url: SecretStr | None = Field(
        None,
        description="kura's state database (collections, failures, API keys, the audit "
        "record, upload jobs) on PostgreSQL, e.g. postgresql://kura:secret@db:5432/kura. "
        "Unset: SQLite in <data_dir>/kura.db. Copy an existing kura.db over with "
        "`kura db copy-from-sqlite`.",
    )
    qdrant_collection_prefix: str = Field(
        "kura_", description="Prefix of kura's collections in Qdrant (shared servers)."
    )
    collection: str = Field(
        "documents",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$",
        description="Collection used when a command or request names none.",
    )
    embed_backend: Literal["local", "ollama"] = Field(
        "local",
        description="Who embeds: local (a sentence-transformers model on this machine's CPU) or "
        "ollama (KURA_EMBED_MODEL served by Ollama's /api/embed, e.g. bge-m3). A collection "
        "keeps the embedder that made it: after a change, run `kura reindex <collection>`.",
    )
    embed_model: str = Field(
        PACKAGED_EMBED_MODEL,
        description="Embedding model: the packaged all-MiniLM-L6-v2 (default) or the path of "
        "a local sentence-transformers model directory (never fetched from a hub); with "
        "KURA_EMBED_BACKEND=ollama, the name of an Ollama embedding model (bge-m3, "
        "qwen3-embedding:0.6b...) pulled on the Ollama host.",
    )
    embed_ollama_host: str = Field(
        "http://127.0.0.1:11434",
        validation_alias=AliasChoices("KURA_EMBED_OLLAMA_HOST", "KURA_OLLAMA_HOST"),
        description="Ollama server that embeds when KURA_EMBED_BACKEND=ollama "
        "(KURA_EMBED_OLLAMA_HOST; unset: KURA_OLLAMA_HOST, the one that answers).",
    )
    embed_query_prefix: str = Field(
        "",
        description="Ollama backend: text put before every search query when it is embedded "
        "(not before documents): the instruction some models want, e.g. for qwen3-embedding "
        "'Instruct: Given a question, retrieve passages that answer it\\nQuery: '.",
    )
    embed_document_prefix: str = Field(
        "",
        description="Ollama backend: text put before every chunk when it is embedded (e.g. "
        "'passage: ' for e5 models); changing it needs `kura reindex`.",
    )
    embed_dimensions: int | None = Field(
        None,
        ge=1,
        description="Ollama only: cut the model's vectors to this many dimensions (Ollama's "
        "`dimensions`, for models trained for it such as qwen3-embedding). Unset: full size.",
    )
    embed_timeout: float = Field(
        120.0,
        gt=0,
        description="Seconds one /api/embed request (one batch) may take, the model's load "
        "included, before ingestion reports Ollama as too slow; also what the first embedding "
        "at start, and a question that finds the model not loaded, wait for its load.",
    )
    embed_query_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds the embedding of a search's question through Ollama may take once "
        "the model is loaded, before the search answers 503 (a host that hangs); a question "
        "that finds the model loading waits KURA_EMBED_TIMEOUT.",
    )
    embed_keep_alive: str = Field(
        "-1",
        pattern=KEEP_ALIVE_PATTERN,
        validation_alias=AliasChoices("KURA_EMBED_KEEP_ALIVE", "KURA_OLLAMA_KEEP_ALIVE"),
        description="How long Ollama keeps the embedding model in memory after a request, sent "
        "with every /api/embed as keep_alive (KURA_EMBED_KEEP_ALIVE; unset: "
        "KURA_OLLAMA_KEEP_ALIVE): seconds (-1: for good, 0: unload at once) or a duration such "
        "as 30m. Ollama's own default unloads it after 5 idle minutes, and the next question "
        "waits for it to load again.",
    )
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Chunks embedded per batch.")
    embed_runtime: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto",
        description="What runs the local embedding model: torch (sentence-transformers), onnx "
        "(ONNX Runtime, the same vectors as torch, faster) or onnx-int8 (int8 weights, over 2x "
        "torch's speed, nDCG@10 within 1%). auto: a new collection gets onnx-int8 for the "
        "packaged model and torch for a model directory of your own, and every collection keeps "
        "being embedded the way it was built (an older one by onnx, an int8 one by its int8 "
        "recipe). Set one explicitly to use only it: a collection built otherwise then needs "
        "`kura reindex`. The ONNX copies are exported at install (`kura models export`), else "
        "on first use into <data_dir>/models/.",
    )
    models_dir: Path | None = Field(
        None,
        description="Folder of the ONNX copies of the embedding model exported at install or "
        "image build (`kura models export`), read by every data folder (it may be read-only). "
        "Default: share/kura/models under the Python installation kura runs from.",
    )
    embed_languages: str = Field(
        "en",
        description="Languages the embedding model understands, comma-separated, or * for a "
        "multilingual model. Hybrid search of a question in another language uses keywords "
        "only (the packaged all-MiniLM-L6-v2 reads English).",
    )
    multilingual_model: Literal["use-multilingual-v3", "none"] = Field(
        "use-multilingual-v3",
        description="A second dense vector for meaning across languages, beside the embedding "
        "model's: the packaged Universal Sentence Encoder multilingual v3 (reads Japanese, "
        "English and 14 more; an English question finds a Japanese passage and the reverse), "
        "or none. Collections made without it are searched with what they have until "
        "`kura reindex` rebuilds them.",
    )
    hybrid_fusion: Literal["dbsf", "rrf"] = Field(
        "dbsf",
        description="How hybrid search normalises each ranking before kura sums them, weighed "
        "by language: dbsf (distribution-based score fusion, as Qdrant's) or rrf (reciprocal "
        "ranks).",
    )
    keyword_translation: bool = Field(
        True,
        description="A question's keywords are also searched in the other language (JMdict, "
        "from the jamdict-data package): a keyword search adds an English question's "
        "Japanese translations to its query; hybrid search searches a question's words in "
        "the other language as a ranking of their own, among documents in that language. "
        "The dictionary's table is built at install (`kura models export`) into "
        "KURA_MODELS_DIR, else on first use into <data_dir>/models/.",
    )
    chunk_size: int = Field(
        200,
        ge=32,
        description="Target chunk size in the embedding model's tokens; capped at what the "
        "model reads (256 word pieces for all-MiniLM-L6-v2).",
    )
    chunk_overlap: int = Field(
        30, ge=0, description="Tokens of the previous chunk repeated at the start of the next."
    )
    pdf_parser: Literal["pdfium", "unstructured"] = Field(
        "pdfium",
        description="PDF text-layer reader: pdfium (fast, default) or unstructured (pdfminer).",
    )
    ocr: bool = Field(
        True, description="OCR PDF pages without a text layer with tesseract (if installed)."
    )
    ocr_languages: str = Field("jpn+eng", description="tesseract languages for OCR.")
    pdf_tables: bool = Field(
        True,
        description="Keep ruled tables on PDF pages as tables (rows with their header) "
        "instead of prose (pdfium parser).",
    )
    ingest_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Processes that parse and chunk documents while the main process embeds; "
        "1 parses in-process.",
    )
    max_document_chunks: int = Field(
        20_000,
        ge=1,
        description="Documents that make more chunks than this are refused (a 100,000-page "
        "text would take hours to embed).",
    )
    max_file_mb: float = Field(
        100.0, gt=0, description="Files larger than this are refused at ingestion (MiB)."
    )
    parse_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds one file may take to be read (type detection, parsing, chunking) "
        "in its parsing worker process; past this the worker is killed and the file reported "
        "as failed. OCR of scanned PDFs takes seconds per page: raise it for long scans.",
    )
    parse_memory_mb: int = Field(
        2048,
        ge=256,
        description="Resident memory (MB) a parsing worker process may use, about 0.5 GB of "
        "it the parsers themselves; past this the worker is killed and the file reported as "
        "failed.",
    )
    worker_lease: float = Field(
        60.0,
        gt=0,
        description="Seconds a worker holds a queued file without renewing its lease (it "
        "renews every third of it while indexing); a killed worker's file is claimed again "
        "by another worker this long after its last renewal.",
    )
    worker_poll: float = Field(
        2.0, gt=0, description="Seconds an idle worker waits between looks at the queue."
    )
    embed_retry_for: float = Field(
        3600.0,
        ge=0,
        description="Seconds a queued file waits for an embedding host that is down, too slow "
        "or answering 5xx (Ollama backend), retried with a growing back-off, before it fails "
        "naming the host. 0: fail at the first such error.",
    )
    embed_retry_backoff: float = Field(
        10.0,
        gt=0,
        description="Seconds before the first retry of a file whose embedding host was "
        "unreachable; each later wait doubles, up to 5 minutes. Also how long the host is "
        "remembered as down: searches by meaning answer 503 at once, then one request checks it.",
    )
    store_batch: int = Field(
        256,
        ge=1,
        description="Chunks embedded and written per step: bounds memory on a 2,000-page "
        "manual. A version stays invisible to readers until all its steps are written.",
    )
    test_pause_at: str = Field(
        "",
        description="Testing only: when ingestion reaches this named point (embed: a batch "
        "embedded, not yet written; write: a batch written, not the last; retire: the new "
        "version made current, the old not yet deleted; 'write:2' for its second time), "
        "create <data_dir>/paused-<point> and wait there forever, so that a test can kill "
        "the process at that exact point. Empty (the default): no pause.",
    )

    @model_validator(mode="after")
    def _check_overlap(self) -> IndexSettings:
        if self.chunk_overlap >= self.chunk_size // 2:
            raise ValueError("chunk_overlap must be less than half of chunk_size")
        return self

    @model_validator(mode="after")
    def _check_write_consistency(self) -> IndexSettings:
        # A factor above the number of copies can never be met: refuse it at start.
        copies = self.qdrant_replication or 1
        if self.qdrant_write_consistency and self.qdrant_write_consistency > copies:
            raise ValueError(
                f"qdrant_write_consistency ({self.qdrant_write_consistency}) must not exceed "
                f"qdrant_replication ({copies}): a write could never be confirmed"
            )
        return self

    @property
    def collection_layout(self) -> CollectionLayout:
        """How a new collection is spread over a Qdrant cluster."""
        return CollectionLayout(
            shards=self.qdrant_shards,
            replication=self.qdrant_replication,
            write_consistency=self.qdrant_write_consistency,
        )

    @property
    def parse_options(self) -> ParseOptions:
        """The parsing choices, as the parser takes them."""
        return ParseOptions(
            pdf_parser=self.pdf_parser,
            ocr=self.ocr,
            ocr_languages=self.ocr_languages,
            pdf_tables=self.pdf_tables,
        )

    @property
    def installed_models(self) -> Path:
        """Where install-time ONNX copies of the embedding model are read (and exported to)."""
        return self.models_dir or Path(sys.prefix) / "share" / "kura" / "models"

    @property
    def lexicon_folders(self) -> tuple[Path, ...]:
        """Where the English-Japanese lexicon is read, or built on first use: the installed
        models folder, then the data folder's own."""
        return (self.installed_models, self.data_dir / "models")

    @property
    def qdrant_location(self) -> Path:
        """The embedded store's folder."""
        return self.qdrant_path or self.data_dir / "qdrant"

    @property
    def state_path(self) -> Path:
        """kura's own database: collections, failures, API keys, the audit log."""
        return self.data_dir / "kura.db"

    @property
    def state_database(self) -> Path | str:
        """Where the state stores connect: the PostgreSQL URL if set, else the SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.state_path
