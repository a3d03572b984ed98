"""Witnesses: independent keys that cosign checkpoints they checked were consistent.

An admin registers a witness by its C2SP verifier key; the witness (`fieldproof witness`, run
by an auditor or partner) posts its cosigned copy of a checkpoint note, and each verified
`cosignature/v1` line is kept and served with the checkpoint. A cosignature is about the
checkpoint body, so it is served with every issued checkpoint that has that exact body.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import Conflict, ValidationFailed
from custody.ledger import checkpoint as c2sp
from custody.ledger.cosignature import COSIGNATURE_TYPE, find_cosignatures, parse_verifier_key
from custody.models import CheckpointCosignature, IssuedCheckpoint, SigningKey, Witness


def register_witness(session: Session, actor_id: str, name: str, vkey: str) -> Witness:
    """Accept cosignatures from this key from now on; its name must be the vkey's."""
    try:
        parsed = parse_verifier_key(vkey, key_type=COSIGNATURE_TYPE)
    except ValueError as error:
        raise ValidationFailed("not a C2SP Ed25519 cosignature verifier key", errors={"vkey": [str(error)]}) from None
    if parsed.name != name:
        raise ValidationFailed("the verifier key names another witness",
                               errors={"name": [f"the vkey is for {parsed.name!r}"]})
    existing = session.get(Witness, name)
    if existing is not None:
        if existing.vkey == str(parsed):
            return existing
        raise Conflict(f"witness {name!r} is registered with another key")
    row = Witness(name=name, vkey=str(parsed), public_key=parsed.public_key_raw, registered_by=actor_id,
                  created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def list_witnesses(session: Session):
    return select(Witness).order_by(Witness.created_at, Witness.name)


def _witness_keys(session: Session):
    return [parse_verifier_key(row.vkey) for row in session.scalars(select(Witness))]


def _checkpoint_of(session: Session, text: bytes) -> IssuedCheckpoint:
    """The newest issued checkpoint with exactly this body, whose signature in the note verifies."""
    try:
        checkpoint = c2sp.Checkpoint.parse(text)
    except c2sp.CheckpointFormatError as error:
        raise ValidationFailed("the note's text is not a checkpoint", errors={"note": [str(error)]}) from None
    if checkpoint.tree_size > 2**31 - 1:  # larger than any size the checkpoints table can hold
        raise ValidationFailed("this ledger never issued that checkpoint", errors={"note": ["unknown checkpoint"]})
    rows = session.scalars(select(IssuedCheckpoint).where(IssuedCheckpoint.tree_size == checkpoint.tree_size,
                                                          IssuedCheckpoint.body == text.decode("utf-8"))
                           .order_by(IssuedCheckpoint.id.desc())).all()
    if not rows:
        raise ValidationFailed("this ledger never issued that checkpoint", errors={"note": ["unknown checkpoint"]})
    return rows[0]


@dataclass(frozen=True)
class AcceptedCosignatures:
    checkpoint_id: int
    tree_size: int
    witnesses: list[str]


def accept_cosignatures(session: Session, note: str, clock_skew_seconds: int = 300) -> AcceptedCosignatures:
    """Keep the registered witnesses' valid cosignatures on a checkpoint this ledger issued.

    Refused (422) when the note is not one of our checkpoints with our signature, when a line
    from a registered witness does not verify, or when no line is from a registered witness.
    """
    try:
        raw = note.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed("the note is not valid UTF-8", errors={"note": ["not UTF-8"]}) from None
    witnesses = _witness_keys(session)
    try:
        text, found, errors = find_cosignatures(raw, witnesses)
    except c2sp.CheckpointFormatError as error:
        raise ValidationFailed("the note is not a C2SP signed note", errors={"note": [str(error)]}) from None
    row = _checkpoint_of(session, text)
    key = session.get(SigningKey, row.key_id)
    try:
        c2sp.open_note(raw, Ed25519PublicKey.from_public_bytes(bytes(key.public_key)),
                       c2sp.Checkpoint.parse(text).origin)
    except (c2sp.SignatureError, c2sp.CheckpointFormatError) as error:
        raise ValidationFailed("the note does not carry the ledger's own signature",
                               errors={"note": [str(error)]}) from None
    if errors:
        raise ValidationFailed("a witness cosignature does not verify",
                               errors={"note": [f"{name}: {error}" for name, error in errors]})
    if not found:
        raise ValidationFailed("no cosignature from a registered witness",
                               errors={"note": ["cosignatures from unknown keys are refused; an admin registers "
                                                "witnesses at /api/v1/ledger/witnesses"]})
    latest_allowed = utcnow() + timedelta(seconds=clock_skew_seconds)
    for cosignature in found.values():
        if cosignature.timestamp > latest_allowed.timestamp():
            raise ValidationFailed("a cosignature is dated in the future",
                                   errors={"note": [f"{cosignature.name}: time {cosignature.timestamp}"]})
    for name, cosignature in found.items():
        existing = session.get(CheckpointCosignature, (row.id, name))
        if existing is None:
            session.add(CheckpointCosignature(checkpoint_id=row.id, witness=name, timestamp=cosignature.timestamp,
                                              line=cosignature.line(), received_at=utcnow()))
        elif cosignature.timestamp > existing.timestamp:
            existing.timestamp, existing.line = cosignature.timestamp, cosignature.line()
    session.flush()
    return AcceptedCosignatures(row.id, row.tree_size, sorted(found))


@dataclass(frozen=True)
class ServedCosignature:
    witness: str
    timestamp: int
    line: str
    time: datetime


def cosignatures_for(session: Session, row: IssuedCheckpoint) -> list[ServedCosignature]:
    """Every kept cosignature on this checkpoint's body, one per witness (the newest)."""
    rows = session.execute(
        select(CheckpointCosignature).join(IssuedCheckpoint, IssuedCheckpoint.id == CheckpointCosignature.checkpoint_id)
        .where(IssuedCheckpoint.tree_size == row.tree_size, IssuedCheckpoint.body == row.body)
        .order_by(CheckpointCosignature.witness, CheckpointCosignature.timestamp.desc())).scalars().all()
    served: dict[str, ServedCosignature] = {}
    for cosignature in rows:
        if cosignature.witness not in served:
            served[cosignature.witness] = ServedCosignature(
                cosignature.witness, cosignature.timestamp, cosignature.line,
                datetime.fromtimestamp(cosignature.timestamp, tz=timezone.utc))
    return list(served.values())
