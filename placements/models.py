"""A placement: one file a creditor sent for one portfolio, and how far its import has come."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, uuid_pk

MODES = ("validate", "all_or_nothing", "valid_rows")
STATUSES = ("queued", "running", "done", "failed")
RESULTS = ("accepted", "updated", "unchanged", "recalled", "rejected")


class Placement(Base):
    __tablename__ = "placements"

    id: Mapped[str] = uuid_pk()
    portfolio_id: Mapped[str] = mapped_column(ForeignKey("portfolios.id"), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    file_name: Mapped[str] = mapped_column(String(200))
    file_kind: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(BigInteger)
    column_map: Mapped[dict] = mapped_column(JSON, default=dict)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
