"""A tiles copy of the custody log checked end to end, as an auditor or witness checks a mirror.

The checkpoint must verify with the ledger's key (before a field of it is used); every tile
must agree with the tiles below it and give the signed root; every entry must hash to its
level-0 tile hash, be a canonical custody leaf with the index of its place, and name the
hash of the leaf before it. Nothing is taken from the server: only the files and the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custody.ledger.checkpoint import key_id, parse_signed_note
from custody.ledger.leaf import ZERO_HASH_HEX, LeafChainError, parse_leaf, verify_leaf_chain
from custody.ledger.tiles import verify_tiles

__all__ = ["MirrorReport", "verify_mirror"]

FetchFile = Callable[[str], bytes]


@dataclass(frozen=True)
class MirrorReport:
    """What a mirror was found to hold; returned only when all of it held."""

    origin: str
    tree_size: int
    root_hash: bytes
    key_id: str
    files_checked: int
    leaves_checked: int


def verify_mirror(fetch: FetchFile, public_key: Ed25519PublicKey, origin: str | None = None) -> MirrorReport:
    """Check the checkpoint, every tile and every entry of a tiles copy; raise a
    ``VerificationError`` at the first thing that does not hold. ``origin`` pins the log's
    name; without it the checkpoint's own origin (bound to the key by its signature) is used."""
    signed = parse_signed_note(fetch("checkpoint"), public_key, origin)
    checkpoint = signed.checkpoint
    chain = {"previous": ZERO_HASH_HEX, "leaves": 0}

    def follow(first: int, leaves: list[bytes]) -> None:
        if leaves and parse_leaf(leaves[0])["index"] != first:
            raise LeafChainError(f"entry {first} names index {parse_leaf(leaves[0])['index']}", position=first)
        chain["previous"] = verify_leaf_chain(leaves, chain["previous"])
        chain["leaves"] += len(leaves)

    checked = verify_tiles(lambda tile: fetch(tile.path), checkpoint.tree_size, checkpoint.root_hash,
                           on_leaves=follow)
    return MirrorReport(origin=checkpoint.origin, tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash,
                        key_id=key_id(public_key.public_bytes_raw()), files_checked=checked + 1,
                        leaves_checked=chain["leaves"])
