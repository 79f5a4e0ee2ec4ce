"""Column helpers shared by the models: timestamps, money, polymorphic parents."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime, Numeric
from sqlalchemy.orm import Mapped, mapped_column

# The record kinds that notes, tasks, attachments, tags, timeline events... may hang on.
PARENT_TYPES = ("lead", "account", "contact", "deal")

Money = Numeric(16, 2)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


def money(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))



