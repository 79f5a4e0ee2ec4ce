"""The home page's figures (the dashboard): the lead funnel, conversion rates by source and by
owner, conversions per week with the median time to convert, and leads closed unconverted.

Always within the reader's scope: exactly the leads their lead list shows (permissions.
visible_clause: a sales rep their own, a manager their team, an administrator every lead).

Speed (bench/lists.py, 1,000,000 leads): nothing here loads a lead. The figures on leads
*created* in the period come from lead_stats (models/stats.py: counts per owner, team, source,
status, converted and month, kept by triggers) for the whole months of the period, and from
the leads' covering index ix_leads_created_stats for the days around its ends: at most half a
month at each end, added or subtracted ("all of November but its first day" reads one day of
leads, not 29). The owner, team and source filters are applied in Python to those few
hundred grouped rows. Conversions per week and the time to convert are grouped in SQL from
the converted leads (ix_leads_conversions, a partial index on 5% of the leads).

Flask-free: the route passes the reader, the query string, the time zone and now.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import pairwise

from sqlalchemy import ARRAY, DateTime, Integer, and_, bindparam, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import True_
from sqlalchemy.sql.expression import FunctionElement

from .. import permissions
from ..errors import N_, Text
from ..fields import search_text
from ..models import Lead, LeadStatus, Team, User
from ..models.base import start_of_day
from ..models.stats import lead_stats
from .leads import counter_visibility, without_indexes

PERIODS = {
    "30d": N_("Last 30 days"),
    "90d": N_("Last 90 days"),
    "365d": N_("Last 365 days"),
    "year": N_("This year"),
    "all": N_("All time"),
    "range": N_("Date range"),
}
DEFAULT_PERIOD = "90d"
_DAYS = {"30d": 30, "90d": 90, "365d": 365}
SOURCE_MAX = 100
NO_SOURCE = N_("No source")
NO_OWNER = N_("No owner")
# A period longer than this reads whole months from lead_stats; a shorter one reads its leads.
_DIRECT_MAX = timedelta(days=31)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class DashboardFilters:
    """What the dashboard is filtered on; None filters nothing. Dates are the reader's days."""

    period: str = DEFAULT_PERIOD
    date_from: date | None = None
    date_to: date | None = None
    owner_id: int | None = None
    team_id: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class FilterOptions:
    """The choices of the owner and team filters: what the reader may see (empty: no filter)."""

    owners: list[Option]
    teams: list[Option]


@dataclass(frozen=True)
class Window:
    """The period as UTC instants [start, end) (None: open) and as the reader's first and last day."""

    start: datetime | None
    end: datetime | None
    first_day: date | None
    last_day: date


@dataclass(frozen=True)
class Step:
    """One bar of the funnel or of the closed reasons: a status and its number of leads."""

    key: str
    label: str
    category: str
    n: int


@dataclass(frozen=True)
class Rate:
    """Leads created in the period for one source or owner, and how many of them were converted.

    `key` is the lead list's filter value ('' when it has none: no source, no owner)."""

    key: str
    label: str
    leads: int
    converted: int
    translate: bool = False  # `label` is the app's own text (No source, No owner)

    @property
    def rate(self) -> float:
        return self.converted / self.leads if self.leads else 0.0


@dataclass(frozen=True)
class Week:
    """Conversions in one week (starting on `start`, a Monday in the reader's time zone)."""

    start: date
    n: int


@dataclass
class Dashboard:
    filters: DashboardFilters
    window: Window
    leads: int = 0
    converted: int = 0
    funnel: list[Step] = field(default_factory=list)
    closed: list[Step] = field(default_factory=list)
    by_source: list[Rate] = field(default_factory=list)
    by_owner: list[Rate] = field(default_factory=list)
    weeks: list[Week] = field(default_factory=list)
    conversions: int = 0
    median_days: float | None = None
    sources: list[str] = field(default_factory=list)  # the period's sources, for the filter

    @property
    def rate(self) -> float:
        return self.converted / self.leads if self.leads else 0.0

    @property
    def closed_total(self) -> int:
        return sum(step.n for step in self.closed)

    @property
    def funnel_max(self) -> int:
        return max([step.n for step in self.funnel] or [0])


