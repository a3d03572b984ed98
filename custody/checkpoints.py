"""Signed tree heads: checkpoints issued and kept, the signing keys that signed them.

Checkpoints are issued on demand, by the head endpoint when the tree has grown, and by the
`ledger.issue_checkpoint` job on a timer; every one is kept, which is what lets a later
verification catch a log that was rolled back.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import sync_committed
from core.errors import NotFound
from core.keys import LedgerKey, LedgerSigner, key_path, rotate_key_file
from custody.append import lock_head, record_custody_event
from custody.ledger import checkpoint as c2sp
from custody.ledger.cosignature import verifier_key
from custody.models import CheckpointCosignature, IssuedCheckpoint, SigningKey
from custody.proofs import consistency_proof, stored_root, tree_size
from custody.timestamps import TimestampView, pending_since, stamp_checkpoint, timestamp_view
from custody.witnesses import cosignatures_for


# --- signing keys -----------------------------------------------------------------------------


def register_signing_key(session: Session, key: LedgerKey) -> SigningKey:
    """Record the signing key's public half; the first use of a new key retires the others."""
    row = session.get(SigningKey, key.key_id)
    if row is not None:
        return row
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    session.execute(update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=now))
    session.execute(insert(SigningKey).values(
        key_id=key.key_id, algorithm="ed25519", public_key=key.public_raw, public_key_pem=key.public_pem,
        created_at=now, retired_at=None,
    ).on_conflict_do_nothing())
    return session.get(SigningKey, key.key_id)


def signing_keys(session: Session) -> Select:
    """Every key that ever signed a checkpoint, newest first."""
    return select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.key_id)


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    algorithm: str
    public_key_pem: str
    public_key: str
    created_at: datetime | None
    retired_at: datetime | None
    current: bool
    vkey: str | None = None  # C2SP verifier key: <origin>+<key hash>+<base64(0x01 || key)>


def public_key(session: Session, signer: LedgerSigner, key_id: str | None = None,
               origin: str | None = None) -> PublicKey:
    """The current signing key, or the one named (retired keys still verify old checkpoints).

    With the log's origin (the note key name) the answer carries the C2SP verifier key too, so
    note tools verify checkpoints without converting the key."""
    current = signer.key
    if key_id is None or key_id == current.key_id:
        row = session.get(SigningKey, current.key_id)
        return PublicKey(current.key_id, "ed25519", current.public_pem, base64.b64encode(current.public_raw).decode(),
                         row.created_at if row else None, None, True,
                         verifier_key(origin, current.public_raw) if origin else None)
    row = session.get(SigningKey, key_id)
    if row is None:
        raise NotFound(f"no signing key {key_id}")
    return PublicKey(row.key_id, row.algorithm, row.public_key_pem, base64.b64encode(row.public_key).decode(),
                     row.created_at, row.retired_at, False,
                     verifier_key(origin, bytes(row.public_key)) if origin else None)


# --- checkpoints ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeHead:
    """A signed checkpoint as served: the exact body, its signature, and the signed-note form."""

    id: int
    checkpoint: str
    tree_size: int
    root_hash: str
    signature: str
    key_id: str
    issued_at: datetime
    note: str
    # what others vouch for: the witnesses' cosignature lines and the TSA's timestamp token
    cosignatures: list = field(default_factory=list)
    timestamp: object | None = None
    stamp_pending_since: datetime | None = None


def tree_head(session: Session, row: IssuedCheckpoint) -> TreeHead:
    key = session.get(SigningKey, row.key_id)
    signed = c2sp.SignedCheckpoint(c2sp.Checkpoint.parse(row.body.encode("utf-8")), base64.b64decode(row.signature))
    note = c2sp.signed_note(signed, Ed25519PublicKey.from_public_bytes(bytes(key.public_key)))
    return TreeHead(id=row.id, checkpoint=row.body, tree_size=row.tree_size, root_hash=row.root_hash,
                    signature=row.signature, key_id=row.key_id, issued_at=row.issued_at, note=note.decode("utf-8"),
                    cosignatures=cosignatures_for(session, row), timestamp=timestamp_view(session, row.id))


def rotate_signing_key(session: Session, runtime) -> tuple[str | None, TreeHead]:
    """Rotate the key file, record both keys and the rotation, and sign a head with the new key.

    The old key is registered first (it may never have signed), so the table always lists it;
    the rotation is itself a custody event, so the ledger says when its keys changed.
    """
    old, new = rotate_key_file(key_path(runtime.settings))
    if old is not None:
        register_signing_key(session, old)
    register_signing_key(session, new)
    record_custody_event(session, type="key_rotated", subject_id=new.key_id, actor_id="system",
                         details={"previous_key_id": old.key_id} if old else None)
    row = issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin)
    if row.key_id != new.key_id:
        raise RuntimeError("the signer did not pick up the rotated key file")
    return (old.key_id if old else None), tree_head(session, row)


def latest_checkpoint(session: Session) -> IssuedCheckpoint | None:
    return session.scalars(select(IssuedCheckpoint).order_by(IssuedCheckpoint.id.desc()).limit(1)).first()


