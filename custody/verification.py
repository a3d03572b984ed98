"""Verification runs as auditors request and read them, and the check of a checkpoint they kept.

The run itself is `custody.sweep` (what is judged) and `custody.jobs` (how it is delivered).
Evidence items belong to `evidence`, which registers its item model here: custody imports
`core` only, and the sweep reads just the columns named in `register_evidence_model`.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from core.actor import Actor
from core.clock import utcnow
from core.errors import Forbidden, NotFound, ValidationFailed
from core.jobs import submit_after_commit
from core.keys import LedgerKey, key_path, read_key_file
from custody.checkpoints import TreeHead, signed_stored_head, tree_head
from custody.ledger import checkpoint as c2sp
from custody.ledger import merkle
from custody.ledger.verify import VerificationError, open_kept_checkpoint, verify_kept_checkpoint
from custody.models import Verification
from custody.proofs import LedgerCorrupted, consistency_keys, with_stored_nodes

SCOPES = ("evidence", "case", "all")
STATUSES = ("queued", "running", "passed", "failed", "error")
VERIFIERS = ("auditor", "admin")
MAX_KEPT_CHECKPOINTS = 100
_evidence_model: list[type] = []


def register_evidence_model(model: type) -> None:
    """Name the evidence item model (evidence does, beside it): runs read its `id`, `case_id`,
    `sha256`, `size` and `status` columns, and re-hash the stored bytes each sealed item names."""
    _evidence_model[:] = [model]


def evidence_item_model() -> type:
    if not _evidence_model:
        raise LookupError("no evidence item model registered: import evidence.models first")
    return _evidence_model[0]


# --- requesting and reading -------------------------------------------------------------------


def request_verification(session: Session, actor: Actor, jobs, *, scope: str, subject_id: str | None = None,
                         kept_checkpoints: list[str] | None = None,
                         visible_case_ids: Select | None = None) -> Verification:
    """Queue a verification; the job is submitted only once the request's transaction commits.
    `visible_case_ids` (None: no wall) keeps an item of a creditor the actor is not granted a 404."""
    if not actor.has_role(*VERIFIERS):
        raise Forbidden("only auditors and admins run verifications")
    if scope not in SCOPES:
        raise ValidationFailed("unknown scope", errors={"scope": [f"one of {', '.join(SCOPES)}"]})
    if scope == "all" and subject_id is not None:
        raise ValidationFailed("scope all takes no id", errors={"id": ["not allowed with scope all"]})
    if scope != "all" and not subject_id:
        raise ValidationFailed(f"scope {scope} needs the id of the {scope}", errors={"id": ["required"]})
    if scope == "evidence":
        item = session.get(evidence_item_model(), subject_id)
        if item is None or (visible_case_ids is not None and session.scalar(
                visible_case_ids.where(visible_case_ids.selected_columns[0] == item.case_id)) is None):
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



def get_verification(session: Session, actor: Actor, verification_id: str,
                     visible_subjects: Select | None = None) -> Verification:
    if not actor.has_role(*VERIFIERS):
        raise Forbidden("only auditors and admins read verifications")
    verification = session.scalar(list_verifications(actor, visible_subjects).where(Verification.id == verification_id))
    if verification is None:
        raise NotFound("no such verification")
    return verification


def list_verifications(actor: Actor, visible_subjects: Select | None = None) -> Select:
    """Runs, newest first. `visible_subjects` (ids of the cases and items the actor may see; None:
    everything) keeps an auditor to the runs over their creditors' objects and the runs they asked for."""
    if not actor.has_role(*VERIFIERS):
        raise Forbidden("only auditors and admins read verifications")
    query = select(Verification).order_by(Verification.created_at.desc(), Verification.id)
    if visible_subjects is not None:
        query = query.where(or_(Verification.requested_by == actor.id, Verification.subject_id.in_(visible_subjects)))
    return query


# --- the keys a run trusts, and a checkpoint an auditor kept ----------------------------------


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
