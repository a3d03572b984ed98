"""The auditor's checks, shared by the server's verification job and the
offline bundle verifier so that both judge evidence by the same code.

Each check trusts nothing it has not verified: the checkpoint signature is
checked over the exact body bytes before its root is used, and the leaf bytes
are hashed here rather than taking the claimed leaf hash on faith. Checks
raise from the ``VerificationError`` tree; ``VerificationResult`` collects
those errors as (subject, problem code, message) when many items are checked.

The error tree, all importable from here::

    VerificationError
    ├── ProofError (expected_root, calculated_root)
    │   ├── ProofInputError        proof_malformed
    │   └── RootMismatchError      root_mismatch
    ├── LeafFormatError            leaf_malformed
    ├── LeafChainError             leaf_chain_broken
    ├── CheckpointFormatError      checkpoint_malformed / note_malformed
    ├── SignatureError             signature_invalid / signature_malformed / signature_missing
    ├── EventMismatchError         leaf_hash_mismatch / ledger_index_mismatch / evidence_hash_mismatch
    └── CheckpointMismatchError    origin_mismatch / tree_size_regressed
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custody.ledger.checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    SignatureError,
    SignedCheckpoint,
    key_id,
    parse_signed_note,
    verify_checkpoint_signature,
)
from custody.ledger import merkle
from custody.ledger.leaf import LeafChainError, LeafFormatError, parse_leaf
from custody.ledger.merkle import (
    HASH_SIZE,
    ProofError,
    ProofInputError,
    RootMismatchError,
    VerificationError,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "CheckpointFormatError",
    "CheckpointMismatchError",
    "ConsistencyReport",
    "EventMismatchError",
    "EventReport",
    "Failure",
    "LeafChainError",
    "LeafFormatError",
    "ProofError",
    "ProofInputError",
    "RootMismatchError",
    "SignatureError",
    "VerificationError",
    "VerificationResult",
    "KeptCheckpointReport",
    "open_kept_checkpoint",
    "verify_checkpoint_consistency",
    "verify_event",
    "verify_kept_checkpoint",
]

T = TypeVar("T")


class EventMismatchError(VerificationError):
    """The event's bytes are not what was claimed about them."""

    code = "event_mismatch"


class CheckpointMismatchError(VerificationError):
    """Two checkpoints cannot be an older and a newer head of one log."""

    code = "checkpoint_mismatch"


@dataclass(frozen=True)
class EventReport:
    """What a verified event was proven against."""

    ledger_index: int
    leaf_hash: bytes
    tree_size: int
    root_hash: bytes
    origin: str
    key_id: str


@dataclass(frozen=True)
class ConsistencyReport:
    """Two signed heads of one log, the newer proven to extend the older."""

    origin: str
    first_size: int
    first_root: bytes
    second_size: int
    second_root: bytes
    key_id: str


def _trusted_checkpoint(
    signed: SignedCheckpoint, public_key: Ed25519PublicKey, origin: str | None
) -> Checkpoint:
    checkpoint = verify_checkpoint_signature(public_key, signed.body(), signed.signature)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointMismatchError(
            f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}", code="origin_mismatch"
        )
    return checkpoint


def verify_event(
    *,
    leaf: bytes,
    leaf_hash: bytes,
    ledger_index: int,
    audit_path: Sequence[bytes],
    signed_checkpoint: SignedCheckpoint,
    public_key: Ed25519PublicKey,
    origin: str | None = None,
    evidence_sha256: str | None = None,
) -> EventReport:
    """Prove one custody event is in the signed ledger, end to end.

    In order: the checkpoint signature (so its root can be trusted), the leaf
    hash recomputed from the leaf bytes, the leaf's canonical form and its own
    index, the evidence file's sha256 when given, and the inclusion proof.
    """
    checkpoint = _trusted_checkpoint(signed_checkpoint, public_key, origin)
    if not isinstance(leaf_hash, (bytes, bytearray)) or len(leaf_hash) != HASH_SIZE:
        raise ProofInputError(f"leaf hash must be {HASH_SIZE} bytes")
    calculated = merkle.leaf_hash(leaf)
    if calculated != leaf_hash:
        raise EventMismatchError(
            f"leaf bytes hash to {calculated.hex()}, not the claimed {bytes(leaf_hash).hex()}",
            code="leaf_hash_mismatch",
        )
    event = parse_leaf(leaf)
    if event["index"] != ledger_index:
        raise EventMismatchError(
            f"leaf says index {event['index']}, but it was given as ledger index {ledger_index}",
            code="ledger_index_mismatch",
        )
    if evidence_sha256 is not None and event["sha256"] != evidence_sha256:
        raise EventMismatchError(
            f"leaf records sha256 {event['sha256']}, but the evidence hashes to {evidence_sha256}",
            code="evidence_hash_mismatch",
        )
    verify_inclusion(ledger_index, checkpoint.tree_size, calculated, audit_path, checkpoint.root_hash)
    return EventReport(
        ledger_index=ledger_index,
        leaf_hash=calculated,
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        origin=checkpoint.origin,
        key_id=key_id(public_key.public_bytes_raw()),
    )


