"""An OpenAI chat completion request as kura reads it: the model names the collection
(``kura:manuals``), the last user message is the question, earlier turns its history, system
messages the caller's instructions; what kura cannot honour is refused, not ignored."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field

from app.answer import Ask, Turn
from app.deps import collection_for
from app.keys import User
from app.llm import Sampling
from app.services.ask import new_ask
from app.settings import AppSettings, ReasoningEffort
from ingest.components import Components
from ingest.errors import CollectionNotFound

PREFIX = "kura:"


class ChatMessage(BaseModel):
    """An OpenAI chat message (text content, or a list of text parts)."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    """OpenAI's stream_options."""

    include_usage: bool = False

    model_config = {"extra": "allow"}


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat completion request kura uses or refuses; others (user,
    seed, top_p, ...) are accepted and have no effect."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    reasoning_effort: ReasoningEffort | None = None
    max_tokens: int | None = Field(None, ge=1, description="Reasoning plus answer tokens.")
    max_completion_tokens: int | None = Field(None, ge=1, description="As max_tokens.")
    temperature: float | None = Field(None, ge=0, le=2)
    stop: str | list[str] | None = Field(None, description="Up to 4 stop sequences.")
    # refused unless harmless: kura gives one answer in text, and calls no tools
    n: int | None = Field(None, ge=1)
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    response_format: dict[str, Any] | None = None

    model_config = {"extra": "allow"}

    def refusal(self) -> str | None:
        """Why kura cannot honour this request, or None."""
        if self.n is not None and self.n > 1:
            return "n > 1 is not supported: kura gives one answer per question"
        if self.tools or self.functions:
            return "tools are not supported: kura answers from its documents and calls no tools"
        if self.response_format and self.response_format.get("type", "text") != "text":
            return (
                f"response_format {self.response_format.get('type')!r} is not supported: kura "
                "answers in text with citations"
            )
        if isinstance(self.stop, list) and len(self.stop) > 4:
            return "stop takes at most 4 sequences"
        return None

    def sampling(self) -> Sampling:
        """The request's max_tokens, temperature and stop, as Ollama options."""
        limit = self.max_completion_tokens or self.max_tokens
        name = "max_completion_tokens" if self.max_completion_tokens else "max_tokens"
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return Sampling(
            num_predict=limit,
            temperature=self.temperature,
            stop=stop or None,
            budget_name=name if limit else "KURA_ANSWER_MAX_TOKENS",
        )

    @property
    def wants_usage(self) -> bool:
        """stream_options.include_usage: a last chunk with the token counts."""
        return self.stream_options is not None and self.stream_options.include_usage

    def plain_messages(self) -> list[dict[str, str]]:
        """The messages as role and text."""
        return [{"role": m.role, "content": m.text()} for m in self.messages]

    def ask(self, settings: AppSettings, collection: str, groups: list[str] | None) -> Ask:
        """The question in the last user message, asked of ``collection``; 400 without one."""
        turns = [m for m in self.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
            raise HTTPException(400, detail="the last message must be a user message with text")
        history = [Turn(role=m.role, content=m.text()[:20000]) for m in turns[:-1]]
        # system and developer messages: the user's instructions on style and language, kept
        # below kura's own rules in the prompt
        instructions = "\n\n".join(
            m.text().strip() for m in self.messages if m.role in ("system", "developer")
        )
        return new_ask(
            settings,
            turns[-1].text().strip()[:8000],
            collection=collection,
            effort=self.reasoning_effort,
            history=history,
            groups=groups,
            instructions=instructions[:4000],
            sampling=self.sampling(),
        )


def readable_collection(
    body: ChatRequest, user: User, settings: AppSettings, components: Components
) -> str:
    """The collection the request's model names, if the caller may read it (else 404), and
    the request is one kura can honour (else 400)."""
    if (refusal := body.refusal()) is not None:
        raise HTTPException(400, detail=refusal)
    collection = body.model.removeprefix(PREFIX)
    try:
        collection_for(collection, user, components, settings)
    except CollectionNotFound as exc:
        raise HTTPException(404, detail=f"no such model: {body.model}") from exc
    return collection
