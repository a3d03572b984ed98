"""The auditor's verification: re-hash stored bytes and re-check the whole ledger.

A run trusts neither the database nor the blob store. It signs a fresh tree head over the
stored tree, proves every kept checkpoint consistent with it (each signature checked with a
key the server holds as a file, so a key row added to the database proves nothing), rebuilds
the tree from the leaves themselves and compares every stored node, checks each leaf against
the columns it was built from and against the chain of `prev_leaf_hash`, and re-hashes every
stored object. Findings are collected, not raised: one tampered item never hides another.

The judging is done by `evidence/ledger/verify.py` and `merkle.py`, the same code the offline
bundle verifier uses; this module only fetches what they judge, in short transactions so that
a long sweep never holds the SQLite write lock.
"""
from __future__ import annotations

import base64
import secrets
import hashlib
import logging
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import JSON, Float, Integer, String, Text, and_, event, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.actor import Actor
from core.clock import utcnow
from core.db import Base, uuid_pk
from core.errors import Forbidden, NotFound, ValidationFailed
from core.jobs import job
from core.keys import LedgerKey, key_path, read_key_file
from evidence.custody import (
    NODE_LEVELS, Checkpoint, CustodyEvent, LedgerHead, LedgerNode, SigningKey, rebuild_leaf, record_custody_event,
)
from evidence.ledger import checkpoint as c2sp
from evidence.ledger import merkle
from evidence.ledger.leaf import ZERO_HASH_HEX, LeafFormatError, leaf_hash_hex, parse_leaf
from evidence.ledger.verify import VerificationError, open_kept_checkpoint, verify_event, verify_kept_checkpoint
from evidence.ledger_service import (
    LedgerCorrupted,
    TreeHead,
    consistency_keys,
    fetch_nodes,
    inclusion_keys,
    issue_checkpoint,
    signed_stored_head,
    tree_head,
    with_stored_nodes,
)

log = logging.getLogger("fieldproof.verification")

SCOPES = ("evidence", "case", "all")
STATUSES = ("queued", "running", "passed", "failed", "error")
VERIFIERS = ("auditor", "admin")
EVENT_CHUNK = 2000
READ_SIZE = 1 << 20
MAX_REPORTED_FAILURES = 1000
PROGRESS_EVERY_SECONDS = 1.0


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
    # the lease of the delivery running it: a run whose heartbeat stopped died with its process
    runner: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def kept_checkpoint_count(self) -> int:
        return len(self.kept_checkpoints or [])


# --- requesting and reading -------------------------------------------------------------------


def _evidence_item_model():
    from evidence.models import EvidenceItem

    return EvidenceItem


MAX_KEPT_CHECKPOINTS = 100


def request_verification(session: Session, actor: Actor, jobs, *, scope: str, subject_id: str | None = None,
                         kept_checkpoints: list[str] | None = None) -> Verification:
    """Queue a verification; the job is submitted only once the request's transaction commits."""
    if not actor.has_role(*VERIFIERS):
        raise Forbidden("only auditors and admins run verifications")
    if scope not in SCOPES:
        raise ValidationFailed("unknown scope", errors={"scope": [f"one of {', '.join(SCOPES)}"]})
    if scope == "all" and subject_id is not None:
        raise ValidationFailed("scope all takes no id", errors={"id": ["not allowed with scope all"]})
    if scope != "all" and not subject_id:
        raise ValidationFailed(f"scope {scope} needs the id of the {scope}", errors={"id": ["required"]})
    if scope == "evidence" and session.get(_evidence_item_model(), subject_id) is None:
        raise NotFound("no such evidence item")
    if kept_checkpoints and len(kept_checkpoints) > MAX_KEPT_CHECKPOINTS:
        raise ValidationFailed("too many kept checkpoints",
                               errors={"checkpoints": [f"at most {MAX_KEPT_CHECKPOINTS}"]})
    verification = Verification(scope=scope, subject_id=subject_id, requested_by=actor.id, status="queued",
                                progress=0.0, checked=0, failed=0, failures=[], created_at=utcnow(),
                                kept_checkpoints=list(kept_checkpoints) or None if kept_checkpoints else None,
                                attempts=0)
    session.add(verification)
    session.flush()
    submit_after_commit(session, jobs, "verification.run", {"verification_id": verification.id})
    return verification


def submit_after_commit(session: Session, jobs, name: str, payload: dict) -> None:
    """A job must never start before the row it works on is visible to other connections."""

    def submit(_session):
        jobs.submit(name, payload)

    event.listen(session, "after_commit", submit, once=True)


def get_verification(session: Session, actor: Actor, verification_id: str) -> Verification:
    if not actor.has_role(*VERIFIERS):
        raise Forbidden("only auditors and admins read verifications")
    verification = session.get(Verification, verification_id)
    if verification is None:
        raise NotFound("no such verification")
    return verification


def list_verifications(actor: Actor):
    if not actor.has_role(*VERIFIERS):
        raise Forbidden("only auditors and admins read verifications")
    return select(Verification).order_by(Verification.created_at.desc(), Verification.id)


