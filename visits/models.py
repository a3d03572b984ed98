"""Visits: scheduled visits, check-ins and check-outs (models).

A visit is scheduled only after every rule of the address's jurisdiction allowed its whole
window. Check-in columns keep what the device reported (its time with the original offset,
position, accuracy) next to what the server derived (distance, geofence, skew, travel), because
a court asks both "what did the phone say" and "what did you conclude from it".
"""
from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Timestamped, uuid_pk

VISIT_STATUSES = ("scheduled", "checked_in", "completed", "cancelled")
OUTCOMES = ("met_debtor", "not_home", "refused", "third_party_only", "promise_to_pay",
            "payment_received", "address_invalid")


class VisitParts:
    """A visit's check-in, check-out and cancellation, each gathered from its columns (None until it
    happened). Shared by the mapped `Visit` and by `VisitRow`, so the two read the same."""

    __slots__ = ()

    @property
    def check_in(self) -> dict | None:
        if self.checked_in_at is None:
            return None
        return {"at": self.checked_in_at, "device_at": self.check_in_device_at,
                "received_at": self.check_in_received_at, "by": self.checked_in_by,
                "lat": self.check_in_lat, "lon": self.check_in_lon, "accuracy_m": self.check_in_accuracy_m,
                "distance_m": self.check_in_distance_m, "within_geofence": self.within_geofence,
                "outside_window": self.outside_window, "clock_skew_s": self.clock_skew_s,
                "impossible_travel": self.impossible_travel}

    @property
    def cancellation(self) -> dict | None:
        if self.cancelled_at is None:
            return None
        return {"at": self.cancelled_at, "by": self.cancelled_by, "reason": self.cancel_reason}

    @property
    def check_out(self) -> dict | None:
        if self.checked_out_at is None:
            return None
        return {"at": self.checked_out_at, "lat": self.check_out_lat, "lon": self.check_out_lon,
                "outcome": self.outcome, "summary": self.summary}


class Visit(VisitParts, Timestamped, Base):
    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_collector_day", "collector_id", "local_date"),
        Index("ix_visits_day", "local_date"),
        Index("ix_visits_case_window", "case_id", "window_start"),
        # A collector's previous check-in, for impossible travel and the route's start.
        Index("ix_visits_checked_in_by_at", "checked_in_by", "checked_in_at"),
    )

    id: Mapped[str] = uuid_pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    address_id: Mapped[str] = mapped_column(ForeignKey("addresses.id"))
    collector_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    second_collector_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    # Where and when the visit happens in the address's terms: its IANA zone and the local
    # calendar day of `window_start` ("per day" rules, the route's `date`, the reports).
    time_zone: Mapped[str] = mapped_column(String(64))
    local_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    scheduled_by: Mapped[str] = mapped_column(ForeignKey("users.id"))

    # Check-in: `checked_in_at` is the reported moment in UTC; the device's own text keeps
    # the offset it was sent with, so the original claim survives normalisation.
    checked_in_at: Mapped[datetime | None]
    checked_in_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    check_in_device_at: Mapped[str | None] = mapped_column(String(40))
    check_in_received_at: Mapped[datetime | None]
    check_in_lat: Mapped[float | None] = mapped_column(Float)
    check_in_lon: Mapped[float | None] = mapped_column(Float)
    check_in_accuracy_m: Mapped[float | None] = mapped_column(Float)
    check_in_distance_m: Mapped[float | None] = mapped_column(Float)
    within_geofence: Mapped[bool | None] = mapped_column(Boolean)
    outside_window: Mapped[bool | None] = mapped_column(Boolean)
    clock_skew_s: Mapped[float | None] = mapped_column(Float)
    impossible_travel: Mapped[bool | None] = mapped_column(Boolean)

    # Check-out.
    checked_out_at: Mapped[datetime | None]
    check_out_lat: Mapped[float | None] = mapped_column(Float)
    check_out_lon: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(24))
    summary: Mapped[str | None] = mapped_column(Text)

    # Cancellation: when, by whom and why (a cancelled visit keeps its window for the record).
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    flags: Mapped[dict] = mapped_column(JSON, default=dict)


class VisitRow(VisitParts, namedtuple("VisitRow", Visit.__table__.columns.keys())):
    """A visit read as a plain row of its columns (the sync's page, `visits.services`): the same
    attributes as a `Visit`, without the ORM's identity map and instance state."""

    __slots__ = ()

    @classmethod
    def from_values(cls, values) -> VisitRow:
        """A row from its columns' values, in the table's order (as `select(*visits.columns)` reads them)."""
        return tuple.__new__(cls, values)


class ScheduleRefusal(Base):
    """A refused scheduling attempt, kept for the per-rule report (committed on its own)."""

    __tablename__ = "schedule_refusals"
    __table_args__ = (Index("ix_schedule_refusals_day_collector", "local_date", "collector_id"),)

    id: Mapped[str] = uuid_pk()
    at: Mapped[datetime]
    case_id: Mapped[str | None] = mapped_column(String(36))
    collector_id: Mapped[str | None] = mapped_column(String(36))
    requested_by: Mapped[str | None] = mapped_column(String(36))
    # The local day of the refused window (UTC when the address had no time zone).
    local_date: Mapped[date] = mapped_column(Date)
    rules: Mapped[list] = mapped_column(JSON, default=list)
