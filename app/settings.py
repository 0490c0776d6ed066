"""Settings of the service: everything in IndexSettings plus Ollama, answering and the API."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from ingest.errors import KuraError
from ingest.settings import HTTP_URL, KEEP_ALIVE_PATTERN, IndexSettings

RetrievalMode = Literal["hybrid", "dense", "sparse"]
RerankBackend = Literal["local", "ollama"]

ReasoningEffort = Literal["low", "medium", "high"]

LLMBackend = Literal["ollama", "openai"]

MAX_HOST_SLOTS = 256  # a vLLM server batches many requests; Ollama's OLLAMA_NUM_PARALLEL is small


def host_url(url: str) -> str:
    """A host URL as kura compares them: no surrounding spaces, no trailing slash."""
    return url.strip().rstrip("/")


def _urls(listed: str) -> list[str]:
    """The comma-separated URLs of ``listed``, each once, in order."""
    return list(dict.fromkeys(host_url(u) for u in listed.split(",") if u.strip()))


def _slot_count(text: str, what: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"KURA_OLLAMA_PARALLEL: {what} is not a whole number: {text!r}") from None
    if not 1 <= count <= MAX_HOST_SLOTS:
        raise ValueError(f"KURA_OLLAMA_PARALLEL: {what} must be 1 to {MAX_HOST_SLOTS}, not {count}")
    return count


def parse_parallel(text: str, hosts: list[str], default: int) -> dict[str, int]:
    """Slots per host from KURA_OLLAMA_PARALLEL: ``4`` for every host, or ``url=n`` pairs
    (a bare number among them is the default of the hosts not named)."""
    named: dict[str, int] = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        url, sep, count = item.rpartition("=")
        if not sep:
            default = _slot_count(item, "the default")
            continue
        url = host_url(url)
        if url not in hosts:
            raise ValueError(
                f"KURA_OLLAMA_PARALLEL names {url}, which is not one of the LLM hosts "
                f"({', '.join(hosts)})"
            )
        named[url] = _slot_count(count, url)
    return {url: named.get(url, default) for url in hosts}


class InsecureBind(KuraError):
    """Authentication is off but the server would listen beyond this machine."""


def check_bind(host: str, auth: str) -> None:
    """Refuse to serve without authentication on anything but a loopback address."""
    if auth != "off":
        return
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address is not None and address.is_loopback:
        return
    raise InsecureBind(
        f"authentication is off (KURA_AUTH=off) but the server would listen on {host!r}: "
        "anyone who can reach it could read every document. Bind to 127.0.0.1, or turn "
        "authentication on (KURA_AUTH=keys) and create keys with `kura keys create`."
    )


class AppSettings(IndexSettings):
    """All of kura's settings (env prefix ``KURA_``)."""

    ollama_host: str = Field(
        "http://127.0.0.1:11434", description="Ollama server that runs the answering model."
    )
    ollama_model: str = Field("gpt-oss:20b", description="Model that writes the answers.")
    ollama_keep_alive: str = Field(
        "-1",
        pattern=KEEP_ALIVE_PATTERN,
        description="How long Ollama keeps the model in memory after a request, sent with "
        "every request as keep_alive: seconds (-1: for good, 0: unload at once) or a duration "
        "such as 30m or 24h. Ollama's own default unloads it after 5 idle minutes, and the "
        "next question waits minutes for a 13 GB model to load again.",
    )
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
        description="Reranker of retrieved passages: a local cross-encoder model directory "
        "(KURA_RERANK_BACKEND=local) or an Ollama model name such as a Qwen3-Reranker GGUF "
        "(KURA_RERANK_BACKEND=ollama); unset: no reranking.",
    )
    rerank_backend: RerankBackend = Field(
        "local",
        description="local (a cross-encoder directory) or ollama (a yes/no reranker model "
        "served by the Ollama hosts, KURA_OLLAMA_HOSTS else KURA_OLLAMA_HOST, scored from the "
        "first token's logprobs).",
    )
    rerank_candidates: int = Field(
        20, ge=1, le=200, description="Passages retrieved for the reranker to reorder."
    )
    sentence_candidates: int = Field(
        20,
        ge=0,
        le=200,
        description="Best passages of a hybrid search scored again by their best sentence's "
        "meaning (app/sentences.py), fused with their passage-level score; 0: off.",
    )
    rerank_parallel: int = Field(
        4,
        ge=1,
        le=32,
        description="Ollama reranker requests sent at once (match the host's "
        "OLLAMA_NUM_PARALLEL; more only queue there).",
    )
    rerank_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds one Ollama reranker request may take before the search keeps "
        "the fused order instead.",
    )
    ollama_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Questions sent to each LLM host at once when KURA_OLLAMA_PARALLEL is "
        "empty (match OLLAMA_NUM_PARALLEL; Ollama answers one at a time by default).",
    )
    ollama_hosts: str = Field(
        "",
        description="Several Ollama servers that run the same model, comma-separated URLs; "
        "each question goes to the least busy one that is up. Empty: KURA_OLLAMA_HOST alone.",
    )
    ollama_parallel: str = Field(
        "",
        description="Questions each LLM host answers at once: its OLLAMA_NUM_PARALLEL (a vLLM "
        "server's batch). One number for every host, or url=n pairs, comma-separated (a bare "
        "number among them counts for the hosts not named). Empty: KURA_OLLAMA_CONCURRENCY.",
    )
    llm_backend: LLMBackend = Field(
        "ollama",
        description="How kura asks the model: ollama (Ollama's native /api/chat) or openai "
        "(an OpenAI-compatible /v1/chat/completions: vLLM, SGLang, LM Studio, llama.cpp).",
    )
    openai_base_url: str = Field(
        "",
        description="With KURA_LLM_BACKEND=openai: the server's OpenAI-compatible base URL, "
        "e.g. http://vllm:8000/v1 (comma-separated for several servers). The model is "
        "KURA_OLLAMA_MODEL, as the server names it.",
    )
    openai_api_key: SecretStr | None = Field(
        None, description="With KURA_LLM_BACKEND=openai: the server's API key, if it asks one."
    )
    llm_retry_after: float = Field(
        5.0,
        gt=0,
        description="Seconds before an LLM host marked down is checked again; doubled after "
        "each failed check, up to 60.",
    )
    llm_hang_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds an LLM host (Ollama with the model in memory, or an "
        "OpenAI-compatible server) may send nothing (before the answer's first piece or between "
        "two) while another host is up: past it the host counts as hung, is marked down, and a "
        "question none of whose answer was shown goes to another host. An Ollama host loading "
        "the model, or the only host up, waits KURA_REQUEST_TIMEOUT.",
    )
    ollama_queue: int = Field(
        16, ge=0, description="Questions that may wait for a turn; past this: 503 Retry-After."
    )
    ollama_queue_timeout: float = Field(
        120.0, gt=0, description="Seconds a question may wait for a turn before a 503."
    )
    min_relevance: float = Field(
        0.25,
        ge=-1,
        le=1,
        description="Below this cosine similarity between the question and the best passage "
        "the dense model reads (dense search), and without a multilingual match "
        "(KURA_MIN_MULTILINGUAL_RELEVANCE), kura says the documents do not cover the question, "
        "without asking the model.",
    )
    min_multilingual_relevance: float = Field(
        0.25,
        ge=-1,
        le=1,
        description="The same for the multilingual vector's cosine, which judges the pairs of "
        "question and passage the dense model cannot read both of (a Japanese question, an "
        "English question over Japanese text).",
    )
    min_keyword_coverage: float = Field(
        0.25,
        ge=0,
        le=1,
        description="For questions searched by keywords only (a language no embedding model "
        "reads): the share of the question's keywords one of the top passages must hold.",
    )
    auth: Literal["keys", "off"] = Field(
        "keys",
        description="keys: every request but /healthz, /readyz and the docs needs an API key "
        "(`kura keys create`); off: no authentication, allowed only on a loopback address.",
    )
    auth_failure_limit: int = Field(
        10,
        ge=0,
        description="Failed authentications allowed per client address within "
        "auth_failure_window; past it, that address gets 429 with Retry-After. 0: no limit.",
    )
    auth_failure_window: float = Field(
        60.0, gt=0, description="Seconds over which failed authentications are counted."
    )
    proxy_user_headers: str = Field(
        "X-OpenWebUI-User-Email,X-OpenWebUI-User-Id",
        description="Headers in which a proxy key (kura keys create --proxy) names the end user "
        "it acts for, first present wins; ordinary keys' headers are ignored.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that may read /metrics (for a Prometheus scraper); admin keys "
        "may too. Unset: admin keys only. At least 32 characters (e.g. openssl rand -hex 32): "
        "right guesses are not rate limited, so the token's length is what stops guessing.",
    )
    log_level: str = Field("INFO", description="Log level.")
    log_json: bool = Field(True, description="Logs as one JSON object per line.")
    log_text: bool = Field(
        False,
        description="Debug only: the server logs each question and its answer (logger "
        "app.text), document text included (off: never).",
    )
    api_host: str = Field("127.0.0.1", description="Address `kura serve` binds to.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port `kura serve` listens on.")
    allowed_hosts: str = Field(
        "",
        description="Host names the server answers to (the Host header), comma-separated, or * "
        "for any. Empty: any when keys are required; with KURA_AUTH=off only localhost, "
        "127.0.0.1 and ::1 (against DNS rebinding).",
    )
    max_body_mb: float = Field(
        4.0,
        gt=0,
        description="Largest request body other than an upload (JSON: questions, history), in "
        "MiB; larger ones are refused with 413.",
    )
    max_upload_mb: float = Field(
        1024.0,
        gt=0,
        description="Largest upload request (all its files together), in MiB; larger ones are "
        "refused with 413. Each file is also held to KURA_MAX_FILE_MB.",
    )

    @property
    def local_url(self) -> str:
        """Where a process on this machine reaches `kura serve` (a wildcard bind: on loopback);
        what the server writes in the writer lock for `kura reindex` beside it."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.api_host, self.api_host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.api_port}"

    @property
    def proxy_user_header_names(self) -> list[str]:
        """``proxy_user_headers`` as a list."""
        return [h.strip() for h in self.proxy_user_headers.split(",") if h.strip()]

    @property
    def ollama_urls(self) -> list[str]:
        """The Ollama hosts configured, whichever backend answers: KURA_OLLAMA_HOSTS, else
        KURA_OLLAMA_HOST (an Ollama reranker asks them under the openai backend too)."""
        return _urls(self.ollama_hosts) or [host_url(self.ollama_host)]

    @property
    def llm_hosts(self) -> dict[str, int]:
        """The LLM hosts of the chosen backend, each with its slots (requests at once)."""
        openai = self.llm_backend == "openai"
        hosts = _urls(self.openai_base_url) if openai else self.ollama_urls
        return parse_parallel(self.ollama_parallel, hosts, self.ollama_concurrency)

    @field_validator("metrics_token")
    @classmethod
    def _long_metrics_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 32:
            raise ValueError("KURA_METRICS_TOKEN must be at least 32 characters")
        return token

    @model_validator(mode="after")
    def _llm_hosts_named(self) -> AppSettings:
        if self.llm_backend == "openai" and not self.openai_base_url.strip():
            raise ValueError(
                "KURA_LLM_BACKEND=openai needs KURA_OPENAI_BASE_URL (e.g. http://vllm:8000/v1)"
            )
        named_by = "KURA_OLLAMA_HOSTS" if self.ollama_hosts.strip() else "KURA_OLLAMA_HOST"
        if self.llm_backend == "openai":
            named_by = "KURA_OPENAI_BASE_URL"
        for url in self.llm_hosts:
            if not HTTP_URL.match(url):
                raise ValueError(
                    f"{named_by} names LLM host {url!r}, which is not an http:// or https:// URL"
                )
        return self

    @model_validator(mode="after")
    def _auth_off_only_on_loopback(self) -> AppSettings:
        # The rule itself is check_bind's; here it holds for every way of building the app,
        # not only `kura serve` (which checks a --host given on its command line too).
        try:
            check_bind(self.api_host, self.auth)
        except InsecureBind as exc:
            raise ValueError(str(exc)) from exc
        return self
