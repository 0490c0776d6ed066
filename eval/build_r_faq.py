#!/usr/bin/env python3
"""Build kura's labelled retrieval-evaluation set for the R FAQ (English).

Source document: "R FAQ -- Frequently Asked Questions on R" (Kurt Hornik and
the R Core Team, version 2022-09-08), as shipped in the Debian package
``r-doc-pdf`` at ``/usr/share/R/doc/manual/R-FAQ.pdf`` (52 pages). The FAQ
is free software distributed under the GNU General Public License, version 2
or later (GPL-2+).

The questions below were written by hand in our own words; they deliberately
avoid the distinctive wording of the numbered FAQ headings they come from.
Only the questions, section numbers and short snippets live here; the PDF
itself is not copied.

Each line of ``eval/r-faq-en.jsonl`` looks like::

    {"id": "rfaq-001", "question": "...", "expected_source": "R-FAQ.pdf",
     "expected_snippet": "...", "expected_page": 7, "language": "en"}

``expected_snippet`` is a 10-60 character verbatim substring of the answer
body (not the heading), taken from the first sentences of the entry.
``expected_page`` is the 1-based PDF page (pypdfium2 page index + 1) that
holds it. Compare snippets after normalisation: Unicode NFKC, every
whitespace run collapsed to one space, lower-cased.

Before writing, the script verifies every snippet:

* it is 10-60 characters long;
* it occurs, normalised, on exactly one page of the text extracted by
  pypdfium2 (``PdfPage.get_textpage().get_text_range()``, line breaks
  replaced by spaces); that page becomes ``expected_page``;
* it occurs on the same page of the text extracted by pdfminer.six
  (``pdfminer.high_level.extract_text``, split into pages at form feeds);
* in the pypdfium2 text it lies inside the body of its FAQ entry: after the
  line holding the entry's numbered heading and before the next numbered
  heading.

Any failure is reported by question id and the script exits with status 1
without writing anything.

Run it from the repository root with the project venv (which has pypdfium2
and pdfminer.six)::

    apt-get install -y r-doc-pdf                     # provides the PDF
    .venv/bin/python eval/build_r_faq.py             # verify, then write
    .venv/bin/python eval/build_r_faq.py --check     # verify only

``--pdf`` and ``--out`` override the default locations.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from pathlib import Path

PDF_PATH = Path("/usr/share/R/doc/manual/R-FAQ.pdf")
OUT_PATH = Path(__file__).resolve().parent / "r-faq-en.jsonl"
SOURCE_NAME = "R-FAQ.pdf"
ID_PREFIX = "rfaq"
FIRST_BODY_PAGE = 5  # pages 1-4 are the title page and table of contents

# (FAQ section number, question in our own words, verbatim body snippet)
QUESTIONS: list[tuple[str, str, str]] = [
    (
        "2.1",
        "In a nutshell, what kind of software is R and what is it meant for?",
        "a system for statistical computation and graphics",
    ),
    (
        "2.2",
        "Which R release was the last one that still supported the pre-OS X Macintosh system?",
        "Support for Mac OS Classic ended with R 1.7.1",
    ),
    (
        "2.3",
        "In which development branch do new features usually show up first?",
        "New features are typically introduced in r-devel",
    ),
    (
        "2.5.1",
        "Which compilers do I need on Linux to build R from the source tarball?",
        "you need a FORTRAN 90 compiler as well as a C compiler",
    ),
    (
        "2.6",
        "Can I get prebuilt R packages for my Linux distribution instead of compiling it myself?",
        "Binary distributions of R are available on many",
    ),
    (
        "2.11",
        "Am I allowed to use R in my company for paid consulting work?",
        "It only restricts distribution of R",
    ),
    (
        "2.12",
        "Where does the single-letter name of the language come from?",
        "names of the first two R authors",
    ),
    (
        "2.13",
        "What kind of organisation was set up by the core developers to "
        "support the project and hold its copyright?",
        "not for profit organization working in the public interest",
    ),
    (
        "3.1",
        "Tell me about the older Bell Labs language that R was modelled on.",
        "S is a very high level language",
    ),
    (
        "3.3.1",
        "How does R look up free variables inside a function defined within "
        "another function, and how does that differ from S?",
        "nested function definitions are lexically scoped",
    ),
    (
        "3.3.2",
        "In a regression formula, how do I include x cubed as a predictor in R, "
        "given that the S syntax does not work?",
        "in R, you have to insulate",
    ),
    (
        "3.5",
        "Is there a commercial, enhanced edition of R sold by a company?",
        "Revolution Analytics has released REvolution R",
    ),
    (
        "5.2",
        "In what file format are contributed extensions distributed, and how "
        "do I install one from the shell?",
        "come as gzipped tar files",
    ),
    (
        "5.4",
        "How do I uninstall an extension I no longer need from the command line?",
        "from the library tree rooted at the first directory",
    ),
    (
        "5.5",
        "What does the directory layout of my own extension need to look like?",
        "consists of a subdirectory containing a file DESCRIPTION",
    ),
    (
        "6.1",
        "Which add-on for my text editor lets me edit and run R code in an interactive buffer?",
        "There is an Emacs package called ESS",
    ),
    (
        "7.1",
        "Why does x[[i]] <- NULL delete the entry altogether, and how do I "
        "keep that slot but leave it empty?",
        "this will remove the corresponding component",
    ),
    (
        "7.3",
        "How do I delete every object in my session in one go?",
        "To remove all objects in the currently active environment",
    ),
    (
        "7.5",
        "When I extract a single row of a matrix I get a plain vector back; "
        "how do I keep it two-dimensional?",
        "it is by default turned into a vector",
    ),
    (
        "7.8",
        "Why does a Windows path written with single backslashes not work when I read a file?",
        "R uses C-style string handling",
    ),
    (
        "7.10",
        "A column of numbers was imported as categorical levels; how do I get "
        "the actual values back?",
        "when reading numeric data into R",
    ),
    (
        "7.16",
        "When I run a script file, the results of my expressions never appear on screen. Why?",
        "Most R commands do not generate any output",
    ),
    (
        "7.18",
        "Why do I get different sums of squares when I swap the order of terms in my linear model?",
        "R will report the difference in sums of squares",
    ),
    (
        "7.22",
        "My xyplot call inside a function produces no figure at all; what am I missing?",
        "you forgot to tell R to display the graph",
    ),
    (
        "7.28",
        "Why is importing a large text table so slow and memory hungry, and how can I speed it up?",
        "needs to read in everything as character data",
    ),
    (
        "7.31",
        "Why does sqrt(2) squared compared with 2 come out FALSE?",
        "fractions whose denominator is a power of 2",
    ),
    (
        "7.33",
        "Why does -2^2 evaluate to -4 rather than 4?",
        "the precedence rules for expressions in R",
    ),
    (
        "7.39",
        "Can I plot two series with different scales on separate left and right vertical axes?",
        "is possible in R but is not recommended",
    ),
    (
        "7.40",
        "How can I look at how a built-in function is implemented?",
        "typing the name of the function will print its source code",
    ),
    (
        "7.42",
        "I deleted big objects and ran garbage collection, but top still shows "
        "R holding lots of RAM. Why?",
        "the way the operating system (OS) allocates memory",
    ),
    (
        "8.1",
        "If I give my own S3 class a summary() of its own, should that "
        "function display the output or just hand something back?",
        "should not print anything, but return an object of class",
    ),
    (
        "9.2",
        "What information should I include when I tell the developers about a problem I found?",
        "an exact description of what commands you type",
    ),
]

_WS = re.compile(r"\s+")
# A numbered FAQ heading at the start of a line: "7.31 Why ...", "3 R and S".
_HEADING = re.compile(r"^\d+(?:\.\d+)* [A-Z]", re.MULTILINE)


def normalise(text: str) -> str:
    """NFKC, collapse whitespace runs to one space, lower-case."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def pdfium_pages(pdf: Path) -> list[str]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        pages = []
        for i in range(len(doc)):
            page = doc[i]
            textpage = page.get_textpage()
            pages.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return pages
    finally:
        doc.close()


