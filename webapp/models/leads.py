"""Leads and their statuses (C9.2, C9.3) and typed addresses (C9.5)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..conversion.normalize import norm_company, norm_email, norm_name, norm_phone, region_for
from ..extensions import db
from .base import Money, Timestamps
from .users import Team, User

STATUS_CATEGORIES = ("open", "closed", "converted")
DEFAULT_STATUSES = (
    ("new", "New", "open"),
    ("contacted", "Contacted", "open"),
    ("qualified", "Qualified", "open"),
    ("disqualified", "Disqualified", "closed"),
    ("converted", "Converted", "converted"),
)


class LeadStatus(db.Model):
    __tablename__ = "lead_statuses"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(80))
    category: Mapped[str] = mapped_column(String(12), default="open")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Lead(Timestamps, db.Model):
    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(primary_key=True)
    salutation: Mapped[str | None] = mapped_column(String(20))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40))
    fax: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(255))
    skype: Mapped[str | None] = mapped_column(String(100))
    linkedin: Mapped[str | None] = mapped_column(String(255))
    twitter: Mapped[str | None] = mapped_column(String(100))
    facebook: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(100))
    annual_revenue: Mapped[Decimal | None] = mapped_column(Money)
    employees: Mapped[int | None] = mapped_column(Integer)
    lead_source: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(ForeignKey("lead_statuses.key"), default="new")
    rating: Mapped[str | None] = mapped_column(String(40))
    email_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    street: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    # C1.4: a converted lead is archived and read-only; conversion_id points at the record.
    converted: Mapped[bool] = mapped_column(Boolean, default=False)
    conversion_id: Mapped[int | None] = mapped_column(Integer)
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Normalised keys (C4.7), kept by refresh_keys() before every flush.
    email_norm: Mapped[str | None] = mapped_column(String(254), index=True)
    company_norm: Mapped[str | None] = mapped_column(String(255), index=True)
    name_norm: Mapped[str | None] = mapped_column(String(255), index=True)
    phone_e164: Mapped[str | None] = mapped_column(String(20), index=True)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    team: Mapped[Team | None] = relationship()
    status_ref: Mapped[LeadStatus] = relationship(lazy="joined")
    addresses: Mapped[list[Address]] = relationship(
        primaryjoin="and_(Address.parent_type == 'lead', foreign(Address.parent_id) == Lead.id)",
        viewonly=True,
        order_by="Address.id",
    )

    __table_args__ = (
        # The list and board: hidden-when-converted, filtered by status / owner, newest first.
        Index("ix_leads_list", "converted", "created_at", "id"),
        Index("ix_leads_status_list", "converted", "status", "created_at", "id"),
        Index("ix_leads_owner_list", "owner_id", "converted", "created_at", "id"),
        # A sales rep's board: counts per status (covering) and each column's cards, newest
        # first. Without it SQLite counted a rep's board through ix_leads_status_list, looking
        # up the owner of every lead: 35 s on 1,000,000 leads (bench/lists.py).
        Index("ix_leads_owner_status", "owner_id", "converted", "status", "created_at", "id"),
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def display_name(self) -> str:
        return self.full_name or self.company or self.email or f"Lead #{self.id}"

    def refresh_keys(self) -> None:
        region = region_for(self.country)
        self.email_norm = norm_email(self.email)
        self.company_norm = norm_company(self.company)
        self.name_norm = norm_name(self.first_name, self.last_name)
        self.phone_e164 = norm_phone(self.phone, region) or norm_phone(self.mobile, region)


# The lead list's other sorts (name, company, recently updated), indexed so that the first page
# of a million leads reads 50 index entries instead of sorting the table. Queries must use
# these very expressions (with a literal '', not a parameter): PostgreSQL and SQLite use an
# expression index only for the identical expression.
LEAD_NAME_SORT = func.coalesce(Lead.name_norm, Lead.company_norm, Lead.email_norm, literal_column("''"))
LEAD_COMPANY_SORT = func.coalesce(Lead.company_norm, literal_column("''"))
Index("ix_leads_name_sort", LEAD_NAME_SORT, Lead.id)
Index("ix_leads_company_sort", LEAD_COMPANY_SORT, Lead.id)
Index("ix_leads_updated", Lead.updated_at, Lead.id)

ADDRESS_TYPES = ("billing", "delivery", "default")


class Address(db.Model):
    """An extra typed address of a lead or an account (C9.5, from 003)."""

    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(10), default="default")
    street: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (Index("ix_addresses_parent", "parent_type", "parent_id"),)
