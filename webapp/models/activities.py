"""Activities (tasks, calls, meetings, logged e-mails), notes and attachments on any record."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..errors import N_
from ..extensions import db
from .base import Timestamps, utcnow
from .users import User

# Codes (stored as they are); pages show them with |t.
ACTIVITY_KINDS = (N_("task"), N_("call"), N_("meeting"), N_("email"))
TASK_STATUSES = (N_("open"), N_("done"), N_("cancelled"))


class Task(Timestamps, db.Model):
    """An activity hanging on a record; `deal_id` also links an open one to a deal (C6.4)."""

    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="task")
    subject: Mapped[str] = mapped_column(String(255))
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), default="open")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"), index=True)
    owner: Mapped[User | None] = relationship()
    __table_args__ = (Index("ix_tasks_parent", "parent_type", "parent_id"),)


class Note(Timestamps, db.Model):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A copy made by a conversion (C6.2) points at the note it copies.
    copy_of_id: Mapped[int | None] = mapped_column(ForeignKey("notes.id"), index=True)
    author: Mapped[User | None] = relationship()
    __table_args__ = (Index("ix_notes_parent", "parent_type", "parent_id"),)


class Attachment(db.Model):
    """A file stored under the upload folder as `storage_name` (a random name, never the user's)."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    storage_name: Mapped[str] = mapped_column(String(80), unique=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_attachments_parent", "parent_type", "parent_id"),)
