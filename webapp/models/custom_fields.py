"""Custom field definitions and their values on every entity.

Storage: one row per (field, record) with typed value columns (text, number, date) and
a normalised key. Chosen over a JSON column because the same SQL filters, sorts and
indexes it on SQLite and PostgreSQL alike: (field_id, value_norm) serves unique-field
duplicate look-ups (C4.1 a/b) and list filters, (field_id, value_number) range filters,
and (parent_type, parent_id) loads a record's values in one query.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db

FIELD_TYPES = (
    "text", "textarea", "number", "decimal", "date", "checkbox", "picklist", "email", "phone", "url",
)
ENTITIES = ("lead", "account", "contact", "deal")


class CustomField(db.Model):
    __tablename__ = "custom_fields"
    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(12), default="text")
    length: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[list | None] = mapped_column(JSON)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    unique: Mapped[bool] = mapped_column(Boolean, default=False)
    carry_over: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("uq_custom_fields_entity_key", "entity", "key", unique=True),)


class CustomFieldValue(db.Model):
    __tablename__ = "custom_field_values"
    id: Mapped[int] = mapped_column(primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"))
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    value_text: Mapped[str | None] = mapped_column(Text)
    value_number: Mapped[Decimal | None] = mapped_column(Numeric(20, 6))
    value_date: Mapped[date | None] = mapped_column(Date)
    value_norm: Mapped[str | None] = mapped_column(String(255))
    field: Mapped[CustomField] = relationship(lazy="joined")
    __table_args__ = (
        Index("uq_cfv_field_record", "field_id", "parent_id", unique=True),
        Index("ix_cfv_parent", "parent_type", "parent_id"),
        Index("ix_cfv_norm", "field_id", "value_norm"),
        Index("ix_cfv_number", "field_id", "value_number"),
    )
