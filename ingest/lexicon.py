"""An English-Japanese dictionary for keyword search across languages.

An English question over a Japanese manual shares few keywords with it: the manual writes
シェル for "shell", 設定 for "configuration", ファイルシステム for "file system". BM25 then
finds only the English words Japanese text borrows (commands, package names). Dictionary-based
query translation carries the question's English words into Japanese: every translation of
each word or phrase, the longest phrase first (ingest/sparse.py's ``encode_queries``).

Not the reverse: a Japanese question's words carried into English lifted keyword search over
the English edition of Debian Reference (0.466 -> 0.798 nDCG@10), but the English words
then matched the commands and names Japanese manuals are full of: merged into the BM25 query,
keyword search of Japanese questions over the Japanese Handbook fell from 0.707 to 0.343; as a
ranking of its own among English passages only, the Handbook's hybrid still fell from 0.754 to
0.719 (its command listings and configuration files are English passages).

The dictionary is JMdict (the Electronic Dictionary Research and Development Group, CC BY-SA
3.0), as the ``jamdict-data`` package ships it: an SQLite database of 325 MB. A compact table
(English glosses of one to three words -> Japanese forms; 12 MB) is built from it once, at
install (``kura models export``) or on first use, into the models folder.
"""

from __future__ import annotations

import logging
import lzma
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

LEXICON_FILE = "en-ja-jmdict.sqlite"
MAX_WORDS = 3  # the longest English phrase looked up
_FORMAT = 3  # bumped when what the table holds changes

_GLOSSES = (
    "select s.idseq, g.text from SenseGloss g join Sense s on g.sid = s.ID where g.lang = 'eng'"
)
_KANJI = "select idseq, text from Kanji order by ID"
_KANA = "select idseq, text from Kana order by ID"
_PARENTHESES = re.compile(r"\([^)]*\)")


def gloss_key(gloss: str) -> str | None:
    """The lookup key of a JMdict gloss: lower case, notes in parentheses and a verb's "to "
    dropped; None for a gloss longer than MAX_WORDS words."""
    words = _PARENTHESES.sub(" ", gloss.lower()).split()
    if words[:1] == ["to"]:
        words = words[1:]
    if not words or len(words) > MAX_WORDS:
        return None
    return " ".join(words)


def jmdict_path() -> Path:
    """The JMdict database jamdict-data installed (ImportError without the package)."""
    import jamdict_data

    return Path(jamdict_data.JAMDICT_DB_PATH)


class MissingDatabase(FileNotFoundError):
    """jamdict-data is installed without its database, packed or not."""


@contextmanager
def _unpacked(source: Path, scratch: Path) -> Iterator[Path]:
    """``source``, or, where the package kept only its compressed copy (``jamdict.db.xz``:
    its wheel is built without unpacking it on some setuptools), that copy unpacked into a
    temporary file under ``scratch`` for as long as it is read."""
    if source.exists():
        yield source
        return
    packed = source.with_name(source.name + ".xz")
    if not packed.exists():
        raise MissingDatabase(f"the JMdict database is missing: neither {source} nor {packed}")
    with tempfile.NamedTemporaryFile(dir=scratch, suffix=".db") as unpacked:
        with lzma.open(packed) as stream:
            shutil.copyfileobj(stream, unpacked, 1 << 20)
        unpacked.flush()
        yield Path(unpacked.name)


def _translations(database: Path) -> dict[str, set[str]]:
    """English gloss -> the first written form of each entry it translates (its first kanji
    form, else its first kana form: シェル, パッケージ)."""
    glosses: defaultdict[int, set[str]] = defaultdict(set)
    written: dict[int, str] = {}
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as jmdict:
        for idseq, gloss in jmdict.execute(_GLOSSES):
            if key := gloss_key(gloss or ""):
                glosses[idseq].add(key)
        for query in (_KANA, _KANJI):  # a kanji form, where there is one, overwrites
            first: dict[int, str] = {}
            for idseq, text in jmdict.execute(query):
                if text:
                    first.setdefault(idseq, text)
            written.update(first)
    jmdict.close()
    translations: defaultdict[str, set[str]] = defaultdict(set)
    for idseq, keys in glosses.items():
        if idseq in written:
            for key in keys:
                translations[key].add(written[idseq])
    return translations


