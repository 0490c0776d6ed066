"""The Ollama stand-in's /api/generate: a deterministic yes/no reranker with logprobs.

A prompt in Qwen3-Reranker's format (``<Query>: ...`` then ``<Document>: ...``) is answered with
one token, "yes" or "no", and P(yes) grows with the share of the query's terms (words; character
bigrams for Japanese) found in the document. The reply has Ollama's shape (api/types.go
``GenerateResponse`` and ``Logprob`` at v0.33): ``logprobs`` is a list with one entry per
generated token, each ``{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}``,
``top_logprobs`` only when asked for; ``num_predict`` reached ends with done_reason "length";
raw prompts carry no ``context`` (server/routes.go GenerateHandler).
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from tests.support.standin_answers import STOP, terms

_QUERY = re.compile(r"<Query>: (.*?)\n<Document>: (.*?)(?:<\|im_end\|>|$)", re.DOTALL)


def yes_probability(query: str, document: str) -> float:
    """The fake model's P(yes): 0.02 to 0.98 with the share of query terms in the document."""
    wanted = terms(query) - STOP
    share = len(wanted & terms(document)) / len(wanted) if wanted else 0.0
    return 0.02 + 0.96 * share


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def generate_reply(body: dict[str, Any]) -> dict[str, Any]:
    """The final (non-streaming) /api/generate response for ``body``."""
    started = time.perf_counter_ns()
    prompt = str(body.get("prompt", ""))
    asked = _QUERY.search(prompt)
    p_yes = yes_probability(asked[1], asked[2]) if asked else 0.02
    # The alternatives a real reranker also ranks, far below yes/no.
    candidates = sorted(
        [
            _entry("yes", math.log(p_yes)),
            _entry("no", math.log(1 - p_yes)),
            _entry("Yes", math.log(p_yes) - 4.0),
            _entry("No", math.log(1 - p_yes) - 4.0),
            _entry("\n", -12.0),
        ],
        key=lambda e: -e["logprob"],
    )
    chosen = candidates[0]
    reply: dict[str, Any] = {
        "model": body.get("model", ""),
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "response": chosen["token"],
        "done": True,
        "done_reason": "length" if (body.get("options") or {}).get("num_predict") == 1 else "stop",
        "total_duration": 0,
        "load_duration": 0,
        "prompt_eval_count": len(prompt.split()),
        "prompt_eval_duration": 0,
        "eval_count": 1,
        "eval_duration": 0,
    }
    if body.get("logprobs"):
        entry: dict[str, Any] = dict(chosen)
        top = int(body.get("top_logprobs") or 0)
        if top:
            entry["top_logprobs"] = candidates[:top]
        reply["logprobs"] = [entry]
    if not body.get("raw"):
        reply["context"] = [1, 2, 3]  # Ollama returns the token context for templated prompts
    reply["total_duration"] = time.perf_counter_ns() - started
    return reply


def refusal(body: dict[str, Any]) -> str | None:
    """Ollama's 400 for a generate request it rejects before running (routes.go)."""
    top = body.get("top_logprobs") or 0
    if not isinstance(top, int) or not 0 <= top <= 20:
        return "top_logprobs must be between 0 and 20"
    if body.get("raw") and (body.get("template") or body.get("system") or body.get("context")):
        return "raw mode does not support template, system, or context"
    return None
