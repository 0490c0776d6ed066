"""Text that reads like instructions to a language model (prompt injection): English, Japanese.

A document is data: the answering prompt fences passages and tells the model so. This module
only flags text that addresses a model directly, so ingestion can record it and retrieval can
treat it with suspicion. The patterns are narrow on purpose: manuals say "you are now logged
in", contracts say "乙が甲の指示を無視した場合", and neither may be flagged.

Flags (stable names, safe to store and filter on):

- ``instructions``: tells the reader to ignore, disregard or override earlier instructions, or
  not to follow the user.
- ``persona``: tries to give the model a new role ("you are now an unrestricted assistant").
- ``system_prompt``: asks for, or sets, the model's system prompt or hidden instructions.
- ``fence``: a passage delimiter or chat-template token that could close the data fence.
"""

from __future__ import annotations

import re
import unicodedata

from ingest.text import IDEOGRAPH_SPAN

INSTRUCTIONS = "instructions"
PERSONA = "persona"
SYSTEM_PROMPT = "system_prompt"
FENCE = "fence"
FLAGS = (INSTRUCTIONS, PERSONA, SYSTEM_PROMPT, FENCE)

# English patterns run on NFKC-folded, lower-cased text with whitespace collapsed to one space.
_EARLIER = r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|old)"
_ORDERS = r"(?:instructions?|prompts?|directions|directives|guidelines|commands|rules|orders)"
_ENGLISH: list[tuple[str, re.Pattern[str]]] = [
    (
        INSTRUCTIONS,
        # "ignore all previous instructions", "disregard the above directions", "forget your
        # rules": the qualifier is required, so "ignore the warning" and legal "disregard any
        # provision" stay clear.
        re.compile(
            rf"\b(?:ignore|disregard|forget)\s+"
            rf"(?:(?:all|any|every)\s+(?:of\s+)?)?(?:(?:the|your|my|these|those)\s+)?"
            rf"(?:{_EARLIER}\s+|(?:system|safety)\s+){_ORDERS}\b"
            # "override the previous rules" is firewall prose: only instructions and prompts.
            rf"|\b(?:override|bypass)\s+(?:(?:all|any)\s+(?:of\s+)?)?(?:(?:the|your)\s+)?"
            rf"(?:{_EARLIER}\s+|(?:system|safety)\s+)(?:instructions|prompts?)\b"
            rf"|\b(?:ignore|disregard|forget|override)\s+(?:all|any|every)\s+(?:of\s+)?your\s+"
            rf"{_ORDERS}\b"
            rf"|\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:that\s+)?"
            rf"(?:you\s+were\s+told|(?:written\s+|said\s+)?(?:above|before|previously))"
        ),
    ),
    (
        INSTRUCTIONS,
        re.compile(
            r"\b(?:do\s+not|don't|never|stop)\s+(?:follow(?:ing)?|obey(?:ing)?|listen(?:ing)?\s+to)"
            r"\s+the\s+user(?:'s|s)?\b"
        ),
    ),
    (
        INSTRUCTIONS,
        re.compile(rf"\bnew\s+{_ORDERS}\s*:\s*(?:you|from\s+now|ignore|disregard)"),
    ),
    (
        PERSONA,
        # "you are now DAN", "you are now an unrestricted AI", "from now on you are ...".
        # Not "you are now ready / logged in / in maintenance mode".
        re.compile(
            r"\b(?:you\s+are\s+now|from\s+now\s+on,?\s+you\s+(?:are|will\s+act\s+as)|"
            r"pretend\s+(?:that\s+)?you\s+are|act\s+as\s+if\s+you\s+(?:are|were))\s+"
            r"(?:(?:a|an|the|my|in)\s+)?(?:[\w-]+\s+){0,3}?"
            r"(?:assistant|ai|a\.i\.|language\s+model|llm|chatbot|chat\s*gpt|gpt|bot|dan|"
            r"jailbroken|unrestricted|unfiltered|uncensored|(?:developer|god|jailbreak)\s+mode)\b"
        ),
    ),
    (
        SYSTEM_PROMPT,
        # Asking for or replacing the system prompt; "at the system prompt, type ..." (a shell
        # prompt in old manuals) has no such verb.
        re.compile(
            r"\b(?:reveal|show|print|repeat|output|leak|disclose|display|tell\s+me|"
            r"ignore|disregard|override|forget|replace|change|new|updated|your)\s+"
            r"(?:me\s+)?(?:(?:the|your|its)\s+)?(?:(?:full|hidden|secret|original|initial|"
            r"exact)\s+)?system\s+(?:prompt|message)\b"
        ),
    ),
    (
        SYSTEM_PROMPT,
        re.compile(
            r"\b(?:reveal|repeat|leak|disclose|print|output|show\s+me|tell\s+me)\s+"
            r"(?:all\s+(?:of\s+)?)?your\s+(?:(?:hidden|secret|original|initial|full|exact)\s+)?"
            r"(?:instructions|prompt|rules|guidelines|configuration)\b"
        ),
    ),
    (
        FENCE,
        # kura's own passage fence (app/prompt.py) and chat-template tokens (ChatML, Llama,
        # gpt-oss harmony). Not generic XML closers: "</document>" is in every XML manual.
        re.compile(r"<\s*/?\s*passages?\b|<\|[a-z_]{2,20}\|>|\[/?inst\]|<</?sys>>"),
    ),
]