def issue_checkpoint(session: Session, signer: LedgerSigner, origin: str, *,
                     only_if_changed: bool = False) -> IssuedCheckpoint:
    """Sign the current tree head and keep it.

    Holds the append lock so the size and root belong together; with `only_if_changed` the
    latest checkpoint is returned instead when neither the tree nor the key has changed since.
    """
    size, _last = lock_head(session)
    key = signer.key
    latest = latest_checkpoint(session)
    if only_if_changed and latest is not None and latest.tree_size == size and latest.key_id == key.key_id:
        return latest
    root = stored_root(session, size)
    sync_committed(session)  # the leaves this head covers survive a power loss (SQLite's WAL)
    signed = c2sp.sign_checkpoint(key.private_key, c2sp.Checkpoint(origin, size, root))
    register_signing_key(session, key)
    row = IssuedCheckpoint(tree_size=size, root_hash=root.hex(), body=signed.body().decode("utf-8"),
                     signature=signed.signature_b64, key_id=key.key_id, issued_at=utcnow())
    session.add(row)
    session.flush()
    return row


def signed_stored_head(session: Session, signer: LedgerSigner, origin: str) -> IssuedCheckpoint:
    """A checkpoint of the stored tree as it is now, signed by the current key.

    The latest kept one when its signed body (not its columns) still names exactly this size
    and root, else a new one. Why not `only_if_changed`: a log rewritten back to the same size
    would still be matched by the old head's size; the root is recomputed from the stored nodes.
    """
    size, _last = lock_head(session)
    root = stored_root(session, size)
    latest = latest_checkpoint(session)
    if latest is not None and latest.key_id == signer.key_id:
        try:
            body = c2sp.verify_checkpoint_signature(signer.key.public_key, latest.body.encode("utf-8"),
                                                    base64.b64decode(latest.signature, validate=True))
        except (c2sp.CheckpointFormatError, c2sp.SignatureError, ValueError):
            body = None
        if body is not None and (body.origin, body.tree_size, body.root_hash) == (origin, size, root):
            return latest
    return issue_checkpoint(session, signer, origin)


def current_tree_head(session: Session, signer: LedgerSigner, origin: str, *, settings=None,
                      on_issued: Callable[[IssuedCheckpoint], None] | None = None) -> TreeHead:
    """The latest signed head, issuing a fresh one first when the tree has grown since.

    With `settings`, a head not yet stamped by the configured TSA says since when stamps wait
    (`stamp_pending_since`); `on_issued` hears of a newly signed head (to have it stamped)."""
    latest = latest_checkpoint(session)
    if latest is None or latest.tree_size != tree_size(session) or latest.key_id != signer.key_id:
        before = latest.id if latest is not None else None
        latest = issue_checkpoint(session, signer, origin, only_if_changed=True)
        if on_issued is not None and latest.id != before:
            on_issued(latest)
    head = tree_head(session, latest)
    if settings is not None and head.timestamp is None:
        head = replace(head, stamp_pending_since=pending_since(session, settings))
    return head


def list_checkpoints(session: Session) -> Select:
    """Every checkpoint ever issued, newest first."""
    return select(IssuedCheckpoint).order_by(IssuedCheckpoint.id.desc())



@dataclass(frozen=True)
class VouchedCheckpoint:
    """A checkpoint's signed note with what others vouch for it: the TSA's stamp, the witnesses' lines."""

    note: bytes
    timestamp: TimestampView | None
    cosignatures: tuple[str, ...]


def vouch_for(runtime, checkpoint_id: int) -> VouchedCheckpoint:
    """Have a committed checkpoint stamped now if a TSA is configured (a TSA that is down leaves
    it pending for the retry, never fails the caller), and gather its cosignatures."""
    stamp_checkpoint(runtime, checkpoint_id)
    with runtime.db.transaction() as session:
        head = tree_head(session, session.get(IssuedCheckpoint, checkpoint_id))
        return VouchedCheckpoint(head.note.encode("utf-8"), head.timestamp,
                                 tuple(c.line for c in head.cosignatures))


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """The newest cosigned checkpoint that extends a given tree, with the proof that it does."""

    note: bytes
    tree_size: int
    cosignatures: tuple[str, ...]
    consistency_proof: tuple[str, ...]  # RFC 9162, hex, from the given size to `tree_size`


def witnessed_since(session: Session, size: int, key_id: str) -> WitnessedCheckpoint | None:
    """The newest checkpoint of at least `size` leaves, signed by key `key_id`, that witnesses cosigned, or None.

    Witnesses cosign the latest head on their own schedule, so a packet's own checkpoint is
    rarely the one they cosign; a later cosigned one plus a consistency proof vouches for it too.
    Only checkpoints signed by the same key qualify: the bundle's reader checks them with that key.
    """
    row = session.scalars(
        select(IssuedCheckpoint).join(CheckpointCosignature, CheckpointCosignature.checkpoint_id == IssuedCheckpoint.id)
        .where(IssuedCheckpoint.tree_size >= size, IssuedCheckpoint.key_id == key_id)
        .order_by(IssuedCheckpoint.tree_size.desc(), IssuedCheckpoint.id.desc()).limit(1)).first()
    if row is None:
        return None
    head = tree_head(session, row)
    proof = consistency_proof(session, size, row.tree_size)
    return WitnessedCheckpoint(head.note.encode("utf-8"), row.tree_size, tuple(c.line for c in head.cosignatures),
                               tuple(proof.proof))
