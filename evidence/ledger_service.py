"""The ledger as the API and jobs see it: tree heads, signed checkpoints and proofs from the DB.

Every proof and root reads only the stored complete subtrees it needs (O(log n) nodes, fetched
in one query), never a scan of the events. Checkpoints are issued on demand, by the head
endpoint when the tree has grown, and by the `ledger.issue_checkpoint` job on a timer; every
one is kept, which is what lets a later verification catch a log that was rolled back.
"""
from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import sync_committed
from core.errors import IntegrityFailure, NotFound, ValidationFailed
from core.jobs import job
from core.keys import LedgerKey, LedgerSigner
from evidence.custody import HEAD_ID, Checkpoint, CustodyEvent, SigningKey, lock_head, node_position
from evidence.ledger import checkpoint as c2sp
from evidence.ledger import merkle

log = logging.getLogger("fieldproof.ledger")

_PLACEHOLDER = bytes(merkle.HASH_SIZE)


class LedgerCorrupted(IntegrityFailure):
    """A stored node a proof needs is missing: the node table no longer matches the log."""

    title = "Ledger storage is inconsistent"


# --- reading stored nodes ---------------------------------------------------------------------


def _needed_nodes(compute: Callable[[merkle.GetNode], Any]) -> set[tuple[int, int]]:
    """Which stored nodes `compute` reads; the tree shape, not the hashes, decides them."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return _PLACEHOLDER

    compute(record)
    return wanted


_NODE_CHUNK = 500  # positions per SQLite statement, under every SQLite's parameter limit
_PG_FETCH = "SELECT position, hash FROM ledger_nodes WHERE position = ANY(%s::bigint[])"
_SQLITE_FETCH: dict[int, str] = {}


def _sqlite_fetch(count: int) -> str:
    """`position IN (?, ...)`: rowid lookups; one statement text per count (SQLite's statement cache)."""
    sql = _SQLITE_FETCH.get(count)
    if sql is None:
        marks = ", ".join(["?"] * count)
        sql = _SQLITE_FETCH[count] = f"SELECT position, hash FROM ledger_nodes WHERE position IN ({marks})"
    return sql


def fetch_nodes(session: Session, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Stored nodes by (level, index): one key lookup query (per 500 wanted on SQLite).

    Plain SQL on the session's connection: a proof needs a few dozen primary-key lookups, and
    building and compiling a SQLAlchemy expression for them cost several times the lookups.
    PostgreSQL takes the positions as one array, one statement text whatever the count, so
    psycopg prepares it once. Rows are matched to what was asked by position (`node_position`).
    """
    wanted = {node_position(level, index): (level, index) for level, index in set(keys)}
    nodes: dict[tuple[int, int], bytes] = {}
    if not wanted:
        return nodes
    connection = session.connection()
    positions = sorted(wanted)
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(_PG_FETCH, (positions,)).fetchall()
        nodes.update((wanted[position], bytes(node)) for position, node in rows)
        return nodes
    for start in range(0, len(positions), _NODE_CHUNK):
        chunk = tuple(positions[start:start + _NODE_CHUNK])
        rows = connection.exec_driver_sql(_sqlite_fetch(len(chunk)), chunk).fetchall()
        nodes.update((wanted[position], bytes(node)) for position, node in rows)
    return nodes


def with_stored_nodes(session: Session, compute: Callable[[merkle.GetNode], Any],
                      also: Iterable[tuple[int, int]] = (), *, keys: Iterable[tuple[int, int]] | None = None) -> Any:
    """Run a Merkle computation over stored nodes with one batched read (plus nodes `also` wanted).

    `keys`, when the caller knows them, are the nodes `compute` reads; otherwise a dry run of
    `compute` finds them.
    """
    wanted = set(_needed_nodes(compute) if keys is None else keys)
    wanted.update(also)
    nodes = fetch_nodes(session, wanted)

    def get_node(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise LedgerCorrupted(f"stored ledger node ({level}, {index}) is missing") from None

    return compute(get_node)


# --- which stored nodes a proof reads: merkle.py's recursion, without the hashing ---------------
# Each mirrors the function of merkle.py it names; tests hold them to the dry run of that function.


def _subtree_keys(start: int, end: int, keys: list[tuple[int, int]]) -> None:
    """merkle.subtree_root(start, end): the complete subtrees named by the digits of the length."""
    count = end - start
    position = start
    for level in range(count.bit_length() - 1, -1, -1):
        if count >> level & 1:
            keys.append((level, position >> level))
            position += 1 << level


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_keys(index: int, size: int) -> list[tuple[int, int]]:
    """The stored nodes merkle.inclusion_proof(index, size) reads (none for arguments it refuses)."""
    keys: list[tuple[int, int]] = []
    if not (_is_size(index) and _is_size(size) and index < size):
        return keys
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            _subtree_keys(start + k, end, keys)
            end = start + k
        else:
            _subtree_keys(start, start + k, keys)
            start += k
    return keys


def consistency_keys(first: int, second: int) -> list[tuple[int, int]]:
    """The stored nodes merkle.consistency_proof(first, second) reads (none for arguments it refuses)."""
    keys: list[tuple[int, int]] = []
    if not (_is_size(first) and _is_size(second)) or first == 0 or first >= second:
        return keys
    start, end, remaining, on_left_edge = 0, second, first, True
    while remaining != end - start:
        k = _split(end - start)
        if remaining <= k:
            _subtree_keys(start + k, end, keys)
            end = start + k
        else:
            _subtree_keys(start, start + k, keys)
            start += k
            remaining -= k
            on_left_edge = False
    if not on_left_edge:
        _subtree_keys(start, end, keys)
    return keys


# --- tree heads and proofs --------------------------------------------------------------------


def tree_size(session: Session) -> int:
    """The number of leaves appended and committed (0 for a new ledger)."""
    connection = session.connection()
    placeholder = "%s" if connection.dialect.name == "postgresql" else "?"
    row = connection.exec_driver_sql(f"SELECT size FROM ledger_head WHERE id = {placeholder}", (HEAD_ID,)).first()
    return (row[0] if row is not None else 0) or 0


def stored_root(session: Session, size: int) -> bytes:
    return with_stored_nodes(session, lambda get: merkle.tree_root(get, size))


def _check_size(name: str, value: int, current: int) -> None:
    if value > current:
        raise ValidationFailed(f"{name} {value} is beyond the ledger's size {current}",
                               errors={name: [f"at most the current tree size, {current}"]})


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[str]


def inclusion_proof(session: Session, index: int, size: int | None = None) -> InclusionProof:
    """Audit path for leaf `index` in the tree of `size` leaves (the current tree by default)."""
    current = tree_size(session)
    size = current if size is None else size
    _check_size("tree_size", size, current)
    if index >= size:
        raise ValidationFailed(f"index {index} is not below tree size {size}",
                               errors={"index": [f"must be below tree_size ({size})"]})
    leaf, path = with_stored_nodes(
        session, lambda get: (get(0, index), merkle.inclusion_proof(get, index, size)), also=[(0, index)],
        keys=inclusion_keys(index, size))
    return InclusionProof(index=index, tree_size=size, leaf_hash=leaf.hex(), audit_path=[node.hex() for node in path])


def consistency_proof(session: Session, first: int, second: int | None = None) -> ConsistencyProof:
    """RFC 9162 proof that the tree of `second` leaves extends the tree of `first`."""
    current = tree_size(session)
    second = current if second is None else second
    _check_size("second", second, current)
    if first > second:
        raise ValidationFailed(f"first {first} is beyond second {second}", errors={"first": ["at most second"]})
    proof = with_stored_nodes(session, lambda get: merkle.consistency_proof(get, first, second),
                              keys=consistency_keys(first, second))
    return ConsistencyProof(first=first, second=second, proof=[node.hex() for node in proof])


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


def public_key(session: Session, signer: LedgerSigner, key_id: str | None = None) -> PublicKey:
    """The current signing key, or the one named (retired keys still verify old checkpoints)."""
    current = signer.key
    if key_id is None or key_id == current.key_id:
        row = session.get(SigningKey, current.key_id)
        return PublicKey(current.key_id, "ed25519", current.public_pem, base64.b64encode(current.public_raw).decode(),
                         row.created_at if row else None, None, True)
    row = session.get(SigningKey, key_id)
    if row is None:
        raise NotFound(f"no signing key {key_id}")
    return PublicKey(row.key_id, row.algorithm, row.public_key_pem, base64.b64encode(row.public_key).decode(),
                     row.created_at, row.retired_at, False)


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


def tree_head(session: Session, row: Checkpoint) -> TreeHead:
    key = session.get(SigningKey, row.key_id)
    signed = c2sp.SignedCheckpoint(c2sp.Checkpoint.parse(row.body.encode("utf-8")), base64.b64decode(row.signature))
    note = c2sp.signed_note(signed, Ed25519PublicKey.from_public_bytes(bytes(key.public_key)))
    return TreeHead(id=row.id, checkpoint=row.body, tree_size=row.tree_size, root_hash=row.root_hash,
                    signature=row.signature, key_id=row.key_id, issued_at=row.issued_at, note=note.decode("utf-8"))


def rotate_signing_key(session: Session, runtime) -> tuple[str | None, TreeHead]:
    """Rotate the key file, record both keys and the rotation, and sign a head with the new key.

    The old key is registered first (it may never have signed), so the table always lists it;
    the rotation is itself a custody event, so the ledger says when its keys changed.
    """
    from core.keys import key_path, rotate_key_file
    from evidence.custody import record_custody_event

    old, new = rotate_key_file(key_path(runtime.settings))
    if old is not None:
        register_signing_key(session, old)
    register_signing_key(session, new)
    record_custody_event(session, type="key_rotated", evidence_id=new.key_id, actor_id="system",
                         details={"previous_key_id": old.key_id} if old else None)
    row = issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin)
    if row.key_id != new.key_id:
        raise RuntimeError("the signer did not pick up the rotated key file")
    return (old.key_id if old else None), tree_head(session, row)


def latest_checkpoint(session: Session) -> Checkpoint | None:
    return session.scalars(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()


def issue_checkpoint(session: Session, signer: LedgerSigner, origin: str, *, only_if_changed: bool = False) -> Checkpoint:
    """Sign the current tree head and keep it.

    Holds the append lock so the size and root belong together; with `only_if_changed` the
    latest checkpoint is returned instead when neither the tree nor the key has changed since.
    """
    size = lock_head(session).size
    key = signer.key
    latest = latest_checkpoint(session)
    if only_if_changed and latest is not None and latest.tree_size == size and latest.key_id == key.key_id:
        return latest
    root = stored_root(session, size)
    sync_committed(session)  # the leaves this head covers survive a power loss (SQLite's WAL)
    signed = c2sp.sign_checkpoint(key.private_key, c2sp.Checkpoint(origin, size, root))
    register_signing_key(session, key)
    row = Checkpoint(tree_size=size, root_hash=root.hex(), body=signed.body().decode("utf-8"),
                     signature=signed.signature_b64, key_id=key.key_id, issued_at=utcnow())
    session.add(row)
    session.flush()
    return row


def signed_stored_head(session: Session, signer: LedgerSigner, origin: str) -> Checkpoint:
    """A checkpoint of the stored tree as it is now, signed by the current key.

    The latest kept one when its signed body (not its columns) still names exactly this size
    and root, else a new one. Why not `only_if_changed`: a log rewritten back to the same size
    would still be matched by the old head's size; the root is recomputed from the stored nodes.
    """
    size = lock_head(session).size
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


def current_tree_head(session: Session, signer: LedgerSigner, origin: str) -> TreeHead:
    """The latest signed head, issuing a fresh one first when the tree has grown since."""
    latest = latest_checkpoint(session)
    if latest is None or latest.tree_size != tree_size(session) or latest.key_id != signer.key_id:
        latest = issue_checkpoint(session, signer, origin, only_if_changed=True)
    return tree_head(session, latest)


def list_checkpoints(session: Session) -> Select:
    """Every checkpoint ever issued, newest first."""
    return select(Checkpoint).order_by(Checkpoint.id.desc())


def custody_events_range(session: Session, start: int, end: int) -> list[CustodyEvent]:
    """Events [start, end) in ledger order (bundles and verification read runs of leaves)."""
    return list(session.scalars(select(CustodyEvent).where(CustodyEvent.ledger_index >= start,
                                                           CustodyEvent.ledger_index < end)
                                .order_by(CustodyEvent.ledger_index)))


# --- the periodic checkpoint ------------------------------------------------------------------


@job("ledger.issue_checkpoint")
def issue_checkpoint_job(runtime) -> None:
    """Periodic signed head; a no-op when nothing changed, so running it twice is harmless.

    The same tick re-submits verifications lost with a dead process (`verification.resume`),
    so a Celery beat that only schedules this job covers both.
    """
    with runtime.db.transaction() as session:
        row = issue_checkpoint(session, runtime.signer, runtime.settings.ledger_origin, only_if_changed=True)
        log.info("checkpoint", extra={"tree_size": row.tree_size, "key_id": row.key_id})
    from evidence.verification import resume_verifications

    resume_verifications(runtime)


class CheckpointScheduler:
    """The embedded default's timer: submits `ledger.issue_checkpoint` every interval.

    Submitting through the job runner (rather than signing on the timer thread) keeps one code
    path for both topologies; with Celery a beat schedule can submit the same job instead.
    """

    def __init__(self, runtime, interval_seconds: float):
        self.runtime = runtime
        self.interval = interval_seconds
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fieldproof-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """At start, verifications left queued or running by a dead process are re-submitted;
        once more when a lease that was fresh at start has had time to lapse; then every tick
        signs a head (which re-submits again)."""
        from evidence.verification import STALE_AFTER_SECONDS

        self._submit("verification.resume", {"queued_grace_seconds": 0})
        if self._stopped.wait(min(self.interval, STALE_AFTER_SECONDS + 1)):
            return
        if self.interval > STALE_AFTER_SECONDS + 1:
            self._submit("verification.resume", {})
            if self._stopped.wait(self.interval - STALE_AFTER_SECONDS - 1):
                return
        while True:
            self._submit("ledger.issue_checkpoint", {})
            if self._stopped.wait(self.interval):
                return

    def _submit(self, name: str, payload: dict) -> None:
        try:
            self.runtime.jobs.submit(name, payload)
        except Exception:  # noqa: BLE001 - the next tick tries again
            log.exception("could not submit a periodic job", extra={"job": name})

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