def verify_checkpoint_consistency(
    *,
    older: SignedCheckpoint,
    newer: SignedCheckpoint,
    proof: Sequence[bytes],
    public_key: Ed25519PublicKey,
) -> ConsistencyReport:
    """Prove the log behind ``newer`` only appended to the log behind ``older``.

    Both signatures are checked first; then the origins must agree, the size
    must not shrink, and the RFC 9162 consistency proof must hold.
    """
    first = _trusted_checkpoint(older, public_key, None)
    second = _trusted_checkpoint(newer, public_key, first.origin)
    if second.tree_size < first.tree_size:
        raise CheckpointMismatchError(
            f"newer checkpoint has {second.tree_size} leaves, fewer than the older's {first.tree_size}",
            code="tree_size_regressed",
        )
    verify_consistency(first.tree_size, second.tree_size, proof, first.root_hash, second.root_hash)
    return ConsistencyReport(
        origin=first.origin,
        first_size=first.tree_size,
        first_root=first.root_hash,
        second_size=second.tree_size,
        second_root=second.root_hash,
        key_id=key_id(public_key.public_bytes_raw()),
    )


def open_kept_checkpoint(
    note: bytes, keys: Mapping[str, Ed25519PublicKey], origin: str | None = None
) -> tuple[SignedCheckpoint, str]:
    """Open a checkpoint note an auditor kept: verified with whichever of ``keys`` signed it.

    ``keys`` maps key id to public key: the keys the verifier itself trusts (never ones the
    note names). Returns the checkpoint and the id of its key. A note no trusted key signed is
    ``signing_key_unknown``; one whose signature line is a trusted key's but does not verify
    keeps that error (``signature_invalid``); a note for another log is ``origin_mismatch``.
    """
    failure: VerificationError | None = None
    for candidate_id, public_key in keys.items():
        try:
            signed = parse_signed_note(note, public_key)
        except SignatureError as error:
            if error.code != "signature_missing":
                failure = error
            continue
        if origin is not None and signed.checkpoint.origin != origin:
            raise CheckpointMismatchError(
                f"checkpoint is for log {signed.checkpoint.origin!r}, expected {origin!r}", code="origin_mismatch"
            )
        return signed, candidate_id
    if failure is not None:
        raise failure
    raise SignatureError("the note carries no signature by a key this ledger holds", code="signing_key_unknown")


@dataclass(frozen=True)
class KeptCheckpointReport:
    """A kept checkpoint proven to be a prefix of a newer signed head."""

    origin: str
    kept_size: int
    kept_root: bytes
    kept_key_id: str
    current_size: int
    current_root: bytes


def verify_kept_checkpoint(
    *,
    kept: SignedCheckpoint,
    kept_key: Ed25519PublicKey,
    current: SignedCheckpoint,
    current_key: Ed25519PublicKey,
    proof: Sequence[bytes],
) -> KeptCheckpointReport:
    """Prove the log behind ``current`` extends the one behind a checkpoint kept from earlier.

    Like ``verify_checkpoint_consistency`` but each head checked with its own key (the kept one
    may predate a key rotation). A current head smaller than the kept one is a rolled-back log
    (``tree_size_regressed``), whatever else the server still keeps; a same-size head with
    another root, or a proof that does not hold, is a rewritten one (``root_mismatch``).
    """
    first = _trusted_checkpoint(kept, kept_key, None)
    second = _trusted_checkpoint(current, current_key, first.origin)
    if second.tree_size < first.tree_size:
        raise CheckpointMismatchError(
            f"the ledger now has {second.tree_size} leaves, fewer than the {first.tree_size} of the kept "
            "checkpoint: the log was rolled back",
            code="tree_size_regressed",
        )
    if first.tree_size == 0:
        if first.root_hash != merkle.EMPTY_ROOT:
            raise RootMismatchError("a tree of size 0 must have the empty root",
                                    expected_root=merkle.EMPTY_ROOT, calculated_root=first.root_hash)
        if proof:
            raise ProofInputError("a proof from the empty tree is empty")
    else:
        verify_consistency(first.tree_size, second.tree_size, proof, first.root_hash, second.root_hash)
    return KeptCheckpointReport(
        origin=first.origin,
        kept_size=first.tree_size,
        kept_root=first.root_hash,
        kept_key_id=key_id(kept_key.public_bytes_raw()),
        current_size=second.tree_size,
        current_root=second.root_hash,
    )


@dataclass(frozen=True)
class Failure:
    """One failed check: what it was about, a stable problem code, and why."""

    subject: str
    problem: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"subject": self.subject, "problem": self.problem, "message": self.message}


@dataclass
class VerificationResult:
    """Failures gathered over many checks, so one bad item does not hide the rest.

    Only ``VerificationError`` is caught: anything else is a fault in the
    verifier or its inputs' plumbing, not a finding about the evidence.
    """

    checked: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failed(self) -> int:
        """How many distinct subjects had at least one failure."""
        return len({failure.subject for failure in self.failures})

    def record(self, subject: str, error: VerificationError) -> None:
        self.failures.append(Failure(subject=subject, problem=error.code, message=str(error)))

    def check(self, subject: str, verification: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run one check about ``subject``; return its report, or None after recording why it failed."""
        self.checked += 1
        try:
            return verification(*args, **kwargs)
        except VerificationError as error:
            self.record(subject, error)
            return None
