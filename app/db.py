"""kura's state database: the opener and the store base class live in ingest/state.py, which
`kura ingest` and the service share; this name stays for the app's stores' imports."""

from __future__ import annotations

from ingest.state import StateStore

__all__ = ["StateStore"]
