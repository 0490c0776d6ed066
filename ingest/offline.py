"""Keep unstructured from reaching the network.

unstructured's text heuristics (sentence split, part-of-speech "contains a verb" check) load the
spaCy model ``en_core_web_sm`` and, when it is missing, download and install it from GitHub on
first use. kura never lets that happen: if the real model is installed locally it is used; if not,
a blank multilingual spaCy pipeline with a rule-based sentencizer stands in. The sentencizer also
splits at Japanese sentence ends (。！？). Without a tagger no token is tagged as a verb, so
unstructured classifies some short one-sentence paragraphs of plain text and PDFs as titles; the
chunker keeps their text either way.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger(__name__)


def _refuse_download() -> None:
    raise RuntimeError("kura runs offline: refusing to download the spaCy model")


@functools.cache
def _local_pipeline() -> Any:
    import spacy

    try:
        return spacy.load("en_core_web_sm", exclude=["ner", "lemmatizer", "attribute_ruler"])
    except OSError:
        nlp = spacy.blank("xx")
        nlp.add_pipe("sentencizer")
        logger.debug("en_core_web_sm not installed; using a blank pipeline with a sentencizer")
        return nlp


@functools.cache
def make_unstructured_offline() -> None:
    """Point unstructured's NLP helpers at a local spaCy pipeline and disable its downloader."""
    from unstructured.nlp import tokenize

    # These are private hooks of unstructured 0.27 (pinned in pyproject); a test fails loudly if
    # they move, rather than letting a partition reach for the network.
    tokenize._install_spacy_model = _refuse_download
    tokenize._load_spacy_model = _local_pipeline
    tokenize._get_nlp.cache_clear()
