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


def start_of_day(day, tz) -> datetime:
    """The start of `day` (a date) in the time zone `tz`, as a UTC instant (pytz zones need
    localize()): the first instant of a reader's day, for periods in their time zone."""
    from datetime import UTC, time

    localize = getattr(tz, "localize", None)
    local = localize(datetime.combine(day, time())) if localize else datetime.combine(day, time(), tzinfo=tz)
    return local.astimezone(UTC)
