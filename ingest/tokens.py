"""Counting tokens the way the embedding model does, without loading the model."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tokenizers import Tokenizer

# A bound on the characters one token stands for. Ordinary text averages 3-5 characters a
# word piece; WordPiece reads a word of over 100 characters as a single [UNK], so without a
# bound a line of 200,000 letters with no space "fits" a chunk of one token.
MAX_CHARS_PER_TOKEN = 8


@cache
def _tokenizer(model_dir: str) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    # The model pads and truncates to its window; counting must see the whole text.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class TokenCounter:
    """Counts word pieces of a local sentence-transformers model (picklable, for workers);
    never fewer than one per ``MAX_CHARS_PER_TOKEN`` characters."""

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        _tokenizer(model_dir)  # fail early when the model has no fast tokenizer

    def __call__(self, text: str) -> int:
        pieces = len(_tokenizer(self.model_dir).encode(text, add_special_tokens=False).ids)
        return max(pieces, -(-len(text) // MAX_CHARS_PER_TOKEN))
