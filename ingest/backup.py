"""Backup and restore of an embedded kura: the Qdrant Edge store, kura's state database and
the uploaded originals, in one tar.gz.

The store must not be in use (stop `kura serve` first): the embedded store's lock is taken
for the whole backup, so a backup never copies a store in the middle of a write. kura.db is
copied with SQLite's online backup, which is consistent even while it is open elsewhere.
With a Qdrant server, back up Qdrant with its own snapshots and this command copies only
kura.db and the uploads. With the state in PostgreSQL (KURA_DATABASE_URL) this command
refuses: a copy without the state is not a backup of kura; back the database up with pg_dump.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

from ingest.components import build_components
from ingest.errors import KuraError
from ingest.settings import IndexSettings
from ingest.state import open_state
from ingest.uploads import UPLOADS, uploads_dir

_STATE = "kura.db"


_PG_DUMP = (
    "kura's state (collections, keys, the audit record, jobs) is in PostgreSQL "
    "(KURA_DATABASE_URL), which this backup cannot hold: back it up with pg_dump "
    "(pg_dump -Fc -f kura-state.dump <database>), Qdrant with its snapshots, and the uploads "
    "folder {uploads} with your file backup"
)


def backup(settings: IndexSettings, destination: Path) -> list[str]:
    """Write a tar.gz of kura's data to ``destination``; returns the names it holds."""
    if settings.database_url is not None:
        raise KuraError(_PG_DUMP.format(uploads=uploads_dir(settings.data_dir)))
    # Takes the embedded store's locks below; embeds nothing, so a broken model stops no backup.
    components = build_components(settings, lazy_embedder=True)
    try:
        stores = []
        for name in components.collections():
            qdrant_name = components.qdrant_name(name)
            folder = components.backend.folder(qdrant_name)
            if folder is not None:  # an embedded shard (a server keeps its own files)
                components.vector_store(name)  # open: the lock keeps writers out
                # under the collection's own name: the copy `kura reindex` swapped in
                # (kura_x__2, named by a pointer file) is restored as kura_x
                stores.append((qdrant_name, folder))
        with tempfile.TemporaryDirectory() as tmp:
            state_copy = Path(tmp) / _STATE
            if settings.state_path.exists():
                source = open_state(settings.state_path)
                target = open_state(state_copy)
                with target:
                    source.backup(target)
                source.close()
                target.close()
            destination.parent.mkdir(parents=True, exist_ok=True)
            names = []
            with tarfile.open(destination, "w:gz") as archive:
                for qdrant_name, store in stores:
                    arcname = f"qdrant/{qdrant_name}"
                    archive.add(store, arcname=arcname)
                    names.append(arcname)
                if state_copy.exists():
                    archive.add(state_copy, arcname=_STATE)
                    names.append(_STATE)
                uploads = uploads_dir(settings.data_dir)
                if uploads.is_dir():
                    archive.add(uploads, arcname=UPLOADS)
                    names.append(UPLOADS)
        return names
    finally:
        components.close()


_BLOCK = 1 << 12  # a file system block: a hole is made of whole blocks


def _extract_sparse(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """Write ``member`` to ``target`` with its runs of zeros left as holes. A store's files
    come to ~320 MB, nearly all preallocated zeros that take no disk where they were made (a
    new store takes ~1 MB); tar keeps no holes, and written out in full every restored
    collection took 320 MB."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = archive.extractfile(member)
    if source is None:
        raise KuraError(f"cannot read {member.name!r} from the backup")
    zeros = bytes(_BLOCK)
    with source, target.open("wb") as out:
        while block := source.read(_BLOCK):
            if block == zeros[: len(block)]:
                out.seek(len(block), os.SEEK_CUR)
            else:
                out.write(block)
        out.truncate(member.size)  # a file that ends in a hole
    target.chmod(member.mode)
    os.utime(target, (member.mtime, member.mtime))


def restore(settings: IndexSettings, archive_path: Path) -> list[str]:
    """Unpack a backup into an empty data dir; refuses to overwrite existing data."""
    data_dir = settings.data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        raise KuraError(f"{data_dir} is not empty: restore into a fresh data dir")
    data_dir.mkdir(parents=True, exist_ok=True)
    names = []
    with tarfile.open(archive_path, "r:gz") as archive:
        safe = []  # every entry checked before any is written
        for member in archive.getmembers():
            top = member.name.split("/", 1)[0]
            if top not in ("qdrant", _STATE, UPLOADS):
                raise KuraError(f"{archive_path}: unexpected entry {member.name!r}")
            # the "data" filter: no links out, no absolute paths, no special files
            try:
                checked = tarfile.data_filter(member, str(data_dir))
            except tarfile.FilterError as exc:
                raise KuraError(f"{archive_path}: refused, {exc}") from exc
            if checked is not None:
                safe.append(checked)
        for member in safe:
            if member.isfile() and member.name.startswith("qdrant/"):
                _extract_sparse(archive, member, data_dir / member.name)
            else:
                archive.extract(member, data_dir, filter="fully_trusted")
        names = sorted({m.name.split("/")[0] for m in archive.getmembers()})
    qdrant = data_dir / "qdrant"
    if settings.qdrant_path and qdrant.exists() and settings.qdrant_location != qdrant:
        qdrant.rename(settings.qdrant_location)
    return names
