"""CLI latency: wall time of `kura --help`, a usage error and a one-result `kura search`,
this tree's code against another revision's (main by default), in the same run.

The other revision is unpacked with `git archive` into a temporary folder and run with that
folder first on PYTHONPATH; both run on one data dir, indexed once (one sample document, the
payload on disk is the same). Each command runs ``--runs`` times in turn; the median is kept.

Prints: median seconds before and after, and after/before as a ratio (below 1: faster).

Usage: .venv/bin/python benchmarks/cli_latency.py [--before main] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit

SAMPLE = ROOT / "data" / "samples" / "apache-license-2.0.txt"
COLLECTION = "latency"
COMMANDS = {
    "kura --help": ["--help"],
    "kura search --help": ["search", "--help"],
    "usage error (bad flag)": ["search", "x", "--no-such-flag"],
    "kura search -k 1 (hybrid)": ["search", "What does Licensor mean?", "-k", "1"],
    "kura search -k 1 (sparse)": ["search", "ライセンサー", "-k", "1", "--mode", "sparse"],
}


def kura(code: Path, data_dir: Path, args: list[str]) -> float:
    """Seconds one `kura ARGS` takes with ``code`` first on the path."""
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "KURA_DATA_DIR": str(data_dir),
        "KURA_COLLECTION": COLLECTION,
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, cwd=code, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"kura {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return seconds


def unpack(revision: str, into: Path) -> Path:
    """The tree of ``revision`` (a git revision of this repository) in ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git revision to compare with")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command per side")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kura-cli-latency-") as tmp:
        before = Path(tmp) / "before"
        before.mkdir()
        unpack(args.before, before)
        data_dir = Path(tmp) / "data"
        indexed = subprocess.run(
            [sys.executable, "-m", "app", "ingest", str(SAMPLE), "-c", COLLECTION],
            env={**os.environ, "PYTHONPATH": str(ROOT), "KURA_DATA_DIR": str(data_dir)},
            capture_output=True,
            text=True,
        )
        if indexed.returncode != 0:
            raise SystemExit(f"kura ingest failed:\n{indexed.stderr}")
        results: dict[str, dict[str, str]] = {}
        for name, command in COMMANDS.items():
            times: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.runs):  # alternate, so a busy moment hurts both sides alike
                times["before"].append(kura(before, data_dir, command))
                times["after"].append(kura(ROOT, data_dir, command))
            was, now = (statistics.median(times[side]) for side in ("before", "after"))
            results[name] = {
                f"before ({args.before}), s": f"{was:.2f}",
                "after (this tree), s": f"{now:.2f}",
                "after / before": f"{now / was:.2f}",
            }
    emit(results, args.json)


if __name__ == "__main__":
    main()
