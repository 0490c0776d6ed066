"""What an Ollama host keeps in memory, read as Ollama reads it: keep_alive and /api/ps. Shared
by the answering model (app/llm/ollama.py) and the embedder (ingest/embedding/ollama.py).

keep_alive (api/types.go Duration.UnmarshalJSON): a number is seconds, a string a Go duration;
below zero keeps the model for good, 0 unloads it once the request is done. A request's
keep_alive becomes the model's (server/sched.go useLoadedRunner); a request without one keeps
the model's, or loads it with OLLAMA_KEEP_ALIVE, 5 minutes by default (envconfig.KeepAlive).
/api/embed reads it as /api/chat does (server/routes.go EmbedHandler calls scheduleRunner with
req.KeepAlive), and an embedding model is unloaded after it like any other.
"""

from __future__ import annotations

import math
import re

import httpx
import ollama

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def keep_alive(value: str) -> float | str:
    """keep_alive as Ollama reads it: a number is seconds, a string a Go duration."""
    try:
        seconds = float(value)
    except ValueError:
        return value
    return int(seconds) if seconds.is_integer() else seconds


def keep_alive_seconds(value: str) -> float:
    """How long Ollama keeps a model after a request that sent keep_alive ``value`` (a setting
    matching KEEP_ALIVE_PATTERN): inf for good."""
    sent = keep_alive(value)
    if isinstance(sent, str):
        sign = -1.0 if sent.startswith("-") else 1.0
        sent = sign * sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(sent))
    return math.inf if sent < 0 else float(sent)


def in_memory(probe: ollama.Client, url: str, model: str, timeout: float) -> bool | None:
    """Whether Ollama at ``url`` has ``model`` in memory now, False while it loads (None: cannot
    tell, the host does not answer), asked through ``probe`` (a client whose timeout is
    ``timeout``, short: nothing loads).
    /api/ps lists a model from the start of its load (server/sched.go), so a timeout of the
    request that loads it can be told from a hang: a model that was not loaded was loading."""
    try:
        running = probe.ps().models
    except httpx.TimeoutException:
        # Since v0.32.4 /api/ps waits for a load in progress (server/sched.go loadedModels
        # takes each runner's refMu, held until it runs); before, it listed the model at
        # once. A host that answers /api/version meanwhile is loading, not hung.
        return False if _answers(url, timeout) else None
    except (ConnectionError, httpx.HTTPError, ollama.ResponseError):
        return None
    # /api/ps names a model as its shortest display name (bge-m3:latest, PsHandler)
    return any(m.model in (model, f"{model}:latest") for m in running)


def _answers(url: str, timeout: float) -> bool:
    try:
        httpx.get(f"{url}/api/version", timeout=timeout)
    except httpx.HTTPError:
        return False
    return True
