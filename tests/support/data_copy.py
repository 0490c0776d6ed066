"""Copies of data folders for tests that keep the stores' sparse files sparse.

A Qdrant Edge shard's files come to about 320 MB (WAL segments and 32 MB vector and payload
pages, each payload index's pages), nearly all of it holes: a new store takes about 1 MB of
disk. ``shutil.copytree`` writes the holes out as zeros, so every copy of the indexed test
corpus took 320 MB of real disk per store; ``cp --sparse=always`` keeps them holes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def copy_data(source: Path, target: Path) -> Path:
    """``source`` copied to ``target`` (which must not exist), holes kept; returns ``target``."""
    subprocess.run(["cp", "-a", "--sparse=always", str(source), str(target)], check=True)
    return target


def on_disk(folder: Path) -> tuple[int, int]:
    """(bytes ``folder``'s files say they hold, bytes of disk they take)."""
    files = [p.stat() for p in folder.rglob("*") if p.is_file()]
    return sum(s.st_size for s in files), sum(s.st_blocks * 512 for s in files)
