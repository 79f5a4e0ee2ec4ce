"""Timeline events on any record (C1.6)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..errors import Text
from ..extensions import db
from .base import utcnow
from .users import User


class TimelineEvent(db.Model):
    __tablename__ = "timeline_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))
    # Links and details, e.g. {"links": [{"type": "contact", "id": 9, "label": "..."}]}.
    data: Mapped[dict | None] = mapped_column(JSON)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[User | None] = relationship()
    __table_args__ = (Index("ix_timeline_parent", "parent_type", "parent_id", "created_at"),
                      # The events of one kind, recent first (the automation rules' runs: admin.rules).
                      Index("ix_timeline_kind", "kind", "created_at"))

    def __init__(self, message: str = "", data: dict | None = None, **kw):
        # A Text keeps its template and params in data["text"]: the page shows the event in
        # the reader's language; `message` keeps the English (search, logs, the API).
        if isinstance(message, Text):
            data = {**(data or {}), "text": message.to_json()}
        super().__init__(message=str(message)[:500], data=data, **kw)

    @property
    def text(self) -> str:
        """The sentence to show (translated with |t): the stored Text, else the message."""
        stored = (self.data or {}).get("text")
        return Text.from_json(stored) if isinstance(stored, dict) else self.message


def record_event(session, parent_type: str, parent_id: int, kind: str, message: str,
                 actor_id: int | None = None, data: dict | None = None) -> TimelineEvent:
    """Add (not commit) a timeline event."""
    event = TimelineEvent(parent_type=parent_type, parent_id=parent_id, kind=kind,
                          message=message, actor_id=actor_id, data=data)
    session.add(event)
    return event
