"""A custody event's receipt: the event by its id, and once integrated, its place in a signed tree.

Recording an event gives its id at once; the index comes when a sequencer batch integrates it
(within the merge delay). The receipt is what a client polls: `pending` with no index, then
`integrated` with the index, the leaf, a checkpoint that covers it and the inclusion proof.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from custody.append import custody_event
from custody.checkpoints import TreeHead, current_tree_head, tree_head
from custody.models import CustodyEvent, IssuedCheckpoint, QueuedCustodyEvent
from custody.proofs import InclusionProof, inclusion_proof


@dataclass(frozen=True)
class Receipt:
    id: str
    ledger_status: str
    ledger_index: int | None
    type: str
    evidence_id: str | None
    subject_id: str | None
    case_id: str | None
    actor_id: str
    at: datetime
    sha256: str | None
    details: dict[str, Any] | None
    leaf: str | None
    leaf_hash: str | None
    prev_leaf_hash: str | None
    queued_at: datetime | None
    integrated_at: datetime | None
    merge_delay_ms: int
    checkpoint: TreeHead | None
    inclusion: InclusionProof | None


def find_event(session: Session, event_id: str) -> CustodyEvent | QueuedCustodyEvent:
    event = custody_event(session, event_id)
    if event is None:
        raise NotFound("no such custody event")
    return event


def receipt(session: Session, runtime, event: CustodyEvent | QueuedCustodyEvent) -> Receipt:
    """The event, and when integrated the oldest kept checkpoint covering it (a fresh one signed
    when none does yet) with the leaf's inclusion proof in that checkpoint's tree."""
    checkpoint = proof = None
    if event.ledger_index is not None:
        covering = session.scalars(select(IssuedCheckpoint).where(IssuedCheckpoint.tree_size > event.ledger_index,
                                                                  IssuedCheckpoint.key_id == runtime.signer.key_id)
                                   .order_by(IssuedCheckpoint.id.desc()).limit(1)).first()
        checkpoint = tree_head(session, covering) if covering is not None else \
            current_tree_head(session, runtime.signer, runtime.settings.ledger_origin)
        proof = inclusion_proof(session, event.ledger_index, checkpoint.tree_size)
    return Receipt(
        id=event.event_id, ledger_status=event.ledger_status, ledger_index=event.ledger_index, type=event.type,
        evidence_id=event.evidence_id, subject_id=event.subject_id, case_id=event.case_id, actor_id=event.actor_id,
        at=event.at, sha256=event.sha256, details=event.details, leaf=event.leaf, leaf_hash=event.leaf_hash,
        prev_leaf_hash=event.prev_leaf_hash, queued_at=event.queued_at, integrated_at=event.integrated_at,
        merge_delay_ms=runtime.settings.ledger_merge_delay_ms, checkpoint=checkpoint, inclusion=proof)
