"""A tiles copy of the custody log checked end to end, as an auditor or witness checks a mirror.

The checkpoint must verify with the ledger's key (before a field of it is used); every tile
must agree with the tiles below it and give the signed root; every entry must hash to its
level-0 tile hash, be a canonical custody leaf with the index of its place, and name the
hash of the leaf before it. Nothing is taken from the server: only the files and the key.

The two halves are public so that a verifier holding several keys (the server's own run, after
a key rotation) opens the checkpoint with whichever signed it, then walks the same tiles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custody.ledger.checkpoint import Checkpoint, SignedCheckpoint, key_id, parse_signed_note
from custody.ledger.leaf import ZERO_HASH_HEX, LeafChainError, LeafFormatError, parse_leaf, verify_leaf_chain
from custody.ledger.merkle import VerificationError
from custody.ledger.tiles import verify_tiles
from custody.ledger.verify import open_kept_checkpoint

__all__ = ["MirrorReport", "entries_at_fault", "open_mirror_checkpoint", "verify_mirror", "verify_mirror_tiles"]

FetchFile = Callable[[str], bytes]
CHECKPOINT = "checkpoint"


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
    signed = parse_signed_note(fetch(CHECKPOINT), public_key, origin)
    return verify_mirror_tiles(fetch, signed.checkpoint, key_id(public_key.public_bytes_raw()))


def open_mirror_checkpoint(note: bytes, keys: Mapping[str, Ed25519PublicKey],
                           origin: str | None = None) -> tuple[SignedCheckpoint, str]:
    """A mirror's checkpoint opened with whichever of ``keys`` (key id → key) signed it: a
    mirror last written before a key rotation carries the retired key's signature."""
    return open_kept_checkpoint(note, keys, origin)


def verify_mirror_tiles(fetch: FetchFile, checkpoint: Checkpoint, signer_key_id: str) -> MirrorReport:
    """Every tile and entry of the mirror of a checkpoint already verified: levels, root, entries
    and the leaves' chain. Raises a ``VerificationError`` at the first that does not hold."""
    chain = {"previous": ZERO_HASH_HEX, "leaves": 0}

    def follow(first: int, leaves: list[bytes]) -> None:
        if leaves and parse_leaf(leaves[0])["index"] != first:
            raise LeafChainError(f"entry {first} names index {parse_leaf(leaves[0])['index']}", position=first)
        chain["previous"] = verify_leaf_chain(leaves, chain["previous"])
        chain["leaves"] += len(leaves)

    checked = verify_tiles(lambda tile: fetch(tile.path), checkpoint.tree_size, checkpoint.root_hash,
                           on_leaves=follow)
    return MirrorReport(origin=checkpoint.origin, tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash,
                        key_id=signer_key_id, files_checked=checked + 1, leaves_checked=chain["leaves"])


def entries_at_fault(error: VerificationError) -> bool:
    """Whether a failed walk is an entry bundle's fault (its shape, a leaf, the chain) rather
    than a tile's: the two are different repairs for whoever publishes the mirror."""
    return isinstance(error, (LeafFormatError, LeafChainError)) or error.code in ("entry_malformed", "entry_mismatch")