def build(target: Path, source: Path | None = None) -> int:
    """Write the lexicon to ``target`` (replaced atomically) from JMdict (``source``, default
    jamdict-data's): each English gloss of one to three words with the Japanese it
    translates. Returns how many English phrases it holds."""
    source = source or jmdict_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _unpacked(source, target.parent) as database:
        translations = _translations(database)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    partial.unlink(missing_ok=True)
    try:
        with sqlite3.connect(partial) as table:
            table.execute("create table meta (format integer)")
            table.execute("insert into meta values (?)", (_FORMAT,))
            table.execute("create table english (phrase text primary key, translations text)")
            table.executemany(
                "insert into english values (?, ?)",
                ((key, "\t".join(sorted(found))) for key, found in translations.items()),
            )
        table.close()
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return len(translations)


def readable(path: Path) -> bool:
    """Whether ``path`` is a lexicon of this format."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as table:
            row = table.execute("select format from meta").fetchone()
        table.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == _FORMAT


class Lexicon:
    """English phrase -> its Japanese translations, read from a built table; safe to share
    between threads. The table is found in the first of ``folders`` that holds one, else built
    into the first that takes it, on the first lookup; without jamdict-data (or any folder to
    write), lookups find nothing and keyword search goes on untranslated (logged once)."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = tuple(folders)
        self._table: sqlite3.Connection | None = None
        self._failed = False

    def japanese(self, phrase: str) -> list[str]:
        """The Japanese forms an English ``phrase`` (lower case, single-spaced) translates to."""
        with _LOCK:
            connection = self._open()
            if connection is None:
                return []
            query = "select translations from english where phrase = ?"
            row = connection.execute(query, (phrase,)).fetchone()
        return row[0].split("\t") if row else []

    def _open(self) -> sqlite3.Connection | None:
        if self._table is None and not self._failed:
            path = self._find() or self._build()
            if path is None:
                self._failed = True
            else:
                self._table = _connection(path)
        return self._table

    def _find(self) -> Path | None:
        return next((f / LEXICON_FILE for f in self.folders if readable(f / LEXICON_FILE)), None)

    def _build(self) -> Path | None:
        try:
            source = jmdict_path()
        except ImportError:
            logger.warning(
                "English questions search Japanese text by their English words only: the "
                "jamdict-data package (JMdict) is not installed"
            )
            return None
        for folder in self.folders:
            try:
                count = build(folder / LEXICON_FILE, source)
            except MissingDatabase as exc:
                logger.warning(
                    "English questions search Japanese text by their English words only: "
                    "jamdict-data is installed without its database (%s)",
                    exc,
                )
                return None
            except (OSError, sqlite3.Error) as exc:
                logger.info("cannot build the English-Japanese lexicon in %s: %s", folder, exc)
                continue
            logger.info("built the English-Japanese lexicon in %s (%d phrases)", folder, count)
            return folder / LEXICON_FILE
        logger.warning(
            "English questions search Japanese text by their English words only: no folder "
            "of %s takes the English-Japanese lexicon",
            ", ".join(map(str, self.folders)),
        )
        return None


_LOCK = threading.Lock()  # one lookup (or the first one's build) at a time, process-wide


@cache
def _connection(path: Path) -> sqlite3.Connection:
    """One read-only connection per table file for the process (a data folder each would
    hold one open file each)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


@cache
def lexicon(folders: tuple[Path, ...]) -> Lexicon:
    """One Lexicon per list of folders, for the whole process."""
    return Lexicon(folders)
