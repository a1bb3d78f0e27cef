"""optimiser/ decides; it never imports the web, the database, maps or the outer layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

OPTIMISER = Path(__file__).resolve().parent.parent / "optimiser"
FORBIDDEN = {"fastapi", "sqlalchemy", "osmnx", "geopy", "pyrosm", "uvicorn", "geodata", "api",
             "alembic", "starlette"}
SOURCES = sorted(OPTIMISER.rglob("*.py"))


def imported_roots(source: str) -> set[str]:
    """Top-level package names imported anywhere in a module (function bodies included)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def _dynamic_import(call: ast.Call) -> bool:
    """importlib.import_module('x') or __import__('x') with a literal name."""
    name = getattr(call.func, "attr", getattr(call.func, "id", ""))
    return (name in ("import_module", "__import__") and bool(call.args)
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str))


def test_scanner_sees_nested_and_dynamic_imports() -> None:
    code = "def f():\n    import fastapi.routing\n    from geodata import x\n"
    code += "import importlib\nimportlib.import_module('sqlalchemy.orm')\n"
    assert {"fastapi", "geodata", "sqlalchemy"} <= imported_roots(code)


def test_there_are_sources_to_scan() -> None:
    assert any(p.name == "validate.py" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(OPTIMISER)))
def test_optimiser_module_imports_nothing_outer(path: Path) -> None:
    bad = imported_roots(path.read_text(encoding="utf-8")) & FORBIDDEN
    assert not bad, f"{path.relative_to(OPTIMISER.parent)} imports {sorted(bad)}"
