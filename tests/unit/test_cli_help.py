"""`kura --help`, each command's help and argument errors: at once, complete, and usage exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from app.cli import cli

# The embedding stack (10+ s to import) and the state database's SQL layer: nothing help or a
# usage error needs.
HEAVY = (
    "torch",
    "sentence_transformers",
    "llama_index",
    "qdrant_client",
    "unstructured",
    "sqlalchemy",
)

# Runs the command in this interpreter, then says which heavy modules it imported: a test of
# what is imported, not of time (which the shared test machine would make flaky).
PROBE = f"""
import json, runpy, sys
sys.argv = ["kura", *json.loads(sys.argv[1])]
code = 0
try:
    runpy.run_module("app", run_name="__main__")
except SystemExit as exit:
    code = exit.code
loaded = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps({{"code": code, "loaded": loaded}}), file=sys.stderr)
"""


def probe(args: list[str], tmp_path: Path) -> tuple[int, list[str], str]:
    """Run `kura ARGS` in a fresh interpreter: exit code, heavy modules loaded, stdout."""
    env = {**os.environ, "KURA_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = json.loads(done.stderr.strip().splitlines()[-1])
    return int(last["code"] or 0), last["loaded"], done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["search", "--help"],
        ["ask", "--help"],
        ["ingest", "--help"],
        ["keys", "create", "--help"],
        ["db", "copy-from-sqlite", "--help"],
    ],
)
def test_help_does_not_import_the_embedding_stack(args: list[str], tmp_path: Path) -> None:
    code, loaded, stdout = probe(args, tmp_path)
    assert code == 0
    assert "Usage:" in stdout
    assert loaded == []


@pytest.mark.parametrize(
    "args",
    [
        ["search", "就業規則の有給休暇は何日ですか", "--no-such-flag"],
        ["ask"],  # the question is missing
        ["ingest", "/ない/フォルダ"],  # a path that does not exist
        ["search", "有給休暇", "--mode", "semantic"],
    ],
)
def test_usage_errors_exit_2_without_the_embedding_stack(args: list[str], tmp_path: Path) -> None:
    code, loaded, _ = probe(args, tmp_path)
    assert code == 2
    assert loaded == []


# typer carries its own click: its classes are reached through the objects, not imported.
def _commands(group: Any, ctx: typer.Context) -> list[tuple[str, Any]]:
    """Every command below ``group``, with its full name."""
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if hasattr(command, "list_commands"):
            found += [(f"{name} {sub}", c) for sub, c in _commands(command, ctx)]
        else:
            found.append((name, command))
    return found


def test_every_option_of_every_command_has_help() -> None:
    root = typer.main.get_command(cli)
    ctx = typer.Context(root, info_name="kura")
    commands = _commands(root, ctx)
    assert {"search", "ask", "ingest", "keys create"} <= {name for name, _ in commands}
    for name, command in commands:
        with typer.Context(command, info_name=name, parent=ctx) as sub:
            text = command.get_help(sub)
        assert "<bool>" not in text, name
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"kura {name} {param.opts[0]} has no help"
                for opt in param.opts:
                    assert opt in text, f"kura {name} --help does not name {opt}"


def test_help_says_where_the_defaults_come_from() -> None:
    root = typer.main.get_command(cli)
    ctx = typer.Context(root, info_name="kura")
    for name in ("search", "ask", "ingest", "documents"):
        command = root.get_command(ctx, name)
        assert command is not None
        with typer.Context(command, info_name=name, parent=ctx) as sub:
            text = " ".join(command.get_help(sub).split())
        assert "[default: KURA_COLLECTION, else documents]" in text, name
