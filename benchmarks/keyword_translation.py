"""What translated keywords cost a hybrid search: the same questions over the same index, with
``KURA_KEYWORD_TRANSLATION`` on (the question's keywords in the other language, a ranking of
their own among documents in that language: ingest/sparse.py's ``QueryEncoder``) and off, in
the same process.

The indexes are retrieval_quality.py's cross-language sets (Debian Reference chapters 3-6:
English section titles over the Japanese edition, Japanese titles over the English one), and
its Python FAQ (English questions over English documents only: what translation costs where
it cannot help), built or taken from its cache. Reported per set: hybrid searches per second with translation
off and on (each question asked ``--rounds`` times, alternating), their ratio (on / off),
the time to translate one question (``QueryEncoder.translated``, the dictionary warm) and
nDCG@10 both ways.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/keyword_translation.py [--rounds 5] [--json]
Needs: apt-get install debian-reference-en debian-reference-ja python3.11-doc
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import emit
from retrieval_quality import (
    DEPTH,
    LabelledSet,
    cached_build,
    cross_language,
    labelled_sets,
    scores,
)

from app.retrieve import Retriever
from ingest.components import build_components
from ingest.lexicon import lexicon
from ingest.sparse import QueryEncoder
from tests.support.data_copy import copy_data
from tests.support.server import make_settings


def measure(labelled: LabelledSet, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        cached_build(labelled, data_dir, False)
        folders = {False: data_dir, True: copy_data(data_dir, Path(tmp) / "copy")}
        runs = {}
        for translation, folder in folders.items():  # one embedded store per folder
            settings = make_settings(folder, keyword_translation=translation)
            components = build_components(settings)
            runs[translation] = (components, Retriever(components, settings))
        ndcg = {}
        seconds = dict.fromkeys(runs, 0.0)
        for translation, (_, retriever) in runs.items():  # warm: models, dictionary, store
            found = [
                retriever.find("eval", q.text, DEPTH, mode="hybrid").passages
                for q in labelled.questions
            ]
            rows = [scores(p, q) for p, q in zip(found, labelled.questions, strict=True)]
            ndcg[translation] = sum(r["ndcg@10"] for r in rows) / len(rows)
        for _ in range(rounds):
            for translation, (_, retriever) in runs.items():
                started = time.perf_counter()
                for question in labelled.questions:
                    retriever.find("eval", question.text, DEPTH, mode="hybrid")
                seconds[translation] += time.perf_counter() - started
        encoder = QueryEncoder(lexicon(tuple(make_settings(data_dir).lexicon_folders)))
        started = time.perf_counter()
        for question in labelled.questions:
            encoder.translated(question.text)
        translate_ms = (time.perf_counter() - started) * 1000 / len(labelled.questions)
        for components, _ in runs.values():
            components.close()
    asked_n = len(labelled.questions) * rounds
    off, on = asked_n / seconds[False], asked_n / seconds[True]
    return {
        "questions": len(labelled.questions),
        "searches/s translation off": round(off, 1),
        "searches/s translation on": round(on, 1),
        "on / off": round(on / off, 3),
        "ms to translate a question": round(translate_ms, 2),
        "nDCG@10 off, on": [round(ndcg[False], 3), round(ndcg[True], 3)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sets = [cross_language("en", "ja"), cross_language("ja", "en"), labelled_sets()[0]]
    results = {labelled.name: measure(labelled, args.rounds) for labelled in sets}
    emit(results, args.json)


if __name__ == "__main__":
    main()
