"""Japanese and mixed text, said once: the Unicode ranges of the CJK scripts, what language a
text is in, and where its sentences end.

The ranges are character-class fragments (for ``[...]`` in a regular expression), named by what
they hold; each purpose composes the ones it needs. Purposes differ on purpose: tokenising for
BM25 keeps only letters (kana, ideographs, 々〆, half-width katakana), while joining lines
without a space also covers punctuation and full-width forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# --- the ranges -----------------------------------------------------------------------------

CJK_PUNCTUATION = "\u3000-\u303f"  # CJK symbols and punctuation: 、。「」〜 (and 々〆〇)
ITERATION_MARKS = "\u3005\u3006"  # 々 (repeat the kanji before) and 〆: letters, not punctuation
KANA = "\u3040-\u30ff"  # hiragana and katakana, with ー and ・
IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff"  # CJK unified ideographs and extension A
# Yijing hexagram symbols: the gap between the two ideograph blocks above. Two older checks
# wrote the ideographs as one span, \u3400-\u9fff, and keep it (see IDEOGRAPH_SPAN).
YIJING_HEXAGRAMS = "\u4dc0-\u4dff"
COMPATIBILITY_IDEOGRAPHS = "\uf900-\ufaff"
FULL_WIDTH_FORMS = "\uff00-\uffef"  # halfwidth and fullwidth forms: ＡＢＣ１２３（）, ｶﾀｶﾅ
HALF_WIDTH_KATAKANA = "\uff66-\uff9f"  # ｦ to ﾟ, inside FULL_WIDTH_FORMS

# --- composed per purpose -------------------------------------------------------------------

# Letters of Japanese words (kana and kanji), as language detection and clause parsing see them.
JAPANESE_LETTERS = KANA + IDEOGRAPHS
# Where Japanese text is written without spaces: a space or line break between two of these is
# a line wrap, not a word gap (chunk joining, answer matching).
NO_SPACE = CJK_PUNCTUATION + KANA + IDEOGRAPHS + FULL_WIDTH_FORMS
# NO_SPACE with compatibility ideographs: what PDF line wraps are removed between.
WRAPPED = CJK_PUNCTUATION + KANA + IDEOGRAPHS + COMPATIBILITY_IDEOGRAPHS + FULL_WIDTH_FORMS
# Runs of these are handed to the Japanese tokenizer for BM25 terms.
TOKENIZED = ITERATION_MARKS + KANA + IDEOGRAPHS + COMPATIBILITY_IDEOGRAPHS + HALF_WIDTH_KATAKANA
# All ideographs in one span, hexagrams included, as the evaluation and the injection checks
# have always matched them.
IDEOGRAPH_SPAN = IDEOGRAPHS + YIJING_HEXAGRAMS  # = \u3400-\u9fff

_KANA = re.compile(f"[{KANA}]")
_JAPANESE_LETTERS = re.compile(f"[{JAPANESE_LETTERS}]")

# A sentence ends at 。！？ (with any closing brackets after them), or at . ! ? followed by
# whitespace; line breaks inside a block also end a unit.
_SENTENCE_SPLIT = re.compile(
    r"(?<=[。！？!?][」』）)\]])|(?<=[。！？])(?![」』）)\]])|(?<=[.!?])\s+"
)


def detect_language(text: str) -> str:
    """``ja`` for Japanese text, ``en`` for text in Latin script, ``und`` otherwise."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "und"
    cjk = len(_JAPANESE_LETTERS.findall(text))
    if _KANA.search(text) and cjk / len(letters) > 0.1:
        return "ja"
    if cjk / len(letters) > 0.5 and len(text) > 50:
        return "zh"  # ideographs without kana: Chinese (short kanji-only text stays und)
    if sum(ch.isascii() for ch in letters) / len(letters) > 0.9:
        return "en"
    return "und"


DOCUMENT_SAMPLE = 200_000  # characters a document's language is read from


def document_language(texts: Iterable[str]) -> str:
    """The language of a whole document, from its texts in order (``detect_language`` over
    its first ``DOCUMENT_SAMPLE`` characters: a 2,400-page manual is read in part)."""
    sample: list[str] = []
    size = 0
    for text in texts:
        sample.append(text)
        size += len(text) + 1
        if size >= DOCUMENT_SAMPLE:
            break
    return detect_language(" ".join(sample)[:DOCUMENT_SAMPLE])


def split_sentences(text: str) -> list[str]:
    """Split text at line breaks and sentence ends (。！？ . ! ?), keeping the punctuation."""
    pieces: list[str] = []
    for line in text.split("\n"):
        pieces.extend(p.strip() for p in _SENTENCE_SPLIT.split(line) if p and p.strip())
    return pieces
