"""Settings of the service: everything in IndexSettings plus Ollama, answering and the API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ingest.settings import IndexSettings

RetrievalMode = Literal["hybrid", "dense", "sparse"]

ReasoningEffort = Literal["low", "medium", "high"]


class AppSettings(IndexSettings):
    """All of kura's settings (env prefix ``KURA_``)."""

    ollama_host: str = Field(
        "http://127.0.0.1:11434", description="Ollama server that runs the answering model."
    )
    ollama_model: str = Field("gpt-oss:20b", description="Model that writes the answers.")
    reasoning_effort: ReasoningEffort = Field(
        "low", description="gpt-oss reasoning effort, sent as Ollama's `think`."
    )
    num_ctx: int = Field(
        16384,
        ge=2048,
        description="Context window sent with every request as options.num_ctx (changing it "
        "makes Ollama reload the model).",
    )
    answer_max_tokens: int = Field(
        4096,
        ge=128,
        description="Tokens reserved for reasoning plus answer (options.num_predict); the prompt "
        "budget is num_ctx minus this.",
    )
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature of answers.")
    request_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for Ollama's answer (a 20B model on CPU is slow)."
    )
    top_k: int = Field(6, ge=1, le=50, description="Passages retrieved per question.")
    retrieval_mode: RetrievalMode = Field(
        "hybrid",
        description="hybrid (dense + BM25 keywords, fused with RRF), dense or sparse (BM25 only).",
    )
    context_neighbors: int = Field(
        0,
        ge=0,
        le=3,
        description="Chunks before and after each hit (same section) added to the prompt, "
        "within its budget.",
    )
    rerank_model: str | None = Field(
        None,
        description="Local cross-encoder model directory to rerank retrieved passages; unset: "
        "no reranking.",
    )
    rerank_candidates: int = Field(
        20, ge=1, le=200, description="Passages retrieved for the reranker to reorder."
    )
    api_host: str = Field("127.0.0.1", description="Address `kura serve` binds to.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port `kura serve` listens on.")
