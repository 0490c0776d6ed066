"""The reranker tests' documents and questions: English and Japanese, one right answer each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.settings import AppSettings
from tests.support.server import make_settings

RERANKER = "dengcao/Qwen3-Reranker-0.6B:Q8_0"
CANDIDATES = 6

DOCS = {
    "invoices.txt": "Invoices are payable within thirty days of receipt.",
    "holidays.txt": "The office is closed on public holidays.",
    "termination.txt": "Termination of this agreement needs ninety days written notice.",
    "yachin.txt": "賃料は毎月末日までに支払うものとする。",
    "kaiyaku.txt": "本契約の解約は、九十日前までに書面で通知するものとする。",
    "kyugyo.txt": "事務所は祝日に休業する。",
}
QUESTIONS = {
    "How many days notice does termination need?": "termination.txt",
    "解約の通知期間は何日ですか": "kaiyaku.txt",
}


def rerank_settings(data_dir: Path, down: str, up: str, **extra: Any) -> AppSettings:
    """Settings that rerank on Ollama hosts ``down`` (first, and KURA_OLLAMA_HOST) and ``up``."""
    return make_settings(
        data_dir,
        ollama_host=down,
        ollama_hosts=f"{down},{up}",
        rerank_backend="ollama",
        rerank_model=RERANKER,
        rerank_candidates=CANDIDATES,
        rerank_timeout=5,
        **extra,
    )
