"""The dashboard's figures (services/dashboard.py) equal counts made here in plain Python over the
leads the test created, per scope (sales rep: own, manager: team, admin and viewer: all), for
every period and filter; and the lead_stats counters follow every write (triggers)."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update

from webapp.models import Lead, LeadStatus
from webapp.models.stats import lead_stats, rebuild_lead_stats
from webapp.services.dashboard import (
    DashboardFilters,
    FilterOptions,
    Option,
    dashboard,
    filter_options,
    median_hours,
    parse_filters,
    period_window,
)

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
SOURCES = ("Web form", "Trade show", "Referral", None)
STATUSES = ("new", "contacted", "qualified", "disqualified", "lost")


@pytest.fixture
def world(db, users):
    """~400 leads over 18 months: every owner and team, sources, statuses, conversions, and
    leads on the edges of the periods (UTC month starts, the reader's midnights)."""
    from webapp.models import Team

    db.session.add(LeadStatus(key="lost", label="Lost to a competitor", category="closed", position=5))
    south = Team(name="South")
    db.session.add(south)
    db.session.commit()
    rng = random.Random(7)
    owners = [users["sales"], users["other_sales"], users["manager"], users["admin"], None]
    teams = {None: None, users["sales"].id: users["sales"].team_id, users["manager"].id: users["manager"].team_id,
             users["other_sales"].id: south.id, users["admin"].id: None}
    moments = [NOW - timedelta(seconds=rng.randrange(540 * 86400)) for _ in range(380)]
    # Edges: the UTC starts of months, and the starts of the reader's days the periods begin on.
    for month in (1, 3, 4, 5, 6):
        moments += [datetime(2026, month, 1, tzinfo=UTC), datetime(2026, month, 1, tzinfo=UTC) - timedelta(seconds=1)]
    for days in (29, 89, 364):
        start = datetime.combine(NOW.astimezone(PARIS).date() - timedelta(days=days), time(), PARIS).astimezone(UTC)
        moments += [start, start - timedelta(seconds=1)]
    moments += [datetime(2025, 12, 31, 23, 0, tzinfo=UTC), datetime(2025, 12, 31, 22, 59, tzinfo=UTC)]
    leads = []
    for i, created in enumerate(moments):
        owner = owners[i % len(owners)] if i % 11 else rng.choice(owners)
        owner_id = owner.id if owner else None
        # Mostly the owner's team; sometimes another one (a manager sees their team's leads).
        team_id = teams[owner_id] if rng.random() < 0.85 else rng.choice([None, south.id, users["sales"].team_id])
        converted = rng.random() < 0.25 and created < NOW - timedelta(hours=2)
        converted_at = None
        if converted:
            converted_at = min(created + timedelta(hours=rng.randrange(1, 90 * 24), minutes=rng.randrange(60)),
                               NOW - timedelta(minutes=1))
        leads.append(Lead(first_name=f"L{i}", last_name="World", owner_id=owner_id, team_id=team_id,
                          lead_source=rng.choice(SOURCES), status="converted" if converted else rng.choice(STATUSES),
                          converted=converted, converted_at=converted_at, created_at=created))
    db.session.add_all(leads)
    db.session.commit()
    return {"south": south.id}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def visible(role: str, users, lead: Lead) -> bool:
    """Who sees which lead, written out: a sales rep their own, a manager their team (owners in
    it or reporting to them, or the lead's team), an administrator and a viewer every lead."""
    if role in ("admin", "viewer"):
        return True
    if role == "sales":
        return lead.owner_id == users["sales"].id
    team = users["manager"].team_id
    return lead.owner_id in {users["manager"].id, users["sales"].id} or lead.team_id == team


def expected(db, users, role: str, filters: DashboardFilters) -> dict:
    """The dashboard's figures counted here, lead by lead."""
    today = NOW.astimezone(PARIS).date()
    first = {"30d": today - timedelta(days=29), "90d": today - timedelta(days=89),
             "365d": today - timedelta(days=364), "year": date(today.year, 1, 1), "all": None,
             "range": filters.date_from}[filters.period]
    start = datetime.combine(first, time(), PARIS).astimezone(UTC) if first else None
    end = None
    if filters.period == "range" and filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), PARIS).astimezone(UTC)

    def inside(moment):
        return moment is not None and (start is None or _utc(moment) >= start) and (end is None or _utc(moment) < end)

    leads = [lead for lead in db.session.scalars(select(Lead)) if visible(role, users, lead)
             and (filters.owner_id is None or lead.owner_id == filters.owner_id)
             and (filters.team_id is None or lead.team_id == filters.team_id)
             and (filters.source is None or lead.lead_source == filters.source)]
    cohort = [lead for lead in leads if inside(lead.created_at)]
    conversions = [lead for lead in leads if lead.converted and inside(lead.converted_at)]
    funnel = Counter("\0" if lead.converted else lead.status for lead in cohort)
    by_source, by_owner = {}, {}
    for lead in cohort:
        for bucket, key in ((by_source, lead.lead_source or ""), (by_owner, str(lead.owner_id or ""))):
            bucket.setdefault(key, [0, 0])
            bucket[key][0] += 1
            bucket[key][1] += int(lead.converted)
    hours = [int((_utc(lead.converted_at) - _utc(lead.created_at)).total_seconds() // 3600) for lead in conversions]
    weeks = Counter()
    for lead in conversions:
        day = _utc(lead.converted_at).astimezone(PARIS).date()
        weeks[day - timedelta(days=day.weekday())] += 1
    return {
        "leads": len(cohort), "converted": sum(lead.converted for lead in cohort),
        "funnel": [funnel[k] for k in ("new", "contacted", "qualified", "\0")],
        "closed": [funnel["disqualified"], funnel["lost"]],
        "by_source": {k: tuple(v) for k, v in by_source.items()},
        "by_owner": {k: tuple(v) for k, v in by_owner.items()},
        "conversions": len(conversions),
        "median_days": statistics.median(hours) / 24 if hours else None,
        "weeks": {k: v for k, v in weeks.items() if v},
    }


def figures(board) -> dict:
    return {
        "leads": board.leads, "converted": board.converted,
        "funnel": [step.n for step in board.funnel], "closed": [step.n for step in board.closed],
        "by_source": {r.key: (r.leads, r.converted) for r in board.by_source},
        "by_owner": {r.key: (r.leads, r.converted) for r in board.by_owner},
        "conversions": board.conversions,
        "median_days": board.median_days,
        "weeks": {w.start: w.n for w in board.weeks if w.n},
    }


PERIODS = [
    DashboardFilters("90d"), DashboardFilters("30d"), DashboardFilters("365d"), DashboardFilters("year"),
    DashboardFilters("all"),
    DashboardFilters("range", date(2025, 11, 20), date(2026, 3, 31)),  # crosses months and a year
    DashboardFilters("range", date(2026, 2, 3), date(2026, 2, 17)),  # inside one month
    DashboardFilters("range", date(2026, 1, 1), date(2026, 5, 31)),  # whole months, in Paris
    DashboardFilters("range", date(2025, 9, 28), None),  # open end
    DashboardFilters("range", None, date(2025, 10, 2)),  # open start
]


@pytest.mark.parametrize("role", ["admin", "manager", "sales", "viewer"])
@pytest.mark.parametrize("filters", PERIODS, ids=lambda f: f"{f.period}-{f.date_from}-{f.date_to}")
def test_figures_equal_the_leads_counted_one_by_one_per_scope_and_period(db, users, world, role, filters):
    board = dashboard(db.session, users[role], filters, NOW, PARIS)
    assert figures(board) == expected(db, users, role, filters)


@pytest.mark.parametrize("role", ["admin", "manager", "sales"])
@pytest.mark.parametrize("extra", [{"owner": "sales"}, {"owner": "other_sales"}, {"team": "north"},
                                   {"team": "south"}, {"source": "Referral"},
                                   {"source": "Referral", "owner": "sales", "period": "365d"}])
def test_owner_team_and_source_filters_narrow_the_figures(db, users, world, role, extra):
    filters = DashboardFilters(
        extra.get("period", "all"),
        owner_id=users[extra["owner"]].id if "owner" in extra else None,
        team_id={"north": users["sales"].team_id, "south": world["south"]}.get(extra.get("team")),
        source=extra.get("source"))
    board = dashboard(db.session, users[role], filters, NOW, PARIS)
    assert figures(board) == expected(db, users, role, filters)


def test_a_sales_rep_sees_only_their_own_leads(db, users, world):
    board = dashboard(db.session, users["sales"], DashboardFilters("all"), NOW, PARIS)
    assert set(r.key for r in board.by_owner) == {str(users["sales"].id)}
    everyone = dashboard(db.session, users["admin"], DashboardFilters("all"), NOW, PARIS)
    assert 0 < board.leads < everyone.leads
    assert everyone.leads == db.session.query(Lead).count()


def test_funnel_lists_open_statuses_in_order_then_converted_and_closed_reasons_apart(db, users, world):
    board = dashboard(db.session, users["admin"], DashboardFilters("all"), NOW, PARIS)
    assert [s.key for s in board.funnel] == ["new", "contacted", "qualified", "converted"]
    assert board.funnel[-1].category == "converted"
    assert [s.key for s in board.closed] == ["disqualified", "lost"]
    assert board.leads == sum(s.n for s in board.funnel) + board.closed_total


def test_weeks_cover_the_period_monday_to_sunday_in_the_readers_time_zone(db, users, world):
    board = dashboard(db.session, users["admin"], DashboardFilters("90d"), NOW, PARIS)
    starts = [w.start for w in board.weeks]
    assert all(d.weekday() == 0 for d in starts)
    assert starts == [starts[0] + timedelta(days=7 * i) for i in range(len(starts))]
    assert starts[0] <= board.window.first_day < starts[0] + timedelta(days=7)
    assert starts[-1] <= board.window.last_day < starts[-1] + timedelta(days=7)
    assert sum(w.n for w in board.weeks) == board.conversions


def test_no_lead_gives_zeros(db, users):
    board = dashboard(db.session, users["sales"], DashboardFilters(), NOW, PARIS)
    assert (board.leads, board.converted, board.conversions, board.median_days) == (0, 0, 0, None)
    assert [s.n for s in board.funnel] == [0, 0, 0, 0] and board.by_source == [] and board.rate == 0
    assert len(board.weeks) == 14 and not any(w.n for w in board.weeks)


def test_nobody_sees_nothing(db, users, world):
    board = dashboard(db.session, None, DashboardFilters("all"), NOW, PARIS)
    assert board.leads == 0 and board.conversions == 0


# --- The counters (lead_stats) follow every write -------------------------------------------

def stats_rows(db) -> set[tuple]:
    return {tuple(r) for r in db.session.execute(select(lead_stats).where(lead_stats.c.n != 0))}


def test_lead_stats_follow_inserts_updates_and_deletes(db, users, world):
    leads = list(db.session.scalars(select(Lead).order_by(Lead.id).limit(12)))
    leads[0].status, leads[1].owner_id, leads[2].lead_source = "contacted", users["admin"].id, "Partner"
    leads[3].created_at = datetime(2024, 2, 29, 12, tzinfo=UTC)
    leads[4].team_id = None
    db.session.delete(leads[5])
    db.session.flush()
    # A Core UPDATE as the conversion does it, and a raw one.
    db.session.execute(update(Lead).where(Lead.id == leads[6].id).values(
        converted=True, status="converted", converted_at=NOW))
    db.session.execute(text("UPDATE leads SET lead_source = NULL WHERE id = :id"), {"id": leads[7].id})
    db.session.commit()
    counted = stats_rows(db)
    rebuild_lead_stats(db.session.connection())
    assert counted == stats_rows(db)
    assert sum(r[-1] for r in counted) == db.session.query(Lead).count()


def test_lead_stats_month_is_the_utc_month_of_creation(db, users):
    db.session.add(Lead(first_name="Edge", owner_id=users["sales"].id, created_at=datetime(2026, 2, 28, 23, 30, tzinfo=UTC)))
    db.session.commit()
    (month,) = db.session.execute(select(lead_stats.c.month).where(lead_stats.c.n > 0)).one()
    assert month == 2026 * 12 + 1


# --- Filters from a query string ---------------------------------------------------------------

OPTIONS = FilterOptions([Option("3", "Sam"), Option("4", "Ann")], [Option("1", "North")])


def test_parse_filters_reads_every_filter():
    filters, errors = parse_filters({"period": "range", "from": "2026-01-05", "to": "2026-02-01", "owner": "3",
                                     "team": "1", "source": " Referral "}, OPTIONS)
    assert errors == {}
    assert filters == DashboardFilters("range", date(2026, 1, 5), date(2026, 2, 1), 3, 1, "Referral")
    assert parse_filters({}, OPTIONS) == (DashboardFilters(), {})


@pytest.mark.parametrize(("args", "field", "message"), [
    ({"period": "fortnight"}, "period", "Choose a period from the list."),
    ({"period": "range", "from": "2026-13-40"}, "from", "Enter a date as YYYY-MM-DD."),
    ({"period": "range", "to": "yesterday"}, "to", "Enter a date as YYYY-MM-DD."),
    ({"period": "range", "from": "2026-03-01", "to": "2026-02-01"}, "to",
     "The end date must be on or after the start date."),
    ({"owner": "abc"}, "owner", "Choose an owner from the list."),
    ({"owner": "999"}, "owner", "Choose an owner from the list."),
    ({"team": "2"}, "team", "Choose a team from the list."),
    ({"source": "x" * 101}, "source", "A source has at most 100 characters."),
])
def test_parse_filters_names_and_ignores_a_bad_value(args, field, message):
    filters, errors = parse_filters(args, OPTIONS)
    assert errors == {field: message}
    assert getattr(filters, {"from": "date_from", "to": "date_to", "owner": "owner_id", "team": "team_id"}.get(
        field, field)) == (DashboardFilters().period if field == "period" else None)


def test_dates_apply_only_to_a_date_range():
    filters, errors = parse_filters({"period": "30d", "from": "junk"}, OPTIONS)
    assert errors == {} and filters.date_from is None


def test_periods_start_at_the_readers_midnight():
    window = period_window(DashboardFilters("30d"), NOW, PARIS)
    assert window.first_day == date(2026, 5, 17) and window.last_day == date(2026, 6, 15)
    assert window.start == datetime(2026, 5, 16, 22, 0, tzinfo=UTC) and window.end is None
    year = period_window(DashboardFilters("year"), NOW, PARIS)
    assert year.start == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    span = period_window(DashboardFilters("range", date(2026, 3, 1), date(2026, 3, 31)), NOW, PARIS)
    assert (span.start, span.end) == (datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC))


def test_filter_options_follow_the_scope(db, users):
    assert filter_options(db.session, users["sales"]) == FilterOptions([], [])
    manager = filter_options(db.session, users["manager"])
    assert {o.value for o in manager.owners} == {str(users["manager"].id), str(users["sales"].id)}
    assert [t.label for t in manager.teams] == ["North"]
    admin = filter_options(db.session, users["admin"])
    assert len(admin.owners) == 5 and [t.label for t in admin.teams] == ["North"]


@pytest.mark.parametrize(("histogram", "median"), [
    ({}, None), ({5: 1}, 5), ({1: 1, 3: 1}, 2), ({1: 2, 10: 1}, 1), ({0: 1, 2: 2, 9: 1}, 2), ({1: 1, 2: 1, 7: 2}, 4.5)])
def test_median_hours_from_a_histogram(histogram, median):
    assert median_hours(histogram) == median
