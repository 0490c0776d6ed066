"""What the stand-in's fake model writes: it reads the numbered passages in the prompt, picks
the one that shares the most words with the question, and answers with that passage's first
sentence and its citation [n], in the question's language; and the self-contained question of
a follow-up. Shared by the chat (tests.support.ollama_standin) and the reranker
(tests.support.generate_standin) stand-ins."""

from __future__ import annotations

import re

_PASSAGE = re.compile(r'<passage n="(\d+)"[^\n]*\n(.*?)\n</passage>', re.DOTALL)
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|[A-Za-z0-9]+|[^\sA-Za-z0-9]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_SENTENCE = re.compile(r"(?<=[。！？])|(?<=[.!?])\s+")


def tokens(text: str) -> list[str]:
    """The stand-in's tokenizer: words, single CJK characters and punctuation."""
    return _TOKEN.findall(text)


def terms(text: str) -> set[str]:
    # Words for Latin text, character bigrams for Japanese (no spaces between words).
    words = {w.lower() for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9-]+", text)}
    cjk = re.findall(r"[\u3040-\u30ff\u3400-\u9fff]+", text)
    bigrams = {run[i : i + 2] for run in cjk for i in range(len(run) - 1)}
    return words | bigrams


STOP = {
    "what",
    "does",
    "the",
    "is",
    "are",
    "how",
    "which",
    "who",
    "when",
    "where",
    "why",
    "a",
    "an",
    "of",
    "to",
    "in",
    "on",
    "for",
    "and",
    "or",
    "do",
    "it",
    "this",
    "that",
}


def condense(prompt: str) -> str:
    """The stand-in's self-contained question: the last user turn, then the follow-up."""
    turns = re.findall(r"^User: (.*)$", prompt, re.MULTILINE)
    follow_up = re.search(r"^Follow-up: (.*)$", prompt, re.MULTILINE)
    return " ".join(x for x in (turns[-1] if turns else "", follow_up[1] if follow_up else "") if x)


def compose_answer(prompt: str) -> tuple[str, str]:
    """Answer and reasoning from the passages and question in ``prompt``."""
    passages = [(int(n), text) for n, text in _PASSAGE.findall(prompt)]
    question = prompt.rsplit("Question:", 1)[-1].strip()
    japanese = bool(_KANA.search(question))
    wanted = terms(question) - STOP
    best, best_score = None, 0
    for n, text in passages:
        score = len(wanted & terms(text))
        if score > best_score:
            best, best_score = (n, text), score
    if best is None:
        reasoning = "No passage shares terms with the question."
        if japanese:
            return "資料には記載がありません。", reasoning
        return "The documents do not cover this question.", reasoning
    n, text = best
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    # a sentence, not a heading line ("4. Redistribution.")
    sentence = next((s for s in sentences if len(s.split()) > 3 or _KANA.search(s)), text)
    reasoning = f"Passage {n} shares {best_score} terms with the question."
    if japanese:
        return f"資料によると、{sentence} [{n}]", reasoning
    return f"According to the documents: {sentence} [{n}]", reasoning
