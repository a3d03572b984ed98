"""The custody ledger's tables: events (the leaves), stored nodes, the head, keys, checkpoints, verifications."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, uuid_pk

EVENT_TYPES = frozenset({
    "created", "sealed", "viewed", "downloaded", "derived", "packeted", "exported",
    "legal_hold_set", "legal_hold_released", "verified",
    # events about what is not an evidence item: a packet assembled, a checkpoint key rotated
    "packet_built", "key_rotated",
    # a scheduled visit called off or moved (subject: the visit; sha256: of the reason given)
    "visit_cancelled", "visit_rescheduled",
    # a call, message or letter logged (subject: the contact; sha256: of its text as sent, if any)
    "contact_recorded",
})

HEAD_ID = 1
NODE_LEVELS = 64  # a level fits in the low 6 bits of a node's position


class CustodyEvent(Base):
    """One leaf of the ledger; the row keeps the exact leaf text that was hashed.

    `evidence_id` names an evidence item and nothing else; `subject_id` names what an event is
    about when that is not an evidence item (a packet, a signing key, a verification run). The
    leaf has one field for both, `evidence_id`, filled from whichever is set (`leaf_event`):
    leaves written before the two were split name packets there too, and keep their bytes.
    """

    __tablename__ = "custody_events"
    __table_args__ = (CheckConstraint("evidence_id IS NULL OR subject_id IS NULL", name="one_subject"),)

    ledger_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(32))
    evidence_id: Mapped[str | None] = mapped_column(String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(64))  # not indexed: nothing looks events up by it
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict | None] = mapped_column(JSON)
    leaf: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    prev_leaf_hash: Mapped[str] = mapped_column(String(64))
    # The id the event had from the moment it was recorded (given to events older than it by migration
    # 0010), and, for an event that was queued, when it was queued and when a sequencer batch integrated
    # it: integrated_at - queued_at is its merge delay (both null when its own transaction integrated it).
    event_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    queued_at: Mapped[datetime | None]
    integrated_at: Mapped[datetime | None]

    ledger_status = "integrated"


class QueuedCustodyEvent(Base):
    """A custody event recorded but not yet integrated: a sequencer batch gives it its index.

    Written in the recording request's transaction without the head lock; the batch that
    integrates it deletes it in the same transaction as it inserts the leaf, so an event is
    queued or integrated, never both, never neither. `id` is the order batches take it in.
    """

    __tablename__ = "custody_queue"
    __table_args__ = (CheckConstraint("evidence_id IS NULL OR subject_id IS NULL", name="one_subject"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    evidence_id: Mapped[str | None] = mapped_column(String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36))
    actor_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict | None] = mapped_column(JSON)
    queued_at: Mapped[datetime]

    ledger_status = "pending"
    ledger_index = None
    leaf = leaf_hash = prev_leaf_hash = integrated_at = None


def node_position(level: int, index: int) -> int:
    """Where a stored node sits: (its last leaf) · 64 + level.

    Why not (level, index): the nodes one append completes (its leaf and the parents it closes)
    are then neighbours at the end of one B-tree, and the whole table is in the order it was
    written, so an append writes one index page where a (level, index) key wrote one per level.
    A node covers leaves beyond a log of n leaves exactly when its position is >= n · 64.
    """
    return (((index + 1) << level) - 1) * NODE_LEVELS + level


class LedgerNode(Base):
    """A complete subtree's hash: leaves [index·2^level, (index+1)·2^level); written once."""

    __tablename__ = "ledger_nodes"
    __table_args__ = (
        CheckConstraint("position = (((CAST(node_index AS BIGINT) + 1) << level) - 1) * 64 + level", name="position"),
    )

    # INTEGER on SQLite, where that makes it the rowid: one B-tree, no separate key index
    position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                          autoincrement=False)
    level: Mapped[int] = mapped_column(Integer)
    index: Mapped[int] = mapped_column("node_index", Integer)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerHead(Base):
    """The single row every append locks: the log's size and its last leaf hash."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    last_leaf_hash: Mapped[str] = mapped_column(String(64))


class SigningKey(Base):
    """A public checkpoint key, kept after retirement so old checkpoints still verify.

    The private key lives in a file (FIELDPROOF_SIGNING_KEY_FILE), never here.
    """

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="ed25519")
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class IssuedCheckpoint(Base):
    """A signed tree head as issued (the row; `custody.ledger.checkpoint.Checkpoint` is the value).

    Every one is kept so rollbacks can be caught later.
    """

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(Integer, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_keys.key_id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Verification(Base):
    """One requested verification run and its report (kept: an auditor cites it later)."""

    __tablename__ = "verifications"

    id: Mapped[str] = uuid_pk()
    scope: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    checked: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[list] = mapped_column(JSON, default=list)
    tree_size: Mapped[int | None] = mapped_column(Integer)
    root_hash: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # signed notes of checkpoints the auditor kept, each checked against the run's signed head
    kept_checkpoints: Mapped[list | None] = mapped_column(JSON)
    # the published mirror as the run found it (FIELDPROOF_LEDGER_MIRROR; runs of scope all)
    mirror: Mapped[dict | None] = mapped_column(JSON)
    # the lease of the delivery running it: a run whose heartbeat stopped died with its process
    runner: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def kept_checkpoint_count(self) -> int:
        return len(self.kept_checkpoints or [])


class CheckpointTimestamp(Base):
    """An RFC 3161 timestamp token over a checkpoint's signed note, checked when it arrived.

    A row of its own (not columns on `checkpoints`): a checkpoint is signed under the append
    lock and never waits for a TSA; the stamp is added later, and its absence is what
    "pending" means.
    """

    __tablename__ = "checkpoint_timestamps"

    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"), primary_key=True, autoincrement=False)
    token: Mapped[bytes] = mapped_column(LargeBinary)  # DER TimeStampToken (CMS ContentInfo)
    tsa: Mapped[str] = mapped_column(Text)  # the TSA's URL as configured when it stamped
    gen_time: Mapped[datetime]  # the TSA's time (TSTInfo genTime)
    chain_pem: Mapped[str] = mapped_column(Text)  # the certificates to build the TSA's chain offline
    stamped_at: Mapped[datetime] = mapped_column(default=utcnow)


class Witness(Base):
    """A witness an admin registered by its C2SP verifier key; only these may cosign."""

    __tablename__ = "ledger_witnesses"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    vkey: Mapped[str] = mapped_column(Text)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    registered_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckpointCosignature(Base):
    """A witness's verified `cosignature/v1` line on one checkpoint (one per witness)."""

    __tablename__ = "checkpoint_cosignatures"

    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"), primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(ForeignKey("ledger_witnesses.name"), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)  # the cosigner's POSIX time
    line: Mapped[str] = mapped_column(Text)  # the exact signature line, newline included
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
