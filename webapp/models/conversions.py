"""The conversion record (C1.5): the audit trail, the API resource, and what C9.1 reverts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow
from .users import User


class Conversion(db.Model):
    __tablename__ = "conversions"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reverted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reverted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # What the user asked for (the request, normalised).
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    account_action: Mapped[str] = mapped_column(String(10), default="none")
    account_reason: Mapped[str | None] = mapped_column(String(40))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    contact_action: Mapped[str] = mapped_column(String(10), default="none")
    contact_reason: Mapped[str | None] = mapped_column(String(40))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"), index=True)
    deal_action: Mapped[str] = mapped_column(String(10), default="none")
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    task_action: Mapped[str] = mapped_column(String(10), default="none")
    # {"contact": {"phone": "+33..."}} — values written on merged records...
    fields_written: Mapped[dict] = mapped_column(JSON, default=dict)
    # ...and what those fields held before ({"contact": {"phone": null}}), for the revert.
    previous_values: Mapped[dict] = mapped_column(JSON, default=dict)
    not_updated: Mapped[list] = mapped_column(JSON, default=list)
    moved: Mapped[dict] = mapped_column(JSON, default=dict)
    # [{"type": "note", "id": 3, "from": ["lead", 12], "to": ["deal", 4], "copy": false}, ...]
    moved_records: Mapped[list] = mapped_column(JSON, default=list)
    # The lead as it was before conversion (status...), for the revert.
    lead_before: Mapped[dict] = mapped_column(JSON, default=dict)
    # What the revert did (C9.1, conversion/revert.py): {"keep_changed", "steps", "blockers"}.
    revert_report: Mapped[dict | None] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    creator: Mapped[User | None] = relationship(foreign_keys=[created_by])
    __table_args__ = (
        Index("uq_conversions_idempotency", "created_by", "idempotency_key", unique=True),
    )


class Setting(db.Model):
    """A JSON setting by key, e.g. "conversion_mapping" (C3.2, edited by administrators)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON, default=dict)
