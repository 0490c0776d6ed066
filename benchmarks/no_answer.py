"""When does kura say "the documents do not cover this"? The share of real questions it still
answers (should be ~1.0) and of off-topic questions it declines (should be ~1.0), on the
shipped labelled sets and on English questions over Japanese text (retrieval_quality.py's
cross-language set, over its four chapters), at the configured min_relevance /
min_multilingual_relevance / min_keyword_coverage (app/relevance.py).

Usage: .venv/bin/python benchmarks/no_answer.py [--only NAME] [--json]
Needs: apt-get install python3.11-doc debian-handbook debian-reference-en debian-reference-ja
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import ROOT, emit
from retrieval_quality import cross_language

import ingest  # noqa: F401
from app.evaluate import load_questions
from app.relevance import covers
from app.retrieve import Retriever
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.server import make_settings

OFF_TOPIC = {
    "en": [
        "What is the boiling point of mercury in kelvin?",
        "Who won the football world cup in 1998?",
        "How many calories are in a banana?",
        "What is the capital of Australia?",
        "How do I bake sourdough bread?",
        "When was the Eiffel Tower built?",
        "What is the best way to train a puppy?",
        "How tall is Mount Everest?",
    ],
    "ja": [
        "富士山の標高は何メートルですか？",
        "おいしいカレーの作り方を教えてください。",
        "東京から大阪まで新幹線で何時間かかりますか？",
        "日本の首相は誰ですか？",
        "猫に与えてはいけない食べ物は？",
        "明日の天気はどうなりますか？",
        "野球のルールを説明してください。",
        "ラーメンのスープの作り方は？",
    ],
}


def labelled(path: Path) -> list[str]:
    return [q.question for q in load_questions(path)]


def sets() -> dict[str, tuple[str, list[str], list[Path]]]:
    """Each set's off-topic language, real questions and documents."""
    crossing = cross_language()
    return {
        "python-faq-en": (
            "en",
            labelled(ROOT / "eval" / "python-faq-en.jsonl"),
            [Path("/usr/share/doc/python3.11/html/faq")],
        ),
        "debian-handbook-ja": (
            "ja",
            labelled(ROOT / "eval" / "debian-handbook-ja.jsonl"),
            sorted(Path("/usr/share/doc/debian-handbook/html/ja-JP").glob("*.html")),
        ),
        "debian-reference en->ja": (
            "en",
            [q.text for q in crossing.questions],
            crossing.documents,
        ),
    }


def covered(retriever: Retriever, collection: str, question: str) -> bool:
    mode = retriever.effective_mode(question, "hybrid")
    found = retriever.find(collection, question, 6, mode=mode)
    return bool(found.passages) and covers(retriever, found)


def run_set(language: str, questions: list[str], folders: list[Path]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        components = build_components(settings)
        Indexer(components, "eval").ingest_paths(folders)
        retriever = Retriever(components, settings)
        answered = sum(covered(retriever, "eval", q) for q in questions)
        declined = sum(not covered(retriever, "eval", q) for q in OFF_TOPIC[language])
        components.close()
    return {
        "real_questions_answered": round(answered / len(questions), 3),
        "off_topic_declined": round(declined / len(OFF_TOPIC[language]), 3),
        "real_questions": len(questions),
        "off_topic_questions": len(OFF_TOPIC[language]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="run one set by name")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    for name, (language, questions, folders) in sets().items():
        if not args.only or name == args.only:
            results[name] = run_set(language, questions, folders)
            if not args.json:
                emit({name: results[name]}, False)  # each set when done
    if args.json:
        emit(results, True)


if __name__ == "__main__":
    main()
