"""BM25 sparse vectors that understand Japanese, for Qdrant's keyword side of hybrid search.

Japanese has no spaces between words, so keyword search needs a morphological analyser:
Sudachi (sudachipy with sudachidict-core, which ships its dictionary) splits Japanese runs into
words and normalises spelling variants (附属 -> 付属). Everything else goes through a word
tokenizer that keeps part numbers, error codes and clause numbers whole ("E-417", "HX-400",
"12.3") and also indexes their pieces. Particles, auxiliary verbs, symbols and English stop
words carry no meaning for search and are dropped.

Document vectors hold BM25's saturated term frequencies; query vectors hold 1 per term. The
collection's sparse vector uses Qdrant's IDF modifier, so Qdrant supplies the IDF from the
collection itself at query time and the score is BM25. A question's words are also carried
into the other language (ingest/lexicon.py), so that it finds a passage in that language by
its words as well as by meaning: a keyword search merges an English question's Japanese
translations into its one query; hybrid search keeps them apart (``QueryEncoder``), a
ranking of their own among documents in that language, and so for a Japanese question's
English glosses.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from ingest.lexicon import ENGLISH_WORD, MAX_WORDS
from ingest.text import TOKENIZED

# BM25 parameters; AVG_LEN is a chunk's typical number of terms (chunks are ~200 word pieces).
K1 = 1.2
B = 0.75
AVG_LEN = 120.0

_JAPANESE = re.compile(f"[{TOKENIZED}]+")
# Words, and codes made of letter/digit groups joined by - _ . / (E-417, HX-400, 12.3.1, v2.0)
_CODE = re.compile(r"[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*")
_SKIP_POS = {"助詞", "助動詞", "補助記号", "空白", "記号"}
# Light verbs and formal nouns that appear in almost every Japanese sentence.
_JA_STOP = frozenset({"為る", "居る", "有る", "成る", "出来る", "事", "物", "此の", "其の", "様"})
# 第12条, 第3項, 第2号, 第4章: clause numbers are matched whole as well as by their parts.
_JA_CLAUSE = re.compile(r"第[0-9０-９一二三四五六七八九十百千]+[編章節条項号款]")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "which",
        "what",
        "when",
        "where",
        "who",
        "how",
        "do",
        "does",
        "did",
        "not",
        "no",
        "can",
        "may",
        "shall",
        "should",
        "would",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "my",
        "your",
        "our",
        "their",
        "them",
        "there",
        "here",
        "than",
        "then",
        "so",
        "if",
        "into",
        "out",
        "about",
        "over",
        "under",
        "any",
        "all",
        "each",
        "other",
        "such",
        "only",
        "also",
        "more",
        "most",
        "very",
    ]
)


_local = threading.local()


@cache
def _dictionary() -> Any:
    from sudachipy import Dictionary

    return Dictionary(dict="core")


def _sudachi() -> Any:
    # A Sudachi tokenizer must not be shared between threads ("Already borrowed"); the API
    # serves searches from a thread pool, so each thread gets its own over one dictionary.
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        from sudachipy import SplitMode

        # Mode A (shortest units): a compound in a question matches its parts in a document.
        tokenizer = _local.tokenizer = _dictionary().tokenizer(mode=SplitMode.A)
    return tokenizer


def _words(run: str) -> Iterator[Any]:
    """The Sudachi morphemes of a Japanese run that carry meaning for search: no particles,
    auxiliaries, symbols, nor the light verbs and formal nouns of ``_JA_STOP``."""
    for morpheme in _sudachi().tokenize(run):
        pos, form = morpheme.part_of_speech()[0], morpheme.normalized_form()
        if pos not in _SKIP_POS and form not in _JA_STOP:
            yield morpheme


def _japanese_terms(run: str) -> list[str]:
    return [morpheme.normalized_form() for morpheme in _words(run)]


def _has_japanese(text: str) -> bool:
    return _JAPANESE.search(unicodedata.normalize("NFKC", text)) is not None


def _latin_terms(text: str) -> list[str]:
    terms = []
    for match in _CODE.finditer(text):
        token = match.group().lower()
        parts = re.split(r"[-_./]", token)
        if len(parts) > 1:
            terms.append(token)  # the whole code matches exactly
            terms.extend(p for p in parts if p and p not in _STOP)
        elif token not in _STOP and (len(token) > 1 or token.isdigit()):
            terms.append(token)
    return terms


def terms(text: str) -> list[str]:
    """Search terms of ``text``: Sudachi words for Japanese, words and codes for the rest."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = [m.group() for m in _JA_CLAUSE.finditer(text)]
    position = 0
    for match in _JAPANESE.finditer(text):
        out.extend(_latin_terms(text[position : match.start()]))
        out.extend(_japanese_terms(match.group()))
        position = match.end()
    out.extend(_latin_terms(text[position:]))
    return out


