"""Defaults of the option dataclasses, read from the settings: each default is stated once, in
``ingest/settings.py``, where it has its description and its ``KURA_`` variable."""

from __future__ import annotations

from dataclasses import field
from functools import partial
from typing import Any


def setting_default(name: str) -> Any:
    """The default of the ``IndexSettings`` field ``name``."""
    # Imported here: ingest.settings imports the parser's options (a cycle at import time);
    # by the time an options object is made, both modules are loaded.
    from ingest.settings import IndexSettings

    return IndexSettings.model_fields[name].default


def from_setting(name: str) -> Any:
    """A dataclass field whose default is the ``IndexSettings`` field ``name``'s."""
    return field(default_factory=partial(setting_default, name))
