"""The custody package imports `core` and nothing else of ours; its pure core imports no framework,
database or network library (the offline bundle verifier runs on it); legal_docs reaches into
neither the sweep nor its jobs."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OURS = {"accounts", "api", "cases", "contacts", "core", "custody", "evidence", "jurisdictions", "legal_docs",
        "placements", "visits"}


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_custody_imports_nothing_of_ours_but_core():
    files = sorted((ROOT / "custody").rglob("*.py"))
    assert files
    reaches = {(path.relative_to(ROOT).as_posix(), name) for path in files for name in imported(path)
               if name.split(".")[0] in OURS - {"core", "custody"}}
    assert reaches == set()


def test_the_pure_ledger_core_imports_no_framework_database_or_network():
    allowed = {"__future__", "base64", "binascii", "collections", "dataclasses", "hashlib", "json", "re",
               "typing", "unicodedata", "datetime", "cryptography", "rfc8785", "core.canonical", "custody.ledger",
               "rfc3161_client"}  # RFC 3161 token parsing (ASN.1), no network
    for path in sorted((ROOT / "custody" / "ledger").glob("*.py")):
        for name in imported(path):
            assert any(name == root or name.startswith(root + ".") for root in allowed), (path.name, name)


def test_packets_do_not_reach_into_verification():
    for path in sorted((ROOT / "legal_docs").glob("*.py")):
        assert not {name for name in imported(path)
                    if name.startswith(("custody.verification", "custody.sweep", "custody.jobs",
                                        "evidence.verification"))}, path.name
