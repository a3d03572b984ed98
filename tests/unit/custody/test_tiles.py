"""Tiles against an independent reading of C2SP tlog-tiles: paths, widths, hashes per level, bundles,
and proofs computed from tiles alone equal to the stored-node proofs the API serves."""

import hashlib
import struct

import pytest

from custody.ledger import merkle
from custody.ledger.tiles import (
    Tile,
    TileDataError,
    TilePathError,
    TileReader,
    encode_index,
    entry_bundle,
    parse_entry_bundle,
    parse_tile_path,
    tile_bytes,
    tile_node_keys,
    tile_width,
    tiles_for_size,
    verify_tiles,
)
from tests.vectors import generate as rfc


def leaves_of(count):
    return [f"leaf {number}".encode() for number in range(count)]


class Log:
    """A log kept as merkle.py stores it; tiles are served from its stored nodes, as the server does."""

    def __init__(self, count):
        self.leaves = leaves_of(count)
        self.store = merkle.MemoryNodeStore()
        for leaf in self.leaves:
            self.store.append(merkle.leaf_hash(leaf))
        self.fetched = []

    def fetch(self, tile):
        self.fetched.append(tile.path)
        if tile.entries:
            return entry_bundle(self.leaves[tile.first:tile.first + tile.width])
        return tile_bytes([self.store.get_node(*key) for key in tile_node_keys(tile)])


@pytest.fixture(scope="module")
def big():
    return Log(70_000)


# --- paths --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "encoded"), [
    (0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234, "x001/234"),
    (1234067, "x001/x234/067"), (10**9, "x001/x000/x000/000"),
])
def test_index_is_three_digit_elements_all_but_last_x_prefixed(index, encoded):
    assert encode_index(index) == encoded
    assert parse_tile_path(f"tile/0/{encoded}") == Tile(0, index)


@pytest.mark.parametrize(("tile", "path"), [
    (Tile(0, 0), "tile/0/000"),
    (Tile(0, 1234067), "tile/0/x001/x234/067"),
    (Tile(2, 5, 17), "tile/2/005.p/17"),
    (Tile(63, 1234, 1), "tile/63/x001/234.p/1"),
    (Tile(None, 3), "tile/entries/003"),
    (Tile(None, 1234, 255), "tile/entries/x001/234.p/255"),
])
def test_paths_round_trip(tile, path):
    assert tile.path == path
    assert parse_tile_path(path) == tile
    assert parse_tile_path(path.removeprefix("tile/")) == tile


@pytest.mark.parametrize("path", [
    "tile/00/000", "tile/64/000", "tile/-1/000", "tile/a/000", "tile/0/0", "tile/0/0000", "tile/0/x000",
    "tile/0/001/002", "tile/0/x1/002", "tile/0/x000/001", "tile/0/000.p/0", "tile/0/000.p/256",
    "tile/0/000.p/07", "tile/0/000.p", "tile/0/000.p/", "tile/0/", "tile/0", "tile", "", "tile/0/000/",
    "tile/entries/000.p/300", "tile/0/x001/x002", "tile/0/+01", "tile/0/ 12", "tile/0/" + "x999/" * 7 + "999",
])
def test_non_canonical_paths_are_refused(path):
    with pytest.raises(TilePathError):
        parse_tile_path(path)


