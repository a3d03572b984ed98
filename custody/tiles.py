"""The stored ledger read as C2SP tlog-tiles, for the tile endpoints and `ledger export-tiles`.

A tile is read with one primary-key query: its 256 hashes are the stored complete subtrees
`(8·L, N·256 + i)` (custody.proofs.fetch_nodes). An entry bundle is one range read of the
leaves as stored. Only integrated leaves show: a tile exists once the head's size covers every
hash in it, and a leaf still waiting for its index never appears.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.files import fsync_directory, write_atomically
from custody.ledger.tiles import Tile, entry_bundle, tile_bytes, tile_node_keys, tile_width, tiles_for_size
from custody.models import CustodyEvent
from custody.proofs import LedgerCorrupted, fetch_nodes, tree_size

CHECKPOINT = "checkpoint"


def tile_exists(tile: Tile, size: int) -> bool:
    """Whether every hash (or entry) of `tile` is in the tree of `size` integrated leaves."""
    return tile_width(tile.level or 0, tile.index, size) >= tile.width


def read_tile(session: Session, tile: Tile, size: int | None = None) -> bytes:
    """A tile's or entry bundle's bytes from the stored tree; NotFound beyond the tree of `size`
    (the integrated tree by default)."""
    size = tree_size(session) if size is None else size
    if not tile_exists(tile, size):
        raise NotFound(f"{tile.path} lies beyond the ledger's {size} integrated leaves")
    if tile.entries:
        return entry_bundle(_leaves(session, tile.first, tile.width))
    keys = tile_node_keys(tile)
    nodes = fetch_nodes(session, keys)
    try:
        return tile_bytes([nodes[key] for key in keys])
    except KeyError as missing:
        raise LedgerCorrupted(f"stored ledger node {missing.args[0]} of {tile.path} is missing") from None


def _leaves(session: Session, first: int, count: int) -> list[bytes]:
    rows = session.execute(
        select(CustodyEvent.ledger_index, CustodyEvent.leaf)
        .where(CustodyEvent.ledger_index >= first, CustodyEvent.ledger_index < first + count)
        .order_by(CustodyEvent.ledger_index)).all()
    if [index for index, _leaf in rows] != list(range(first, first + count)):
        raise LedgerCorrupted(f"custody events {first} to {first + count - 1} are not all stored")
    return [leaf.encode("utf-8") for _index, leaf in rows]


# --- a directory of tiles -------------------------------------------------------------------------


@dataclass
class TileExport:
    """What one `export-tiles` run did."""

    tree_size: int
    written: list[str] = field(default_factory=list)
    unchanged: int = 0


def _unchanged(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def export_tiles(session: Session, directory: Path | str, note: str, size: int) -> TileExport:
    """Write the checkpoint `note` of tree `size` and every tile and entry bundle it needs under
    `directory`, in the same paths the API serves.

    Full tiles and bundles are immutable, so one already on disk is not read or written again:
    a second run writes only what is new. Partial ones are written when their bytes differ. The
    checkpoint is written last, so a mirror never shows a checkpoint whose tiles are missing.
    """
    root = Path(directory)
    export = TileExport(tree_size=size)
    written_to: set[Path] = set()
    for tile in _with_bundles(tiles_for_size(size)):
        path = root / tile.path
        if not tile.partial and path.is_file():
            export.unchanged += 1
            continue
        data = read_tile(session, tile, size)
        if tile.partial and _unchanged(path, data):
            export.unchanged += 1
            continue
        write_atomically(path, data, sync_directory=False)
        written_to.update(folder for folder in path.parents if folder.is_relative_to(root))
        export.written.append(tile.path)
    for folder in sorted(written_to, reverse=True):  # names durable before the checkpoint names them
        fsync_directory(folder)
    note_bytes = note.encode("utf-8")
    if _unchanged(root / CHECKPOINT, note_bytes):
        export.unchanged += 1
    else:
        write_atomically(root / CHECKPOINT, note_bytes)
        export.written.append(CHECKPOINT)
    return export


def _with_bundles(tiles: Iterable[Tile]) -> Iterable[Tile]:
    for tile in tiles:
        yield tile
        if tile.level == 0:
            yield Tile(None, tile.index, tile.width)
