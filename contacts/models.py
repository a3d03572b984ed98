"""Contacts other than visits: calls, SMS, e-mail and letters (models), the refusals kept for the
reports, and each case's plan of next actions.

A contact row keeps what a court and a compliance officer ask of it: when (UTC, and the debtor's
zone it was judged in), by whom, on which channel and with what result; the text or recording
is not kept here but sealed — its blob content-addressed, its SHA-256 in the custody ledger.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Timestamped, uuid_pk

CHANNELS = ("call", "sms", "email", "letter")
DIRECTIONS = ("outbound", "inbound")
OUTCOMES = {
    "call": ("no_answer", "voicemail", "wrong_party", "spoke_debtor", "spoke_third_party", "refused"),
    "sms": ("sent", "delivered", "failed"),
    "email": ("sent", "delivered", "failed"),
    "letter": ("sent", "delivered", "returned"),
}
RECORDING_CONSENT = ("granted", "refused", "not_asked")
LETTER_METHODS = ("post", "hand")
PARTIES = ("debtor", "third_party")
# Who a third party is to the debtor (RULES.md `contact.third_party`: family, referees, employer...).
RELATIONS = ("spouse", "parent", "child", "relative", "employer", "colleague", "neighbour", "referee", "other")
PLAN_KINDS = ("notice", "call", "visit", "legal_referral")
PLAN_STATUSES = ("open", "done", "skipped")


class Contact(Timestamped, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_case_at", "case_id", "at"),
        Index("ix_contacts_collector_at", "collector_id", "at"),
    )

    id: Mapped[str] = uuid_pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    collector_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(8))
    direction: Mapped[str] = mapped_column(String(8))
    # The moment of the contact (UTC); the device's own text keeps the offset it was sent with.
    at: Mapped[datetime]
    at_text: Mapped[str] = mapped_column(String(40))
    # The debtor's zone the contact was judged in (null when unknown: an inbound contact).
    time_zone: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(24))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    number_masked: Mapped[str | None] = mapped_column(String(64))
    recording_consent: Mapped[str | None] = mapped_column(String(16))
    template: Mapped[str | None] = mapped_column(String(64))
    letter_method: Mapped[str | None] = mapped_column(String(8))
    tracking: Mapped[str | None] = mapped_column(String(64))
    # Who was contacted: the debtor, or a third party (with the relation, and a keyed hash of the
    # person's number so "once per person" can be counted without keeping the number in clear).
    party: Mapped[str] = mapped_column(String(12), default="debtor", server_default="debtor")
    relation: Mapped[str | None] = mapped_column(String(16))
    third_party_key: Mapped[str | None] = mapped_column(String(64))
    # The third party asked to be contacted again (15 USC 1692b(3): "unless requested by such person").
    third_party_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # A letter that carried a written notice (its id): a returned letter marks the notice returned.
    notice_id: Mapped[str | None] = mapped_column(ForeignKey("notices.id"), index=True)
    # The debtor asked to stop this channel (an inbound reply, e.g. "STOP").
    opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # The text as sent (or the call's summary), sealed: stored content-addressed, hashed in the ledger.
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    text_size: Mapped[int | None] = mapped_column(Integer)
    storage_backend: Mapped[str | None] = mapped_column(String(16))
    storage_key: Mapped[str | None] = mapped_column(String(300))
    # The custody event that records it (its receipt: GET /custody-events/{id}, pending until integrated).
    custody_event_id: Mapped[str | None] = mapped_column(String(36))


class ContactRefusal(Base):
    """A refused contact attempt, kept for the per-rule report (committed on its own)."""

    __tablename__ = "contact_refusals"
    __table_args__ = (Index("ix_contact_refusals_at", "at"),)

    id: Mapped[str] = uuid_pk()
    at: Mapped[datetime]
    case_id: Mapped[str] = mapped_column(String(36))
    collector_id: Mapped[str] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(8))
    rules: Mapped[list] = mapped_column(JSON, default=list)


class PlanAction(Timestamped, Base):
    """One step of a case's plan: what to do next, by when; a supervisor may edit it."""

    __tablename__ = "plan_actions"
    __table_args__ = (Index("ix_plan_actions_case_position", "case_id", "position"),
                      Index("ix_plan_actions_status_due", "status", "due_on"))

    id: Mapped[str] = uuid_pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date] = mapped_column(Date)
    # The earliest day the step may be taken (e.g. no visit before the notice period ends).
    not_before: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8), default="open")
    note: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None]
    edited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
