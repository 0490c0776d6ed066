"""Contract and statute structure, English and Japanese: clause labels, cross references and
defined terms, so a chunk can be cited as "Section 4(b)" or "第12条第3項" and shown with the
clauses and definitions it leans on.

Pure functions over text that is already NFKC-normalised (full-width digits and brackets are
ASCII). A label is a citation key, not the text as written: numbers are arabic (第十二条 ->
第12条, Article IV -> Article 4), "Clause" and "§" read as "Section", a bare heading number
"12.3" reads as "Section 12.3" and "6b" as "6(b)", so that a reference and the clause it
names compare equal. A reference also names every clause whose label starts with it.

Modules, along the text they read: ``labels`` (clause headings), ``subclauses`` (markers
inside a clause body), ``references`` (what a text cites), ``definitions`` (defined terms).
"""

from ingest.legal.definitions import find_definitions, terms_used
from ingest.legal.labels import clause_label, clause_path, join_label
from ingest.legal.references import find_references, resolve_relative
from ingest.legal.subclauses import SubClause, paragraph_labels

__all__ = [
    "SubClause",
    "clause_label",
    "clause_path",
    "find_definitions",
    "find_references",
    "join_label",
    "paragraph_labels",
    "resolve_relative",
    "terms_used",
]
