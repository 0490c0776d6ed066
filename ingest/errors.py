"""kura's domain errors. ``app.errors`` maps them to HTTP status codes, in one place.

KuraError
├── DocumentError            a file that cannot be indexed; ``reason`` is safe to show users
│   ├── UnsupportedDocument  not a type kura reads (e.g. random bytes, an image)
│   ├── EmptyDocument        zero bytes, or no text at all
│   ├── CorruptDocument      the parser could not read it
│   ├── PasswordProtected    encrypted with a password
│   ├── DocumentTooLarge     over the configured size limit
│   └── OverLimit            reading it took longer, or more memory, than the parse limits
├── CollectionNotFound       a collection that does not exist
├── StoreUnavailable         Qdrant cannot be reached or opened
├── EmbedderUnavailable      the embedder cannot embed (Ollama down, model not pulled)
│   └── EmbedderUnreachable  for now only: the host is down, too slow, or answers 5xx
└── EmbedderMismatch         a collection made by another embedder than the configured one
"""

from __future__ import annotations


class KuraError(Exception):
    """Base of every error kura raises on purpose."""


class DocumentError(KuraError):
    """A document that cannot be indexed; the message names the file and the reason."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self) -> tuple[type[DocumentError], tuple[str, str]]:
        # Rebuilt from (source, reason) when it crosses from a parsing worker process.
        return type(self), (self.source, self.reason)


class UnsupportedDocument(DocumentError):
    """The content is not a type kura can read, whatever its name says."""


class EmptyDocument(DocumentError):
    """The file is empty or holds no extractable text."""


class CorruptDocument(DocumentError):
    """The parser failed on the file's content."""


class PasswordProtected(DocumentError):
    """The document is encrypted and needs a password."""


class DocumentTooLarge(DocumentError):
    """The file is bigger than the configured limit."""


class OverLimit(DocumentError):
    """Parsing the document was stopped: past the time or memory limit of a parsing worker."""


class CollectionNotFound(KuraError):
    """The named collection does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} does not exist")
        self.name = name


class StoreUnavailable(KuraError):
    """The vector store cannot be used (server down, embedded folder locked)."""


class UnsafeDocument(DocumentError):
    """The file looks built to harm the reader (a ZIP bomb, path-traversal member names)."""


class EmbedderUnavailable(KuraError):
    """The embedder cannot embed now: Ollama unreachable or too slow, the model not pulled or
    not an embedding model; the message names the host, the model and the fix."""


class EmbedderUnreachable(EmbedderUnavailable):
    """The embedding host is down, timed out or answered 5xx: nothing is wrong with the file,
    and the same request may work later (a model not pulled stays EmbedderUnavailable)."""

    def __init__(self, message: str, host: str) -> None:
        super().__init__(message)
        self.host = host


class EmbedderMismatch(KuraError):
    """A collection's vectors come from another embedder than the configured one: searching or
    writing it would compare vectors of two models (wrong results, or a dimension error)."""

    def __init__(self, collection: str, recorded: str, configured: str) -> None:
        super().__init__(
            f"collection {collection!r} was embedded with {recorded}, but kura is configured to "
            f"embed with {configured}: run `kura reindex {collection}` to rebuild it with the "
            "configured embedder (search keeps answering from the old copy until it is done), "
            "or set KURA_EMBED_BACKEND / KURA_EMBED_MODEL / KURA_EMBED_RUNTIME back"
        )
        self.collection = collection
        self.recorded = recorded
        self.configured = configured