# --- Filters ----------------------------------------------------------------------------------

def filter_options(session, actor: User | None) -> FilterOptions:
    """The owners and teams `actor` may filter on: those whose leads they may see."""
    if actor is None:
        return FilterOptions([], [])
    users = session.scalars(select(User).where(permissions.assignable_owners_clause(session, actor))
                            .order_by(User.name, User.id))
    owners = [Option(str(u.id), u.display_name) for u in users]
    if isinstance(permissions.visible_clause(session, actor, Lead), True_):
        teams = session.scalars(select(Team).order_by(Team.name, Team.id))
    elif actor.role is not None and actor.role.scope == "team" and actor.team_id:
        teams = [session.get(Team, actor.team_id)]
    else:
        teams = []
    return FilterOptions(owners if len(owners) > 1 else [], [Option(str(t.id), t.name) for t in teams])


def _parse_date(raw: str) -> date:
    if not _DATE.fullmatch(raw):
        raise ValueError(raw)
    return date.fromisoformat(raw)


def parse_filters(args: Mapping[str, str], options: FilterOptions) -> tuple[DashboardFilters, dict[str, Text]]:
    """The filters of a query string, and a reason per refused value (which is then ignored).

    Keys: period (PERIODS), from and to (YYYY-MM-DD, with period=range), owner, team (ids among
    `options`), source (any text)."""
    errors: dict[str, Text] = {}
    period = (args.get("period") or "").strip() or DEFAULT_PERIOD
    if period not in PERIODS:
        errors["period"] = Text(N_("Choose a period from the list."))
        period = DEFAULT_PERIOD
    dates: dict[str, date | None] = {"from": None, "to": None}
    for name in dates:
        raw = (args.get(name) or "").strip()
        if raw and period == "range":
            try:
                dates[name] = _parse_date(raw)
            except ValueError:
                errors[name] = Text(N_("Enter a date as YYYY-MM-DD."))
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        errors["to"] = Text(N_("The end date must be on or after the start date."))
        dates["to"] = None
    ids = {}
    for name, choices, message in (("owner", options.owners, N_("Choose an owner from the list.")),
                                   ("team", options.teams, N_("Choose a team from the list."))):
        raw = (args.get(name) or "").strip()
        if raw and raw not in {o.value for o in choices}:
            errors[name] = Text(message)
        ids[name] = int(raw) if raw and name not in errors else None
    source = search_text(args.get("source")) or None
    if source is not None and len((args.get("source") or "").strip()) > SOURCE_MAX:
        errors["source"] = Text(N_("A source has at most {max} characters."), max=SOURCE_MAX)
        source = None
    filters = DashboardFilters(period, dates["from"], dates["to"], ids["owner"], ids["team"], source)
    return filters, errors


def period_window(filters: DashboardFilters, now: datetime, tz: tzinfo) -> Window:
    """The filters' period in `tz` (days start at the reader's midnight), as of `now`."""
    today = now.astimezone(tz).date()
    if filters.period in _DAYS:
        first = today - timedelta(days=_DAYS[filters.period] - 1)
        return Window(start_of_day(first, tz), None, first, today)
    if filters.period == "year":
        first = date(today.year, 1, 1)
        return Window(start_of_day(first, tz), None, first, today)
    if filters.period == "range":
        first, last = filters.date_from, filters.date_to
        end = start_of_day(last + timedelta(days=1), tz) if last else None
        return Window(start_of_day(first, tz) if first else None, end, first, last or today)
    return Window(None, None, None, today)


# --- SQL helpers ----------------------------------------------------------------------------------

