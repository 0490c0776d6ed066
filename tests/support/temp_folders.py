"""Temporary folders removed once their test file has passed.

The suite's data dirs took 19 GB of /tmp by its end when all were kept, and filled a CI
machine's disk: each copy of the indexed corpus wrote out its stores' ~320 MB of holes (see
tests/support/data_copy.py, which now keeps them sparse). tmp_path's are removed when their
test passes (pyproject's ``tmp_path_retention_policy``); this plugin removes the folders a
test file's module fixtures made (``tmp_path_factory.mktemp``) when the file is done and none
of its tests failed. A failure keeps its file's folders for a look; ``SHARED`` names folders
made once for the whole run (tests/conftest.py's ``shared_once``), which stay.

Used by tests/conftest.py; a plugin of its own (``-p tests.support.temp_folders``) in the test
of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

SHARED: set[str] = set()
_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    report: pytest.TestReport = yield
    module = item.getparent(pytest.Module)
    if report.failed and module is not None:
        module.stash[_FAILED] = True
    return report  # type: ignore[return-value]


@pytest.fixture(scope="module", autouse=True)
def module_folders_removed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """The temporary folders this test file made, removed once it has passed. Autouse, so set
    up before the file's other module fixtures and torn down after them (stores closed)."""
    base = tmp_path_factory.getbasetemp()
    before = set(base.iterdir())
    yield
    if request.node.stash.get(_FAILED, False):
        return
    for path in set(base.iterdir()) - before:
        if path.is_dir() and not path.is_symlink() and path.name.split(".")[0] not in SHARED:
            shutil.rmtree(path, ignore_errors=True)
