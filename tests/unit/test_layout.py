"""The house rules of the layout (docs/architecture.md, "The map of the house"), checked on the
source: who may import whom, and rooms small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "ingest")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module named by an import in ``path`` (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, room: str) -> bool:
    return name == room or name.startswith(room + ".")


def offenders(room: str, forbidden: str, *, allow: str | None = None) -> dict[str, list[str]]:
    found = {}
    for name, path in modules().items():
        if not within(name, room) or (allow and within(name, allow)):
            continue
        bad = sorted(i for i in imports(path) if within(i, forbidden) and not within(i, name))
        if bad:
            found[name] = bad
    return found


def test_the_layout_is_found() -> None:
    names = modules()
    # guards the checks below against passing on an empty walk
    assert {"app.routes.query", "app.services.ask", "ingest.stores.edge"} <= set(names)
    assert "app.routes.query" in {m for m in names if imports(names[m]) & {"app.services.ask"}}


def test_ingest_never_imports_app() -> None:
    assert offenders("ingest", "app") == {}


def test_routes_never_import_another_route() -> None:
    names = modules()
    for name in (n for n in names if within(n, "app.routes") and n != "app.routes"):
        others = {i for i in imports(names[name]) if within(i, "app.routes")}
        assert others <= {"app.routes"}, (name, others)


def test_services_and_the_read_path_never_import_routes() -> None:
    # the app factory mounts the routers, and only it
    assert set(offenders("app", "app.routes", allow="app.routes")) <= {"app.main"}


def test_the_stores_know_nothing_of_the_pipeline() -> None:
    assert offenders("ingest.stores", "ingest.pipeline") == {}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_passes_400_lines(package: str) -> None:
    long = {
        name: lines
        for name, path in modules().items()
        if within(name, package) and (lines := len(path.read_text().splitlines())) > 400
    }
    assert long == {}
