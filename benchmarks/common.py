"""Helpers shared by the benchmarks."""

from __future__ import annotations

import json
import resource
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Real manuals no one here wrote (Debian packages debian-reference-en/-ja, r-doc-pdf).
MANUALS = [
    Path("/usr/share/debian-reference/debian-reference.en.pdf"),
    Path("/usr/share/debian-reference/debian-reference.ja.pdf"),
    Path("/usr/share/R/doc/manual/R-intro.pdf"),
    Path("/usr/share/R/doc/manual/R-FAQ.pdf"),
    Path("/usr/share/R/doc/manual/R-data.pdf"),
]
BIG_MANUAL = Path("/usr/share/R/doc/manual/refman.pdf")  # 2,415 pages
INSTALL_HINT = "sudo apt-get install debian-reference-en debian-reference-ja r-doc-pdf"


def require(paths: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"missing {missing}; install them with: {INSTALL_HINT}")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 2),
        "p95": round(percentile(values, 0.95), 2),
    }


def emit(results: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    for section, values in results.items():
        print(f"\n{section}")
        if isinstance(values, dict):
            for key, value in values.items():
                print(f"  {key:34} {value}")
        else:
            print(f"  {values}")