def test_the_spec_examples_of_which_tiles_a_tree_has():
    tiles = list(tiles_for_size(70_000))
    level0 = [t for t in tiles if t.level == 0]
    assert len([t for t in level0 if not t.partial]) == 273
    assert [t for t in tiles if t.partial] == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert [t for t in tiles if t.level == 1] == [Tile(1, 0), Tile(1, 1, 17)]
    assert list(tiles_for_size(256)) == [Tile(0, 0), Tile(1, 0, 1)]
    assert list(tiles_for_size(0)) == []
    assert list(tiles_for_size(70_000, full=False)) == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    # the spec's width rule: floor(s / 256**l) mod 256
    for size in (1, 255, 256, 257, 65535, 65536, 70_000, 256**3 + 5):
        for tile in tiles_for_size(size, full=False):
            assert tile.width == (size // 256**tile.level) % 256
            assert tile_width(tile.level, tile.index, size) == tile.width
    assert tile_width(0, 274, 70_000) == 0 and tile_width(0, 3, 70_000) == 256


# --- contents -----------------------------------------------------------------------------------


def test_tile_hashes_are_the_merkle_tree_hashes_the_spec_names(big):
    """MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l]) for every hash of every tile."""
    level0 = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in big.leaves]
    for tile in tiles_for_size(len(big.leaves)):
        data = big.fetch(tile)
        assert len(data) == 32 * tile.width
        hashes = [data[i * 32:(i + 1) * 32] for i in range(tile.width)]
        if tile.level == 0:
            assert hashes == level0[tile.first:tile.first + tile.width]
            continue
        span = 256 ** tile.level
        for i in (0, tile.width - 1):  # the ends of each higher tile (its middle follows by the same rule)
            start = (tile.index * 256 + i) * span
            assert hashes[i] == rfc.mth(big.leaves[start:start + span])


def test_entry_bundles_are_uint16_length_prefixed_leaves(big):
    bundle = big.fetch(Tile(None, 273, 112))
    expected = b"".join(struct.pack(">H", len(leaf)) + leaf for leaf in big.leaves[273 * 256:])
    assert bundle == expected
    assert parse_entry_bundle(bundle, 112) == big.leaves[273 * 256:]
    with pytest.raises(TileDataError):
        parse_entry_bundle(bundle, 113)
    with pytest.raises(TileDataError):
        parse_entry_bundle(bundle[:-1])
    with pytest.raises(ValueError):
        entry_bundle([b"x" * 65536])
    assert parse_entry_bundle(entry_bundle([b"", b"x" * 65535])) == [b"", b"x" * 65535]


# --- proofs from tiles --------------------------------------------------------------------------


SIZES = [1, 2, 3, 7, 255, 256, 257, 511, 512, 1000, 65535, 65536, 65537, 70_000]


