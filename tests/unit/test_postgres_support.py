"""The PostgreSQL tests skip without PostgreSQL on a developer's machine, and fail under CI."""

from __future__ import annotations

import pytest

from tests.support import postgres

pytestmark = pytest.mark.unit


def test_without_postgresql_ci_fails_and_a_developer_skips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres, "binaries", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        postgres.require()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        postgres.require()


def test_the_installed_server_is_found() -> None:
    found = postgres.binaries()
    if found is None:
        pytest.skip("PostgreSQL is not installed here")
    assert (found / "pg_ctl").exists()