# --- the report -------------------------------------------------------------------------------


@dataclass
class Report:
    """Findings gathered over a run: each names the item (when there is one) and a problem code."""

    checked: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    failed_subjects: set[str] = field(default_factory=set)
    omitted: int = 0

    def fail(self, subject: str, problem: str, detail: str, *, evidence_id: str | None = None,
             ledger_index: int | None = None) -> None:
        self.failed_subjects.add(subject)
        if len(self.failures) >= MAX_REPORTED_FAILURES:
            self.omitted += 1
            return
        finding = {"evidence_id": evidence_id, "problem": problem, "subject": subject, "detail": detail}
        if ledger_index is not None:
            finding["ledger_index"] = ledger_index
        self.failures.append(finding)

    def fail_with(self, subject: str, error: VerificationError, **where) -> None:
        self.fail(subject, error.code, str(error), **where)

    @property
    def failed(self) -> int:
        return len(self.failed_subjects)


# --- the run ----------------------------------------------------------------------------------


def trusted_keys(runtime) -> dict[str, LedgerKey]:
    """The keys this server holds as files: the current one and every retired one beside it."""
    keys = {runtime.signer.key_id: runtime.signer.key}
    path = key_path(runtime.settings)
    for retired in sorted(path.parent.glob(f"{path.stem}.*.retired{path.suffix}")):
        key = read_key_file(retired)
        keys[key.key_id] = key
    return keys


def trusted_public_keys(runtime) -> dict[str, Ed25519PublicKey]:
    return {key_id: key.public_key for key_id, key in trusted_keys(runtime).items()}


@dataclass(frozen=True)
class KeptCheckpointCheck:
    """What `POST /ledger/checkpoints/verify` answers: the judged note, the head it was proven
    against (kept, so the auditor can keep it too), the proof, and any named problems."""

    status: str
    origin: str | None
    tree_size: int | None
    root_hash: str | None
    key_id: str | None
    current: TreeHead
    proof: list[str]
    failures: list[dict[str, Any]]


def judge_kept_checkpoint(session: Session, note: str, keys: dict[str, Ed25519PublicKey],
                          current: c2sp.SignedCheckpoint, current_key: Ed25519PublicKey,
                          origin: str, subject: str = "kept checkpoint") -> tuple[c2sp.Checkpoint | None, str | None,
                                                                                   list[str], list[dict[str, Any]]]:
    """One auditor-kept signed note against a signed head of the stored tree.

    The note must verify with a key the server holds as a file (a key row in the database
    proves nothing); then the stored tree must extend it: a smaller tree is a rollback
    (`tree_size_regressed`) even when every later checkpoint was deleted with it, and a
    proof that does not hold is a rewritten log (`consistency_failed`). Returns the kept
    checkpoint, its key id, the proof (hex) and the failures.
    """
    def failure(problem: str, detail: str) -> dict[str, Any]:
        return {"evidence_id": None, "problem": problem, "subject": subject, "detail": detail}

    try:
        kept, kept_key_id = open_kept_checkpoint(note.encode("utf-8"), keys, origin)
    except VerificationError as error:
        return None, None, [], [failure(error.code, str(error))]
    except UnicodeEncodeError:
        return None, None, [], [failure("note_malformed", "the note is not UTF-8 text")]
    checkpoint, proof = kept.checkpoint, []
    if checkpoint.tree_size <= current.checkpoint.tree_size:
        try:
            proof = with_stored_nodes(session, lambda get: merkle.consistency_proof(
                get, checkpoint.tree_size, current.checkpoint.tree_size),
                keys=consistency_keys(checkpoint.tree_size, current.checkpoint.tree_size))
        except LedgerCorrupted as error:
            return checkpoint, kept_key_id, [], [failure("consistency_failed", error.detail)]
    try:
        verify_kept_checkpoint(kept=kept, kept_key=keys[kept_key_id], current=current, current_key=current_key,
                               proof=proof)
    except VerificationError as error:
        code = error.code if error.code == "tree_size_regressed" else "consistency_failed"
        detail = str(error) if code == "tree_size_regressed" else \
            f"the stored tree ({current.checkpoint.tree_size} leaves) does not extend the kept checkpoint " \
            f"({checkpoint.tree_size} leaves): {error}"
        return checkpoint, kept_key_id, [node.hex() for node in proof], [failure(code, detail)]
    return checkpoint, kept_key_id, [node.hex() for node in proof], []


