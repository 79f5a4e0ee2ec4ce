"""The dashboard's counters: leads per (owner, team, source, status, converted, month created),
kept by database triggers like the board's lead_counts (models/leads.py).

Summing these rows answers "how many leads, by status, source and owner, created in these
months, visible to this user" without reading the leads: at 1,000,000 leads over three years
they are about 25,000 rows (36 months x 20 owners x 7 sources x 5 statuses), where a GROUP BY
on the leads reads a million index entries (bench/lists.py). A period rarely starts on the
first of a month: its first days (and its last ones, for a date range) are counted from the
leads themselves through ix_leads_created_stats, a month at most at each end.

owner_id and team_id hold 0 and source '' for "none" (a NULL would defeat the primary key
that the upsert relies on); `month` is year * 12 + month - 1 of created_at in UTC (0 when
created_at is NULL). Conversions per week and the time to convert are read from the
converted leads through ix_leads_conversions (5% of the leads, a partial index).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, event, text

from ..extensions import db
from .leads import Lead

lead_stats = Table(
    "lead_stats", db.metadata,
    Column("owner_id", Integer, primary_key=True, default=0),
    Column("team_id", Integer, primary_key=True, default=0),
    Column("source", String(100), primary_key=True, default=""),
    Column("status", String(40), primary_key=True),
    Column("converted", Boolean, primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("n", Integer, nullable=False, default=0),
)
# The triggers refer to both tables: create the counters after the leads.
lead_stats.add_is_dependent_on(Lead.__table__)

# The period's first (and last) days, counted from the leads: covering, so that a month of
# leads (27,000 at 1,000,000 over three years) is read from the index alone.
Index("ix_leads_created_stats", Lead.created_at, Lead.owner_id, Lead.team_id, Lead.lead_source,
      Lead.status, Lead.converted)
# Conversions per week and time to convert: only converted leads (a partial index), covering.
Index("ix_leads_conversions", Lead.converted_at, Lead.converted, Lead.owner_id, Lead.team_id,
      Lead.lead_source, Lead.created_at,
      sqlite_where=Lead.converted_at.isnot(None), postgresql_where=Lead.converted_at.isnot(None))

_MONTH = {
    "sqlite": ("coalesce(CAST(strftime('%Y', {t}.created_at) AS INTEGER) * 12 "
               "+ CAST(strftime('%m', {t}.created_at) AS INTEGER) - 1, 0)"),
    "postgresql": ("coalesce(CAST(extract(year FROM {t}.created_at AT TIME ZONE 'UTC') * 12 "
                   "+ extract(month FROM {t}.created_at AT TIME ZONE 'UTC') - 1 AS INTEGER), 0)"),
}
_KEY = ("coalesce({t}.owner_id, 0), coalesce({t}.team_id, 0), coalesce({t}.lead_source, ''), "
        "{t}.status, {t}.converted, {month}")
_MATCH = ("owner_id = coalesce({t}.owner_id, 0) AND team_id = coalesce({t}.team_id, 0) "
          "AND source = coalesce({t}.lead_source, '') AND status = {t}.status "
          "AND converted = {t}.converted AND month = {month}")
_COLUMNS = "(owner_id, team_id, source, status, converted, month"
_STATS_COUNTED = ("owner_id", "team_id", "lead_source", "status", "converted", "created_at")


def _up(dialect: str, t: str) -> str:
    month = _MONTH[dialect].format(t=t)
    return ("INSERT INTO lead_stats " + _COLUMNS + ", n) VALUES (" + _KEY.format(t=t, month=month)
            + ", 1) ON CONFLICT " + _COLUMNS + ") DO UPDATE SET n = lead_stats.n + 1;")


def _down(dialect: str, t: str) -> str:
    return "UPDATE lead_stats SET n = n - 1 WHERE " + _MATCH.format(t=t, month=_MONTH[dialect].format(t=t)) + ";"


SQLITE_STATS_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS trg_leads_stats_insert AFTER INSERT ON leads BEGIN "
    + _up("sqlite", "NEW") + " END",
    "CREATE TRIGGER IF NOT EXISTS trg_leads_stats_delete AFTER DELETE ON leads BEGIN "
    + _down("sqlite", "OLD") + " END",
    "CREATE TRIGGER IF NOT EXISTS trg_leads_stats_update AFTER UPDATE OF "
    + ", ".join(_STATS_COUNTED) + " ON leads WHEN "
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _STATS_COUNTED) + " BEGIN "
    + _down("sqlite", "OLD") + " " + _up("sqlite", "NEW") + " END",
)
POSTGRESQL_STATS_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION leads_stats() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' AND "
    + " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in _STATS_COUNTED)
    + " THEN RETURN NULL; END IF; "
    "IF TG_OP <> 'INSERT' THEN " + _down("postgresql", "OLD") + " END IF; "
    "IF TG_OP <> 'DELETE' THEN " + _up("postgresql", "NEW") + " END IF; "
    "RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS trg_leads_stats ON leads",
    "CREATE TRIGGER trg_leads_stats AFTER INSERT OR DELETE OR UPDATE OF "
    + ", ".join(_STATS_COUNTED) + " ON leads FOR EACH ROW EXECUTE FUNCTION leads_stats()",
    # As for lead_counts: every change leaves a dead row version; keep the hot table small.
    "ALTER TABLE lead_stats SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, "
    "autovacuum_vacuum_threshold = 1000)",
)
DROP_STATS_TRIGGERS = {
    "sqlite": ("DROP TRIGGER IF EXISTS trg_leads_stats_insert", "DROP TRIGGER IF EXISTS trg_leads_stats_delete",
               "DROP TRIGGER IF EXISTS trg_leads_stats_update"),
    "postgresql": ("DROP TRIGGER IF EXISTS trg_leads_stats ON leads", "DROP FUNCTION IF EXISTS leads_stats()"),
}


def _dialect(connection) -> str:
    return "postgresql" if connection.dialect.name == "postgresql" else "sqlite"


def create_lead_stats_triggers(connection) -> None:
    """Create the triggers that keep lead_stats (SQLite or PostgreSQL; idempotent)."""
    statements = POSTGRESQL_STATS_TRIGGERS if _dialect(connection) == "postgresql" else SQLITE_STATS_TRIGGERS
    for statement in statements:
        connection.execute(text(statement))


def drop_lead_stats_triggers(connection) -> None:
    """Drop those triggers (the migration's downgrade)."""
    for statement in DROP_STATS_TRIGGERS[_dialect(connection)]:
        connection.execute(text(statement))


def rebuild_lead_stats(connection) -> None:
    """Recount lead_stats from the leads table (in the caller's transaction)."""
    key = _KEY.format(t="leads", month=_MONTH[_dialect(connection)].format(t="leads"))
    connection.execute(text("DELETE FROM lead_stats"))
    connection.execute(text("INSERT INTO lead_stats " + _COLUMNS + ", n) SELECT " + key
                            + ", count(*) FROM leads GROUP BY " + key))


@event.listens_for(lead_stats, "after_create")
def _create_stats_triggers(target, connection, **kw):
    create_lead_stats_triggers(connection)
    rebuild_lead_stats(connection)