def term_index(term: str) -> int:
    """A stable 32-bit index for a term (Qdrant sparse indices are uint32)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little")


def _vector(counts: Counter[str], weight: Any) -> tuple[list[int], list[float]]:
    merged: dict[int, float] = {}
    for term, tf in counts.items():
        index = term_index(term)
        merged[index] = merged.get(index, 0.0) + weight(tf)
    indices = sorted(merged)
    return indices, [merged[i] for i in indices]


def encode_documents(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """BM25 term-frequency weights per text (IDF is applied by Qdrant)."""
    all_indices, all_values = [], []
    for text in texts:
        counts = Counter(terms(text))
        length = sum(counts.values()) or 1
        norm = K1 * (1 - B + B * length / AVG_LEN)
        indices, values = _vector(counts, lambda tf, n=norm: tf * (K1 + 1) / (tf + n))
        all_indices.append(indices)
        all_values.append(values)
    return all_indices, all_values


class Translator(Protocol):
    """An English-Japanese dictionary (ingest/lexicon.py's Lexicon)."""

    def japanese(self, phrase: str) -> Sequence[str]:
        """The Japanese an English phrase (lower case, single-spaced) translates to."""
        ...

    def english(self, form: str) -> Sequence[str]:
        """The English words of a Japanese written form's glosses."""
        ...


def translated_terms(text: str, translator: Translator, longest: int = MAX_WORDS) -> set[str]:
    """The Japanese search terms of ``text``'s English words: each phrase of up to ``longest``
    words (the longest the lexicon holds) that ``translator`` knows, the longest first ("file
    system" before "file"), stands for all its translations; a stop word alone is not looked
    up. Only terms in Japanese script: an English passage never matches one (a form's Latin
    letters, as in ＧＯサイン, are not the question's words)."""
    words = ENGLISH_WORD.findall(unicodedata.normalize("NFKC", text).lower())
    found: set[str] = set()
    start = 0
    while start < len(words):
        for size in range(min(longest, len(words) - start), 0, -1):
            phrase = " ".join(words[start : start + size])
            forms = [] if phrase in _STOP else translator.japanese(phrase)
            if forms:
                found.update(t for form in forms for t in terms(form) if _JAPANESE.search(t))
                start += size
                break
        else:
            start += 1
    return found


def encode_queries(
    texts: list[str], translator: Translator | None = None
) -> tuple[list[list[int]], list[list[float]]]:
    """One per distinct term: the score is then the sum of matched terms' BM25 weights. With
    ``translator``, a text without Japanese also holds the Japanese terms of its English words
    (each once, as a word of the question)."""
    all_indices, all_values = [], []
    for text in texts:
        words = set(terms(text))
        if translator is not None and not _has_japanese(text):
            words |= translated_terms(text, translator)
        indices, values = _vector(Counter(words), lambda tf: 1.0)
        all_indices.append(indices)
        all_values.append(values)
    return all_indices, all_values


def english_terms(text: str, translator: Translator) -> set[str]:
    """The English search terms of ``text``'s Japanese words: each word (Sudachi's, as
    ``terms`` reads them, the same words dropped, and helper verbs and nouns too) stands for
    the words of its dictionary glosses, looked up by its normalised form, else its
    dictionary form, else as written; a word the dictionary does not know adds nothing."""
    found: set[str] = set()
    for run in _JAPANESE.findall(unicodedata.normalize("NFKC", text)):
        for morpheme in _words(run):
            if morpheme.part_of_speech()[1] == "非自立可能":
                continue  # a helper verb or noun (ください, みる, おく): its glosses are noise
            forms = (morpheme.normalized_form(), morpheme.dictionary_form(), morpheme.surface())
            for form in forms:
                if words := translator.english(form):
                    found.update(_latin_terms(" ".join(words)))
                    break
    return found


@dataclass(frozen=True)
class Translation:
    """A question's keywords in the other language, and the documents they are searched in."""

    vector: tuple[list[int], list[float]]
    language: str  # "en" for a Japanese question's words, "ja" for an English one's


@dataclass(frozen=True)
class QueryEncoder:
    """A question's keyword vectors, as stores ask for them. Called as a SparseEncoder (a
    keyword search, one ranking): ``encode_queries``, an English question's Japanese
    translations in the same query. Hybrid search keeps the two apart: the question's own
    words (``own``) rank every passage, and its words in the other language
    (``translated``) are a ranking of their own among documents in that language only
    (ingest/stores/shared.py): a Japanese manual's English passages are commands and
    listings, which a Japanese question's words in English would match by accident."""

    translator: Translator | None = None

    def __call__(self, texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return encode_queries(texts, self.translator)

    @staticmethod
    def own(text: str) -> tuple[list[int], list[float]]:
        """The keyword vector of the question's own words, untranslated."""
        (indices,), (values,) = encode_queries([text])
        return indices, values

    def translated(self, text: str) -> Translation | None:
        """The question's words in the other language (one per term, as ``encode_queries``):
        an English one's Japanese translations, a Japanese one's English glosses; None
        without a dictionary or with no word the dictionary knows."""
        if self.translator is None:
            return None
        if _has_japanese(text):
            found, language = english_terms(text, self.translator), "en"
        else:
            found, language = translated_terms(text, self.translator), "ja"
        return Translation(_vector(Counter(found), lambda tf: 1.0), language) if found else None
