"""The commands that open the store say the same thing, the same way, when they cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "args", [["documents"], ["search", "ポンプの停止"], ["reindex", "manuals"]]
)
def test_an_unusable_store_is_one_error_line_and_exit_1(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "[bold]蔵"  # a name rich would take for markup, in Japanese
    data.mkdir()
    (data / "qdrant").write_text("not a folder")
    monkeypatch.setenv("KURA_DATA_DIR", str(data))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"error: KURA_DATA_DIR={data} cannot be used: {data / 'qdrant'} is a file, not a folder; "
        "set KURA_DATA_DIR to a folder kura can write (it is created if missing)\n"
    )
    assert result.stdout == ""