class _hours_between(FunctionElement):
    """Whole hours from `start` to `end` (two timestamps), on SQLite and PostgreSQL."""

    inherit_cache = True
    name = "hours_between"
    type = Integer()


@compiles(_hours_between, "sqlite")
def _hours_sqlite(element, compiler, **kw):
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    # Seconds rounded first: julianday() is a float, 72 h may come out as 71.99999 h.
    return f"(CAST(round((julianday({end}) - julianday({start})) * 86400) AS INTEGER) / 3600)"


@compiles(_hours_between)
def _hours_default(element, compiler, **kw):
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(floor(extract(epoch FROM ({end} - {start})) / 3600) AS INTEGER)"


def _month(instant: datetime) -> int:
    return instant.year * 12 + instant.month - 1


def _month_start(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _plan(window: Window):
    """How to count leads created in the window: (first month, end month) of lead_stats
    (None: open) and the ranges of leads to add (+1) or subtract (-1); None instead of the
    months when the window is short enough to read its leads alone."""
    start, end = window.start, window.end
    if start is not None and end is not None and end - start <= _DIRECT_MAX:
        return None, [(start, end, 1)]
    lo = hi = None
    edges = []
    if start is not None:
        m0 = _month(start)
        before, after = _month_start(m0), _month_start(m0 + 1)
        if start == before:
            lo = m0
        elif start - before <= after - start:
            lo, edges = m0, [(before, start, -1)]
        else:
            lo, edges = m0 + 1, [(start, after, 1)]
    if end is not None:
        m0 = _month(end)
        before, after = _month_start(m0), _month_start(m0 + 1)
        if end == before:
            hi = m0
        elif end - before <= after - end:
            hi, edges = m0, [*edges, (before, end, 1)]
        else:
            hi, edges = m0 + 1, [*edges, (end, after, -1)]
    return (lo, hi), edges


def _cohort(session, actor, window: Window) -> Counter:
    """Leads created in the window that `actor` may see, counted per (owner, team, source,
    status, converted): a few hundred rows, from lead_stats and the period's edges."""
    months, edges = _plan(window)
    stats_visible = counter_visibility(session, actor, lead_stats)
    if stats_visible is None:  # a visibility rule on other columns: count the leads themselves
        months, edges = None, [(window.start, window.end, 1)]
    counts: Counter = Counter()
    if months is not None:
        s = lead_stats.c
        stmt = select(s.owner_id, s.team_id, s.source, s.status, s.converted, func.sum(s.n)).where(stats_visible)
        lo, hi = months
        if lo is not None:
            stmt = stmt.where(s.month >= lo)
        if hi is not None:
            stmt = stmt.where(s.month < hi)
        # Grouped in primary-key order: SQLite streams the groups instead of sorting the rows.
        stmt = stmt.group_by(s.owner_id, s.team_id, s.source, s.status, s.converted)
        for owner, team, source, status, converted, n in session.execute(stmt):
            counts[(owner, team, source, status, bool(converted))] += int(n)
    visible = without_indexes(permissions.visible_clause(session, actor, Lead))
    key = (func.coalesce(Lead.owner_id, 0), func.coalesce(Lead.team_id, 0), func.coalesce(Lead.lead_source, ""),
           Lead.status, Lead.converted)
    for low, high, sign in edges:
        # The owner and team columns are kept out of SQLite's index choice: the created_at
        # range on ix_leads_created_stats is the access path (the owner's indexes would
        # read all of a rep's leads: 680 ms).
        stmt = select(*key, func.count()).where(visible)
        if low is not None:
            stmt = stmt.where(Lead.created_at >= low)
        if high is not None:
            stmt = stmt.where(Lead.created_at < high)
        for owner, team, source, status, converted, n in session.execute(stmt.group_by(*key)):
            counts[(owner, team, source, status, bool(converted))] += sign * n
    return counts


def _matches(filters: DashboardFilters, owner: int, team: int, source: str) -> bool:
    return ((filters.owner_id is None or owner == filters.owner_id)
            and (filters.team_id is None or team == filters.team_id)
            and (filters.source is None or source == filters.source))


def _conversion_clauses(session, actor, filters: DashboardFilters) -> list:
    """The converted leads `actor` may see under `filters`, at any date."""
    clauses = [permissions.visible_clause(session, actor, Lead), Lead.converted == True]  # noqa: E712
    if filters.owner_id is not None:
        clauses.append(Lead.owner_id == filters.owner_id)
    if filters.team_id is not None:
        clauses.append(Lead.team_id == filters.team_id)
    if filters.source is not None:
        clauses.append(Lead.lead_source == filters.source)
    # Only the converted_at range may drive the query (ix_leads_conversions).
    return [without_indexes(c) for c in clauses] + [Lead.converted_at.isnot(None)]


def _converted_in(window: Window) -> list:
    return ([Lead.converted_at >= window.start] if window.start is not None else []) + (
        [Lead.converted_at < window.end] if window.end is not None else [])


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _ranges(session, bounds: list[tuple[datetime, datetime]]):
    """The time ranges `bounds` as a derived table of one bound parameter, whatever their
    number (a statement of the same shape for every period: compiled once, cached): its
    columns (index from 0, start, end). SQLite reads a JSON array (json_each; times in the
    text form SQLAlchemy stores, in UTC), PostgreSQL two arrays (unnest ... WITH ORDINALITY)."""
    if session.get_bind().dialect.name == "sqlite":
        def text(instant: datetime) -> str:
            return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows = func.json_each(json.dumps([[text(low), text(high)] for low, high in bounds]))
        ranges = rows.table_valued("key", "value").alias("ranges")
        return (ranges.c.key, func.json_extract(ranges.c.value, "$[0]"),
                func.json_extract(ranges.c.value, "$[1]"))
    stamps = ARRAY(DateTime(timezone=True))
    rows = func.unnest(bindparam("starts", [low for low, _ in bounds], type_=stamps),
                       bindparam("ends", [high for _, high in bounds], type_=stamps))
    ranges = rows.table_valued("s", "e", with_ordinality="i").render_derived(name="ranges")
    return ranges.c.i - 1, ranges.c.s, ranges.c.e


def _weeks(session, clauses, window: Window, tz: tzinfo) -> list[Week]:
    """Conversions per week (Monday to Sunday in the reader's time zone), every week of the
    window, empty ones included; one grouped query over the weeks' UTC ranges, the first and
    last clipped to the window (none when `clauses` is None: no conversion at all).

    Only the weeks' bounds limit converted_at: with the window's bounds as well, SQLite would
    read each week's range from the window's start (16,700 conversions: 150 ms, not 10)."""
    first = window.first_day
    if first is None and clauses is None:
        return []
    if first is None:
        earliest = session.scalar(select(Lead.converted_at).where(*clauses).order_by(Lead.converted_at).limit(1))
        if earliest is None:
            return []
        if earliest.tzinfo is None:  # SQLite hands back naive UTC
            earliest = earliest.replace(tzinfo=UTC)
        first = earliest.astimezone(tz).date()
    mondays = []
    day = _monday(first)
    while day <= window.last_day:
        mondays.append(day)
        day += timedelta(days=7)
    found: dict[int, int] = {}
    if clauses is not None:
        edges = [start_of_day(day, tz) for day in [*mondays, mondays[-1] + timedelta(days=7)]]
        if window.start is not None:
            edges[0] = max(edges[0], window.start)
        if window.end is not None:
            edges[-1] = min(edges[-1], window.end)
        i, low, high = _ranges(session, list(pairwise(edges)))
        # Each week is a range of ix_leads_conversions: every conversion is read once.
        stmt = (select(i, func.count()).join(Lead, and_(Lead.converted_at >= low, Lead.converted_at < high))
                .where(*clauses).group_by(i))
        found.update((int(n), count) for n, count in session.execute(stmt))
    return [Week(d, int(found.get(i, 0))) for i, d in enumerate(mondays)]


def median_hours(histogram: dict[int, int]) -> float | None:
    """The median of values given as {value: how many} (the mean of the two middle ones)."""
    total = sum(histogram.values())
    if not total:
        return None
    middle = [(total - 1) // 2, total // 2]
    found, seen = [], 0
    for value in sorted(histogram):
        count = histogram[value]
        found += [value for m in middle if seen <= m < seen + count]
        seen += count
    return sum(found) / 2


# --- The dashboard --------------------------------------------------------------------------

def dashboard(session, actor: User | None, filters: DashboardFilters, now: datetime, tz: tzinfo) -> Dashboard:
    """Every figure of the home page for `actor` under `filters`, as of `now` in time zone `tz`.

    A handful of aggregate queries whatever the number of leads (see the module's docstring);
    raises nothing: a user who may see nothing gets zeros."""
    window = period_window(filters, now, tz)
    board = Dashboard(filters, window)
    statuses = list(session.scalars(select(LeadStatus).order_by(LeadStatus.position, LeadStatus.key)))
    counts = _cohort(session, actor, window)

    per_status: Counter = Counter()
    per_source: dict[str, list[int]] = {}
    per_owner: dict[int, list[int]] = {}
    sources = set()
    for (owner, team, source, status, converted), n in counts.items():
        if n <= 0:
            continue
        sources.add(source)
        if not _matches(filters, owner, team, source):
            continue
        board.leads += n
        board.converted += n if converted else 0
        per_status["\0converted" if converted else status] += n
        for bucket, key in ((per_source, source), (per_owner, owner)):
            totals = bucket.setdefault(key, [0, 0])
            totals[0] += n
            totals[1] += n if converted else 0

    board.funnel = [Step(s.key, s.label, s.category, per_status[s.key]) for s in statuses if s.category == "open"]
    converted_status = next((s for s in statuses if s.category == "converted"), None)
    board.funnel.append(Step(converted_status.key if converted_status else "converted",
                             converted_status.label if converted_status else N_("Converted"),
                             "converted", per_status["\0converted"]))
    board.closed = [Step(s.key, s.label, s.category, per_status[s.key]) for s in statuses if s.category == "closed"]

    board.by_source = sorted(
        (Rate(source, source or NO_SOURCE, leads, conv, translate=True)
         for source, (leads, conv) in per_source.items()),
        key=lambda r: (not r.key, -r.leads, r.label.lower()))
    names = {u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(
        [o for o in per_owner if o])))} if per_owner else {}
    board.by_owner = sorted(
        (Rate(str(owner) if owner else "", names.get(owner, NO_OWNER), leads, conv, translate=owner not in names)
         for owner, (leads, conv) in per_owner.items()),
        key=lambda r: (not r.key, -r.leads, r.label.lower()))
    board.sources = sorted((s for s in sources | ({filters.source} if filters.source else set()) if s), key=str.lower)

    clauses = _conversion_clauses(session, actor, filters)
    hours = _hours_between(Lead.created_at, Lead.converted_at)
    stmt = select(hours, func.count()).where(*clauses, *_converted_in(window)).group_by(hours)
    histogram = {int(h): int(n) for h, n in session.execute(stmt)}
    board.conversions = sum(histogram.values())
    median = median_hours(histogram)
    board.median_days = None if median is None else median / 24
    board.weeks = _weeks(session, clauses if board.conversions else None, window, tz)
    return board


__all__ = ["DEFAULT_PERIOD", "NO_OWNER", "NO_SOURCE", "PERIODS", "Dashboard", "DashboardFilters", "FilterOptions",
           "Option", "Rate", "Step", "Week", "Window", "dashboard", "filter_options", "median_hours",
           "parse_filters", "period_window"]
