"""`verify-bundle` — the CLI and the console upload — against zip bombs and path-traversal entries:
refused from the central directory before anything is inflated, nothing written anywhere, memory flat."""
from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from api.commands.packets import verify_bundle_command
from tests.hardening import corpus
from tests.hardening.memory import rss_growth

BOMBS = [
    ("ratio-bomb-200MB", corpus.ratio_bomb, {"compression_ratio"}),
    ("lying-header-256MB", corpus.lying_header_bomb, {"file_unreadable", "key_malformed", "manifest_malformed",
                                                      "manifest_signature_invalid"}),
    ("overlapping-entries-2GB", corpus.overlapping_bomb, {"overlapping_entries"}),
    ("120k-entries", corpus.many_entries, {"too_many_entries"}),
    ("symlink", corpus.symlink_zip, {"symlink_entry"}),
    ("not-a-zip", lambda: b"PK\x03\x04 not really", {"bundle_unreadable"}),
    ("empty-file", lambda: b"", {"bundle_unreadable"}),
]
TRAVERSAL = [(name, corpus.zip_of([(name, b"{}"), ("manifest.json", b"{}")])) for name in corpus.TRAVERSAL_NAMES]
MEMORY_BOUND_MB = 100


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-bundles")
    paths = {}
    for name, make, _ in BOMBS:
        paths[name] = base / f"{name}.zip"
        paths[name].write_bytes(make())
    for index, (_, data) in enumerate(TRAVERSAL):
        paths[f"traversal-{index}"] = base / f"traversal-{index}.zip"
        paths[f"traversal-{index}"].write_bytes(data)
    return base, paths


def _cli(path):
    result = CliRunner().invoke(verify_bundle_command, [str(path)])
    return result.exit_code, result.output


@pytest.mark.parametrize("name,make,codes", BOMBS, ids=[b[0] for b in BOMBS])
def test_cli_refuses_bombs_with_exit_1(made, name, make, codes):
    base, paths = made
    before = set(base.rglob("*"))
    with rss_growth() as growth:
        code, output = _cli(paths[name])
    assert code == 1, output
    assert any(c in output for c in codes), output
    assert growth.peak_growth_mb < MEMORY_BOUND_MB, f"{name}: peak RSS grew {growth.peak_growth_mb:.0f} MB"
    assert set(base.rglob("*")) == before


@pytest.mark.parametrize("index", range(len(TRAVERSAL)), ids=[repr(n) for n, _ in TRAVERSAL])
def test_cli_refuses_traversal_entries(made, tmp_path, monkeypatch, index):
    base, paths = made
    monkeypatch.chdir(tmp_path)
    code, output = _cli(paths[f"traversal-{index}"])
    assert code == 1 and ("unsafe_path" in output or "duplicate_entry" in output), output
    assert list(tmp_path.iterdir()) == []
    assert not any(p.name in ("evil.json", "fieldproof-pwned", "evil.dll") for p in base.parent.rglob("*"))


def test_console_upload_refuses_bombs_and_traversal(app, client, factory, console, made):
    base, paths = made
    data_dir = app.extensions["fieldproof"].settings.data_dir
    console.login(factory.user("auditor"))
    before = set(data_dir.rglob("*"))
    with rss_growth() as growth:
        for name, path in sorted(paths.items()):
            response = console.post("/console/bundles/verify",
                                    {"bundle": (io.BytesIO(path.read_bytes()), "bundle.zip")},
                                    content_type="multipart/form-data")
            if name == "empty-file":
                assert response.status_code in (200, 422), (name, response.status_code)
                continue
            page = response.get_data(as_text=True)
            assert response.status_code == 200, (name, response.status_code, page[:300])
            assert "bundle_unreadable" in page or "unsafe_path" in page or "compression_ratio" in page \
                or "too_many_entries" in page or "symlink_entry" in page or "file_unreadable" in page \
                or "duplicate_entry" in page or "overlapping_entries" in page, (name, page[-800:])
            assert "verified" not in page.lower().split("not verified")[0][-50:] or "fail" in page.lower()
    assert growth.peak_growth_mb < MEMORY_BOUND_MB, f"peak RSS grew {growth.peak_growth_mb:.0f} MB"
    assert set(data_dir.rglob("*")) - before <= {p for p in data_dir.rglob("*") if p.suffix in (".db-wal", ".db-shm")}
    assert client.get("/console/cases").status_code == 200  # still serving


def test_console_upload_needs_a_file_and_the_role(client, factory, console):
    console.login(factory.user("collector"))
    refused = console.post("/console/bundles/verify", {"bundle": (io.BytesIO(b"x"), "b.zip")},
                           content_type="multipart/form-data")
    assert refused.status_code == 403