@pytest.mark.parametrize("size", SIZES)
def test_proofs_from_tiles_equal_the_stored_node_proofs(big, size):
    reader = TileReader(big.fetch, size)
    assert reader.root() == big.store.root(size)
    for index in sorted({0, 1, size // 3, size // 2, size - 256, size - 2, size - 1} & set(range(size))):
        proof = reader.inclusion_proof(index)
        assert proof == merkle.inclusion_proof(big.store.get_node, index, size)
        merkle.verify_inclusion(index, size, reader.leaf_hash(index), proof, big.store.root(size))
    for first in sorted({1, size // 2, size - 1, size} & set(range(1, size + 1))):
        assert reader.consistency_proof(first) == merkle.consistency_proof(big.store.get_node, first, size)
        assert reader.root(first) == big.store.root(first)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 255, 256, 257, 300, 513])
def test_proofs_from_tiles_equal_the_rfc_recursion(size):
    log = Log(size)
    reader = TileReader(log.fetch, size)
    assert reader.root() == rfc.mth(log.leaves)
    for index in range(0, size, max(1, size // 17)):
        assert reader.inclusion_proof(index) == rfc.path(index, log.leaves)
    for first in range(1, size + 1, max(1, size // 13)):
        assert reader.consistency_proof(first) == rfc.consistency(first, size, log.leaves)


def test_a_reader_fetches_each_tile_once_at_its_width_in_the_tree(big):
    big.fetched.clear()
    reader = TileReader(big.fetch, 70_000)
    for index in range(0, 70_000, 997):
        reader.inclusion_proof(index)
    assert len(big.fetched) == len(set(big.fetched))
    assert "tile/0/273.p/112" in big.fetched and "tile/1/000" in big.fetched
    assert not any(path.startswith("tile/0/273") and path != "tile/0/273.p/112" for path in big.fetched)


def test_tampered_tiles_give_proofs_that_fail_against_the_root():
    log = Log(600)
    root = log.store.root()

    def forged(tile):
        data = bytearray(log.fetch(tile))
        if tile.path == "tile/0/001":
            data[40] ^= 1
        return bytes(data)

    reader = TileReader(forged, 600)
    with pytest.raises(merkle.RootMismatchError):
        merkle.verify_inclusion(300, 600, reader.leaf_hash(300), reader.inclusion_proof(300), root)
    with pytest.raises(TileDataError):
        TileReader(lambda tile: log.fetch(tile)[:-1], 600).root()
    with pytest.raises(merkle.ProofInputError):
        reader.inclusion_proof(5, 601)


def test_verify_tiles_checks_levels_entries_and_root(big):
    seen = []
    checked = verify_tiles(big.fetch, 70_000, big.store.root(), on_leaves=lambda first, leaves: seen.append(first))
    assert checked == len(list(tiles_for_size(70_000))) + 274
    assert seen == [256 * n for n in range(274)]

    def bad_entry(tile):
        data = big.fetch(tile)
        return data.replace(b"leaf 5", b"leaf X", 1) if tile.path == "tile/entries/000" else data

    with pytest.raises(TileDataError) as caught:
        verify_tiles(bad_entry, 70_000, big.store.root())
    assert caught.value.code == "entry_mismatch"

    def bad_level1(tile):
        data = big.fetch(tile)
        return bytes(32) + data[32:] if tile.path == "tile/1/000" else data

    with pytest.raises(TileDataError) as caught:
        verify_tiles(bad_level1, 70_000, big.store.root(), entries=False)
    assert caught.value.code == "tile_inconsistent"
    with pytest.raises(merkle.RootMismatchError):
        verify_tiles(big.fetch, 70_000, bytes(32), entries=False)


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 300, 65_536, 70_000])
def test_verify_tiles_reads_each_file_once_and_keeps_only_the_right_edge(size):
    """One pass: each tile and bundle fetched once, whatever the size, and the root still comes out."""
    log = Log(size)
    log.fetched.clear()
    checked = verify_tiles(log.fetch, size, log.store.root() if size else merkle.EMPTY_ROOT)
    assert sorted(log.fetched) == sorted({*log.fetched}) and checked == len(log.fetched)
    assert {*log.fetched} == {t.path for t in tiles_for_size(size)} | {
        Tile(None, t.index, t.width).path for t in tiles_for_size(size) if t.level == 0}


def test_an_entry_that_differs_from_a_forged_tile_is_the_tiles_fault(big):
    """The bundle is the log's and the level-0 tile was forged: blamed on the tile (the tiles do not
    give the signed root), not on the entry; a forged entry under true tiles is the entry's fault."""
    def forged_tile(tile):
        data = big.fetch(tile)
        return bytes(32) + data[32:] if tile.path == "tile/0/003" else data

    with pytest.raises(TileDataError) as caught:
        verify_tiles(forged_tile, 70_000, big.store.root())
    assert caught.value.code == "tile_inconsistent" and "tile/1/000 hash 3" in str(caught.value)

    def forged_edge(tile):
        data = big.fetch(tile)
        return bytes(32) + data[32:] if tile.path == "tile/0/273.p/112" else data

    with pytest.raises(merkle.RootMismatchError):
        verify_tiles(forged_edge, 70_000, big.store.root())

    def forged_entry(tile):
        data = big.fetch(tile)
        return data.replace(b"leaf 69900", b"leaf 69901", 1) if tile.path == "tile/entries/273.p/112" else data

    with pytest.raises(TileDataError) as caught:
        verify_tiles(forged_entry, 70_000, big.store.root())
    assert caught.value.code == "entry_mismatch" and "tile/entries/273.p/112" in str(caught.value)
