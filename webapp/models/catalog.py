"""Campaigns and memberships, products and line items, currencies, tags."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import Money


class Campaign(db.Model):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="active")


class CampaignMember(db.Model):
    __tablename__ = "campaign_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    member_status: Mapped[str] = mapped_column(String(30), default="sent")
    campaign: Mapped[Campaign] = relationship()
    __table_args__ = (
        Index("ix_campaign_members_parent", "parent_type", "parent_id"),
        UniqueConstraint("campaign_id", "parent_type", "parent_id"),
    )


class Product(db.Model):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str | None] = mapped_column(String(64), unique=True)
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")


class LineItem(db.Model):
    """A product line on a lead ("products selected", 000) or a deal (C3.4)."""

    __tablename__ = "line_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("1"))
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    discount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    product: Mapped[Product] = relationship(lazy="joined")
    __table_args__ = (Index("ix_line_items_parent", "parent_type", "parent_id"),)

    @property
    def total(self) -> Decimal:
        return (self.quantity * self.unit_price - (self.discount or 0)).quantize(Decimal("0.01"))


class CurrencyRate(db.Model):
    """A currency of this CRM (the forms offer these codes) and, for `is_base`, the company
    currency. `rate`: how many units of the company currency one unit of `code` is worth today
    (C5.3) — the rate in force of its ExchangeRate history, kept in step by services.currencies
    (0: no rate applies; 1 for the company currency)."""

    __tablename__ = "currency_rates"
    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    is_base: Mapped[bool] = mapped_column(default=False)


class ExchangeRate(db.Model):
    """A dated exchange rate (issue 10, C5.3): from `valid_from` until the next rate of the same
    currency, one unit of `currency` is worth `rate` units of the company currency."""

    __tablename__ = "exchange_rates"
    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), ForeignKey("currency_rates.code"))
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    valid_from: Mapped[date] = mapped_column(Date)
    __table_args__ = (UniqueConstraint("currency", "valid_from", name="uq_exchange_rates_currency_day"),
                      Index("ix_exchange_rates_day", "valid_from", "id"))


class Tag(db.Model):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class Tagging(db.Model):
    """A tag on any record; the (tag, type) index serves the `tag` filter of every list."""

    __tablename__ = "taggings"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    tag: Mapped[Tag] = relationship(lazy="joined")
    __table_args__ = (
        UniqueConstraint("parent_type", "parent_id", "tag_id"),
        Index("ix_taggings_tag", "tag_id", "parent_type", "parent_id"),
    )
