"""A tiles copy of the log checked end to end: signature, tiles, entries and the leaves' chain."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody.ledger import merkle
from custody.ledger.checkpoint import Checkpoint, SignatureError, sign_checkpoint, signed_note
from custody.ledger.leaf import ZERO_HASH_HEX, LeafChainError, canonical_leaf, leaf_hash_hex
from custody.ledger.merkle import VerificationError
from custody.ledger.mirror import verify_mirror
from custody.ledger.tiles import TileDataError, entry_bundle, tile_bytes, tile_node_keys, tiles_for_size

ORIGIN = "fieldproof.test/custody"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def chained(count, *, break_at=None, misindex_at=None):
    leaves, previous = [], ZERO_HASH_HEX
    for index in range(count):
        event = {"index": index if index != misindex_at else index + 1, "type": "viewed", "evidence_id": f"e-{index}",
                 "actor_id": "u-1", "at": "2026-03-02T01:00:00Z", "sha256": "ab" * 32,
                 "prev_leaf_hash": previous if index != break_at else "cd" * 32}
        leaves.append(canonical_leaf(event))
        previous = leaf_hash_hex(leaves[-1])
    return leaves


def mirror(leaves, key=KEY, origin=ORIGIN):
    """Every file export-tiles writes, signed by `key`: a consistent, signed copy of `leaves`."""
    store = merkle.MemoryNodeStore()
    for leaf in leaves:
        store.append(merkle.leaf_hash(leaf))
    files = {}
    for tile in tiles_for_size(len(leaves)):
        files[tile.path] = tile_bytes([store.get_node(*k) for k in tile_node_keys(tile)])
        if tile.level == 0:
            files[tile.path.replace("tile/0/", "tile/entries/")] = entry_bundle(
                leaves[tile.first:tile.first + tile.width])
    signed = sign_checkpoint(key, Checkpoint(origin, len(leaves), store.root() if leaves else merkle.EMPTY_ROOT))
    files["checkpoint"] = signed_note(signed, key.public_key())
    return files


def test_a_whole_mirror_verifies():
    files = mirror(chained(600))
    report = verify_mirror(files.__getitem__, KEY.public_key(), ORIGIN)
    assert (report.tree_size, report.leaves_checked, report.origin) == (600, 600, ORIGIN)
    assert report.files_checked == len(files)


@pytest.mark.parametrize(("leaves", "error", "code"), [
    (chained(300, break_at=270), LeafChainError, "leaf_chain_broken"),
    (chained(300, misindex_at=256), LeafChainError, "leaf_chain_broken"),
    (chained(300, misindex_at=0), LeafChainError, "leaf_chain_broken"),
])
def test_a_signed_mirror_of_a_broken_chain_fails(leaves, error, code):
    with pytest.raises(error) as caught:
        verify_mirror(mirror(leaves).__getitem__, KEY.public_key())
    assert caught.value.code == code


def test_another_key_or_origin_or_a_changed_entry_fails():
    files = mirror(chained(20))
    with pytest.raises(SignatureError):
        verify_mirror(files.__getitem__, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(SignatureError):
        verify_mirror(files.__getitem__, KEY.public_key(), "another.log/custody")
    files["tile/entries/000.p/20"] = files["tile/entries/000.p/20"].replace(b"e-7", b"e-8")
    with pytest.raises(TileDataError):
        verify_mirror(files.__getitem__, KEY.public_key())


def test_a_mirror_signed_before_a_key_rotation_opens_with_the_retired_key():
    from custody.ledger.checkpoint import key_id
    from custody.ledger.mirror import open_mirror_checkpoint, verify_mirror_tiles

    files = mirror(chained(300))
    current = Ed25519PrivateKey.generate().public_key()
    keys = {key_id(k.public_bytes_raw()): k for k in (current, KEY.public_key())}
    signed, signer = open_mirror_checkpoint(files["checkpoint"], keys, ORIGIN)
    assert signer == key_id(KEY.public_key().public_bytes_raw())
    report = verify_mirror_tiles(files.__getitem__, signed.checkpoint, signer)
    assert (report.tree_size, report.leaves_checked, report.key_id) == (300, 300, signer)
    with pytest.raises(SignatureError) as caught:
        open_mirror_checkpoint(files["checkpoint"], {"other": current}, ORIGIN)
    assert caught.value.code == "signing_key_unknown"


def _broken(files, path, change):
    broken = dict(files)
    broken[path] = change(files[path])
    return broken


@pytest.mark.parametrize(("path", "change", "entries"), [
    ("tile/0/000", lambda data: data[:-1], False),  # a tile cut short
    ("tile/0/001.p/44", lambda data: bytes(32) + data[32:], False),  # a hash changed: the root does not follow
    ("tile/entries/000", lambda data: data[:-1], True),  # a bundle cut short
    ("tile/entries/001.p/44", lambda data: data.replace(b"e-260", b"e-261"), True),  # an entry changed
])
def test_a_failed_walk_names_the_file_and_whose_fault_it_is(path, change, entries):
    from custody.ledger.mirror import entries_at_fault

    files = _broken(mirror(chained(300)), path, change)
    with pytest.raises(VerificationError) as caught:
        verify_mirror(files.__getitem__, KEY.public_key(), ORIGIN)
    assert entries_at_fault(caught.value) is entries
    if caught.value.code in ("tile_malformed", "entry_malformed"):
        assert path in str(caught.value)
