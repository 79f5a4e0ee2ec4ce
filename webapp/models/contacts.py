"""Contacts (people), each linked to at most one account (C2.2)."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..normalize import norm_email, norm_name, norm_phone, region_for
from .accounts import Account
from .base import Timestamps
from .users import Team, User


class Contact(Timestamps, db.Model):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    salutation: Mapped[str | None] = mapped_column(String(20))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40))
    fax: Mapped[str | None] = mapped_column(String(40))
    skype: Mapped[str | None] = mapped_column(String(100))
    linkedin: Mapped[str | None] = mapped_column(String(255))
    twitter: Mapped[str | None] = mapped_column(String(100))
    facebook: Mapped[str | None] = mapped_column(String(255))
    lead_source: Mapped[str | None] = mapped_column(String(100))
    email_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    mailing_street: Mapped[str | None] = mapped_column(String(255))
    mailing_city: Mapped[str | None] = mapped_column(String(100))
    mailing_state: Mapped[str | None] = mapped_column(String(100))
    mailing_postal_code: Mapped[str | None] = mapped_column(String(100))
    mailing_country: Mapped[str | None] = mapped_column(String(100))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    email_norm: Mapped[str | None] = mapped_column(String(254), index=True)
    name_norm: Mapped[str | None] = mapped_column(String(255), index=True)
    phone_e164: Mapped[str | None] = mapped_column(String(20), index=True)

    account: Mapped[Account | None] = relationship(back_populates="contacts")
    owner: Mapped[User | None] = relationship()
    team: Mapped[Team | None] = relationship()

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email or f"Contact #{self.id}"

    def refresh_keys(self) -> None:
        region = region_for(self.mailing_country)
        self.email_norm = norm_email(self.email)
        self.name_norm = norm_name(self.first_name, self.last_name)
        self.phone_e164 = norm_phone(self.phone, region) or norm_phone(self.mobile, region)
