"""Court-filing packets (model).

One row per requested build. Every request is a new version of the case's packet and older
versions are kept, because a lawyer must be able to show later exactly what was filed. The
files themselves (PDF volumes, bundle zip) live in the blob store under their SHA-256; the
row records those hashes, where every exhibit landed, and why anything was left out.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Timestamped, uuid_pk

STATUSES = ("queued", "building", "ready", "failed")
LANGUAGES = ("zh-CN", "en")


class Packet(Timestamped, Base):
    __tablename__ = "packets"
    __table_args__ = (UniqueConstraint("case_id", "version", name="uq_packets_case_id_version"),)

    id: Mapped[str] = uuid_pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    bates_prefix: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    exhibits_total: Mapped[int] = mapped_column(Integer, default=0)
    exhibits_done: Mapped[int] = mapped_column(Integer, default=0)

    # What the request asked for: explicit items (None: the case's sealed originals) and the
    # consent overrides a legal user gave, {evidence_id: reason}.
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    evidence_ids: Mapped[list | None] = mapped_column(JSON)
    consent_overrides: Mapped[dict] = mapped_column(JSON, default=dict)

    # What the build produced.
    exhibits: Mapped[list] = mapped_column(JSON, default=list)
    withheld: Mapped[list] = mapped_column(JSON, default=list)
    pages: Mapped[int | None] = mapped_column(Integer)
    volumes: Mapped[list] = mapped_column(JSON, default=list)
    bundle_sha256: Mapped[str | None] = mapped_column(String(64))
    bundle_size: Mapped[int | None] = mapped_column(BigInteger)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    checkpoint_tree_size: Mapped[int | None] = mapped_column(Integer)
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)

    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    def volume(self, number: int) -> dict | None:
        return next((v for v in self.volumes or [] if v["number"] == number), None)

    @property
    def override_list(self) -> list[dict]:
        return [{"evidence_id": k, "reason": v} for k, v in sorted((self.consent_overrides or {}).items())]


NOTICE_TEMPLATES = ("validation", "overdue")


class Notice(Timestamped, Base):
    """A written notice as issued: what it says is fixed by its data (`content_key`, the SHA-256 of
    that data's canonical JSON), so issuing the same notice again finds this row instead of making a
    second document. The PDF itself is a sealed evidence item of kind `document`."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("case_id", "content_key", name="uq_notices_case_id_content_key"),)

    id: Mapped[str] = uuid_pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    template: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    jurisdiction: Mapped[str] = mapped_column(String(8))
    content_key: Mapped[str] = mapped_column(String(64))
    mailed_at: Mapped[datetime]
    mailing_date: Mapped[date]
    assumed_receipt: Mapped[date | None]
    validation_end: Mapped[date | None]
    respond_by: Mapped[date | None]
    currency: Mapped[str] = mapped_column(String(3))
    itemization: Mapped[dict] = mapped_column(JSON)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence_items.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    issued_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime]
