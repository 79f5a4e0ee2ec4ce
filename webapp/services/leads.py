"""The lead aggregate: create and update, status changes, typed addresses, campaigns, product
lines, and the list / board queries — shared by the pages, the API and (issue 9) automation.

Flask-free: functions take a session and an actor, check rights, add and flush, and never
commit (the caller does). Every path that changes a lead's status goes through
change_status(), so that whatever "enters a status" hook is added later fires once, here.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, event, false, func, or_, select, tuple_, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from .. import entities, permissions
from ..entities import noun
from ..errors import N_, BadRequest, Forbidden, Invalid, NotFound, Problem, ReadOnlyRecord, Text
from ..fields import ID_SPEC, SEARCH_MAX, FieldError, parse_columns, search_text
from ..models import (
    ADDRESS_TYPES,
    Address,
    Campaign,
    CampaignMember,
    Conversion,
    CustomFieldValue,
    Lead,
    LeadStatus,
    LineItem,
    Product,
    Tag,
    Tagging,
    Team,
    TimelineEvent,
    User,
    record_event,
)
from ..models.leads import LEAD_COMPANY_SORT, LEAD_NAME_SORT, lead_counts
from ..normalize import norm_company, norm_email, norm_name
from .activities import converted_error, lock_if_lead
from .automation import run_rules
from .custom_values import get_custom, set_custom
from .tags import get_tags, set_tags


@dataclass(frozen=True)
class StatusChange:
    """What change_status did: the previous and new status (equal when nothing changed), and
    what the automation rules of the new status did (C8.6): the conversion of the rule that
    converted the lead (None: none did) and the timeline events of the rules' outcomes
    ("rule_converted" / "rule_not_converted", in order), for the caller to say so."""

    lead_id: int
    old: LeadStatus
    new: LeadStatus
    conversion: Conversion | None = None
    rule_events: tuple[TimelineEvent, ...] = ()

    @property
    def changed(self) -> bool:
        return self.old.key != self.new.key


def change_status(session, actor: User | None, lead: Lead, new_status: str) -> StatusChange:
    """Move `lead` to the status keyed `new_status` and record it on the lead's timeline.

    Raises LeadIsConverted (409), LeadNotEditable (403), InvalidStatus (422: unknown key,
    or a status of category "converted": converting is the conversion's job, C1.4).
    Setting the status the lead already has is a no-op (no timeline event).
    """
    # Lock the row (PostgreSQL) and read the flag afresh, so that a conversion committed since
    # the lead was loaded is seen and cannot slip in before our commit. A plain column query
    # leaves the caller's pending edits on `lead` untouched (a refresh would drop them).
    converted = lead.id is not None and session.execute(
        select(Lead.converted).where(Lead.id == lead.id).with_for_update()
    ).scalar()
    if lead.converted or converted:
        raise ReadOnlyRecord(Text("This lead was converted: it is read-only and its status cannot change."),
                             conversion_id=lead.conversion_id)
    if not permissions.can_edit(session, actor, lead):
        raise Forbidden(Text("You may not change the status of this lead."))
    if not isinstance(new_status, str) or not new_status.strip():
        raise Invalid.on("status", Text("Choose a status."))
    target = session.get(LeadStatus, new_status.strip())
    if target is None:
        raise Invalid.on("status", Text("This status does not exist."))
    if target.category == "converted":
        raise Invalid.on("status", Text("Use Convert to convert a lead; its status follows."))
    old = (session.get(LeadStatus, lead.status) if lead.status else None) or target
    if old.key == target.key:
        return StatusChange(lead.id, old, target)
    lead.status = target.key
    lead.status_ref = target
    session.flush()
    moved = record_event(
        session, "lead", lead.id, "status_changed",
        Text("Status changed from {old} to {new}", old=Text(old.label), new=Text(target.label)),
        actor_id=actor.id if actor is not None else None,
        data={"from": old.key, "to": target.key},
    )
    # C8.6: the automation rules of "lead enters status S", once per change (SAVEPOINT each:
    # a refused conversion leaves this status change as it is).
    conversion = run_rules(session, actor, lead, old.key, target.key)
    session.flush()
    # What they did is on the lead's timeline, after this change's event (the row is locked).
    outcomes = tuple(session.scalars(select(TimelineEvent).where(
        TimelineEvent.parent_type == "lead", TimelineEvent.parent_id == lead.id, TimelineEvent.id > moved.id,
        TimelineEvent.kind.in_(("rule_converted", "rule_not_converted"))).order_by(TimelineEvent.id)))
    return StatusChange(lead.id, old, target, conversion, outcomes)


_STATUS_CACHE = "leads.statuses"


def lead_statuses(session) -> list[LeadStatus]:
    """Every lead status by position, read once per session transaction: a list page needs
    them three times (the status filter's choices, the open ones of its rows and of its
    count) and an API page once more; they are reference data, edited only by set-up.
    Forgotten at commit and rollback, and by a flush that writes a status."""
    cached = session.info.get(_STATUS_CACHE)
    if cached is None:
        cached = list(session.scalars(select(LeadStatus).order_by(LeadStatus.position, LeadStatus.key)))
        session.info[_STATUS_CACHE] = cached
    return cached


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_statuses(session, *args) -> None:
    session.info.pop(_STATUS_CACHE, None)


@event.listens_for(Session, "after_flush")
def _forget_written_statuses(session, context) -> None:
    if any(isinstance(o, LeadStatus) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_STATUS_CACHE, None)


def board_statuses(session) -> list[LeadStatus]:
    """The board's columns: open statuses then closed ones, each by position (never converted)."""
    return sorted((s for s in lead_statuses(session) if s.category in ("open", "closed")),
                  key=lambda s: s.category != "open")  # stable: by position, key within each


def default_status_key(session) -> str:
    """Where a lead created without a status starts: the first open status (an administrator
    orders and renames them, services/statuses.py keeps at least one open)."""
    return next((s.key for s in lead_statuses(session) if s.category == "open"), "new")


# --- Listing: filters, prefix search, keyset pages, counts (the list, the board, the API) ---

PAGE_SIZE = 50
Q_MAX = SEARCH_MAX

# Sort name -> (key expressions, descending?). The id ends every key so that ties (many leads
# created in the same second by an import) still give a total order for keyset pages.
# Name sort follows what the list shows (person, else company, else e-mail). Each sort has its
# index (models/leads.py), so the first page never sorts the whole table.
SORTS = {
    "created": ((Lead.created_at, Lead.id), True),
    "updated": ((Lead.updated_at, Lead.id), True),
    "name": ((LEAD_NAME_SORT, Lead.id), False),
    "company": ((LEAD_COMPANY_SORT, Lead.id), False),
}
SORT_LABELS = {"created": N_("Newest first"), "updated": N_("Recently updated"), "name": N_("Name"),
               "company": N_("Company")}



@dataclass
class LeadFilters:
    """What the lead list, the board and the API filter on; empty values filter nothing.

    status: "" = open statuses only (the default list: closed leads are reached through their
    status filter, C9.2), "all" = open and closed, else one status key. Converted leads are
    hidden unless `converted` is true, and then only they are listed (C1.4).
    """

    q: str = ""
    status: str = ""
    owner_id: int | None = None
    tag: str = ""
    source: str = ""
    converted: bool = False
    # The dashboard's links: the lead's team, and created in [created_from, created_before)
    # (UTC instants: the reader's days, resolved by the route in their time zone).
    team_id: int | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    # Custom picklist / checkbox filters (the lead list): (field id, normalised value, holds it?);
    # (3, "true", False) is "checkbox 3 is not ticked" (no value or false).
    custom: tuple[tuple[int, str, bool], ...] = ()

    @property
    def counted(self) -> bool:
        """Whether lead_counts can answer (it knows visibility, owner, status, converted)."""
        return not (search_text(self.q) or search_text(self.tag) or search_text(self.source)
                    or self.team_id is not None or self.created_from or self.created_before or self.custom)


@dataclass
class Page:
    """One keyset page: the leads and the cursor of the next page (None on the last one)."""

    items: list[Lead] = field(default_factory=list)
    next_cursor: str | None = None


def _prefix(column, value: str):
    """`column` starts with `value`, written so that a plain B-tree index on it is used.

    A range (col >= 'abc' AND col < 'abd') is an index range scan under any collation,
    whereas LIKE 'abc%' uses an index only under the C collation (or text_pattern_ops) in
    PostgreSQL. The LIKE stays as an exact check on the few rows the range returns, because
    a non-C collation may order some odd strings inside the range.
    """
    upper = value[:-1] + chr(ord(value[-1]) + 1)
    return and_(column >= value, column < upper, column.startswith(value, autoescape=True))


def _search_keys(q: str) -> list:
    """(indexed column, normalised query) pairs that a prefix search `q` looks up."""
    name = norm_name(q)
    pairs = [(Lead.name_norm, name), (Lead.name_rev_norm, name), (Lead.company_norm, norm_company(q)),
             (Lead.email_norm, norm_email(q))]
    return [(column, key) for column, key in pairs if key]


def search_clause(q: str):
    """Prefix search on the normalised, indexed keys: name first name first, name last name
    first, company, e-mail (C4.7 keys); None when `q` has no letter or digit.

    The query is normalised like the keys (accents, case, punctuation ignored), so that
    "élodie d'a" finds "Élodie D'Arc" and "dupont" finds "Marie Dupont". Prefix only: a
    middle-of-string match could not use an index and would scan a million rows.
    """
    parts = [_prefix(column, key) for column, key in _search_keys(q)]
    return or_(*parts) if parts else None


# At most this many candidate ids drive a query (search, tag filter). Under it, fetching the
# few rows by id and sorting them beats walking a million leads in date order looking for
# matches (19 s for a search that matches nothing); over it, matches are common (>= 0.5% of a
# million) and the date-ordered walk finds a page of them within a few thousand rows.
CANDIDATES_MAX = 5000


def _bounded_ids(session, statements) -> list[int] | None:
    """The distinct ids the id `statements` return, or None when more than CANDIDATES_MAX.

    Each statement is first counted in SQL up to CANDIDATES_MAX + 1, so a common prefix costs
    that many index entries and no rows fetched; only a few ids ever reach Python. PostgreSQL
    plans the prefix indexes and the taggings join well by itself, and planning a bound list
    of thousands of ids costs it more than the search (bench/load.py: list CPU p95 94-132 ms
    down to 30-38 ms without it): there the plain condition is used (None).
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
    total = 0
    for stmt in statements:
        bounded = stmt.limit(CANDIDATES_MAX + 1).subquery()
        total += session.scalar(select(func.count()).select_from(bounded))
        if total > CANDIDATES_MAX:
            return None
    if total == 0:
        return []
    ids: set[int] = set()
    for stmt in statements:
        ids.update(session.scalars(stmt))
    return sorted(ids)


def _ids_condition(ids: list[int]):
    # An empty IN renders as a subquery that SQLite checks on every row it walks; false()
    # is a constant it evaluates once.
    return Lead.id.in_(ids) if ids else false()


def _search_condition(session, q: str, count: bool = False):
    """The search as (condition, drives): the matching ids when they are few (drives=True),
    else the prefix clause; for a count (`count`), the union of the prefix ranges' ids."""
    keys = _search_keys(q)
    if not keys:
        # A query with no letter or digit ("!!!") matches nothing rather than everything.
        return false(), False
    branches = [select(Lead.id).where(_prefix(c, k)) for c, k in keys]
    ids = _bounded_ids(session, branches)
    if ids is not None:
        return _ids_condition(ids), True
    if count:
        # Counting every match: read the matches' ids from the prefix indexes and look only
        # those up, instead of testing the prefixes on each of a million leads.
        return Lead.id.in_(union(*branches)), True
    return search_clause(q), False


def _tag_condition(session, tag: str):
    """Leads tagged `tag` (any case) as (condition, drives): the ids when they are few, else
    an IN list that SQLite builds once from ix_taggings_tag and probes as it walks the leads.

    The tag's id is looked up first, so that both read ix_taggings_tag instead of joining
    tags. "+id" keeps SQLite from driving the query by those ids when there are many of them
    (an EXISTS probe per lead measured 17 ms where this takes 5 ms, bench/lists.py).
    """
    tag_ids = list(session.scalars(select(Tag.id).where(func.lower(Tag.name) == tag.lower())))
    if not tag_ids:
        return false(), False
    taggings = select(Tagging.parent_id).where(Tagging.tag_id.in_(tag_ids), Tagging.parent_type == "lead")
    ids = _bounded_ids(session, [taggings])
    if ids is not None:
        return _ids_condition(ids), True
    return _unindexed(Lead.__table__.c.id).in_(taggings), False


class _unindexed(FunctionElement):
    """A column that SQLite must not look up through an index ("+column"); itself elsewhere."""

    inherit_cache = True
    name = "unindexed"

    def __init__(self, column):
        super().__init__(column)
        self.type = column.type


@compiles(_unindexed)
def _compile_unindexed(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(_unindexed, "sqlite")
def _compile_unindexed_sqlite(element, compiler, **kw):
    return "+" + compiler.process(element.clauses, **kw)


def without_indexes(clause):
    """`clause` with the leads' columns unusable by SQLite's index choice.

    When a few candidate ids drive a query, SQLite (no statistics) would still rather walk
    ix_leads_list or ix_leads_owner_list in order, testing each lead against the ids: the 19 s
    search that finds nothing. With the other conditions' columns written "+column" the only
    access left is by rowid: the few rows, then a sort. PostgreSQL plans by cost: unchanged.
    """
    leads = Lead.__table__

    def swap(element):
        if getattr(element, "table", None) is leads and not isinstance(element, _unindexed):
            return _unindexed(element)
        return None

    return replacement_traverse(clause, {}, swap)


def _open_keys(session) -> list[str]:
    return [s.key for s in lead_statuses(session) if s.category == "open"]


def filter_clauses(session, actor: User | None, filters: LeadFilters, any_status: bool = False,
                   count: bool = False) -> list:
    """SQL conditions for what `actor` may see under `filters` (any_status: board counts;
    count: the conditions of a count, which must find every match, not a first page)."""
    q, tag, source = search_text(filters.q), search_text(filters.tag), search_text(filters.source)
    # "= false", not "IS false": PostgreSQL uses an index only for the former.
    clauses = [permissions.visible_clause(session, actor, Lead),
               Lead.converted == (bool(filters.converted) and not any_status)]
    if not any_status:
        if filters.status == "" and not filters.converted:
            clauses.append(Lead.status.in_(_open_keys(session)))
        elif filters.status not in ("", "all"):
            clauses.append(Lead.status == filters.status)
    if filters.owner_id is not None:
        clauses.append(Lead.owner_id == filters.owner_id)
    if source:
        clauses.append(Lead.lead_source == source)
    if filters.team_id is not None:
        clauses.append(Lead.team_id == filters.team_id)
    if filters.created_from is not None:
        clauses.append(Lead.created_at >= filters.created_from)
    if filters.created_before is not None:
        clauses.append(Lead.created_at < filters.created_before)
    for field_id, norm, holds in filters.custom:
        # A field belongs to one entity: its id alone says the values are leads' (ix_cfv_norm).
        having = select(CustomFieldValue.parent_id).where(CustomFieldValue.field_id == field_id,
                                                          CustomFieldValue.value_norm == norm)
        clauses.append(Lead.id.in_(having) if holds else Lead.id.not_in(having))
    drivers = []
    for condition, drives in ([_tag_condition(session, tag)] if tag else []) + (
            [_search_condition(session, q, count)] if q else []):
        (drivers if drives else clauses).append(condition)
    if drivers:
        return [without_indexes(clause) for clause in clauses] + drivers
    return clauses


def encode_cursor(sort: str, lead: Lead) -> str:
    """The opaque cursor after `lead` for `sort` (URL-safe base64 of the key values)."""
    values = []
    for column in SORTS[sort][0]:
        if column is Lead.id:
            values.append(lead.id)
        elif column is Lead.created_at or column is Lead.updated_at:
            values.append(getattr(lead, column.key).isoformat())
        elif column is LEAD_NAME_SORT:
            values.append(lead.name_norm or lead.company_norm or lead.email_norm or "")
        else:
            values.append(lead.company_norm or "")
    raw = json.dumps({"s": sort, "k": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> list:
    """The key values in `cursor`; raises InvalidCursor when it is not one of ours for `sort`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        values = data["k"]
        ok = data["s"] == sort and isinstance(values, list) and len(values) == 2
        ok = ok and isinstance(values[1], int) and not isinstance(values[1], bool)
        ok = ok and isinstance(values[0], str) and len(values[0]) <= 1000
        if ok and sort in ("created", "updated"):
            values[0] = datetime.fromisoformat(values[0])
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError, IndexError):
        ok = False
    if not ok:
        raise BadRequest(Text("This page link is no longer valid; start again from the first page."),
                         {"cursor": [Problem("invalid")]})
    return values


def list_leads(session, actor: User | None, filters: LeadFilters, sort: str = "created",
               cursor: str | None = None, limit: int = PAGE_SIZE, owners: bool = True) -> Page:
    """One keyset page of the leads `actor` may see (never OFFSET: page 20,000 costs what
    page 1 costs), with their owners and teams loaded unless not `owners` (the API shows
    only their ids). Raises InvalidCursor (400) and KeyError for an unknown sort."""
    columns, descending = SORTS[sort]
    # Two steps: the page's ids (sorting, when a few candidate ids drive the query, only ids
    # and keys: 35 -> 5 ms for 1,700 candidates), then those leads by primary key.
    stmt = select(Lead.id).where(*filter_clauses(session, actor, filters))
    if cursor:
        after = decode_cursor(sort, cursor)
        key, values = tuple_(*columns), tuple_(*after)
        stmt = stmt.where(key < values if descending else key > values)
    stmt = stmt.order_by(*(c.desc() if descending else c.asc() for c in columns)).limit(limit + 1)
    ids = list(session.scalars(stmt))
    # Owner and team joined to the rows: one statement where selectinload made three.
    rows = select(Lead).where(Lead.id.in_(ids))
    if owners:
        rows = rows.options(joinedload(Lead.owner), joinedload(Lead.team))
    by_id = {lead.id: lead for lead in session.scalars(rows)} if ids else {}
    leads = [by_id[i] for i in ids]
    more = len(leads) > limit
    leads = leads[:limit]
    return Page(leads, encode_cursor(sort, leads[-1]) if more else None)


def counter_visibility(session, actor: User | None, counters=lead_counts):
    """visible_clause() for leads rewritten onto a counters table keyed by owner_id and team_id
    (the board's lead_counts, the dashboard's lead_stats), or None if it uses other columns."""
    leads = Lead.__table__

    def swap(element):
        # The ORM hands out annotated copies of the columns: compare table and name.
        if getattr(element, "table", None) is leads and element.name in ("owner_id", "team_id"):
            return counters.c[element.name]
        return None

    clause = replacement_traverse(permissions.visible_clause(session, actor, Lead), {}, swap)
    if any(getattr(element, "table", None) is leads for element in iterate(clause)):
        return None
    return clause


def status_counts(session, actor: User | None, filters: LeadFilters) -> dict[str, int]:
    """Leads per status (non-converted, visible to `actor`) for the board: exact.

    Without a search, tag or source filter the counts are the sums of lead_counts (kept by
    triggers, models/leads.py) under the same visibility and owner conditions: a few hundred
    rows instead of 950,000 index entries. Otherwise ONE grouped query on the leads, driven by
    the search's candidate ids when they are few.
    """
    visible = None
    if filters.counted:
        visible = counter_visibility(session, actor)
    if visible is not None:
        total = func.sum(lead_counts.c.n)
        stmt = (select(lead_counts.c.status, total)
                .where(visible, lead_counts.c.converted == False)  # noqa: E712 (SQL, not Python)
                .group_by(lead_counts.c.status).having(total > 0))
        if filters.owner_id is not None:
            stmt = stmt.where(lead_counts.c.owner_id == filters.owner_id)
        return {status: int(n) for status, n in session.execute(stmt)}
    stmt = (select(Lead.status, func.count())
            .where(*filter_clauses(session, actor, filters, any_status=True, count=True))
            .group_by(Lead.status))
    return dict(session.execute(stmt).all())


# --- The lead list's result count (added for the list header, issue 7) ----------------------

COUNT_CAP = 1000
COUNT_CANDIDATES = 1500  # per search branch (name, reversed name, company, e-mail) or tag


@dataclass(frozen=True)
class LeadCount:
    """How many leads the list's filters match: `n` exact, or at least `n` when not `exact`."""

    n: int
    exact: bool


def count_leads(session, actor: User | None, filters: LeadFilters, cap: int = COUNT_CAP,
                page: Page | None = None) -> LeadCount:
    """The list's result count, cheap at 1,000,000 leads.

    - `page`, the list's first page, when it is the last one: its length (no query at all;
      this is also what makes a rare match, e.g. an unindexed source, cost nothing more).
    - Filters that lead_counts can answer (visibility, owner, status, converted: no search,
      tag or source): the sum of its rows, exact whatever the total.
    - Otherwise ONE bounded query (see below): exact when every match was reached and there
      are at most `cap`; else a lower bound, LeadCount(n, exact=False), shown as "n+"
      ("1,000+" at the cap), never less than the rows of `page`.
    Measured at 1,000,000 leads (SQLite, bench/out/lists-1000000): lead_counts 1-2 ms, the
    bounded query 5-60 ms (q=mar as a sales rep: 30 ms).
    """
    if page is not None and page.next_cursor is None:
        return LeadCount(len(page.items), True)
    q, tag = search_text(filters.q), search_text(filters.tag)
    visible = None
    if filters.counted:
        visible = counter_visibility(session, actor)
    if visible is not None:
        stmt = select(func.coalesce(func.sum(lead_counts.c.n), 0)).where(
            visible, lead_counts.c.converted == bool(filters.converted))
        if filters.status == "" and not filters.converted:
            stmt = stmt.where(lead_counts.c.status.in_(_open_keys(session)))
        elif filters.status not in ("", "all"):
            stmt = stmt.where(lead_counts.c.status == filters.status)
        if filters.owner_id is not None:
            stmt = stmt.where(lead_counts.c.owner_id == filters.owner_id)
        return LeadCount(int(session.scalar(stmt)), True)
    from dataclasses import replace

    # Each branch: at most COUNT_CANDIDATES candidate ids read from an index (the search's
    # prefix ranges, the tag's taggings; for a source alone the visible leads), then the
    # other conditions checked on those ids only, stopping at cap + 1 matches. A branch with
    # more candidates than that makes the count a lower bound ("N+"). The candidates' row
    # look-ups are the cost: about 1 ms per 100 at 1,000,000 leads on the bench machine.
    limit = COUNT_CANDIDATES
    if q:
        keys = _search_keys(q)
        if not keys:
            return LeadCount(0, True)
        rest = [without_indexes(c) for c in filter_clauses(session, actor, replace(filters, q=""), count=True)]
        candidates = [select(Lead.id).where(_prefix(column, key)) for column, key in keys]
    elif tag:
        tag_ids = list(session.scalars(select(Tag.id).where(func.lower(Tag.name) == tag.lower())))
        if not tag_ids:
            return LeadCount(0, True)
        rest = [without_indexes(c) for c in filter_clauses(session, actor, replace(filters, tag=""), count=True)]
        candidates = [select(Tagging.parent_id).where(Tagging.tag_id.in_(tag_ids), Tagging.parent_type == "lead")]
    else:
        limit = 4 * COUNT_CANDIDATES
        base = filter_clauses(session, actor, replace(filters, source=""), count=True)
        source = search_text(filters.source)
        rest = [without_indexes(Lead.lead_source == source)] if source else []
        candidates = [select(Lead.id).where(*base)]
    matches = [select(Lead.id).where(Lead.id.in_(c.limit(limit)), *rest).limit(cap + 1) for c in candidates]
    # SQLite takes a LIMIT in a UNION's arm only inside a subquery.
    matches = [select(m.subquery().c.id) for m in matches]
    ids = union(*matches).subquery() if len(matches) > 1 else matches[0].subquery()
    seen = [select(func.count()).select_from(c.limit(limit + 1).subquery()).scalar_subquery() for c in candidates]
    n, *sizes = session.execute(select(select(func.count()).select_from(ids).scalar_subquery(), *seen)).one()
    exact = n <= cap and all(size <= limit for size in sizes)
    if not exact and page is not None:
        n = max(n, len(page.items))  # never less than the rows already shown
    return LeadCount(min(n, cap), exact)


# ---------------------------------------------------------------- writes (lead page, forms, API)

# Lead columns a form or the API may write (status is handled by change_status).
LEAD_FIELDS = (
    "salutation", "first_name", "last_name", "company", "title", "email", "phone", "mobile", "fax",
    "website", "skype", "linkedin", "twitter", "facebook", "industry", "annual_revenue",
    "employees", "lead_source", "rating", "email_opt_out", "description", "street", "city",
    "state", "postal_code", "country", "currency", "owner_id",
)
ADDRESS_LINES = ("street", "city", "state", "postal_code", "country")
# The timeline's words for a typed address (C9.5), one sentence per type.
ADDRESS_ADDED = {"billing": N_("Billing address added"), "delivery": N_("Delivery address added"),
                 "default": N_("Default address added")}
ADDRESS_REMOVED = {"billing": N_("Billing address removed"), "delivery": N_("Delivery address removed"),
                   "default": N_("Default address removed")}


def _apply(lead: Lead, values: dict) -> list[str]:
    changed = []
    for name in LEAD_FIELDS:
        if name in values and getattr(lead, name) != values[name]:
            setattr(lead, name, values[name])
            changed.append(name)
    return changed


def _cleaned(session, actor: User, data: dict, lead: Lead | None, strict: bool):
    """The checked values; a form's `team_id` (not an API field) is checked here too."""
    data = dict(data)
    team_given = "team_id" in data
    team_raw = data.pop("team_id", None)
    cleaned = entities.clean(session, actor, "lead", data, lead, strict=strict)
    if team_given:
        try:
            team_id = ID_SPEC.parse(team_raw)
            if team_id is not None and session.get(Team, team_id) is None:
                raise FieldError("no_record", kind=noun("team"), id=team_id)
            cleaned.values["team_id"] = team_id
        except FieldError as e:
            cleaned.errors["team_id"] = [e.problem]
    entities.raise_errors(cleaned.errors)
    return cleaned


def create_lead(session, actor: User, data: dict, *, strict: bool = False) -> Lead:
    """Create a lead from `data` (api.md names, also status, tags, custom); raises Forbidden or
    Invalid (every field's problem at once, nothing written)."""
    if not permissions.can_create(actor, "lead"):
        raise Forbidden(Text("Your role may not create leads."))
    cleaned = _cleaned(session, actor, data, None, strict)
    values = {**cleaned.values}
    status = values.pop("status", None)
    team_id = values.pop("team_id", _team_of(session, values.get("owner_id") or actor.id))
    lead = Lead(status=status or default_status_key(session), owner_id=actor.id, team_id=team_id)
    _apply(lead, values)
    session.add(lead)
    session.flush()
    if cleaned.tags:
        set_tags(session, "lead", lead.id, cleaned.tags)
    if cleaned.custom:
        set_custom(session, "lead", lead.id, cleaned.custom)
    record_event(session, "lead", lead.id, "lead_created", Text("Lead created"), actor.id)
    run_rules(session, actor, lead, None, lead.status)  # C8.6: a new lead enters its status
    return lead


def update_lead(session, actor: User, lead: Lead, data: dict, *, strict: bool = False) -> list[str]:
    """Update a lead with the fields present in `data`; returns the names of the changed fields.

    Raises ReadOnlyRecord (converted, C1.4), Forbidden, Invalid, or what change_status raises.
    """
    lock_if_lead(session, lead)
    if lead.converted:
        raise converted_error(lead)
    if not permissions.can_edit(session, actor, lead):
        raise Forbidden(Text("You may not edit this lead."))
    cleaned = _cleaned(session, actor, data, lead, strict)
    values = {**cleaned.values}
    status = values.pop("status", None)
    team_id = values.pop("team_id", None) if "team_id" in values else lead.team_id
    changed = _apply(lead, values)
    if "owner_id" in changed and "team_id" not in cleaned.values:
        team_id = _team_of(session, lead.owner_id)
    if team_id != lead.team_id:
        lead.team_id = team_id
        changed.append("team_id")
    tags = cleaned.tags
    if tags is not None and {t.lower() for t in get_tags(session, "lead", lead.id)} != {t.lower() for t in tags}:
        set_tags(session, "lead", lead.id, tags)
        changed.append("tags")
    if cleaned.custom:
        before = get_custom(session, "lead", lead.id)
        set_custom(session, "lead", lead.id, cleaned.custom)
        if get_custom(session, "lead", lead.id) != before:
            changed.append("custom")
    session.flush()
    if changed:
        record_event(session, "lead", lead.id, "lead_updated",
                     Text("Lead updated: {fields}", fields=", ".join(f.replace("_", " ") for f in changed)), actor.id,
                     {"fields": changed})
    if status is not None and status != lead.status:
        change_status(session, actor, lead, status)
        changed.append("status")
    return changed


def _team_of(session, user_id: int | None) -> int | None:
    user = session.get(User, user_id) if user_id else None
    return user.team_id if user else None


def _get_by_id(session, model, field: str, raw):
    """The row of `model` whose id was posted as `raw`; raises Invalid on `field` otherwise."""
    try:
        ident = ID_SPEC.parse(raw)
    except FieldError as e:
        raise Invalid.on(field, e.problem) from None
    row = session.get(model, ident) if ident is not None else None
    if row is None:
        raise Invalid.on(field, Problem("choose_from_list"))
    return row


def _own_row(session, actor: User, lead: Lead, model, row_id: int, missing: str):
    """A row of `model` hanging on the (editable) lead; raises NotFound with `missing` otherwise."""
    _editable(session, actor, lead)
    row = session.get(model, row_id)
    if row is None or row.parent_type != "lead" or row.parent_id != lead.id:
        raise NotFound(missing)
    return row


def _editable(session, actor: User, lead: Lead) -> None:
    if lead.converted:
        raise converted_error(lead)
    if not permissions.can_edit(session, actor, lead):
        raise Forbidden(Text("You may not edit this lead."))
    lock_if_lead(session, lead)


def add_address(session, actor: User, lead: Lead, type_: str, **fields) -> Address:
    """Add a typed address (billing, delivery, default; C9.5) to a lead; raises Invalid with every
    field's problem."""
    _editable(session, actor, lead)
    values, errors = parse_columns(Address, {name: fields.get(name) for name in ADDRESS_LINES})
    if type_ not in ADDRESS_TYPES:
        errors["type"] = [Problem("not_choice", choices=", ".join(ADDRESS_TYPES))]
    if not errors and not any(values.values()):
        errors["street"] = [Problem("address_empty")]
    entities.raise_errors(errors)
    address = Address(parent_type="lead", parent_id=lead.id, type=type_, **values)
    session.add(address)
    session.flush()
    record_event(session, "lead", lead.id, "address_added", Text(ADDRESS_ADDED[type_]), actor.id)
    return address


def remove_address(session, actor: User, lead: Lead, address_id: int) -> None:
    """Remove one of the lead's addresses; raises NotFound when it is not the lead's."""
    address = _own_row(session, actor, lead, Address, address_id, Text("There is no such address on this lead."))
    session.delete(address)
    record_event(session, "lead", lead.id, "address_removed", Text(ADDRESS_REMOVED[address.type]), actor.id)
    session.flush()


def add_to_campaign(session, actor: User, lead: Lead, campaign_id, member_status: str = "sent") -> CampaignMember:
    """Make the lead a member of an existing campaign; raises Invalid when unknown or already in."""
    _editable(session, actor, lead)
    campaign = _get_by_id(session, Campaign, "campaign_id", campaign_id)
    exists = session.scalar(select(CampaignMember.id).where(
        CampaignMember.campaign_id == campaign.id, CampaignMember.parent_type == "lead",
        CampaignMember.parent_id == lead.id))
    if exists:
        raise Invalid.on("campaign_id", Problem("already_in_campaign"))
    member = CampaignMember(campaign=campaign, parent_type="lead", parent_id=lead.id,
                            member_status=member_status)
    session.add(member)
    session.flush()
    record_event(session, "lead", lead.id, "campaign_added", Text("Added to campaign {campaign}", campaign=campaign.name),
                 actor.id)
    return member


def remove_from_campaign(session, actor: User, lead: Lead, member_id: int) -> None:
    """Remove a campaign membership of the lead."""
    member = _own_row(session, actor, lead, CampaignMember, member_id, Text("The lead is not in this campaign."))
    session.delete(member)
    record_event(session, "lead", lead.id, "campaign_removed",
                 Text("Removed from campaign {campaign}", campaign=member.campaign.name), actor.id)
    session.flush()


def add_line_item(session, actor: User, lead: Lead, product_id, quantity, unit_price=None,
                  discount=None) -> LineItem:
    """Add a product line ("products selected", C3.4); the product's price when none is given.
    Values as posted or typed; raises Invalid with every field's problem."""
    _editable(session, actor, lead)
    values, errors = parse_columns(LineItem, {"quantity": quantity, "unit_price": unit_price,
                                              "discount": discount})
    if "quantity" not in errors and not values["quantity"]:
        errors["quantity"] = [Problem("quantity_positive")]
    try:
        product = _get_by_id(session, Product, "product_id", product_id)
    except Invalid as e:
        errors.update(e.errors)
    entities.raise_errors(errors)
    price = product.unit_price if values["unit_price"] is None else values["unit_price"]
    line = LineItem(parent_type="lead", parent_id=lead.id, product=product,
                    quantity=values["quantity"], unit_price=price, discount=values["discount"] or 0)
    session.add(line)
    session.flush()
    quantity = format(line.quantity.normalize(), "f")
    record_event(session, "lead", lead.id, "line_item_added",
                 Text("Product added: {product} × {quantity}", product=product.name, quantity=quantity), actor.id)
    return line


def remove_line_item(session, actor: User, lead: Lead, line_id: int) -> None:
    """Remove one of the lead's product lines."""
    line = _own_row(session, actor, lead, LineItem, line_id, Text("There is no such product line on this lead."))
    session.delete(line)
    record_event(session, "lead", lead.id, "line_item_removed", Text("Product removed: {product}", product=line.product.name),
                 actor.id)
    session.flush()
