"""Files written whole or not at all (core.files)."""
import os
import stat

import pytest

from core.files import write_atomically


def test_writes_the_bytes_with_the_exact_mode_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_atomically(tmp_path / "a" / "b" / "tile", b"public")
        write_atomically(tmp_path / "key.pem", b"secret", mode=0o600)
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "b" / "tile").read_bytes() == b"public"
    assert stat.S_IMODE((tmp_path / "a" / "b" / "tile").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600


def test_replaces_the_old_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "checkpoint"
    write_atomically(target, b"old")
    write_atomically(target, b"new", sync_directory=False)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary_file(tmp_path):
    target = tmp_path / "state.json"
    write_atomically(target, b"kept")
    with pytest.raises(TypeError):
        write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