def check_kept_checkpoint(session: Session, actor: Actor, runtime, note: str) -> KeptCheckpointCheck:
    """Judge a checkpoint an auditor kept against a freshly signed head of the stored tree."""
    if not actor.has_role(*VERIFIERS):
        raise Forbidden("only auditors and admins verify kept checkpoints")
    origin = runtime.settings.ledger_origin
    row = signed_stored_head(session, runtime.signer, origin)
    head_key = runtime.signer.key.public_key
    current = c2sp.SignedCheckpoint(c2sp.verify_checkpoint_signature(
        head_key, row.body.encode("utf-8"), base64.b64decode(row.signature)), base64.b64decode(row.signature))
    checkpoint, kept_key_id, proof, failures = judge_kept_checkpoint(
        session, note, trusted_public_keys(runtime), current, head_key, origin)
    if failures and failures[0]["problem"] == "note_malformed":  # not a signed note at all: refused
        raise ValidationFailed("not a C2SP signed note", errors={"note": [failures[0]["detail"]]})
    return KeptCheckpointCheck(
        status="failed" if failures else "passed",
        origin=checkpoint.origin if checkpoint else None, tree_size=checkpoint.tree_size if checkpoint else None,
        root_hash=checkpoint.root_hash_hex if checkpoint else None, key_id=kept_key_id,
        current=tree_head(session, row), proof=proof, failures=failures)


