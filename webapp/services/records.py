"""Accounts, contacts and deals: create, update, list (Flask-free; they flush, the caller commits).

Pages and the API call the same functions with a data dict named as in api.md
(`parent_id`, `owner_id`, `tags`, `custom`...). They raise PermissionDenied,
RecordInvalid (errors by field, nothing written) and BadCursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import selectinload

from .. import entities, permissions
from ..entities import noun
from ..errors import N_, BadRequest, Forbidden, Invalid, Problem, Text
from ..fields import search_text
from ..models import (
    Account,
    Contact,
    Deal,
    Pipeline,
    Stage,
    Tag,
    Tagging,
    TimelineEvent,
    User,
    record_event,
)
from ..normalize import norm_company, norm_email, norm_name
from .custom_values import get_custom, set_custom
from .tags import get_tags, set_tags

PAGE_SIZE = 50


@dataclass(frozen=True)
class Kind:
    """What the services need to know about one record kind."""

    name: str
    model: type
    label: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


_ADDRESS = ("street", "city", "state", "postal_code", "country")
KINDS = {
    "account": Kind(
        "account", Account, N_("Account"),
        ("name", "industry", "website", "phone", "fax", "annual_revenue", "employees", "parent_id",
         *(f"billing_{p}" for p in _ADDRESS), *(f"shipping_{p}" for p in _ADDRESS), "owner_id"),
        ("name",), phones=("phone", "fax"),
    ),
    "contact": Kind(
        "contact", Contact, N_("Contact"),
        ("salutation", "first_name", "last_name", "title", "email", "phone", "mobile", "fax",
         "skype", "linkedin", "twitter", "facebook", "lead_source", "email_opt_out", "description",
         *(f"mailing_{p}" for p in _ADDRESS), "account_id", "owner_id"),
        ("last_name",), emails=("email",), phones=("phone", "mobile", "fax"),
    ),
    "deal": Kind(
        "deal", Deal, N_("Deal"),
        ("name", "account_id", "contact_id", "contact_role", "pipeline_id", "stage", "amount",
         "currency", "closing_date", "lead_source", "campaign_id", "rating", "owner_id"),
        ("name",),
    ),
}

# The sentences of each kind (templates: translated when shown; the timeline stores the English).
CANNOT_CREATE = {"account": N_("Your role may not create accounts."),
                 "contact": N_("Your role may not create contacts."),
                 "deal": N_("Your role may not create deals.")}
CANNOT_EDIT = {"account": N_("You may not edit this account."),
               "contact": N_("You may not edit this contact."),
               "deal": N_("You may not edit this deal.")}
CREATED = {"account": N_("Account created"), "contact": N_("Contact created"), "deal": N_("Deal created")}
UPDATED = {"account": N_("Account updated: {fields}"), "contact": N_("Contact updated: {fields}"),
           "deal": N_("Deal updated: {fields}")}


# ---------------------------------------------------------------- validation


def _clean(session, actor, kind: Kind, data: dict, obj=None, strict: bool = False):
    """(column values, tags or None, typed custom values); raises Invalid with every error.

    Values are checked by entities.clean (the field layer); this adds the rules between
    fields of an account, contact or deal (a parent cycle, a contact of another account, a
    stage of another pipeline), checked once the values themselves are sound."""
    cleaned = entities.clean(session, actor, kind.name, data, obj, strict=strict)
    values, errors = cleaned.values, cleaned.errors
    if not errors:
        _check_references(session, kind, values, obj, errors)
    if errors:
        raise Invalid(errors=errors)
    return values, cleaned.tags, cleaned.custom


def _check_references(session, kind: Kind, values: dict, obj, errors: dict) -> None:
    """Rules between fields (the ids themselves exist and are visible: entities.clean)."""
    def current(key):
        return values[key] if key in values else getattr(obj, key, None)

    if kind.name == "account" and values.get("parent_id") is not None:
        problem = parent_problem(session, obj.id if obj is not None else None, values["parent_id"])
        if problem:
            errors["parent_id"] = [problem]
    if kind.name != "deal":
        return
    if values.get("contact_id") is not None:
        contact = session.get(Contact, values["contact_id"])
        account_id = current("account_id")
        if account_id and contact.account_id and contact.account_id != account_id:
            errors["contact_id"] = [Problem("contact_other_account")]
    if "pipeline_id" in values or "stage" in values or obj is None:
        pipeline_id = current("pipeline_id")
        if pipeline_id is None:
            pipeline_id = session.scalar(select(Pipeline.id).order_by(Pipeline.is_default.desc(), Pipeline.id))
            values["pipeline_id"] = pipeline_id
        pipeline = session.get(Pipeline, pipeline_id)
        names = [s.name for s in pipeline.stages]
        stage = current("stage")
        if stage is None and names:
            values["stage"] = names[0]
        elif stage not in names:
            errors["stage"] = [Problem("not_stage", pipeline=pipeline.name, choices=", ".join(names))]


def parent_problem(session, account_id: int | None, parent_id: int) -> Problem | None:
    """Why `parent_id` cannot be the parent of account `account_id` (unknown, itself, a cycle)."""
    if account_id is not None and parent_id == account_id:
        return Problem("own_parent")
    seen: set[int] = set()
    current = session.get(Account, parent_id)
    if current is None:
        return Problem("no_record", kind=noun("account"), id=parent_id)
    while current is not None and current.id not in seen:
        if account_id is not None and current.id == account_id:
            return Problem("parent_cycle")
        seen.add(current.id)
        current = current.parent
    return None


# ---------------------------------------------------------------- writing


def create(session, actor: User, kind_name: str, data: dict, *, strict: bool = False):
    """Create an account, contact or deal from `data`; raises PermissionDenied, RecordInvalid."""
    kind = KINDS[kind_name]
    if not permissions.can_create(actor, kind.name):
        raise Forbidden(Text(CANNOT_CREATE[kind.name]))
    values, tags, custom = _clean(session, actor, kind, data, strict=strict)
    values.setdefault("owner_id", actor.id)
    if values["owner_id"] is None:
        values["owner_id"] = actor.id
    obj = kind.model(**values)
    obj.team_id = _team_of(session, obj.owner_id)
    session.add(obj)
    session.flush()
    if tags:
        set_tags(session, kind.name, obj.id, tags)
    if custom:
        set_custom(session, kind.name, obj.id, custom)
    record_event(session, kind.name, obj.id, "created", Text(CREATED[kind.name]), actor.id)
    session.flush()
    return obj


def update(session, actor: User, obj, data: dict, *, strict: bool = False):
    """Change the fields present in `data`; raises PermissionDenied, RecordInvalid."""
    kind = KINDS[obj.__class__.__name__.lower()]
    if not permissions.can_edit(session, actor, obj):
        raise Forbidden(Text(CANNOT_EDIT[kind.name]))
    values, tags, custom = _clean(session, actor, kind, data, obj, strict=strict)
    changed = [key for key, value in values.items() if getattr(obj, key) != value]
    for key in changed:
        setattr(obj, key, values[key])
    if "owner_id" in changed:
        obj.team_id = _team_of(session, obj.owner_id)
    if tags is not None and [t.lower() for t in tags] != [t.lower() for t in get_tags(session, kind.name, obj.id)]:
        set_tags(session, kind.name, obj.id, tags)
        changed.append("tags")
    if custom:
        before = get_custom(session, kind.name, obj.id)
        set_custom(session, kind.name, obj.id, custom)
        if get_custom(session, kind.name, obj.id) != before:
            changed.append("custom fields")
    if changed:
        names = ", ".join(c.removesuffix("_id").replace("_", " ") for c in changed)
        record_event(session, kind.name, obj.id, "updated", Text(UPDATED[kind.name], fields=names),
                     actor.id, {"fields": changed})
    session.flush()
    return obj


def _team_of(session, user_id: int | None) -> int | None:
    user = session.get(User, user_id) if user_id else None
    return user.team_id if user else None


def create_account(session, actor, data):
    """Create an account; raises PermissionDenied, RecordInvalid."""
    return create(session, actor, "account", data)


def create_contact(session, actor, data):
    """Create a contact; raises PermissionDenied, RecordInvalid."""
    return create(session, actor, "contact", data)


def create_deal(session, actor, data):
    """Create a deal (stage must belong to its pipeline); raises PermissionDenied, RecordInvalid."""
    return create(session, actor, "deal", data)


# ---------------------------------------------------------------- reading


@dataclass
class Page:
    items: list
    next_cursor: str | None


# Sort keys: (expression, descending). Every order ends with the id so keyset paging is exact.
SORTS = {
    "account": {"name": (Account.name, False), "-created": (Account.created_at, True),
                "-updated": (Account.updated_at, True)},
    "contact": {"name": (func.coalesce(Contact.name_norm, ""), False),
                "-created": (Contact.created_at, True), "-updated": (Contact.updated_at, True)},
    "deal": {"-created": (Deal.created_at, True), "name": (Deal.name, False),
             "-amount": (func.coalesce(Deal.amount, 0), True), "-updated": (Deal.updated_at, True)},
}
SORT_LABELS = {"name": N_("Name"), "-created": N_("Newest"), "-updated": N_("Recently updated"),
               "-amount": N_("Largest amount")}
DEFAULT_SORT = {"account": "name", "contact": "name", "deal": "-created"}
FILTERS = {
    "account": ("owner_id", "tag"),
    "contact": ("owner_id", "tag", "account_id"),
    "deal": ("owner_id", "tag", "account_id", "contact_id", "pipeline_id", "stage"),
}


def _prefix(column, key: str):
    # A range on the normalised column (not LIKE): both SQLite and PostgreSQL use its
    # b-tree index for `col >= key AND col < key || U+FFFF`, and no wildcard needs escaping.
    return and_(column >= key, column < key + "\uffff")


def _search(kind: str, q: str):
    """The search clause; a query with nothing searchable in it ("%", "--") matches nothing."""
    if kind == "account":
        key = norm_company(q)
        return _prefix(Account.name_norm, key) if key else false()
    if kind == "contact":
        name, email = norm_name(q), norm_email(q)
        clauses = [_prefix(Contact.email_norm, email)] if email else []
        if name:
            clauses.append(_prefix(Contact.name_norm, name))
        return or_(*clauses) if clauses else false()
    # Deals have no normalised column: a case-insensitive prefix on the name, or the account's.
    text = " ".join(q.split()).lower()
    key = norm_company(q)
    clauses = [func.lower(Deal.name).startswith(text, autoescape=True)] if text else []
    if key:
        clauses.append(Deal.account_id.in_(select(Account.id).where(_prefix(Account.name_norm, key))))
    return or_(*clauses) if clauses else false()


def encode_cursor(sort: str, last_id: int) -> str:
    raw = json.dumps({"s": sort, "id": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(sort, last id) from an opaque cursor; raises BadCursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        sort, last_id = data["s"], data["id"]
        if not isinstance(sort, str) or not isinstance(last_id, int) or isinstance(last_id, bool):
            raise ValueError
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BadRequest(Text("This page link is not valid; start again from the first page."),
                         {"cursor": [Problem("invalid")]}) from None
    return sort, last_id


def list_records(session, actor: User, kind_name: str, *, q: str | None = None,
                 filters: dict | None = None, sort: str | None = None,
                 cursor: str | None = None, limit: int = PAGE_SIZE, related: bool = True) -> Page:
    """One keyset page of the records the actor may see (never OFFSET), with the records they
    name (owner, account, contact) loaded unless not `related` (the API answers only their
    ids: one to three statements fewer). Raises BadCursor."""
    kind = KINDS[kind_name]
    model = kind.model
    sorts = SORTS[kind_name]
    sort = sort if sort in sorts else DEFAULT_SORT[kind_name]
    stmt = select(model).where(permissions.visible_clause(session, actor, model))
    q = search_text(q)
    if q:
        stmt = stmt.where(_search(kind_name, q))
    for key, value in (filters or {}).items():
        if value in (None, "") or key not in FILTERS[kind_name]:
            continue
        if key == "tag":
            tagged = select(Tagging.parent_id).join(Tag).where(
                Tagging.parent_type == kind_name, func.lower(Tag.name) == search_text(str(value)).lower())
            stmt = stmt.where(model.id.in_(tagged))
        else:
            stmt = stmt.where(getattr(model, key) == value)
    expr, descending = sorts[sort]
    if cursor:
        cursor_sort, last_id = decode_cursor(cursor)
        if cursor_sort != sort:
            raise BadRequest(Text("This page link belongs to another sort order; start again."),
                             {"cursor": [Problem("invalid")]})
        # The cursor names the last row shown; its current sort value is read back so the
        # cursor stays small and opaque, and the next page is a plain index range.
        found = session.execute(select(expr).where(model.id == last_id)).first()
        if found is None:
            raise BadRequest(Text("The row this page link started from is gone; start again."),
                             {"cursor": [Problem("invalid")]})
        value = found[0]
        if descending:
            stmt = stmt.where(or_(expr < value, and_(expr == value, model.id < last_id)))
        else:
            stmt = stmt.where(or_(expr > value, and_(expr == value, model.id > last_id)))
    order = (expr.desc(), model.id.desc()) if descending else (expr.asc(), model.id.asc())
    stmt = stmt.order_by(*order).limit(limit + 1).options(*(_eager(kind_name) if related else ()))
    rows = list(session.scalars(stmt))
    next_cursor = encode_cursor(sort, rows[limit - 1].id) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def _eager(kind_name: str):
    if kind_name == "account":
        return (selectinload(Account.owner),)
    if kind_name == "contact":
        return (selectinload(Contact.owner), selectinload(Contact.account))
    return (selectinload(Deal.owner), selectinload(Deal.account), selectinload(Deal.contact))


def lookup(session, actor: User, kind_name: str, q: str | None, limit: int = 20) -> list:
    """A few records matching `q` for a picker (visible ones only, by name)."""
    return list_records(session, actor, kind_name, q=q, limit=limit).items


def timeline(session, parent_type: str, parent_id: int, limit: int = 50) -> list[TimelineEvent]:
    """The record's timeline events, newest first."""
    return list(session.scalars(
        select(TimelineEvent).where(TimelineEvent.parent_type == parent_type,
                                    TimelineEvent.parent_id == parent_id)
        .order_by(TimelineEvent.created_at.desc(), TimelineEvent.id.desc()).limit(limit)
        .options(selectinload(TimelineEvent.actor))
    ))


def stage_names(session, pipeline_id: int | None) -> list[str]:
    """The stage names of a pipeline in order (empty for an unknown pipeline)."""
    return list(session.scalars(select(Stage.name).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position)))


__all__ = [
    "KINDS", "PAGE_SIZE", "Page",
    "create", "create_account", "create_contact", "create_deal", "decode_cursor", "encode_cursor",
    "list_records", "lookup", "parent_problem", "stage_names", "timeline", "update",
]
