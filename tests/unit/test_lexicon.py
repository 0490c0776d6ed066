"""The English-Japanese lexicon (ingest/lexicon.py) and the query terms it adds
(ingest/sparse.py), both ways: built from a JMdict-shaped database, found or built where the
settings say, and absent without failing a search."""

from __future__ import annotations

import logging
import lzma
import sqlite3
from pathlib import Path

import pytest

from ingest import lexicon
from ingest.lexicon import LEXICON_FILE, Lexicon, build, gloss_key, readable
from ingest.settings import IndexSettings
from ingest.sparse import (
    QueryEncoder,
    encode_queries,
    english_terms,
    term_index,
    terms,
    translated_terms,
)

pytestmark = pytest.mark.unit

# (idseq, kanji forms, kana forms, senses: each a list of English glosses)
ENTRIES = [
    (1, [], ["シェル"], [["shell (computer)"]]),
    (2, ["設定"], ["せってい"], [["configuration", "to set up"]]),
    (3, ["貝", "貝殻"], ["かい"], [["shell"]]),
    (4, ["ファイルシステム"], [], [["file system"]]),
    (5, ["書類"], ["しょるい"], [["file"], ["a very long English gloss"]]),
]


def jmdict(path: Path) -> Path:
    """A database with JMdict's tables as jamdict-data ships them (the columns kura reads)."""
    with sqlite3.connect(path) as db:
        db.executescript(
            "create table Kanji (ID integer primary key, idseq integer, text text);"
            "create table Kana (ID integer primary key, idseq integer, text text);"
            "create table Sense (ID integer primary key, idseq integer);"
            "create table SenseGloss (sid integer, lang text, text text);"
        )
        for idseq, kanji, kana, senses in ENTRIES:
            db.executemany(
                "insert into Kanji (idseq, text) values (?, ?)", [(idseq, k) for k in kanji]
            )
            db.executemany(
                "insert into Kana (idseq, text) values (?, ?)", [(idseq, k) for k in kana]
            )
            for glosses in senses:
                sid = db.execute("insert into Sense (idseq) values (?)", (idseq,)).lastrowid
                db.executemany(
                    "insert into SenseGloss values (?, ?, ?)", [(sid, "eng", g) for g in glosses]
                )
            db.execute("insert into SenseGloss values (?, 'ger', 'Muschel')", (sid,))
    db.close()
    return path


def test_glosses_are_keyed_as_questions_are_read() -> None:
    assert gloss_key("Shell (computer)") == "shell"
    assert gloss_key("to set up") == "set up"
    assert gloss_key("file  system") == "file system"
    assert gloss_key("a very long English gloss") is None  # past MAX_WORDS
    assert gloss_key("(abbr)") is None


def test_built_from_jmdict_each_english_phrase_gives_each_entrys_first_written_form(
    tmp_path: Path,
) -> None:
    target = tmp_path / "models" / LEXICON_FILE
    assert build(target, jmdict(tmp_path / "jmdict.db")) == 5  # shell, configuration, …
    assert readable(target)
    found = Lexicon([target.parent])
    assert sorted(found.japanese("shell")) == ["シェル", "貝"]  # kana when no kanji
    assert found.japanese("set up") == ["設定"]
    assert found.japanese("file system") == ["ファイルシステム"]
    assert found.japanese("muschel") == []  # English glosses only
    assert found.japanese("very long") == []


def test_built_from_jmdict_each_japanese_form_gives_the_words_of_its_glosses(
    tmp_path: Path,
) -> None:
    target = tmp_path / "models" / LEXICON_FILE
    build(target, jmdict(tmp_path / "jmdict.db"))
    found = Lexicon([target.parent])
    # every sense's glosses, notes in parentheses and a verb's "to" dropped; long ones too
    assert sorted(found.english("設定")) == ["configuration", "set", "up"]
    assert sorted(found.english("書類")) == ["a", "english", "file", "gloss", "long", "very"]
    assert found.english("シェル") == ["shell"]  # "(computer)" was a note
    assert found.english("貝殻") == found.english("かい") == ["shell"]  # every written form
    assert found.english("muschel") == found.english("未知") == []


def test_found_in_the_installed_folder_else_built_into_the_first_that_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = jmdict(tmp_path / "jmdict.db")
    installed, data = tmp_path / "installed", tmp_path / "data-models"
    build(data / LEXICON_FILE, source)
    monkeypatch.setattr(lexicon, "jmdict_path", lambda: pytest.fail("built again"))
    assert Lexicon([installed, data]).japanese("configuration") == ["設定"]

    read_only = tmp_path / "read-only"
    read_only.write_text("a file, not a folder")  # nothing can be written under it
    monkeypatch.setattr(lexicon, "jmdict_path", lambda: source)
    fresh = tmp_path / "fresh"
    assert Lexicon([read_only, fresh]).japanese("file system") == ["ファイルシステム"]
    assert readable(fresh / LEXICON_FILE)


def test_built_from_the_packages_compressed_copy_when_it_kept_only_that(tmp_path: Path) -> None:
    source = jmdict(tmp_path / "jamdict.db")
    with source.open("rb") as plain, lzma.open(f"{source}.xz", "wb") as packed:
        packed.write(plain.read())
    source.unlink()  # as a wheel built without unpacking it installs
    target = tmp_path / "models" / LEXICON_FILE
    assert build(target, source) == 5
    assert Lexicon([target.parent]).japanese("file system") == ["ファイルシステム"]
    assert sorted(p.name for p in target.parent.iterdir()) == [LEXICON_FILE]  # nothing left