class Sweep:
    """One verification run over a runtime; every database read is its own short transaction."""

    def __init__(self, runtime, verification: Verification):
        self.runtime = runtime
        self.db = runtime.db
        self.verification_id = verification.id
        self.scope = verification.scope
        self.subject_id = verification.subject_id
        self.kept_checkpoints = list(verification.kept_checkpoints or [])
        self.report = Report()
        self.head: c2sp.SignedCheckpoint | None = None
        self.head_key: Ed25519PublicKey | None = None
        self.units_total = 1
        self.units_done = 0
        self._last_progress = time.monotonic()

    # progress, written from time to time so a poller sees the run move
    def advance(self, units: int = 1) -> None:
        self.units_done += units
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY_SECONDS:
            self._last_progress = now
            with self.db.transaction() as session:
                row = session.get(Verification, self.verification_id)
                row.progress = min(0.99, self.units_done / max(1, self.units_total))
                row.checked = self.report.checked
                row.failed = self.report.failed

    def run(self) -> Report:
        self.items = self.items_in_scope()
        with self.db.transaction() as session:
            events = session.scalar(select(func.count()).select_from(CustodyEvent)) if self.scope == "all" \
                else len(self.events_in_scope(session))
            checkpoints = session.scalar(select(func.count()).select_from(Checkpoint))
        self.units_total = sum(size for _, _, size, _, _ in self.items) // READ_SIZE + len(self.items) \
            + events + checkpoints + len(self.kept_checkpoints) + 1
        self.take_tree_head()
        self.check_checkpoints()
        if self.scope == "all":
            self.check_whole_ledger()
        else:
            self.check_scoped_events()
        self.check_blobs()
        return self.report

    # --- scope

    def items_in_scope(self) -> list[tuple[str, str, int, str | None, str]]:
        """(id, sha256, size, case_id, status) of every evidence item the run covers."""
        item = _evidence_item_model()
        query = select(item.id, item.sha256, item.size, item.case_id, item.status).order_by(item.id)
        if self.scope == "evidence":
            query = query.where(item.id == self.subject_id)
        elif self.scope == "case":
            query = query.where(item.case_id == self.subject_id)
        with self.db.transaction() as session:
            return [tuple(row) for row in session.execute(query)]

    def events_in_scope(self, session: Session) -> list[CustodyEvent]:
        ids = [item_id for item_id, *_ in self.items]
        query = select(CustodyEvent).order_by(CustodyEvent.ledger_index)
        if self.scope == "evidence":
            query = query.where(CustodyEvent.evidence_id == self.subject_id)
        else:
            conditions = [CustodyEvent.case_id == self.subject_id]
            for start in range(0, len(ids), 500):
                conditions.append(CustodyEvent.evidence_id.in_(ids[start:start + 500]))
            query = query.where(or_(*conditions))
        return list(session.scalars(query))

    # --- tree heads

    def take_tree_head(self) -> None:
        """Sign the stored tree as it is now: the head every other check is proven against.

        A new checkpoint rather than the latest kept one, which may itself be what was forged.
        """
        try:
            with self.db.transaction() as session:
                row = issue_checkpoint(session, self.runtime.signer, self.runtime.settings.ledger_origin)
                body, signature = row.body.encode("utf-8"), base64.b64decode(row.signature)
        except LedgerCorrupted as error:
            self.report.fail("ledger", "ledger_nodes_missing", error.detail)
            return
        self.head_key = self.runtime.signer.key.public_key
        self.head = c2sp.SignedCheckpoint(c2sp.verify_checkpoint_signature(self.head_key, body, signature), signature)
        with self.db.transaction() as session:
            row = session.get(Verification, self.verification_id)
            row.tree_size = self.head.checkpoint.tree_size
            row.root_hash = self.head.checkpoint.root_hash_hex

    def check_checkpoints(self) -> None:
        """Every kept checkpoint: signed by a key we hold, and a prefix of the current tree."""
        keys = trusted_keys(self.runtime)
        last_id = 0
        while True:
            with self.db.transaction() as session:
                rows = list(session.scalars(select(Checkpoint).where(Checkpoint.id > last_id)
                                            .order_by(Checkpoint.id).limit(500)))
                if not rows:
                    break
                for row in rows:
                    self.check_checkpoint(session, row, keys)
                last_id = rows[-1].id
            self.advance(len(rows))
        self.check_kept_checkpoints(keys)
        with self.db.transaction() as session:
            for key_row in session.scalars(select(SigningKey)):
                held = keys.get(key_row.key_id)
                if held is None or held.public_raw != bytes(key_row.public_key):
                    self.report.checked += 1
                    self.report.fail(f"signing key {key_row.key_id}", "signing_key_unknown",
                                     "a key recorded in the database is not one the server holds")

    def check_kept_checkpoints(self, keys: dict[str, LedgerKey]) -> None:
        """The checkpoints the auditor kept: what catches a rollback that deleted later checkpoints."""
        public_keys = {key_id: key.public_key for key_id, key in keys.items()}
        for number, note in enumerate(self.kept_checkpoints, start=1):
            self.report.checked += 1
            subject = f"kept checkpoint {number}"
            if self.head is None:
                self.report.fail(subject, "consistency_failed", "no signed head of the stored tree to prove it against")
                continue
            with self.db.transaction() as session:
                _, _, _, failures = judge_kept_checkpoint(session, note, public_keys, self.head, self.head_key,
                                                          self.runtime.settings.ledger_origin, subject)
            for finding in failures:
                self.report.fail(subject, finding["problem"], finding["detail"])

    def check_checkpoint(self, session: Session, row: Checkpoint, keys: dict[str, LedgerKey]) -> None:
        subject = f"checkpoint {row.id}"
        self.report.checked += 1
        key = keys.get(row.key_id)
        if key is None:
            self.report.fail(subject, "signing_key_unknown", f"signed by key {row.key_id}, which the server does not hold")
            return
        try:
            signature = base64.b64decode(row.signature, validate=True)
            checkpoint = c2sp.verify_checkpoint_signature(key.public_key, row.body.encode("utf-8"), signature)
        except VerificationError as error:
            self.report.fail_with(subject, error)
            return
        except ValueError:
            self.report.fail(subject, "signature_malformed", "the signature is not base64")
            return
        if checkpoint.origin != self.runtime.settings.ledger_origin:
            self.report.fail(subject, "origin_mismatch", f"checkpoint is for log {checkpoint.origin!r}")
        if checkpoint.tree_size != row.tree_size or checkpoint.root_hash_hex != row.root_hash:
            self.report.fail(subject, "checkpoint_mismatch", "the stored size or root differs from the signed body")
        if self.head is None:
            return
        current = self.head.checkpoint
        if checkpoint.tree_size > current.tree_size:
            self.report.fail(subject, "tree_size_regressed",
                             f"a checkpoint signed {checkpoint.tree_size} leaves; the ledger now has "
                             f"{current.tree_size}: the log was rolled back")
            return
        try:
            proof = with_stored_nodes(session, lambda get: merkle.consistency_proof(
                get, checkpoint.tree_size, current.tree_size),
                keys=consistency_keys(checkpoint.tree_size, current.tree_size))
            if checkpoint.tree_size == 0:
                if checkpoint.root_hash != merkle.EMPTY_ROOT:
                    raise merkle.RootMismatchError("empty tree", expected_root=merkle.EMPTY_ROOT,
                                                   calculated_root=checkpoint.root_hash)
            else:
                merkle.verify_consistency(checkpoint.tree_size, current.tree_size, proof,
                                          checkpoint.root_hash, current.root_hash)
        except VerificationError as error:
            self.report.fail(subject, "consistency_failed",
                             f"the current tree does not extend checkpoint {row.id} (size {checkpoint.tree_size}): {error}")
        except LedgerCorrupted as error:
            self.report.fail(subject, "consistency_failed", error.detail)

    # --- the whole ledger, rebuilt from its leaves

    def check_whole_ledger(self) -> None:
        """Rebuild the tree from the leaves: each stored node, the chain and the head must agree."""
        with self.db.transaction() as session:
            head = session.get(LedgerHead, 1)
            claimed = head.size if head else 0
        if head is None:
            self.report.fail("ledger head", "head_missing", "the ledger head row is gone")
        frontier: dict[int, tuple[int, bytes]] = {}

        def get_rebuilt(level: int, index: int) -> bytes:
            return frontier_node(frontier, level, index)

        def append(index: int, digest: bytes, rebuilt: dict[tuple[int, int], bytes]) -> None:
            for level, node_index, node in merkle.completed_subtrees(index, digest, get_rebuilt):
                frontier[level] = (node_index, node)
                rebuilt[(level, node_index)] = node

        expected_index = 0
        previous = ZERO_HASH_HEX
        self.rebuildable = True
        while True:
            with self.db.transaction() as session:
                events = list(session.scalars(select(CustodyEvent).where(CustodyEvent.ledger_index >= expected_index)
                                              .order_by(CustodyEvent.ledger_index).limit(EVENT_CHUNK)))
                if not events:
                    break
                rebuilt: dict[tuple[int, int], bytes] = {}
                for ev in events:
                    while expected_index < ev.ledger_index:
                        # A deleted event: report it, and carry on with its stored leaf hash so that
                        # the rest of the log is still judged on its own merits.
                        self.report.fail(f"ledger index {expected_index}", "event_missing",
                                         f"ledger index {expected_index} has no custody event",
                                         ledger_index=expected_index)
                        stored = fetch_nodes(session, [(0, expected_index)]).get((0, expected_index))
                        if stored is None:
                            self.rebuildable = False
                            stored = bytes(merkle.HASH_SIZE)
                        append(expected_index, stored, rebuilt)
                        previous = stored.hex()
                        expected_index += 1
                    digest = self.check_event_row(ev, expected_index, previous)
                    append(expected_index, digest, rebuilt)
                    previous = digest.hex()
                    expected_index += 1
                if self.rebuildable:
                    self.compare_nodes(session, rebuilt, events)
            self.advance(len(events))
        self.rebuilt_size = expected_index
        self.check_head(claimed, previous, head is not None)
        self.check_stray_nodes(expected_index)
        if not self.rebuildable:
            self.report.fail("ledger", "ledger_unrebuildable",
                             "events and their stored leaf hashes are both gone: the tree cannot be rebuilt")
        elif self.head is not None:
            root = merkle.EMPTY_ROOT if expected_index == 0 else merkle.subtree_root(get_rebuilt, 0, expected_index)
            if expected_index != self.head.checkpoint.tree_size or root != self.head.checkpoint.root_hash:
                self.report.fail("ledger", "root_mismatch",
                                 f"the leaves ({expected_index}) hash to {root.hex()}, the stored tree "
                                 f"({self.head.checkpoint.tree_size}) to {self.head.checkpoint.root_hash_hex}")

    def check_event_row(self, ev: CustodyEvent, position: int, previous: str) -> bytes:
        """One stored event: columns rebuild the leaf, the leaf is canonical, hashes and chain hold."""
        subject = f"ledger index {ev.ledger_index}"
        where = {"evidence_id": ev.evidence_id, "ledger_index": ev.ledger_index}
        self.report.checked += 1
        leaf = ev.leaf.encode("utf-8")
        digest = merkle.leaf_hash(leaf)
        try:
            fields = parse_leaf(leaf)
        except LeafFormatError as error:
            self.report.fail_with(subject, error, **where)
            fields = {}
        if fields and fields.get("index") != position:
            self.report.fail(subject, "ledger_index_mismatch",
                             f"the leaf says index {fields.get('index')}, but it stands at position {position}", **where)
        try:
            if rebuild_leaf(ev) != leaf:
                self.report.fail(subject, "event_edited", "the event's columns no longer rebuild its leaf", **where)
        except (LeafFormatError, ValueError) as error:
            self.report.fail(subject, "event_edited", f"the event's columns do not form a leaf: {error}", **where)
        if digest.hex() != ev.leaf_hash:
            self.report.fail(subject, "leaf_hash_mismatch", "the stored leaf hash is not the hash of the leaf", **where)
        if fields and fields.get("prev_leaf_hash") != previous:
            self.report.fail(subject, "leaf_chain_broken",
                             "the leaf does not name the hash of the leaf before it", **where)
        return digest

    def compare_nodes(self, session: Session, rebuilt: dict[tuple[int, int], bytes],
                      events: list[CustodyEvent]) -> None:
        stored = fetch_nodes(session, rebuilt)
        evidence_at = {ev.ledger_index: ev.evidence_id for ev in events}
        for (level, index), node in rebuilt.items():
            found = stored.get((level, index))
            if found == node:
                continue
            leaf = (index + 1) * (1 << level) - 1
            self.report.fail(f"ledger node {level}/{index}", "node_missing" if found is None else "node_mismatch",
                             f"the stored node over leaves {index << level}..{leaf} "
                             f"{'is missing' if found is None else 'disagrees with the leaves'}",
                             evidence_id=evidence_at.get(leaf))

    def check_head(self, claimed: int, last_leaf_hash: str, present: bool) -> None:
        self.report.checked += 1
        if not present:
            return
        with self.db.transaction() as session:
            head = session.get(LedgerHead, 1)
        if claimed != self.rebuilt_size:
            self.report.fail("ledger head", "head_mismatch",
                             f"the head counts {claimed} leaves, the ledger holds {self.rebuilt_size}: "
                             + ("leaves were inserted" if self.rebuilt_size > claimed else "leaves were removed"))
        elif head.last_leaf_hash != last_leaf_hash:
            self.report.fail("ledger head", "head_mismatch", "the head's last leaf hash is not the last leaf's")

    def check_stray_nodes(self, size: int) -> None:
        """Nodes over leaves the log does not have: left behind by a rollback or forged."""
        with self.db.transaction() as session:
            strays = session.execute(select(LedgerNode.level, func.count())
                                     .where(LedgerNode.position >= size * NODE_LEVELS)
                                     .group_by(LedgerNode.level).order_by(LedgerNode.level)).all()
        for level, stray in strays:
            self.report.fail(f"ledger nodes at level {level}", "node_outside_tree",
                             f"{stray} stored node(s) at level {level} cover leaves beyond the {size} in the log")

    # --- scoped events, each proven against the signed head

    def check_scoped_events(self) -> None:
        with self.db.transaction() as session:
            events = self.events_in_scope(session)
            for ev in events:
                self.check_scoped_event(session, ev)
        self.advance(len(events))

    def check_scoped_event(self, session: Session, ev: CustodyEvent) -> None:
        subject = f"ledger index {ev.ledger_index}"
        where = {"evidence_id": ev.evidence_id, "ledger_index": ev.ledger_index}
        previous = ZERO_HASH_HEX
        if ev.ledger_index > 0:
            before = session.get(CustodyEvent, ev.ledger_index - 1)
            if before is not None:
                previous = leaf_hash_hex(before.leaf.encode("utf-8"))
            else:
                self.report.fail(f"ledger index {ev.ledger_index - 1}", "event_missing",
                                 f"ledger index {ev.ledger_index - 1} has no custody event",
                                 ledger_index=ev.ledger_index - 1)
                stored = fetch_nodes(session, [(0, ev.ledger_index - 1)]).get((0, ev.ledger_index - 1))
                previous = stored.hex() if stored is not None else ZERO_HASH_HEX
        self.check_event_row(ev, ev.ledger_index, previous)
        if self.head is None:
            return
        try:
            path = with_stored_nodes(session, lambda get: merkle.inclusion_proof(
                get, ev.ledger_index, self.head.checkpoint.tree_size),
                keys=inclusion_keys(ev.ledger_index, self.head.checkpoint.tree_size))
            verify_event(leaf=ev.leaf.encode("utf-8"), leaf_hash=merkle.leaf_hash(ev.leaf.encode("utf-8")),
                         ledger_index=ev.ledger_index, audit_path=path, signed_checkpoint=self.head,
                         public_key=self.head_key, origin=self.runtime.settings.ledger_origin)
        except VerificationError as error:
            self.report.fail(subject, "not_in_tree", f"the leaf is not in the signed tree: {error}", **where)
        except LedgerCorrupted as error:
            self.report.fail(subject, "not_in_tree", error.detail, **where)

    # --- stored bytes

    def check_blobs(self) -> None:
        """Re-hash every stored object, streaming; the recorded hash and every event must agree."""
        from evidence.storage.base import BlobNotFound

        recorded = self.recorded_hashes()
        for item_id, sha256, size, _case_id, status in self.items:
            if status != "sealed":  # pending uploads and rejected items have no bytes of record
                continue
            subject = f"evidence {item_id}"
            self.report.checked += 1
            try:
                digest, length = hash_blob(self.runtime.blobs, sha256)
            except BlobNotFound:
                self.report.fail(subject, "blob_missing", f"no stored bytes for sha256 {sha256}", evidence_id=item_id)
                self.advance(1)
                continue
            if digest != sha256:
                self.report.fail(subject, "blob_hash_mismatch",
                                 f"the stored bytes hash to {digest}, the item records {sha256}", evidence_id=item_id)
            elif size is not None and length != size:
                self.report.fail(subject, "blob_size_mismatch",
                                 f"{length} bytes stored, the item records {size}", evidence_id=item_id)
            events = recorded.get(item_id, [])
            if not events:
                self.report.fail(subject, "custody_missing", "the item has no custody event in the ledger",
                                 evidence_id=item_id)
            for index, event_sha in events:
                if event_sha is not None and event_sha != sha256:
                    self.report.fail(subject, "evidence_hash_mismatch",
                                     f"ledger index {index} records sha256 {event_sha}, the item {sha256}",
                                     evidence_id=item_id, ledger_index=index)
            self.advance(1 + length // READ_SIZE)

    def recorded_hashes(self) -> dict[str, list[tuple[int, str | None]]]:
        ids = [item_id for item_id, *_ in self.items]
        recorded: dict[str, list[tuple[int, str | None]]] = {}
        with self.db.transaction() as session:
            for start in range(0, len(ids), 500):
                rows = session.execute(select(CustodyEvent.evidence_id, CustodyEvent.ledger_index, CustodyEvent.sha256)
                                       .where(CustodyEvent.evidence_id.in_(ids[start:start + 500])))
                for evidence_id, index, sha256 in rows:
                    recorded.setdefault(evidence_id, []).append((index, sha256))
        return recorded


def frontier_node(frontier: dict[int, tuple[int, bytes]], level: int, index: int) -> bytes:
    stored_index, node = frontier[level]
    if stored_index != index:
        raise KeyError((level, index))
    return node


def hash_blob(blobs, sha256: str) -> tuple[str, int]:
    """SHA-256 and length of a stored object, streamed.

    A blob that is a regular file (the filesystem store) is read with `preadv` into two reused
    buffers while a helper thread hashes the one read before (hashlib releases the GIL on big
    updates), so the reading hides behind the hashing; other streams (S3 bodies) with
    `readinto`, or `read`.

    Never memory maps: a blob truncated by someone else *while* it is mapped ends the whole
    process with SIGBUS instead of producing a finding, and truncation is exactly what an
    auditor must see reported. Reads just come back short.
    """
    with blobs.open(sha256) as stream:
        fileno = _regular_file(stream)
        if fileno is not None:
            return _hash_file(fileno)
        return _hash_stream(stream)


FILE_READ_SIZE = 4 << 20  # per preadv: long enough that handing it to the hasher costs ~nothing
_PREADV = hasattr(os, "preadv")
_hasher: ThreadPoolExecutor | None = None
_hasher_lock = threading.Lock()


def _hashing_thread() -> ThreadPoolExecutor:
    """Threads that run `digest.update` while the caller reads the next block (made on first use)."""
    global _hasher
    with _hasher_lock:
        if _hasher is None:
            _hasher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fieldproof-hash")
        return _hasher


def _regular_file(stream) -> int | None:
    """The descriptor behind `stream` when it is an unread regular file, else None."""
    try:
        fileno = stream.fileno()
        if stream.tell() != 0 or not stat.S_ISREG(os.fstat(fileno).st_mode):
            return None
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    return fileno if _PREADV else None


_local = threading.local()


def _read_buffers() -> tuple[tuple[bytearray, bytearray], tuple[memoryview, memoryview]]:
    """This thread's two read buffers, made once: zeroing 8 MiB per blob would cost a millisecond."""
    pair = getattr(_local, "buffers", None)
    if pair is None or len(pair[0][0]) != FILE_READ_SIZE:
        buffers = (bytearray(FILE_READ_SIZE), bytearray(FILE_READ_SIZE))
        pair = _local.buffers = (buffers, (memoryview(buffers[0]), memoryview(buffers[1])))
    return pair


def _hash_file(fileno: int) -> tuple[str, int]:
    """Read block n+1 while block n is hashed; the length is what the reads returned, not fstat's.

    Each buffer is read again only after the hash of its previous contents has finished, so the
    digest sees the bytes in order, exactly once. A file that fits one block is hashed inline.
    """
    digest = hashlib.sha256()
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fileno, 0, 0, os.POSIX_FADV_SEQUENTIAL)  # deeper readahead when not cached
    buffers, views = _read_buffers()
    length, turn, pending = 0, 0, None
    try:
        while True:
            count = os.preadv(fileno, [buffers[turn]], length)
            if pending is not None:
                pending.result()
                pending = None
            if not count:
                break
            if length == 0 and count < FILE_READ_SIZE:
                digest.update(views[turn][:count])  # small blob: a thread hand-off would cost more
            else:
                pending = _hashing_thread().submit(digest.update, views[turn][:count])
            length += count
            turn ^= 1
    finally:
        if pending is not None:
            pending.result()
    return digest.hexdigest(), length


