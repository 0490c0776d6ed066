"""What one call to the model is asked (Sampling) and gives back (Generation, Piece), and what
Ollama says about the model (ModelFacts)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelFacts:
    """What Ollama says about the model (/api/show) and itself (/api/version)."""

    context_length: int | None  # <architecture>.context_length; None: unknown
    thinks: bool  # "thinking" among its capabilities (Ollama refuses `think` otherwise)
    counts_cache: bool  # prompt_eval_count includes cached tokens (not in Ollama v0.30.0)


@dataclass
class Generation:
    """What the model said, and what it cost."""

    content: str
    thinking: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    done_reason: str
    seconds: float


@dataclass
class Piece:
    """Part of a streamed answer: text of the answer or of the reasoning; or, before any, the
    question's place in line while it waits for a turn."""

    content: str = ""
    thinking: str = ""
    queued: int = 0  # waiting: 1 is next in line; 0: not waiting


@dataclass(frozen=True)
class Sampling:
    """How one request generates, where the caller chose (None: kura's settings)."""

    num_predict: int | None = None  # tokens for reasoning plus answer
    temperature: float | None = None
    stop: list[str] | None = None
    # What the caller would raise to give the model more room (named in the error).
    budget_name: str = "KURA_ANSWER_MAX_TOKENS"


DEFAULT_SAMPLING = Sampling()
