"""How Ollama fits a prompt into num_ctx, by version, read from its source (github.com/ollama/
ollama at the tags named): which messages a chat keeps, and which tokens the runner keeps of a
prompt too long."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

DEFAULT_NUM_CTX = 4096  # what Ollama uses when a request sends no num_ctx
_T = TypeVar("_T")

Truncation = Literal["cut", "shift", "refuse"]
PromptCounts = Literal["full", "new"]

# Ollama's behaviours by version, read from its source (github.com/ollama/ollama at the tags
# named). "cut": v0.12-v0.30 keep num_keep tokens and the tail, exactly num_ctx in all
# (runner/ollamarunner/runner.go:126-172 at v0.12.6; llm/llama_server.go:270-293 at v0.30.0).
# "shift": v0.31+ keep num_keep and the tail up to num_ctx - (num_ctx - num_keep) / 2
# (llm/llama_server.go:280-331 at v0.32.15). "refuse": v0.31+ with context shift off answer 400
# (llm/llama_server.go:295-299 at v0.32.15). prompt_eval_count is the whole prompt, cache
# included, except in v0.30.0, which counted only newly evaluated tokens (llama-server's
# prompt_n, llm/llama_server.go:1470 and 1766 at v0.30.0; fixed in v0.30.1 by commit 35fa277,
# cache_n + prompt_n).
VERSIONS: dict[str, tuple[Truncation, PromptCounts]] = {
    "0.12.6": ("cut", "full"),
    "0.30.0": ("cut", "new"),
    "0.30.1": ("cut", "full"),
    "0.32.15": ("shift", "full"),
}
NUM_KEEP = 4  # api.DefaultOptions NumKeep (api/types.go:1102 at v0.32.15; :837 at v0.12.6)


def cut_prompt(
    items: list[_T], num_ctx: int, num_keep: int, truncation: Truncation
) -> list[_T] | None:
    """The prompt the runner evaluates: whole if it fits, else num_keep tokens and the tail
    (see VERSIONS); None when the runner refuses it."""
    if truncation == "cut":
        if len(items) <= num_ctx:
            return items
        keep = min(len(items) if num_keep < 0 else num_keep, num_ctx - 1)
        discard = len(items) - num_ctx
        return items[:keep] + items[keep + discard :]
    if len(items) <= num_ctx - 1:  # fullPromptLimit
        return items
    if truncation == "refuse":
        return None
    keep = min(len(items) if num_keep < 0 else num_keep, num_ctx - 1)
    limit = num_ctx - max((num_ctx - keep) // 2, 1)  # contextShiftPromptLimit
    discard = len(items) - limit
    return items[:keep] + items[keep + discard :]


def drop_messages(
    messages: list[dict[str, Any]],
    fits: Callable[[list[dict[str, Any]]], bool],
    truncation: Truncation,
) -> list[dict[str, Any]]:
    """The messages Ollama's chatPrompt keeps when the whole chat does not fit.

    v0.12 (server/prompt.go:23-70 at v0.12.6) walks back from the last message and, for a chat
    of a system prompt and one question too long together, keeps the question alone (the
    system prompt is lost). Newer versions (server/prompt.go:36-70 at v0.32.15) drop messages
    from the front but keep every system message.
    """
    last = len(messages) - 1
    if truncation == "cut":
        n, system = last, []
        for i in range(last - 1, -1, -1):
            system = [m for m in messages[:i] if m.get("role") == "system"]
            if not fits(system + messages[i:]):
                break
            n = i
        else:
            system = []
        return system + messages[n:]
    for i in range(last + 1):
        system = [m for m in messages[:i] if m.get("role") == "system"]
        if fits(system + messages[i:]) or i == last:
            return system + messages[i:]
    return messages
