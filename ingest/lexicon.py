"""An English-Japanese dictionary for keyword search across languages, both ways.

An English question over a Japanese manual shares few keywords with it: the manual writes
シェル for "shell", 設定 for "configuration", ファイルシステム for "file system". BM25 then
finds only the English words Japanese text borrows (commands, package names). Dictionary-based
query translation carries the question's English words into Japanese: every translation of
each word or phrase, the longest phrase first (ingest/sparse.py's ``translated_terms``): in
the one BM25 query of a keyword search, and as a ranking of their own among Japanese
documents in hybrid search (``QueryEncoder.translated``).

The reverse, a Japanese question's words in English (``Lexicon.english``: each word's
glosses), is searched as a ranking of its own among English documents only
(ingest/sparse.py's ``QueryEncoder.translated``; ``document_language`` in the payload):
merged into the question's BM25 query, the English words matched the commands and names
Japanese manuals are full of (keyword search over the Japanese Handbook fell from 0.707 to
0.343 nDCG@10); among English passages, Japanese manuals' command listings still took the
Handbook's hybrid from 0.754 to 0.719; among English documents it leaves the Handbook as it
was and lifts Japanese questions over the English Debian Reference (README, "Retrieval").

The dictionary is JMdict (the Electronic Dictionary Research and Development Group, CC BY-SA
3.0), as the ``jamdict-data`` package ships it: an SQLite database of 325 MB. A compact table
(English glosses of one to three words -> Japanese forms, and each Japanese form -> the words
of its glosses) is built from it once, at install (``kura models export``) or on first use,
into the models folder.
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
_FORMAT = 4  # bumped when what the table holds changes

_GLOSSES = (
    "select s.idseq, g.text from SenseGloss g join Sense s on g.sid = s.ID where g.lang = 'eng'"
)
_KANJI = "select idseq, text from Kanji order by ID"
_KANA = "select idseq, text from Kana order by ID"
_PARENTHESES = re.compile(r"\([^)]*\)")
ENGLISH_WORD = re.compile(r"[a-z][a-z'-]*")  # a lower-case English word


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


def _translations(database: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """English gloss -> the first written form of each entry it translates (its first kanji
    form, else its first kana form: シェル, パッケージ); and each written form (every kanji and
    kana form) -> the words of its entries' glosses (notes in parentheses and a verb's "to"
    dropped: 設定 -> setting, configuration, ...)."""
    glosses: defaultdict[int, set[str]] = defaultdict(set)
    words: defaultdict[int, set[str]] = defaultdict(set)
    written: dict[int, str] = {}
    forms: defaultdict[str, set[int]] = defaultdict(set)
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as jmdict:
        for idseq, gloss in jmdict.execute(_GLOSSES):
            if key := gloss_key(gloss or ""):
                glosses[idseq].add(key)
            plain = _PARENTHESES.sub(" ", (gloss or "").lower())
            words[idseq].update(w for w in ENGLISH_WORD.findall(plain) if w != "to")
        for query in (_KANA, _KANJI):  # a kanji form, where there is one, overwrites
            first: dict[int, str] = {}
            for idseq, text in jmdict.execute(query):
                if text:
                    first.setdefault(idseq, text)
                    forms[text].add(idseq)
            written.update(first)
    jmdict.close()
    translations: defaultdict[str, set[str]] = defaultdict(set)
    for idseq, keys in glosses.items():
        if idseq in written:
            for key in keys:
                translations[key].add(written[idseq])
    english = {form: {w for i in ids for w in words[i]} for form, ids in forms.items()}
    return translations, {form: found for form, found in english.items() if found}


def build(target: Path, source: Path | None = None) -> int:
    """Write the lexicon to ``target`` (replaced atomically) from JMdict (``source``, default
    jamdict-data's): each English gloss of one to three words with the Japanese it
    translates, and each Japanese form with the English words of its glosses. Returns how
    many English phrases it holds."""
    source = source or jmdict_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _unpacked(source, target.parent) as database:
        translations, english = _translations(database)
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
            table.execute("create table japanese (form text primary key, english text)")
            table.executemany(
                "insert into japanese values (?, ?)",
                ((form, " ".join(sorted(found))) for form, found in english.items()),
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
    """English phrase -> its Japanese translations (``japanese``), and Japanese form -> the
    words of its English glosses (``english``), read from a built table; safe to share
    between threads. The table is found in the first of ``folders`` that holds one, else built
    into the first that takes it, on the first lookup; without jamdict-data (or any folder to
    write), lookups find nothing and keyword search goes on untranslated (logged once)."""

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = tuple(folders)
        self._table: sqlite3.Connection | None = None
        self._failed = False

    def japanese(self, phrase: str) -> list[str]:
        """The Japanese forms an English ``phrase`` (lower case, single-spaced) translates to."""
        row = self._lookup("select translations from english where phrase = ?", phrase)
        return row.split("\t") if row else []

    def english(self, form: str) -> list[str]:
        """The English words of the glosses of a Japanese written ``form`` (設定, せってい)."""
        row = self._lookup("select english from japanese where form = ?", form)
        return row.split() if row else []

    def _lookup(self, query: str, key: str) -> str | None:
        with _LOCK:
            connection = self._open()
            row = None if connection is None else connection.execute(query, (key,)).fetchone()
        return row[0] if row else None

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
                "keyword search is not translated between English and Japanese: the "
                "jamdict-data package (JMdict) is not installed"
            )
            return None
        for folder in self.folders:
            try:
                count = build(folder / LEXICON_FILE, source)
            except MissingDatabase as exc:
                logger.warning(
                    "keyword search is not translated between English and Japanese: "
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
            "keyword search is not translated between English and Japanese: no folder "
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
