"""Deals, pipelines and their stages (C5)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..errors import N_
from ..extensions import db
from .accounts import Account
from .base import Money, Timestamps
from .contacts import Contact
from .users import Team, User

# Stored in English (stage names are data); pages show them with |t.
DEFAULT_STAGES = (N_("Incoming"), N_("Qualification"), N_("Proposal"), N_("Negotiation"), N_("Won"), N_("Lost"))
# Their probabilities (percent), as reference.py seeds them and a new pipeline starts with them.
DEFAULT_PROBABILITIES = (10, 20, 40, 60, 100, 0)


class Pipeline(db.Model):
    __tablename__ = "pipelines"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    stages: Mapped[list[Stage]] = relationship(order_by="Stage.position", back_populates="pipeline")
    __table_args__ = (
        # At most one default pipeline, whatever the race (services/pipelines keeps exactly one).
        Index("uq_pipelines_default", "is_default", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
    )


class Stage(db.Model):
    __tablename__ = "stages"
    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    pipeline: Mapped[Pipeline] = relationship(back_populates="stages")
    # Deals name their stage: a name is unique in its pipeline.
    __table_args__ = (Index("uq_stages_pipeline_name", "pipeline_id", "name", unique=True),)


class Deal(Timestamps, db.Model):
    __tablename__ = "deals"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    contact_role: Mapped[str | None] = mapped_column(String(100))
    pipeline_id: Mapped[int | None] = mapped_column(ForeignKey("pipelines.id"), index=True)
    stage: Mapped[str | None] = mapped_column(String(100), index=True)
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    closing_date: Mapped[date | None] = mapped_column(Date)
    lead_source: Mapped[str | None] = mapped_column(String(100))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    rating: Mapped[str | None] = mapped_column(String(40))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)

    account: Mapped[Account | None] = relationship()
    contact: Mapped[Contact | None] = relationship()
    pipeline: Mapped[Pipeline | None] = relationship()
    owner: Mapped[User | None] = relationship()
    team: Mapped[Team | None] = relationship()

    @property
    def display_name(self) -> str:
        return self.name
