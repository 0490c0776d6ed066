"""A document version is visible only when whole, in a store with no multi-point transactions.

Qdrant applies one point's write atomically, never a group's, so a version of several hundred
chunks is written over many operations, and a replacement also deletes the old version's. To
keep readers from seeing a document half-written, doubled or missing, whichever moment a
writer stops at (kill -9 included), visibility goes through two kinds of small records kept
in the collection itself, as points without vectors (never ranked, and excluded from every
read):

- a **state record** per document with a version in flight: the versions being written
  (``pending``) and the versions replaced but not yet deleted (``retired``). Every read of
  the collection excludes the (document, version) pairs those records name.
- a **token**, one per collection, changed after every change of a state record.

A replacement of version A by B:

1. the state record says B pending (A is still the one readers see), token changed;
2. B's chunks are written, batch by batch (hidden);
3. one write of the state record says A retired, B no longer pending: readers switch from A
   to B at that single point write; token changed;
4. A's chunks are deleted (hidden already), then the record, token changed.

A reader takes the token, then the state records, runs its query with those versions
excluded, and reads the token again: when it changed, a writer moved in between (it may have
deleted what the reader's filter still let through), and the query runs again. A process that
stops anywhere leaves a state record behind; the next start deletes what it names (a version
half-written, or one already replaced) and the record: that is the healing. Until then, the
record keeps readers on exactly one whole version of each document.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from ingest.faults import checkpoint

logger = logging.getLogger(__name__)

RECORD_FIELD = "kura_record"  # set only on the records below, never on a chunk
STATE = "state"
TOKEN = "token"
RECORD_KINDS = (STATE, TOKEN)

# A writer on another machine (several kura processes on one Qdrant server) cannot be checked
# for life; its record is healed once it has not been refreshed for this long. Writers refresh
# theirs after every batch written.
WRITER_LEASE_SECONDS = 900.0
# Reads repeated when writers keep moving under them; the last result is returned after that.
_READ_ATTEMPTS = 5

_NAMESPACE = uuid.UUID("0f5e3c52-3d51-4b0e-9a0f-7f1d2c6b9e41")
TOKEN_ID = str(uuid.uuid5(_NAMESPACE, "token"))

T = TypeVar("T")
Hidden = list[tuple[str, str]]  # (document_id, document_version) pairs readers must not see


def state_id(document_id: str) -> str:
    """Point id of a document's state record."""
    return str(uuid.uuid5(_NAMESPACE, f"state\x00{document_id}"))


def _start_ticks(pid: int) -> str | None:
    # Field 22 of /proc/<pid>/stat: start time since boot; tells a reused pid from the writer.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


