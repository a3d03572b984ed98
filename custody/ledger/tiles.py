"""The ledger as C2SP tlog-tiles: tile coordinates, paths, contents, and proofs read from tiles.

A tile is 256 consecutive Merkle tree hashes at one height: the tile at level ``L``, index
``N`` holds the hashes of the complete subtrees ``(8·L, N·256 + i)`` of merkle.py's
(level, index) scheme, for ``i`` below its width. A level-``L + 1`` hash is thus the root of
one full level-``L`` tile, and the levels in between are rebuilt by hashing the tile's own
hashes. The rightmost tiles of a tree are *partial* (width 1–255, path suffix ``.p/<W>``);
their hashes never change, only more of them appear, and a full tile never changes at all.

Entry bundles (``tile/entries/<N>``) carry the leaves themselves, each prefixed by its
big-endian uint16 length, in the same 256-wide groups as the level-0 tiles.

Everything here is pure: a reader of tiles takes a function that fetches one tile's bytes,
so the same proofs come out of a database, a directory of exported files or a web mirror.
Reading goes through merkle.py: ``TileReader.get_node`` is a ``GetNode``, so an inclusion
or consistency proof computed from tiles is by construction the one the API computes from
its stored nodes, and tiles that were tampered with give proofs that fail against the
signed checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from custody.ledger import merkle
from custody.ledger.merkle import HASH_SIZE, VerificationError

__all__ = [
    "ENTRY_MAX_BYTES",
    "MAX_TILE_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "FetchTile",
    "Tile",
    "TileDataError",
    "TilePathError",
    "TileReader",
    "encode_index",
    "entry_bundle",
    "parse_entry_bundle",
    "parse_tile_path",
    "split_tile",
    "tile_bytes",
    "tile_node_keys",
    "tile_width",
    "tiles_for_size",
    "verify_tiles",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
ENTRY_MAX_BYTES = 0xFFFF
ENTRIES = "entries"
MAX_INDEX_ELEMENTS = 7  # 2**64 leaves / 256 per tile < 10**21: seven 3-digit elements

FetchTile = Callable[["Tile"], bytes]
"""Fetches one tile's (or entry bundle's) exact bytes; raises when it cannot."""


class TilePathError(ValueError):
    """A tile path that is not in the spec's one canonical spelling."""


class TileDataError(VerificationError):
    """Tile or entry bundle bytes of the wrong length or shape."""

    code = "tile_malformed"


@dataclass(frozen=True)
class Tile:
    """One tile (``level`` 0–63) or entry bundle (``level`` None), ``width`` hashes/entries wide."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_TILE_LEVEL:
            raise TilePathError(f"tile level {self.level} is not between 0 and {MAX_TILE_LEVEL}")
        if self.index < 0:
            raise TilePathError(f"tile index {self.index} is negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TilePathError(f"tile width {self.width} is not between 1 and {TILE_WIDTH}")

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def entries(self) -> bool:
        return self.level is None

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``, relative to the log's prefix."""
        level = ENTRIES if self.level is None else str(self.level)
        suffix = f".p/{self.width}" if self.partial else ""
        return f"tile/{level}/{encode_index(self.index)}{suffix}"

    @property
    def first(self) -> int:
        """Index of the tile's first hash at its level (of its first entry, for a bundle)."""
        return self.index * TILE_WIDTH


def encode_index(index: int) -> str:
    """A tile index as zero-padded 3-digit path elements, all but the last ``x``-prefixed."""
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise TilePathError(f"tile index {index!r} is not a non-negative integer")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if not index:
            break
    groups.reverse()
    return "/".join([f"x{group}" for group in groups[:-1]] + groups[-1:])


_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_INNER = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")


def parse_tile_path(path: str) -> Tile:
    """Read ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` (leading ``tile/`` optional).

    Only the canonical spelling parses, so one tile has one path: no leading zeros in the
    level or width, every index element three digits, no ``x`` on the last, and no
    superfluous leading ``x000`` groups.
    """
    parts = path.split("/")
    if parts and parts[0] == "tile":
        parts = parts[1:]
    if len(parts) < 2:
        raise TilePathError(f"{path!r} is not a tile path")
    level_text, *rest = parts
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width_text = rest[-1]
        if not _WIDTH.fullmatch(width_text) or int(width_text) >= TILE_WIDTH:
            raise TilePathError(f"{path!r} has a partial width that is not 1 to 255")
        width = int(width_text)
        rest = rest[:-2] + [rest[-2][:-2]]
    if level_text == ENTRIES:
        level = None
    elif _LEVEL.fullmatch(level_text) and int(level_text) <= MAX_TILE_LEVEL:
        level = int(level_text)
    else:
        raise TilePathError(f"{path!r} has a level that is not 0 to {MAX_TILE_LEVEL}")
    if not rest or not _LAST.fullmatch(rest[-1]) or not all(_INNER.fullmatch(part) for part in rest[:-1]):
        raise TilePathError(f"{path!r} has an index that is not in 3-digit path elements")
    if len(rest) > MAX_INDEX_ELEMENTS:
        raise TilePathError(f"{path!r} has an index beyond any tree of 2**64 leaves")
    if len(rest) > 1 and rest[0] == "x000":
        raise TilePathError(f"{path!r} has a superfluous leading x000 element")
    index = int("".join(part.lstrip("x") for part in rest))
    return Tile(level, index, width)


