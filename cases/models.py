"""Cases: one debtor's overdue account, its addresses and its timeline."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.db import Base, Timestamped, uuid_pk

CASE_STATUSES = ("open", "promise", "legal", "closed", "written_off")
ADDRESS_KINDS = ("home", "workplace")


class Portfolio(Timestamped, Base):
    """One placement line of a creditor; every case belongs to exactly one portfolio."""

    __tablename__ = "portfolios"
    __table_args__ = (UniqueConstraint("creditor_id", "code"),)

    id: Mapped[str] = uuid_pk()
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))


class Case(Timestamped, Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_collector_updated", "assigned_collector_id", "updated_at"),)

    id: Mapped[str] = uuid_pk()
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    # Every case has one (the services never create one without); nullable only because SQLite
    # cannot add a NOT NULL column to a table others refer to without rebuilding it.
    portfolio_id: Mapped[str | None] = mapped_column(ForeignKey("portfolios.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    debtor_name: Mapped[str] = mapped_column(String(200))
    # Encrypted at rest (AES-GCM); only the masked form is ever returned.
    debtor_national_id_encrypted: Mapped[str | None] = mapped_column(String(200))
    debtor_national_id_masked: Mapped[str | None] = mapped_column(String(64))
    debtor_phone_encrypted: Mapped[str | None] = mapped_column(String(200))
    debtor_phone_masked: Mapped[str | None] = mapped_column(String(64))
    card_last4: Mapped[str] = mapped_column(String(4))
    currency: Mapped[str] = mapped_column(String(3))
    amount_overdue: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    days_past_due: Mapped[int] = mapped_column(Integer)
    jurisdiction: Mapped[str] = mapped_column(String(8), index=True)
    cease_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    attorney_represented: Mapped[bool] = mapped_column(Boolean, default=False)
    workplace_contact_prohibited: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_collector_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))

    addresses: Mapped[list[Address]] = relationship(
        back_populates="case", order_by="Address.created_at", cascade="all, delete-orphan", lazy="selectin")

    @property
    def flags(self) -> dict[str, bool]:
        return {
            "cease_contact": self.cease_contact,
            "attorney_represented": self.attorney_represented,
            "workplace_contact_prohibited": self.workplace_contact_prohibited,
        }

    @property
    def debtor(self) -> dict[str, str | None]:
        return {"name": self.debtor_name, "national_id": self.debtor_national_id_masked,
                "phone": self.debtor_phone_masked}


class Address(Timestamped, Base):
    __tablename__ = "addresses"

    id: Mapped[str] = uuid_pk()
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    line: Mapped[str] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)

    case: Mapped[Case] = relationship(back_populates="addresses")


class CaseEvent(Base):
    """One entry of a case's timeline; every feature appends here (visits, evidence, packets)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[str | None] = mapped_column(String(36))
    subject_id: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
