"""The house rules of docs/architecture.md, read from the source: which package may import which,
what stays out of the domain, and no private attribute of the libraries we lean on hardest."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("api", "accounts", "cases", "jurisdictions", "contacts", "visits", "evidence", "custody", "legal_docs",
        "placements", "core")

# package -> the packages of ours it may import (docs/architecture.md, "Packages")
MAY_IMPORT = {
    "core": set(),
    "custody": {"core"},
    "accounts": {"core"},
    "cases": {"accounts", "core"},
    "jurisdictions": {"core"},
    "visits": {"jurisdictions", "custody", "cases", "accounts", "core"},
    "evidence": {"custody", "jurisdictions", "visits", "cases", "accounts", "core"},
    "contacts": {"jurisdictions", "evidence", "custody", "cases", "accounts", "core"},
    "legal_docs": {"custody", "evidence", "contacts", "jurisdictions", "visits", "cases", "accounts", "core"},
    "placements": {"jurisdictions", "visits", "cases", "accounts", "core"},
    "api": set(OURS),
}
# outside libraries kept out of a package, by the same map
FORBIDDEN = {
    "core": {"flask", "flask_smorest", "werkzeug"},
    "custody": {"flask", "flask_smorest", "werkzeug", "boto3", "PIL"},
    "accounts": {"flask", "flask_smorest", "werkzeug"},
    "cases": {"flask", "flask_smorest", "werkzeug"},
    "jurisdictions": {"flask", "flask_smorest", "werkzeug", "sqlalchemy"},
    "visits": {"flask", "flask_smorest", "werkzeug"},
    "contacts": {"flask", "flask_smorest", "werkzeug"},
    "evidence": {"flask", "flask_smorest", "werkzeug"},
    "legal_docs": {"flask", "flask_smorest", "werkzeug"},
    "placements": {"flask", "flask_smorest", "werkzeug"},
    # HTTP only: persistence and drivers belong to the domain packages
    "api": {"psycopg", "psycopg2", "sqlite3", "boto3", "botocore"},
}
# the pure ledger core, also used offline by verify-bundle: no database, web or network
PURE = {"custody/ledger": {"sqlalchemy", "flask", "boto3", "requests", "urllib", "http", "psycopg"}}
# libraries whose private attributes product code must not touch
GUARDED = ("sqlalchemy", "psycopg", "weasyprint")


def _sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every module name a file imports, at any depth of the file (lazy imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


PACKAGES = [p for p in MAY_IMPORT if (ROOT / p).is_dir()]


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_the_map_allows(package):
    wrong = []
    for path in _sources(package):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in OURS and top != package and top not in MAY_IMPORT[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
            if top in FORBIDDEN.get(package, ()):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("folder", [f for f in PURE if (ROOT / f).is_dir()])
def test_the_ledger_core_stays_pure(folder):
    own = folder.replace("/", ".")
    wrong = [f"{path.relative_to(ROOT)} imports {name}" for path in _sources(folder) for name in _imports(path)
             if name.split(".")[0] in PURE[folder]
             or (name.split(".")[0] in OURS and not name.startswith(own) and name.split(".")[0] != "core")]
    assert not wrong, "\n".join(wrong)


def _defined_names() -> set[str]:
    """Every name our own code defines: functions, classes, attributes, arguments, variables."""
    names: set[str] = set()
    for package in OURS:
        for path in _sources(package):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
                elif isinstance(node, ast.arg):
                    names.add(node.arg)
                elif isinstance(node, ast.alias):
                    names.add((node.asname or node.name).split(".")[0])
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_reaches(path: Path, ours: set[str]) -> list[str]:
    """A private name we use but never define belongs to a library; in a file that imports a
    guarded library, none may be touched (attribute, getattr by name, private module or name)."""
    tree = ast.parse(path.read_text(), str(path))
    guarded_file = any(name.split(".")[0] in GUARDED for name in _imports(path))
    wrong = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in GUARDED:
            if any(_private(part) for part in node.module.split(".")) or any(
                    _private(alias.name) for alias in node.names):
                wrong.append(f"{where} imports a private part of {node.module}")
        if not guarded_file:
            continue
        if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in ours:
            wrong.append(f"{where} touches .{node.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "setattr", "hasattr"} and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
                and _private(node.args[1].value) and node.args[1].value not in ours):
            wrong.append(f"{where} reaches {node.args[1].value!r} by name")
    return wrong


def test_no_private_attribute_of_sqlalchemy_psycopg_or_weasyprint():
    ours = _defined_names()
    wrong = [reach for package in OURS for path in _sources(package) for reach in _private_reaches(path, ours)]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("source", [
    "from sqlalchemy import select\ny = select(1)._order_by_clauses\n",
    "import psycopg\ndef f(c):\n    return getattr(c, '_pgconn')\n",
    "from weasyprint.text.ffi import _private_thing\n",
    "from sqlalchemy.orm._orm_constructors import mapped_column\n",
])
def test_the_scan_catches_private_reaches(tmp_path, source):
    path = tmp_path / "sample.py"
    path.write_text(source)
    assert _private_reaches(path, _defined_names())


def test_the_scan_leaves_our_own_private_names_alone(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text("import sqlalchemy\nclass A:\n    _ours = 1\nprint(A()._ours)\n")
    assert _private_reaches(path, _defined_names() | {"_ours"}) == []