# --- which tiles a tree has ---------------------------------------------------------------------


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"tree size {size!r} is not a non-negative integer")


def tile_width(level: int, index: int, size: int) -> int:
    """How wide tile (``level``, ``index``) is in a tree of ``size`` leaves (0: it does not exist).

    Level-L hashes exist for each complete group of 256**L leaves: ``size >> 8L`` of them.
    """
    _check_size(size)
    available = (size >> (TILE_HEIGHT * level)) - index * TILE_WIDTH
    return max(0, min(TILE_WIDTH, available))


def tiles_for_size(size: int, *, full: bool = True) -> Iterator[Tile]:
    """Every tile a tree of ``size`` has, level by level: full ones (unless ``full`` is false),
    then the level's partial one if any. Entry bundles are the level-0 tiles with level None."""
    _check_size(size)
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        if full:
            for index in range(count // TILE_WIDTH):
                yield Tile(level, index)
        if count % TILE_WIDTH:
            yield Tile(level, count // TILE_WIDTH, count % TILE_WIDTH)
        level += 1


def tile_node_keys(tile: Tile) -> list[tuple[int, int]]:
    """The merkle.py (level, index) nodes whose hashes make up ``tile``, in order."""
    if tile.entries:
        raise ValueError("an entry bundle holds leaves, not stored nodes")
    return [(TILE_HEIGHT * tile.level, tile.first + offset) for offset in range(tile.width)]


# --- contents -----------------------------------------------------------------------------------


def tile_bytes(hashes: Sequence[bytes]) -> bytes:
    """A tile's bytes: its hashes concatenated."""
    for position, node in enumerate(hashes):
        if not isinstance(node, (bytes, bytearray)) or len(node) != HASH_SIZE:
            raise ValueError(f"tile hash {position} is not {HASH_SIZE} bytes")
    return b"".join(bytes(node) for node in hashes)


def split_tile(data: bytes, width: int) -> list[bytes]:
    """The hashes of a tile of ``width``, refusing bytes of any other length."""
    if len(data) != width * HASH_SIZE:
        raise TileDataError(f"a tile of width {width} is {width * HASH_SIZE} bytes, got {len(data)}")
    return [bytes(data[start:start + HASH_SIZE]) for start in range(0, len(data), HASH_SIZE)]


def entry_bundle(leaves: Sequence[bytes]) -> bytes:
    """An entry bundle: each leaf prefixed by its length as a big-endian uint16."""
    parts = []
    for position, leaf in enumerate(leaves):
        if len(leaf) > ENTRY_MAX_BYTES:
            raise ValueError(f"entry {position} is {len(leaf)} bytes, more than an entry bundle holds")
        parts.append(len(leaf).to_bytes(2, "big") + bytes(leaf))
    return b"".join(parts)


def parse_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """The leaves of an entry bundle; ``width``, when given, is how many it must hold."""
    data = bytes(data)
    leaves, offset = [], 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise TileDataError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[offset:offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise TileDataError("entry bundle ends inside an entry")
        leaves.append(data[offset:offset + length])
        offset += length
    if width is not None and len(leaves) != width:
        raise TileDataError(f"entry bundle holds {len(leaves)} entries, expected {width}")
    return leaves


# --- reading the tree from tiles ----------------------------------------------------------------


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a power-of-two run of hashes (a complete subtree)."""
    layer = list(hashes)
    while len(layer) > 1:
        layer = [merkle.node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


class TileReader:
    """The tree of ``size`` leaves as seen through its tiles, fetched on demand and kept.

    ``get_node`` answers merkle.py's ``GetNode`` for every complete subtree of the tree, so
    ``merkle.inclusion_proof(reader.get_node, ...)`` and friends work unchanged; each tile is
    fetched at the width it has in this tree, once.
    """

    def __init__(self, fetch: FetchTile, size: int) -> None:
        _check_size(size)
        self.fetch = fetch
        self.size = size
        self.fetched: dict[tuple[int, int], list[bytes]] = {}

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile (``level``, ``index``) at its width in this tree."""
        key = (level, index)
        if key not in self.fetched:
            width = tile_width(level, index, self.size)
            if not width:
                raise merkle.ProofInputError(f"tile {level}/{index} lies beyond tree size {self.size}")
            tile = Tile(level, index, width)
            try:
                self.fetched[key] = split_tile(self.fetch(tile), width)
            except TileDataError as error:
                raise TileDataError(f"{tile.path}: {error}") from None
        return self.fetched[key]

    def get_node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree (level, index), from the one tile that spans it."""
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height
        if (first + (1 << height)) << (TILE_HEIGHT * tile_level) > self.size:
            raise merkle.ProofInputError(f"node ({level}, {index}) is not complete in tree size {self.size}")
        hashes = self.tile(tile_level, first >> TILE_HEIGHT)
        offset = first % TILE_WIDTH
        return _perfect_root(hashes[offset:offset + (1 << height)])

    def root(self, size: int | None = None) -> bytes:
        return merkle.tree_root(self.get_node, self.size if size is None else self._within(size))

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise merkle.ProofInputError(f"index {index} is beyond tree size {self.size}")
        return self.get_node(0, index)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return merkle.inclusion_proof(self.get_node, index, self.size if size is None else self._within(size))

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        return merkle.consistency_proof(self.get_node, first, self.size if second is None else self._within(second))

    def _within(self, size: int) -> int:
        if size > self.size:
            raise merkle.ProofInputError(f"tree size {size} is beyond the tiles' tree size {self.size}")
        return size


def verify_tiles(fetch: FetchTile, size: int, root: bytes, *, entries: bool = True,
                 on_leaves: Callable[[int, list[bytes]], None] | None = None) -> int:
    """Check every tile of a tree of ``size`` against each other and against ``root``.

    Each level-``L + 1`` hash must be the root of its full level-``L`` tile, the tiles must give
    ``root``, and (with ``entries``) each entry bundle's leaves must hash to its level-0 tile;
    ``on_leaves(first_index, leaves)`` sees each bundle's leaves in order. Returns the number of
    tiles and bundles checked; raises a ``VerificationError`` at the first that does not hold.

    One pass, each file fetched once, in memory bounded by the tree's height (not its size):
    a full tile is kept only as its root until the tile above it is read, a partial one (the
    right edge, which gives the root) whole. An entry that differs from its tile hash is judged
    once the tiles are known to give ``root``: then the entry is at fault (``entry_mismatch``;
    ``entry_malformed`` for a bundle of the wrong shape), else the tiles are.
    """
    _check_size(size)
    below: dict[int, list[bytes]] = {}  # level -> roots of its full tiles not yet under a checked tile
    edge: dict[int, list[bytes]] = {}  # level -> the hashes of its partial tile
    full_above: dict[int, int] = {}  # level -> how many of its full tiles were read
    state = {"checked": 0, "entry_mismatch": None}

    def read(tile: Tile) -> list[bytes]:
        state["checked"] += 1
        try:
            return split_tile(fetch(tile), tile.width)
        except TileDataError as error:
            raise TileDataError(f"{tile.path}: {error}") from None

    def under(tile: Tile, hashes: list[bytes]) -> None:
        """A level-(L+1) tile's hashes must be the roots of the full level-L tiles below it."""
        roots = below.pop(tile.level - 1, [])
        for offset, (node, expected) in enumerate(zip(hashes, roots)):
            if node != expected:
                raise TileDataError(f"tile {tile.path} hash {offset} is not the root of the tile below it",
                                    code="tile_inconsistent")

    def completed(level: int, hashes: list[bytes]) -> None:
        """A full tile at `level`: its root waits for the tile above, read once 256 are there."""
        roots = below.setdefault(level, [])
        roots.append(_perfect_root(hashes))
        if len(roots) == TILE_WIDTH:
            above = Tile(level + 1, full_above.get(level + 1, 0))
            full_above[level + 1] = above.index + 1
            hashes_above = read(above)
            under(above, hashes_above)
            completed(level + 1, hashes_above)

    for tile in tiles_for_size(size):
        if tile.level > 0:
            if tile.partial:
                edge[tile.level] = read(tile)
                under(tile, edge[tile.level])
            continue  # full tiles above level 0 are read as their 256 tiles below complete
        hashes = read(tile)
        if entries:
            bundle = Tile(None, tile.index, tile.width)
            state["checked"] += 1
            try:
                leaves = parse_entry_bundle(fetch(bundle), tile.width)
            except TileDataError as error:
                raise TileDataError(f"{bundle.path}: {error}", code="entry_malformed") from None
            for offset, leaf in enumerate(leaves):
                if merkle.leaf_hash(leaf) != hashes[offset] and state["entry_mismatch"] is None:
                    state["entry_mismatch"] = TileDataError(
                        f"entry {tile.first + offset} ({bundle.path}) does not hash to its level-0 tile hash",
                        code="entry_mismatch")
            if on_leaves is not None and state["entry_mismatch"] is None:  # past one, only the tiles are in doubt
                on_leaves(tile.first, leaves)
        if tile.partial:
            edge[0] = hashes
        else:
            completed(0, hashes)

    def get_node(level: int, index: int) -> bytes:  # the right edge: complete subtrees in partial tiles
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = (index << height) - ((size >> (TILE_HEIGHT * tile_level)) // TILE_WIDTH) * TILE_WIDTH
        return _perfect_root(edge[tile_level][first:first + (1 << height)])

    calculated = merkle.tree_root(get_node, size)
    if calculated != bytes(root):
        raise merkle.RootMismatchError(f"tiles of tree size {size} do not give the checkpoint's root",
                                       expected_root=bytes(root), calculated_root=calculated)
    if state["entry_mismatch"] is not None:
        raise state["entry_mismatch"]
    return state["checked"]
