"""What `api/` may import, read from the source (every import statement, inside functions too)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DRIVERS = {"psycopg", "psycopg2", "psycopg_pool", "sqlite3", "asyncpg", "pg8000"}


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module an import statement in the file names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules(package: str) -> dict[str, Path]:
    return {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
            for path in sorted((ROOT / package).rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(modules("api")))
def test_api_imports_no_database_driver(module):
    """Persistence belongs to the domain packages, through SQLAlchemy; the HTTP layer never holds a
    driver's connection, cursor or error type."""
    found = {name for name in imports_of(modules("api")[module]) if name.split(".")[0] in DRIVERS}
    assert not found, f"{module} imports {sorted(found)}"


def test_the_scan_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from psycopg import pq\n    import sqlite3\n")
    assert {"psycopg", "sqlite3"} <= imports_of(source)


@pytest.mark.parametrize("package", ["api", "cases", "accounts", "visits"])
def test_no_import_cycles(package):
    """No module of the package reaches itself through the others (a lazy import is still an edge)."""
    mods = modules(package)
    graph = {name: {other for other in mods if other != name and other in imports_of(path)}
             for name, path in mods.items()}

    def reaches(start: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            name = todo.pop()
            if name == start:
                return True
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
        return False

    assert [name for name in graph if reaches(name)] == []