@cache
def writer_id() -> str:
    """Who is writing: host, process id and the process's start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '?'}"


def writer_alive(writer: str, updated_at: float, now: float | None = None) -> bool:
    """Whether the process that wrote a state record may still be writing."""
    host, _, rest = writer.partition(":")
    pid_text, _, start = rest.partition(":")
    if host == socket.gethostname() and pid_text.isdigit() and start != "?":
        return _start_ticks(int(pid_text)) == start
    return (now or time.time()) - updated_at < WRITER_LEASE_SECONDS


@dataclass(frozen=True)
class DocumentState:
    """A document with a version in flight."""

    document_id: str
    pending: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    writer: str = ""
    updated_at: float = 0.0

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DocumentState:
        """Read a state record."""
        return cls(
            document_id=str(payload.get("document_id", "")),
            pending=tuple(payload.get("pending") or ()),
            retired=tuple(payload.get("retired") or ()),
            writer=str(payload.get("writer", "")),
            updated_at=float(payload.get("updated_at", 0.0)),
        )

    def payload(self) -> dict[str, Any]:
        """The record as stored."""
        return {
            RECORD_FIELD: STATE,
            "document_id": self.document_id,
            "pending": list(self.pending),
            "retired": list(self.retired),
            "writer": self.writer,
            "updated_at": self.updated_at,
        }

    @property
    def hidden(self) -> tuple[str, ...]:
        """Versions readers must not see."""
        return self.pending + self.retired


class VersionGate:
    """The protocol above, for a store that provides the primitives below (both kura stores
    do). Reads of the store go through ``visible_read``."""

    # -- primitives, per store -------------------------------------------------------------

    def _state_payloads(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _state_payload(self, document_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def _token(self) -> str | None:
        raise NotImplementedError

    def _put_record(self, point_id: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def _drop_record(self, point_id: str) -> None:
        raise NotImplementedError

    def _erase_versions(self, document_id: str, versions: tuple[str, ...]) -> None:
        """Delete every chunk of these versions of the document."""
        raise NotImplementedError

    # -- reads -----------------------------------------------------------------------------

    def states(self) -> list[DocumentState]:
        """Documents with a version in flight (or left in flight by a process that stopped)."""
        return [DocumentState.from_payload(p) for p in self._state_payloads()]

    def visible_read(self, run: Callable[[Hidden], T]) -> T:
        """``run(hidden)`` with the versions readers must not see, repeated while writers
        change visibility under it."""
        result: T
        for _ in range(_READ_ATTEMPTS):
            token = self._token()  # before the records: see the module docstring
            hidden = [(s.document_id, v) for s in self.states() for v in s.hidden]
            result = run(hidden)
            if self._token() == token:
                return result
        logger.warning("the index kept changing during %d reads in a row", _READ_ATTEMPTS)
        return result

    # -- writes ----------------------------------------------------------------------------

    def _bump(self) -> None:
        self._put_record(TOKEN_ID, {RECORD_FIELD: TOKEN, "token": uuid.uuid4().hex})

    def _put_state(self, state: DocumentState) -> None:
        self._put_record(state_id(state.document_id), state.payload())

    def begin_version(self, document_id: str, version: str) -> None:
        """Hide ``version`` of the document from readers until ``commit_version``; call before
        writing its first chunk."""
        left = self._state_payload(document_id)
        if left is not None:
            # A run that stopped on this document: finish its cleanup first.
            self._settle(DocumentState.from_payload(left))
        self._put_state(DocumentState(document_id, (version,), (), writer_id(), time.time()))
        self._bump()

    def keep_alive(self, document_id: str, version: str) -> None:
        """Refresh the writer's lease on its record (after each batch written)."""
        self._put_state(DocumentState(document_id, (version,), (), writer_id(), time.time()))

    def commit_version(self, document_id: str, version: str, retire: list[str]) -> None:
        """``switch_version``, then ``finish_version``."""
        if self.switch_version(document_id, version, retire):
            self.finish_version(document_id)

    def switch_version(self, document_id: str, version: str, retire: list[str]) -> bool:
        """Make ``version`` visible and the ``retire`` versions invisible, in one point write.
        Returns whether ``finish_version`` has work to do (False: nothing was hidden and
        nothing is retired, and nothing was written). Without ``begin_version`` (the version
        is already visible) it only retires."""
        retire = [v for v in retire if v != version]
        if not retire and self._state_payload(document_id) is None:
            return False
        self._put_state(DocumentState(document_id, (), tuple(retire), writer_id(), time.time()))
        self._bump()
        checkpoint("retire")  # the test hook: a kill between the switch and the delete
        return True

    def finish_version(self, document_id: str) -> None:
        """Delete the versions a switch retired, then the document's record."""
        left = self._state_payload(document_id)
        if left is not None:
            self._settle(DocumentState.from_payload(left))

    def abort_version(self, document_id: str) -> None:
        """Delete a version that will not be completed (an error while writing it)."""
        left = self._state_payload(document_id)
        if left is not None:
            self._settle(DocumentState.from_payload(left))

    def _settle(self, state: DocumentState) -> None:
        # The hidden versions go first, the record after: a stop in between leaves the record,
        # and the next start finishes the job.
        if state.hidden:
            self._erase_versions(state.document_id, state.hidden)
        self._drop_record(state_id(state.document_id))
        self._bump()

    def heal(self, before: Callable[[str], None] | None = None) -> list[str]:
        """Finish what stopped writers left: delete the versions their records hide, then the
        records; ``before(document_id)`` runs first for each (to re-date the versions left).
        Returns the documents healed. Records of writers still running are left."""
        healed = []
        for state in self.states():
            if state.writer == writer_id() or writer_alive(state.writer, state.updated_at):
                continue
            logger.warning(
                "healing document %s: removing %d unfinished and %d replaced version(s)",
                state.document_id,
                len(state.pending),
                len(state.retired),
            )
            if before is not None:
                before(state.document_id)
            self._settle(state)
            healed.append(state.document_id)
        return healed
