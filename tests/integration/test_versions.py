"""Document versions on real licence texts: the GNU GPL, version 2 (1991) and version 3 (2007),
kept as two versions of one document. Retrieval takes the version in force on a day."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from app.retrieve import SearchFilters, retrieve
from ingest.components import Components, build_components
from ingest.pipeline import Indexer, Status, VersionSpec
from ingest.schema import document_id
from tests.support.server import make_settings

pytestmark = pytest.mark.integration

LICENSES = Path("/usr/share/common-licenses")


@pytest.fixture(params=["edge", "server"])
def components(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Components]:
    url = None if request.param == "edge" else ":memory:"
    built = build_components(make_settings(tmp_path, qdrant_url=url))
    yield built
    built.close()


@pytest.fixture
def gpl(tmp_path: Path) -> tuple[Path, Path]:
    """The GPL as a contract folder would hold it: the 1991 text and the 2007 text."""
    v2, v3 = tmp_path / "gpl.txt", tmp_path / "gpl-2007.txt"
    shutil.copy(LICENSES / "GPL-2", v2)
    shutil.copy(LICENSES / "GPL-3", v3)
    return v2, v3


def versions_found(components: Components, query: str, **filters: object) -> set[str]:
    passages = retrieve(
        components, "legal", query, 8, mode="hybrid", filters=SearchFilters(**filters)
    )
    assert passages
    return {p.document_version for p in passages}


def test_the_version_in_force_is_searched(components: Components, gpl: tuple[Path, Path]) -> None:
    v2_path, v3_path = gpl
    indexer = Indexer(components, "legal")
    first = indexer.ingest_file(v2_path, VersionSpec("GPLv2", date(1991, 6, 1)))
    doc_id = document_id("legal", str(v2_path.resolve()))
    second = indexer.ingest_file(v3_path, VersionSpec("GPLv3", date(2007, 6, 29), doc_id))
    assert first.status is second.status is Status.INDEXED
    assert first.document_id == second.document_id == doc_id

    versions = indexer.versions(doc_id)
    assert [v.label for v in versions] == ["GPLv2", "GPLv3"]
    old, new = versions
    assert old.in_force_on(date(2000, 1, 1))
    assert not new.in_force_on(date(2000, 1, 1))
    assert new.in_force_on(date.today())
    assert not old.in_force_on(date.today())
    assert (old.valid_to, new.valid_from) == (20070629, 20070629)

    query = "Protecting Users' Legal Rights From Anti-Circumvention Law"
    assert versions_found(components, query) == {new.version}  # default: today
    assert versions_found(components, query, as_of=date(2000, 1, 1)) == {old.version}
    assert versions_found(components, query, version="GPLv2") == {old.version}
    assert versions_found(components, query, all_versions=True) == {old.version, new.version}


def test_a_future_version_waits_and_a_relabelled_upload_replaces_only_itself(
    components: Components, gpl: tuple[Path, Path], tmp_path: Path
) -> None:
    v2_path, v3_path = gpl
    indexer = Indexer(components, "legal")
    indexer.ingest_file(v2_path)  # an unlabelled document, in force from the start
    doc_id = document_id("legal", str(v2_path.resolve()))
    future = VersionSpec("draft", date(2999, 1, 1), doc_id)
    assert indexer.ingest_file(v3_path, future).status is Status.INDEXED
    current, draft = indexer.versions(doc_id)
    assert current.in_force_on(date.today())
    assert not draft.in_force_on(date.today())
    query = "Anti-Circumvention Law"
    assert versions_found(components, query) == {current.version}

    # The same bytes again: nothing to do. A corrected draft replaces the draft, not the rest.
    assert indexer.ingest_file(v3_path, future).status is Status.UNCHANGED
    corrected = tmp_path / "gpl-draft-2.txt"
    corrected.write_text(v3_path.read_text() + "\nA corrected closing line.\n")
    assert indexer.ingest_file(corrected, future).status is Status.INDEXED
    labels = [(v.label, v.source) for v in indexer.versions(doc_id)]
    assert labels == [("", str(v2_path.resolve())), ("draft", str(corrected.resolve()))]
    assert versions_found(components, query, all_versions=True) <= {
        v.version for v in indexer.versions(doc_id)
    }

    # Deleting the document removes every version.
    total = sum(v.chunks for v in indexer.versions(doc_id))
    assert indexer.delete_document(str(v2_path.resolve())) == total > 0
    assert indexer.documents() == {}
