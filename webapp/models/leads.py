"""Leads and their statuses (C9.2, C9.3) and typed addresses (C9.5)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..errors import N_
from ..extensions import db
from ..normalize import norm_company, norm_email, norm_name, norm_phone, region_for
from .base import Money, Timestamps
from .users import Team, User

STATUS_CATEGORIES = ("open", "closed", "converted")
# (key, label, category); the label is stored in English, pages show it with |t.
DEFAULT_STATUSES = (
    ("new", N_("New"), "open"),
    ("contacted", N_("Contacted"), "open"),
    ("qualified", N_("Qualified"), "open"),
    ("disqualified", N_("Disqualified"), "closed"),
    ("converted", N_("Converted"), "converted"),
)


class LeadStatus(db.Model):
    __tablename__ = "lead_statuses"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(80))
    category: Mapped[str] = mapped_column(String(12), default="open")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Lead(Timestamps, db.Model):
    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(primary_key=True)
    salutation: Mapped[str | None] = mapped_column(String(20))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40))
    fax: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(255))
    skype: Mapped[str | None] = mapped_column(String(100))
    linkedin: Mapped[str | None] = mapped_column(String(255))
    twitter: Mapped[str | None] = mapped_column(String(100))
    facebook: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(100))
    annual_revenue: Mapped[Decimal | None] = mapped_column(Money)
    employees: Mapped[int | None] = mapped_column(Integer)
    lead_source: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(ForeignKey("lead_statuses.key"), default="new")
    rating: Mapped[str | None] = mapped_column(String(40))
    email_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    street: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    # C1.4: a converted lead is archived and read-only; conversion_id points at the record.
    converted: Mapped[bool] = mapped_column(Boolean, default=False)
    conversion_id: Mapped[int | None] = mapped_column(Integer)
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Normalised keys (C4.7), kept by refresh_keys() before every flush.
    email_norm: Mapped[str | None] = mapped_column(String(254), index=True)
    company_norm: Mapped[str | None] = mapped_column(String(255), index=True)
    name_norm: Mapped[str | None] = mapped_column(String(255), index=True)
    # The name last name first ("dupont marie"), so that a prefix search finds "Marie Dupont"
    # by "dupont" or "dupont ma" with an index range. Chosen over a (token, lead) table: one
    # column and one index kept by refresh_keys() make writes no dearer than the other keys,
    # and a sales team searches people by first or last name. None when it would equal
    # name_norm (one name only), to keep the index small.
    name_rev_norm: Mapped[str | None] = mapped_column(String(255), index=True)
    phone_e164: Mapped[str | None] = mapped_column(String(20), index=True)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    team: Mapped[Team | None] = relationship()
    status_ref: Mapped[LeadStatus] = relationship(lazy="joined")
    addresses: Mapped[list[Address]] = relationship(
        primaryjoin="and_(Address.parent_type == 'lead', foreign(Address.parent_id) == Lead.id)",
        viewonly=True,
        order_by="Address.id",
    )

    __table_args__ = (
        # The list and board: hidden-when-converted, filtered by status / owner, newest first.
        Index("ix_leads_list", "converted", "created_at", "id"),
        Index("ix_leads_status_list", "converted", "status", "created_at", "id"),
        Index("ix_leads_owner_list", "owner_id", "converted", "created_at", "id"),
        # A sales rep's board: counts per status (covering) and each column's cards, newest
        # first. Without it SQLite counted a rep's board through ix_leads_status_list, looking
        # up the owner of every lead: 35 s on 1,000,000 leads (bench/lists.py).
        Index("ix_leads_owner_status", "owner_id", "converted", "status", "created_at", "id"),
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def display_name(self) -> str:
        return self.full_name or self.company or self.email or f"Lead #{self.id}"

    def refresh_keys(self) -> None:
        region = region_for(self.country)
        self.email_norm = norm_email(self.email)
        self.company_norm = norm_company(self.company)
        self.name_norm = norm_name(self.first_name, self.last_name)
        reverse = norm_name(self.last_name, self.first_name)
        self.name_rev_norm = reverse if reverse != self.name_norm else None
        self.phone_e164 = norm_phone(self.phone, region) or norm_phone(self.mobile, region)


# The lead list's other sorts (name, company, recently updated), indexed so that the first page
# of a million leads reads 50 index entries instead of sorting the table. Queries must use
# these very expressions (with a literal '', not a parameter): PostgreSQL and SQLite use an
# expression index only for the identical expression. `converted` comes first because every
# list query says "converted = false/true": without it SQLite walked the whole index in name
# order checking each lead's flag (24.5 s -> 59 ms for an administrator, bench/lists.py); the
# owner_id variants serve a sales rep's own leads (620 ms sorting 78,000 leads -> an index walk).
# Same for "recently updated" (12 s for an administrator without `converted` first).
LEAD_NAME_SORT = func.coalesce(Lead.name_norm, Lead.company_norm, Lead.email_norm, literal_column("''"))
LEAD_COMPANY_SORT = func.coalesce(Lead.company_norm, literal_column("''"))
Index("ix_leads_name_sort", Lead.converted, LEAD_NAME_SORT, Lead.id)
Index("ix_leads_company_sort", Lead.converted, LEAD_COMPANY_SORT, Lead.id)
Index("ix_leads_owner_name_sort", Lead.owner_id, Lead.converted, LEAD_NAME_SORT, Lead.id)
Index("ix_leads_owner_company_sort", Lead.owner_id, Lead.converted, LEAD_COMPANY_SORT, Lead.id)
Index("ix_leads_updated", Lead.converted, Lead.updated_at, Lead.id)
Index("ix_leads_owner_updated", Lead.owner_id, Lead.converted, Lead.updated_at, Lead.id)

# --- Board counts: leads per (owner, team, status, converted), kept by database triggers ---
#
# Counting 950,000 index entries for an administrator's board took 375-450 ms on every view;
# summing these few hundred rows under the same visibility predicate (owner / team) is exact
# and takes well under a millisecond. Triggers, not ORM events, keep them: every write path
# fires them in the writer's own transaction (ORM flushes, the conversion's UPDATE ... WHERE,
# Core bulk inserts of imports and seeds, raw SQL), so no caller can forget. owner_id and
# team_id hold 0 for "none" (a NULL would defeat the primary key that the upsert relies on);
# no user or team has id 0, so visibility predicates mean the same on both tables.
# rebuild_lead_counts() recounts from scratch (after a migration or a TRUNCATE).
lead_counts = Table(
    "lead_counts", db.metadata,
    Column("owner_id", Integer, primary_key=True, default=0),
    Column("team_id", Integer, primary_key=True, default=0),
    Column("status", String(40), primary_key=True),
    Column("converted", Boolean, primary_key=True),
    Column("n", Integer, nullable=False, default=0),
)
# The triggers refer to both tables: create the counters after the leads.
lead_counts.add_is_dependent_on(Lead.__table__)

_COUNT_KEY = ("coalesce({t}.owner_id, 0), coalesce({t}.team_id, 0), {t}.status, {t}.converted")
_COUNT_MATCH = ("owner_id = coalesce({t}.owner_id, 0) AND team_id = coalesce({t}.team_id, 0) "
                "AND status = {t}.status AND converted = {t}.converted")
_COUNT_UP = ("INSERT INTO lead_counts (owner_id, team_id, status, converted, n) "
             "VALUES (" + _COUNT_KEY + ", 1) "
             "ON CONFLICT (owner_id, team_id, status, converted) DO UPDATE SET n = lead_counts.n + 1;")
_COUNT_DOWN = "UPDATE lead_counts SET n = n - 1 WHERE " + _COUNT_MATCH + ";"
_COUNTED = ("owner_id", "team_id", "status", "converted")

SQLITE_COUNT_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS trg_leads_count_insert AFTER INSERT ON leads BEGIN "
    + _COUNT_UP.format(t="NEW") + " END",
    "CREATE TRIGGER IF NOT EXISTS trg_leads_count_delete AFTER DELETE ON leads BEGIN "
    + _COUNT_DOWN.format(t="OLD") + " END",
    "CREATE TRIGGER IF NOT EXISTS trg_leads_count_update AFTER UPDATE OF "
    + ", ".join(_COUNTED) + " ON leads WHEN "
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _COUNTED) + " BEGIN "
    + _COUNT_DOWN.format(t="OLD") + " " + _COUNT_UP.format(t="NEW") + " END",
)
POSTGRESQL_COUNT_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION leads_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' AND "
    + " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in _COUNTED) + " THEN RETURN NULL; END IF; "
    "IF TG_OP <> 'INSERT' THEN " + _COUNT_DOWN.format(t="OLD") + " END IF; "
    "IF TG_OP <> 'DELETE' THEN " + _COUNT_UP.format(t="NEW") + " END IF; "
    "RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS trg_leads_count ON leads",
    "CREATE TRIGGER trg_leads_count AFTER INSERT OR DELETE OR UPDATE OF "
    + ", ".join(_COUNTED) + " ON leads FOR EACH ROW EXECUTE FUNCTION leads_count()",
    # Every count change leaves a dead row version: room for HOT updates on each page and an
    # eager autovacuum keep this tiny, hot table tiny (100,000 inserts left 40,000 dead rows).
    "ALTER TABLE lead_counts SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, "
    "autovacuum_vacuum_threshold = 1000)",
)
REBUILD_LEAD_COUNTS = (
    "DELETE FROM lead_counts",
    "INSERT INTO lead_counts (owner_id, team_id, status, converted, n) "
    "SELECT " + _COUNT_KEY.format(t="leads") + ", count(*) FROM leads "
    "GROUP BY " + _COUNT_KEY.format(t="leads"),
)


def create_lead_count_triggers(connection) -> None:
    """Create the triggers that keep lead_counts (SQLite or PostgreSQL; idempotent)."""
    statements = (POSTGRESQL_COUNT_TRIGGERS if connection.dialect.name == "postgresql"
                  else SQLITE_COUNT_TRIGGERS)
    for statement in statements:
        connection.execute(text(statement))


def rebuild_lead_counts(connection) -> None:
    """Recount lead_counts from the leads table (in the caller's transaction)."""
    for statement in REBUILD_LEAD_COUNTS:
        connection.execute(text(statement))


@event.listens_for(lead_counts, "after_create")
def _create_count_triggers(target, connection, **kw):
    create_lead_count_triggers(connection)
    rebuild_lead_counts(connection)


ADDRESS_TYPES = (N_("billing"), N_("delivery"), N_("default"))  # codes; shown with |t


class Address(db.Model):
    """An extra typed address of a lead or an account (C9.5, from 003)."""

    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(10), default="default")
    street: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (Index("ix_addresses_parent", "parent_type", "parent_id"),)