def _hash_stream(stream) -> tuple[str, int]:
    digest = hashlib.sha256()
    length = 0
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        buffer = bytearray(READ_SIZE)
        view = memoryview(buffer)
        while count := readinto(buffer):
            digest.update(view[:count])
            length += count
    else:
        while chunk := stream.read(READ_SIZE):
            digest.update(chunk)
            length += len(chunk)
    return digest.hexdigest(), length


# --- the job ----------------------------------------------------------------------------------


HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 60.0  # a running verification whose heartbeat is older died with its process
QUEUED_GRACE_SECONDS = 60.0  # a queued one older than this lost its job (or waits behind a long one)


def _claim(runtime, verification_id: str, runner: str) -> Verification | None:
    """Take the run: queued, or running under a lease that lapsed. One statement, so of two
    deliveries (a re-submission and the original, say) exactly one wins."""
    now = utcnow()
    claimable = or_(Verification.status == "queued",
                    and_(Verification.status == "running",
                         or_(Verification.heartbeat_at.is_(None),
                             Verification.heartbeat_at < now - timedelta(seconds=STALE_AFTER_SECONDS))))
    with runtime.db.transaction() as session:
        claimed = session.execute(
            update(Verification).where(Verification.id == verification_id, claimable)
            .values(status="running", runner=runner, heartbeat_at=now, attempts=Verification.attempts + 1,
                    started_at=now, progress=0.0, checked=0, failed=0, failures=[], error=None)
            .execution_options(synchronize_session=False)).rowcount
        return session.get(Verification, verification_id) if claimed == 1 else None


