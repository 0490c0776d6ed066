"""``kura reindex``: rebuild a collection with the configured embedder, then swap it in whole.

The chunks are not parsed again: every visible chunk's payload (its text, llama-index's node,
and the fields kura set since: versions' validity, readers) is read from the collection that
serves now, embedded again, and written under the same point id into a new Qdrant collection
``<name>__<n>``. Readers keep searching the old one all along; when the copy is whole, the name
is switched to it in one step (a Qdrant alias on a server, a pointer file on Edge: see
ingest/stores/backends.py), and the old copy is dropped.

Versions written while the copy runs are copied too: the copy repeats until a pass finds no
version it lacks and none it should no longer have. A stopped reindex leaves the old copy
serving and its unfinished copy unused; the next run drops that and starts again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from llama_index.core.schema import BaseNode, TextNode
from llama_index.core.vector_stores.types import MetadataFilters
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from ingest.components import Components
from ingest.errors import CollectionNotFound
from ingest.filters import all_of, condition
from ingest.pipeline import Indexer, heal_collection
from ingest.stores import KuraStore
from ingest.stores.backends import generation
from ingest.text import document_language

logger = logging.getLogger(__name__)

# Top-level payload keys llama-index writes for itself; every other one is a metadata field.
_LLAMA_KEYS = {"_node_content", "_node_type", "doc_id", "ref_doc_id"}
# Seconds the replaced copy outlives the swap for a search another process began on it (kura
# processes sharing a Qdrant server resolved the name just before); this process's own
# searches on it, however long, are waited for (``Components.discard``, ingest/serving.py).
DRAIN_SECONDS = 2.0
FIELD = "document_language"  # the payload field chunks written before it lack
_PASS_LIMIT = 10  # copy passes before giving up on a collection that never stops changing

Version = tuple[str, str]  # (document_id, document_version)


@dataclass
class ReindexReport:
    """What a reindex did."""

    collection: str
    replaced: str  # the Qdrant collection that served before
    serving: str  # the one that serves now
    documents: int = 0  # document versions copied
    chunks: int = 0
    seconds: float = 0.0


def _versions(store: KuraStore) -> set[Version]:
    payloads = store.payloads(None, ["document_id", "document_version"])
    return {(str(p["document_id"]), str(p["document_version"])) for p in payloads}


def _version_filter(version: Version) -> MetadataFilters:
    return all_of(condition("document_id", version[0]), condition("document_version", version[1]))


def rebuilt_node(payload: dict[str, object]) -> TextNode:
    """The chunk a stored payload holds, with the payload's current fields as metadata (kura
    sets some after writing, on the top level only); fields added since are not embedded."""
    node = metadata_dict_to_node(dict(payload))
    assert isinstance(node, TextNode)
    fields = {k: v for k, v in payload.items() if k not in _LLAMA_KEYS}
    _add_unembedded(node, {k: v for k, v in fields.items() if k not in node.metadata})
    node.metadata.update(fields)
    return node


def _add_unembedded(node: TextNode, fields: dict[str, object]) -> None:
    """Set ``fields`` on ``node``'s metadata, neither embedded nor shown to the model."""
    node.metadata.update(fields)
    node.excluded_embed_metadata_keys = [*node.excluded_embed_metadata_keys, *fields]
    node.excluded_llm_metadata_keys = [*node.excluded_llm_metadata_keys, *fields]


def reindex(
    components: Components,
    collection: str,
    on_version: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Rebuild ``collection`` with the configured embedder and swap it in when whole;
    ``on_version(done, total)`` after each document version copied."""
    started = time.perf_counter()
    name = components.qdrant_name(collection)
    backend = components.backend
    if not backend.exists(name):
        raise CollectionNotFound(collection)
    # What a stopped writer left goes first (its versions re-dated): the copy takes the fields
    # of the versions it copies once, and the new copy carries no state record to heal later.
    if healed := heal_collection(components, collection):
        logger.warning("healed %d document(s) of %s before copying it", len(healed), collection)
    source = components.vector_store(collection)
    replaced = backend.physical(name)
    target_name = generation(name, replaced)
    if backend.exists(target_name):
        logger.info("dropping %s, left unfinished by a stopped reindex", target_name)
        backend.drop(target_name)
    target = backend.create(
        target_name, lambda: components.dimension, lambda: components.embedders.multi_dimension
    )
    report = ReindexReport(collection, replaced, target_name)
    # Embedded as ingestion embeds (the same text of each chunk, title and section included).
    indexer = Indexer(components, collection)
    try:
        backend.record_identity(target_name, components.identity.record())
        copied: set[Version] = set()
        for _ in range(_PASS_LIMIT):
            visible = _versions(source)
            missing, gone = visible - copied, copied - visible
            if not missing and not gone:
                break
            for version in sorted(missing):
                report.chunks += _copy(indexer, source, target, version)
                copied.add(version)
                if on_version is not None:
                    on_version(len(copied & visible), len(visible))
            for version in gone:
                target.delete_nodes(filters=_version_filter(version))
                copied.discard(version)
        else:
            raise RuntimeError(f"collection {collection!r} kept changing; reindex it again")
        report.documents = len(copied)
        target.optimize()
    except BaseException:
        target.close()
        backend.drop(target_name)  # the old copy goes on serving
        raise
    target.close()
    replaced_copy, store = components.swap(collection, target_name)
    time.sleep(DRAIN_SECONDS)  # other processes' searches that began on the old copy
    components.discard(replaced_copy, store)
    report.seconds = time.perf_counter() - started
    logger.info(
        "reindexed %s: %d chunks of %d document versions into %s in %.1fs",
        collection,
        report.chunks,
        report.documents,
        target_name,
        report.seconds,
    )
    return report


def with_document_language(nodes: list[TextNode]) -> None:
    """Give the chunks of one version written before ``document_language`` existed the
    language of their version's whole text (as ``to_nodes`` reads it), so that the copy's
    translated keyword search (ingest/stores/shared.py) reaches them; not embedded."""
    lacking = [n for n in nodes if not n.metadata.get(FIELD)]
    if lacking:
        language = document_language(n.text for n in nodes)
        for node in lacking:
            _add_unembedded(node, {FIELD: language})


def _copy(indexer: Indexer, source: KuraStore, target: KuraStore, version: Version) -> int:
    payloads = source.payloads(_version_filter(version))
    rebuilt = [rebuilt_node(p) for p in payloads]
    with_document_language(rebuilt)
    step = indexer.settings.store_batch
    for start in range(0, len(rebuilt), step):
        nodes = rebuilt[start : start + step]
        # by the default runtime, the identity recorded for the copy (not the old copy's)
        multi = indexer.embed(nodes, indexer.components.embedders.default)
        target.add(list[BaseNode](nodes), multi_embeddings=multi)
    return len(payloads)