def pdfminer_pages(pdf: Path, count: int) -> list[str]:
    from pdfminer.high_level import extract_text

    pages = extract_text(str(pdf)).split("\f")
    # extract_text ends every page with a form feed, leaving an empty tail.
    if len(pages) == count + 1 and not pages[-1].strip():
        pages = pages[:-1]
    if len(pages) != count:
        raise SystemExit(f"pdfminer gave {len(pages)} pages, pypdfium2 gave {count}")
    return pages


def entry_body(raw_pages: list[str], section: str) -> str | None:
    """Normalised text between SECTION's heading line and the next heading."""
    lines: list[str] = []
    for text in raw_pages[FIRST_BODY_PAGE - 1 :]:
        lines.extend(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    start = None
    for n, line in enumerate(lines):
        if line.startswith(section + " ") and _HEADING.match(line):
            start = n + 1
            break
    if start is None:
        return None
    end = len(lines)
    for n in range(start, len(lines)):
        if _HEADING.match(lines[n]):
            end = n
            break
    return normalise(" ".join(lines[start:end]))


def verify(pdf: Path) -> tuple[list[dict], list[str]]:
    raw = pdfium_pages(pdf)
    pdfium_norm = [normalise(t.replace("\r", " ").replace("\n", " ")) for t in raw]
    miner_norm = [normalise(t) for t in pdfminer_pages(pdf, len(raw))]

    records: list[dict] = []
    errors: list[str] = []
    seen: set[str] = set()
    for n, (section, question, snippet) in enumerate(QUESTIONS, 1):
        qid = f"{ID_PREFIX}-{n:03d}"
        snip = normalise(snippet)
        problems = []
        if not 10 <= len(snippet) <= 60:
            problems.append(f"snippet length {len(snippet)} not in 10-60")
        if snip in seen:
            problems.append("snippet used twice")
        seen.add(snip)
        pages = [i + 1 for i, t in enumerate(pdfium_norm) if snip in t]
        page = None
        if not pages:
            problems.append("not found in pypdfium2 text")
        elif len(pages) > 1:
            problems.append(f"found on several pypdfium2 pages {pages}")
        else:
            page = pages[0]
            if snip not in miner_norm[page - 1]:
                other = [i + 1 for i, t in enumerate(miner_norm) if snip in t]
                problems.append(
                    f"not in pdfminer text of page {page} (pdfminer pages: {other or 'none'})"
                )
        body = entry_body(raw, section)
        if body is None:
            problems.append(f"heading {section} not found")
        elif snip not in body:
            problems.append(f"not inside the body of section {section}")
        if problems:
            errors.append(f"{qid} [{section}] {snippet!r}: " + "; ".join(problems))
            continue
        records.append(
            {
                "id": qid,
                "question": question,
                "expected_source": SOURCE_NAME,
                "expected_snippet": snippet,
                "expected_page": page,
                "language": "en",
            }
        )
    return records, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf", type=Path, default=PDF_PATH)
    parser.add_argument("--out", type=Path, default=OUT_PATH)
    parser.add_argument(
        "--check", action="store_true", help="verify only, do not write the JSONL file"
    )
    args = parser.parse_args(argv)

    if not args.pdf.is_file():
        print(f"error: {args.pdf} not found (apt-get install r-doc-pdf)", file=sys.stderr)
        return 1
    records, errors = verify(args.pdf)
    if errors:
        print(f"{len(errors)} of {len(QUESTIONS)} snippets failed:", file=sys.stderr)
        for line in errors:
            print("  " + line, file=sys.stderr)
        return 1
    print(f"all {len(records)} snippets verified in pypdfium2 and pdfminer.six")
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print(f"wrote {len(records)} questions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