class _Heartbeat:
    """Renews the run's lease every HEARTBEAT_SECONDS from a side thread, whatever the sweep is
    doing (one huge blob can take minutes); stops when the run ends or another runner took over."""

    def __init__(self, runtime, verification_id: str, runner: str):
        self.runtime, self.verification_id, self.runner = runtime, verification_id, runner
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="fieldproof-verification-lease", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._stopped.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS)

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            try:
                with self.runtime.db.transaction() as session:
                    session.execute(update(Verification).where(Verification.id == self.verification_id,
                                                               Verification.runner == self.runner)
                                    .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False))
            except SQLAlchemyError:
                log.warning("verification heartbeat failed", extra={"verification_id": self.verification_id})


def _owned(session: Session, verification_id: str, runner: str) -> Verification | None:
    """The row, if this runner still holds it (a lapsed lease may have passed it to another)."""
    row = session.get(Verification, verification_id)
    return row if row is not None and row.runner == runner else None


@job("verification.run")
def run_verification(runtime, verification_id: str) -> None:
    """Run one verification once: a delivery of a finished one, or of one another runner holds
    with a live heartbeat, does nothing (jobs may be delivered twice, and are re-submitted)."""
    runner = secrets.token_hex(16)
    verification = _claim(runtime, verification_id, runner)
    if verification is None:
        return
    try:
        with _Heartbeat(runtime, verification_id, runner):
            report = Sweep(runtime, verification).run()
    except Exception as exc:  # noqa: BLE001 - an unexpected fault is an error state, not a finding
        log.exception("verification crashed", extra={"verification_id": verification_id})
        with runtime.db.transaction() as session:
            row = _owned(session, verification_id, runner)
            if row is not None:
                row.status = "error"
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                row.finished_at = utcnow()
        return
    with runtime.db.transaction() as session:
        row = _owned(session, verification_id, runner)
        if row is None:
            log.warning("verification taken over by another runner", extra={"verification_id": verification_id})
            return
        row.status = "passed" if not report.failed_subjects else "failed"
        row.progress = 1.0
        row.checked = report.checked
        row.failed = report.failed
        row.failures = report.failures + (
            [{"evidence_id": None, "problem": "failures_omitted", "subject": "report",
              "detail": f"{report.omitted} further failures not listed"}] if report.omitted else [])
        row.finished_at = utcnow()
        row.heartbeat_at = row.finished_at
    try:
        with runtime.db.transaction() as session:
            record_verified_event(session, runtime, session.get(Verification, verification_id))
    except SQLAlchemyError as exc:
        # Only a ledger damaged behind its own back refuses an append; the report stands.
        log.error("verified event not recorded", extra={"verification_id": verification_id,
                                                        "error_type": type(exc).__name__})
        with runtime.db.transaction() as session:
            session.get(Verification, verification_id).error = \
                "the verified custody event could not be appended: the ledger head disagrees with its events"


