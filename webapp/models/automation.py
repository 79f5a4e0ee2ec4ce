"""Automation rules (C8.6): "when a lead enters status S and matches the conditions, convert it
with options O". Evaluated by services/automation.run_rules, in `position` order."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class AutomationRule(db.Model):
    """One rule. `conditions`: [{"field", "op", "value"}], all of which must hold; `options`: the
    conversion options (the bulk subset of POST /lead-conversions), stored in canonical form."""

    __tablename__ = "automation_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    on_status: Mapped[str] = mapped_column(ForeignKey("lead_statuses.key"))
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    # Evaluation order among the rules of one status (then id): the first that converts wins.
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    __table_args__ = (
        Index("uq_automation_rules_name", "name", unique=True),
        # The hook's one query: the active rules of a status, in order.
        Index("ix_rules_status", "on_status", "active", "position"),
    )
