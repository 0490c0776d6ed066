"""The answering model behind Ollama: the client (`ollama`), the queue toward it (`gate`), what a
call asks and returns (`generation`), and how Ollama's failures, silent ones included, are told
apart (`checks`)."""

from app.llm.gate import Gate
from app.llm.generation import DEFAULT_SAMPLING, Generation, ModelFacts, Piece, Sampling
from app.llm.ollama import OllamaLLM

__all__ = ["DEFAULT_SAMPLING", "Gate", "Generation", "ModelFacts", "OllamaLLM", "Piece", "Sampling"]