def stalled_verifications(session: Session, *, queued_grace_seconds: float = QUEUED_GRACE_SECONDS) -> list[str]:
    """Ids of runs nobody is working on: queued past the grace, or running with a lapsed lease."""
    now = utcnow()
    return list(session.scalars(select(Verification.id).where(or_(
        and_(Verification.status == "queued",
             Verification.created_at <= now - timedelta(seconds=queued_grace_seconds)),
        and_(Verification.status == "running",
             or_(Verification.heartbeat_at.is_(None),
                 Verification.heartbeat_at < now - timedelta(seconds=STALE_AFTER_SECONDS))),
    )).order_by(Verification.created_at, Verification.id)))


@job("verification.resume")
def resume_verifications(runtime, queued_grace_seconds: float = QUEUED_GRACE_SECONDS) -> list[str]:
    """Re-submit verifications lost with a dead process (the thread runner's queue is in memory,
    and a worker can die mid-run). Safe to run any time: `run_verification` claims a run before
    working on it, so a re-submitted run that is in fact alive elsewhere is left alone."""
    with runtime.db.transaction() as session:
        ids = stalled_verifications(session, queued_grace_seconds=queued_grace_seconds)
    for verification_id in ids:
        runtime.jobs.submit("verification.run", {"verification_id": verification_id})
    if ids:
        log.info("verifications re-submitted", extra={"count": len(ids)})
    return ids


def record_verified_event(session: Session, runtime, verification: Verification) -> None:
    """The verification itself enters the custody record of what it verified."""
    details = {"verification_id": verification.id, "scope": verification.scope, "status": verification.status,
               "checked": verification.checked, "failed": verification.failed,
               "tree_size": verification.tree_size, "root_hash": verification.root_hash}
    evidence_id, sha256, case_id = verification.id, None, None
    if verification.scope == "evidence":
        item = session.get(_evidence_item_model(), verification.subject_id)
        evidence_id, sha256, case_id = verification.subject_id, item.sha256 if item else None, item.case_id if item else None
    elif verification.scope == "case":
        case_id = verification.subject_id
    record_custody_event(session, type="verified", evidence_id=evidence_id, actor_id=verification.requested_by,
                         sha256=sha256, case_id=case_id, details={k: v for k, v in details.items() if v is not None})
