"""Evidence items and their derivatives (models).

One row per item, written once and then only sealed, analysed or put under legal hold: the
bytes live in the blob store under their SHA-256 (`storage_backend`, `storage_key`), and the
row keeps what a court asks about them — who captured them, where and when (the device's
own timestamp text next to its UTC reading), with which device and signature, under what
consent, and how they were derived (`derived_from`, the redaction regions and reason).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Timestamped, uuid_pk
from custody.verification import register_evidence_model

KINDS = ("photo", "audio", "document", "note")
STATUSES = ("pending_upload", "sealed", "rejected")
CONSENT_STATES = ("granted", "refused", "not_asked")
SIGNATURE_STATES = ("signed", "unsigned")


class EvidenceItem(Timestamped, Base):
    __tablename__ = "evidence_items"
    __table_args__ = (
        Index("ix_evidence_items_case_updated", "case_id", "updated_at"),
        Index("ix_evidence_items_visit_received", "visit_id", "received_at"),
        Index("ix_evidence_items_sha256", "sha256"),
        Index("ix_evidence_items_thumbnail_sha256", "thumbnail_sha256"),
        Index("ix_evidence_items_derived_from", "derived_from"),
        Index("ix_evidence_items_status_received", "status", "received_at"),
    )

    id: Mapped[str] = uuid_pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    visit_id: Mapped[str | None] = mapped_column(ForeignKey("visits.id"))  # None: a document the system issued
    collector_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    rejection: Mapped[str | None] = mapped_column(String(40))

    # The bytes: hash and size are the server's own measurements (the claim had to match).
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_md5: Mapped[str | None] = mapped_column(String(24))
    media_type: Mapped[str | None] = mapped_column(String(64))
    storage_backend: Mapped[str | None] = mapped_column(String(16))
    storage_key: Mapped[str | None] = mapped_column(String(200))

    # When: the device's reading in UTC, the exact text it sent, and the server's clock.
    captured_at: Mapped[datetime]
    captured_at_device: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime]
    sealed_at: Mapped[datetime | None]

    # Where, with what, under which consent.
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"))
    device_signature: Mapped[str | None] = mapped_column(String(100))
    signature_status: Mapped[str] = mapped_column(String(16))
    consent_subject: Mapped[str | None] = mapped_column(String(16))
    third_parties_present: Mapped[bool | None] = mapped_column(Boolean)

    # Derived at sealing from the sealed bytes (never from the claim).
    exif: Mapped[dict | None] = mapped_column(JSON)
    presence_flags: Mapped[list | None] = mapped_column(JSON)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64))
    thumbnail_size: Mapped[int | None] = mapped_column(Integer)

    # Derivatives point at their original; the original is never touched.
    derived_from: Mapped[str | None] = mapped_column(ForeignKey("evidence_items.id"))
    redaction_regions: Mapped[list | None] = mapped_column(JSON)
    redaction_mode: Mapped[str | None] = mapped_column(String(8))
    redaction_reason: Mapped[str | None] = mapped_column(Text)

    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    retain_until: Mapped[datetime | None]

    @property
    def consent(self) -> dict | None:
        if self.consent_subject is None and self.third_parties_present is None:
            return None
        return {"subject": self.consent_subject, "third_parties_present": self.third_parties_present}

    @property
    def thumbnail(self) -> dict | None:
        if self.thumbnail_sha256 is None:
            return None
        return {"sha256": self.thumbnail_sha256, "size": self.thumbnail_size, "media_type": "image/jpeg"}

    @property
    def redaction(self) -> dict | None:
        if self.derived_from is None:
            return None
        return {"regions": self.redaction_regions, "mode": self.redaction_mode, "reason": self.redaction_reason}


register_evidence_model(EvidenceItem)  # verification runs re-hash the bytes its rows name
