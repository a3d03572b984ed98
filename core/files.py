"""Small files written whole or not at all: what a crash, a reader or a mirror's copy may see."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path | str, data: bytes, *, mode: int = 0o644, sync_directory: bool = True) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, rename it over `path`, then fsync
    the directory: a reader sees the old file or the new one, never half of one, and the new name
    survives a crash. `mode` is the file's exact permission bits (0o600 for keys). A caller writing
    many files into few directories passes `sync_directory=False` and syncs each directory once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if sync_directory:
        fsync_directory(path.parent)


def fsync_directory(directory: Path | str) -> None:
    """Make the names in `directory` (a file just created, renamed or linked there) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