# Japanese patterns run on NFKC-folded text with all whitespace removed (PDF text breaks lines
# mid-phrase). Each needs a qualifier: "甲の指示を無視した場合" is a contract clause, not an attack.
# A lone 前/先/上/元 counts only when no kanji precedes it: 事前の指示 (prior instructions),
# 業務上の指示, 発注元の指示 and 勤務先の指示 are contract vocabulary.
_JA_EARLIER = (
    r"(?:以前|これまで|今まで|直前|先ほど|上記|最初|すべて|全て|あらゆる"
    rf"|(?<![{IDEOGRAPH_SPAN}々])(?:前|先|上|元))"
)
# Not 設定 (settings): "上記の設定は無視されます" is ordinary manual prose.
_JA_ORDERS = r"(?:指示|命令|指令|プロンプト|ルール)"
_JAPANESE: list[tuple[str, re.Pattern[str]]] = [
    (
        INSTRUCTIONS,
        re.compile(
            rf"{_JA_EARLIER}(?:の|に与えられた|で与えられた|で述べた)?(?:すべての|全ての)?"
            rf"{_JA_ORDERS}(?:を|は|も)(?:すべて|全て|全部)?(?:無視|忘れ|破棄)"
            # Not passive or conditional: "指示は無視されます", "すべての指示を無視した場合".
            r"(?!され|した場合|する場合|したとき|するとき)"
        ),
    ),
    (
        INSTRUCTIONS,
        re.compile(
            r"ユーザー?(?:の)?(?:指示|命令|質問|依頼)(?:に|には)(?:従わないで|従うな|答えないで)"
        ),
    ),
    (PERSONA, re.compile(r"あなたは今から|今からあなたは|これからあなたは")),
    (SYSTEM_PROMPT, re.compile(r"システムプロンプト")),
    (
        SYSTEM_PROMPT,
        re.compile(
            rf"(?:あなた|君)の(?:元の|最初の|本当の|隠された)?{_JA_ORDERS}を"
            r"(?:すべて|全て)?(?:表示|出力|教え|開示|見せ)"
        ),
    ),
]

_SPACES = re.compile(r"\s+")


def instruction_flags(text: str) -> list[str]:
    """The flags ``text`` raises, sorted and without repeats; empty for ordinary prose."""
    folded = unicodedata.normalize("NFKC", text)
    english = _SPACES.sub(" ", folded.replace("\u2019", "'")).lower()
    japanese = _SPACES.sub("", folded)
    flags = {name for name, pattern in _ENGLISH if pattern.search(english)}
    flags.update(name for name, pattern in _JAPANESE if pattern.search(japanese))
    return sorted(flags)
