"""The answering model: on one or more hosts (`hosts`, `model`), queued (`gate`), spoken to by
Ollama's own API (`ollama`) or an OpenAI-compatible one (`openai_chat`); what a call asks and
returns (`generation`), and how failures, silent ones included, are told apart (`checks`)."""

from __future__ import annotations

from collections.abc import Callable

from app.llm.gate import Gate
from app.llm.generation import DEFAULT_SAMPLING, Generation, ModelFacts, Piece, Sampling
from app.llm.model import AnsweringModel
from app.llm.ollama import OllamaLLM
from app.settings import AppSettings

__all__ = [
    "DEFAULT_SAMPLING",
    "AnsweringModel",
    "Gate",
    "Generation",
    "ModelFacts",
    "OllamaLLM",
    "Piece",
    "Sampling",
    "build_llm",
]


def build_llm(
    settings: AppSettings, on_change: Callable[[int, int], None] | None = None
) -> AnsweringModel:
    """The answering model of ``settings.llm_backend``; ``on_change(waiting, in_flight)``
    hears of every change in its queue."""
    if settings.llm_backend == "openai":
        from app.llm.openai_chat import OpenAIChatLLM

        return OpenAIChatLLM(settings, on_change)
    return OllamaLLM(settings, on_change)
