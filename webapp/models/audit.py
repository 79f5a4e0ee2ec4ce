"""The settings audit (issue 10): every change an administrator makes to the settings — who,
when, what, the values before and after. Written by services/audit.record in the same
transaction as the change, so that a change and its entry are saved (or refused) together."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow

AUDIT_ACTIONS = ("created", "updated", "deleted")


class AuditEntry(db.Model):
    """One settings change. `area`: what kind of setting (services.audit.AREAS: "lead_status",
    "pipeline"...); `key`: which one, as the admin pages name it (a status key, a pipeline id);
    `before` / `after`: the setting's values as JSON (None for a creation / a deletion)."""

    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    area: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(10))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (
        # The audit page: newest first, all areas or one.
        Index("ix_audit_entries_area", "area", "id"),
    )