def test_a_package_without_its_database_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(lexicon, "jmdict_path", lambda: tmp_path / "jamdict.db")
    with caplog.at_level(logging.WARNING, logger="ingest.lexicon"):
        assert Lexicon([tmp_path / "models"]).japanese("shell") == []
    assert "jamdict-data is installed without its database" in caplog.text
    with pytest.raises(FileNotFoundError, match="JMdict database is missing"):
        build(tmp_path / "models" / LEXICON_FILE, tmp_path / "jamdict.db")


def test_without_jamdict_data_lookups_find_nothing_and_say_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def missing() -> Path:
        raise ImportError("No module named 'jamdict_data'")

    monkeypatch.setattr(lexicon, "jmdict_path", missing)
    empty = Lexicon([tmp_path / "none"])
    with caplog.at_level(logging.WARNING, logger="ingest.lexicon"):
        assert empty.japanese("shell") == []
        assert empty.japanese("file") == []
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "jamdict-data" in caplog.records[0].message
    indices, _ = encode_queries(["the shell prompt"], translator=empty)
    assert indices == encode_queries(["the shell prompt"])[0]  # untranslated, not failed


class Known:
    """A dictionary of a few words, recording what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.known = {
            "file system": ["ファイルシステム"],
            "file": ["書類"],
            "shell": ["シェル"],
            "signal": ["ＧＯサイン"],
        }

    def japanese(self, phrase: str) -> list[str]:
        self.asked.append(phrase)
        return self.known.get(phrase, [])

    def english(self, form: str) -> list[str]:
        self.asked.append(form)
        glosses = {
            "設定": ["configuration", "setting"],
            "変える": ["change", "alter"],
            "見る": ["look", "see", "watch"],
        }
        return glosses.get(form, [])


def test_the_longest_known_phrase_stands_for_its_words_and_stop_words_are_not_looked_up() -> None:
    known = Known()
    found = translated_terms("Mount the file system from the shell", known)
    assert found == set(terms("ファイルシステム")) | {"シェル"}
    assert "書類" not in found  # "file" was part of "file system"
    assert not {"the", "from"} & set(known.asked)


def test_only_terms_in_japanese_script_are_added() -> None:
    # ＧＯサイン's Latin letters are not the question's words: English passages never match
    assert translated_terms("a signal", Known()) == {"サイン"}


def test_an_english_question_also_asks_for_japanese_terms_a_japanese_one_does_not() -> None:
    installed = Lexicon(IndexSettings().lexicon_folders)  # the table built at install
    english = set(encode_queries(["How do I change the shell prompt?"], installed)[0][0])
    for word in ("シェル", "プロンプト", "shell", "prompt"):
        assert term_index(word) in english, word
    # a Japanese question's words carried into English matched the English words Japanese
    # manuals are full of (see ingest/lexicon.py): not in its own keyword query; they are a
    # query of their own, searched among English documents (QueryEncoder.translated)
    japanese = "シェルのプロンプトを変更するには"
    assert encode_queries([japanese], installed) == encode_queries([japanese])
    translated = QueryEncoder(installed).translated(japanese)
    assert translated is not None
    for word in ("shell", "prompt", "change"):
        assert term_index(word) in translated.vector[0], word


def test_a_japanese_questions_words_in_english_are_looked_up_by_their_dictionary_form() -> None:
    known = Known()
    # 変え is looked up as Sudachi's dictionary form 変える; particles (を) are not looked up
    assert english_terms("設定を変えて", known) == {"configuration", "setting", "change", "alter"}
    assert "を" not in known.asked
    # nor the light verbs the question's own keywords drop (する: act, become, do, ...)
    assert english_terms("設定する", known) == {"configuration", "setting"}
    assert not {"為る", "する"} & set(known.asked)
    # nor helper verbs (てみる: try doing), whose glosses would only add noise
    assert english_terms("設定を変えてみる", known) == {
        "configuration",
        "setting",
        "change",
        "alter",
    }
    assert "見る" not in known.asked
    assert english_terms("How do I change it?", known) == set()  # no Japanese, nothing


def test_each_question_gets_its_keywords_in_the_other_language() -> None:
    encoder = QueryEncoder(Known())
    english = encoder.translated("設定の変更 PS1")
    assert english is not None
    assert english.language == "en"  # searched among English documents
    assert set(english.vector[0]) == {term_index(w) for w in ("configuration", "setting")}
    assert english.vector[1] == [1.0, 1.0]  # each term once, as the question's own words
    japanese = encoder.translated("Mount the file system")
    assert japanese is not None
    assert japanese.language == "ja"
    assert set(japanese.vector[0]) == {term_index(t) for t in terms("ファイルシステム")}
    assert encoder.translated("未知の語") is None  # no word the dictionary knows
    assert encoder.translated("an unknown word") is None
    assert QueryEncoder(None).translated("設定") is None  # translation off
    # called as a keyword encoder, an English question's translations join its own query;
    # ``own`` (hybrid search's) keeps the question's words alone
    merged = encoder(["Mount the file system"])
    assert merged == encode_queries(["Mount the file system"], Known())
    own = encode_queries(["Mount the file system"])
    assert QueryEncoder.own("Mount the file system") == (own[0][0], own[1][0])
