"""Lead statuses (issue 10 item 4, C9.2, C9.3): add, rename, reorder, set the category, delete.

One state change, one call, one transaction (the caller commits once); every change is audited
(area "lead_status") in the same transaction. Flask-free. Administrators only for writes.

The rules this module keeps:
- The order is the one the board's columns, the list's status filter and the forms show:
  open statuses first, then closed ones, then `converted` — positions are kept dense (0..n-1)
  in that order, so a status moves only within its category's block, and changing the
  category puts it at the boundary (the end of the open block, the start of the closed one).
- `converted` is system-managed: it is what a conversion sets (C1.4). None can be added, it
  cannot be deleted, its category cannot change and it stays last; only its label may change.
- At least one open status remains (the first one is where a lead created without a status
  starts: services.leads.default_status_key), so neither deleting nor closing the last is allowed.
- The key is made from the label (or given), unique, never changes; "all" is the list filter's
  "open and closed" and is never a key.
- A status that automation rules fire on cannot be deleted (the rules name it). A status that
  leads have is deleted only together with moving its leads to another (open or closed) status,
  in the same call: the leads move by one UPDATE, each with a "status changed" event on its
  timeline, and **no automation rule runs** for them — an administrator re-homing leads while
  tidying the settings is not a person moving a lead into a status (C8.6 rules would otherwise
  convert, in one request, every lead that happens to match).
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import JSON, func, insert, literal, select, update

from .. import permissions
from ..errors import N_, Conflict, Forbidden, Invalid, NotFound, Problem, Text
from ..fields import FieldError, FieldSpec, model_specs
from ..models import AutomationRule, Lead, LeadStatus, TimelineEvent, utcnow
from ..models.leads import lead_counts
from . import audit

AREA = "lead_status"
CONVERTED = "converted"
CATEGORIES = ("open", "closed")  # what an administrator may choose; "converted" is the system's
_RANK = {"open": 0, "closed": 1, CONVERTED: 2}
KEY_RE = re.compile(r"[a-z][a-z0-9_]*")  # fullmatch (a "$" would let a final newline through)
KEY_PATTERN = "^[a-z][a-z0-9_]*$"  # the same, as JSON Schema says it
RESERVED_KEYS = ("all", CONVERTED)  # "all": the lead list's "open and closed" filter value
STATUSES_MAX = 100  # a board of more columns than this is no board: the admin page shows them all
FIELDS = ("key", "label", "category", "position")
DIRECTIONS = ("up", "down")

ADMIN_ONLY = N_("Your role lacks the “Administration” permission, which changing lead statuses needs.")
KEY_TAKEN = N_("is already the key of another status")
LABEL_TAKEN = N_("is already the label of another status")
KEY_FORMAT = N_("must start with a letter a–z and hold only letters a–z, digits and _")
KEY_RESERVED = N_("is reserved: choose another key")
NOT_A_TARGET = N_("must be another status, open or closed")
SYSTEM = N_("“{label}” is the status a lead conversion sets: it is managed by the system, stays last "
            "and keeps its category.")
LAST_OPEN = N_("“{label}” is the last open status: at least one must stay open (new leads start in the "
               "first one, and the board shows them).")
TOO_MANY = N_("There are {max} lead statuses already: delete one before adding another.")
HAS_RULES = N_("Automation rules fire when a lead enters “{label}”: {rules}. Change them to another status "
               "or delete them first.")
HAS_LEADS = N_("Leads with the status “{label}”: {count}. Choose the status to move them to, and the status "
               "is deleted with the move.")


def _spec(name: str) -> FieldSpec:
    return model_specs(LeadStatus)[name]


LABEL_MAX = _spec("label").length
KEY_MAX = _spec("key").length
CATEGORY_SPEC = FieldSpec("category", "Category", "picklist", options=CATEGORIES)


# ---------------------------------------------------------------- rights and reads


def require_admin(actor) -> None:
    if not permissions.is_admin(actor):
        raise Forbidden(Text(ADMIN_ONLY))


def ordered(session) -> list[LeadStatus]:
    """Every status in its order: open, closed, converted, each by position (then key)."""
    return sorted(session.scalars(select(LeadStatus)), key=_order_key)


def _order_key(s: LeadStatus):
    return (_RANK.get(s.category, 1), s.position if s.position is not None else 0, s.key)


def get_status(session, key) -> LeadStatus:
    """The status keyed `key`; raises NotFound."""
    status = session.get(LeadStatus, key) if well_formed(key) else None
    if status is None:
        raise NotFound(Text("There is no lead status with the key “{key}”.",
                            key="".join(ch for ch in str(key) if ch.isprintable())[:KEY_MAX]))
    return status


def lead_numbers(session) -> dict[str, int]:
    """Leads per status key (all of them, converted or not), from the board's trigger-kept counts."""
    rows = session.execute(select(lead_counts.c.status, func.sum(lead_counts.c.n))
                           .group_by(lead_counts.c.status))
    return {key: int(n) for key, n in rows if n}


def leads_with(session, key: str) -> int:
    return session.scalar(select(func.count()).select_from(Lead).where(Lead.status == key)) or 0


def rules_on(session, key: str) -> list[AutomationRule]:
    return list(session.scalars(select(AutomationRule).where(AutomationRule.on_status == key)
                                .order_by(AutomationRule.id)))


def _locked(session) -> list[LeadStatus]:
    """Every status, read afresh and locked against other settings writers (PostgreSQL: FOR NO
    KEY UPDATE, which lets leads keep referring to them meanwhile), in order."""
    stmt = (select(LeadStatus).with_for_update(key_share=True)
            .execution_options(populate_existing=True))
    return sorted(session.scalars(stmt), key=_order_key)


def _snapshot(status: LeadStatus) -> dict:
    return audit.snapshot(status, *FIELDS)


# ---------------------------------------------------------------- value rules (fields.py)


def _parse(spec: FieldSpec, raw, strict: bool, errors: dict, name: str, empty: str = "not_null"):
    """`raw` through its field rules; a problem goes into `errors` (a missing value: `empty`, or
    "required" for blank text)."""
    if strict and isinstance(raw, str) and spec.length and len(raw) > spec.length:
        # JSON says exactly what it sends: no trimming a value below its limit (the schema's maxLength).
        errors[name] = [Problem("too_long", max=spec.length)]
        return None
    try:
        value = spec.parse(raw, strict=strict)
    except FieldError as e:
        errors[name] = [e.problem]
        return None
    if value is None:
        errors[name] = [Problem("required" if isinstance(raw, str) else empty)]
    return value


def _label(session, raw, strict: bool, errors: dict, current: LeadStatus | None = None) -> str | None:
    value = _parse(_spec("label"), raw, strict, errors, "label", empty="required")
    if value is not None:
        folded = value.casefold()
        if any(s.label.casefold() == folded for s in session.scalars(select(LeadStatus))
               if current is None or s.key != current.key):
            errors["label"] = [Problem("label_taken", LABEL_TAKEN)]
            return None
    return value


def well_formed(key) -> bool:
    """Whether `key` can be a status key at all (checked before any query: no NUL reaches SQL)."""
    return isinstance(key, str) and 0 < len(key) <= KEY_MAX and KEY_RE.fullmatch(key) is not None


def _given_key(session, raw, strict: bool, errors: dict) -> str | None:
    if strict and isinstance(raw, str) and raw and not well_formed(raw):
        errors["key"] = [Problem("too_long", max=KEY_MAX) if len(raw) > KEY_MAX else Problem("key_format", KEY_FORMAT)]
        return None
    value = _parse(_spec("key"), raw, strict, errors, "key")
    if value is None:
        return None
    if not well_formed(value):
        errors["key"] = [Problem("key_format", KEY_FORMAT)]
    elif value == "all":
        errors["key"] = [Problem("key_reserved", KEY_RESERVED)]
    elif session.get(LeadStatus, value) is not None:
        errors["key"] = [Problem("key_taken", KEY_TAKEN)]
    else:
        return value
    return None


def key_from(label: str, taken) -> str:
    """A key made from `label`: ASCII letters, digits and _ ("Non joignable" -> "non_joignable"),
    starting with a letter, at most KEY_MAX characters, not in `taken` nor reserved (a suffix _2,
    _3... when it is)."""
    ascii_ = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_).strip("_") or "status"
    if not base[0].isalpha():
        base = "s_" + base
    base = base[:KEY_MAX].rstrip("_")
    taken = set(taken) | set(RESERVED_KEYS)
    key, n = base, 1
    while key in taken:
        n += 1
        suffix = f"_{n}"
        key = base[:KEY_MAX - len(suffix)].rstrip("_") + suffix
    return key


def _raise(errors: dict) -> None:
    if errors:
        raise Invalid(errors=errors)


def _check_body(data, allowed: tuple[str, ...], fixed: tuple[str, ...] = ()) -> dict:
    """Problems of a body's unknown and unchangeable keys."""
    if not isinstance(data, dict):
        raise Invalid(errors={"body": [Problem("not_object")]})
    errors: dict = {}
    for key in data:
        if key in fixed:
            errors[key] = [Problem("create_only")]
        elif key not in allowed:
            name = key if isinstance(key, str) and key.isprintable() and len(key) <= 100 else "body"
            errors[name] = [Problem("unknown_field")]
    return errors


# ---------------------------------------------------------------- order


def _block(order: list[LeadStatus], category: str) -> tuple[int, int]:
    """(first index, index after the last) of `category`'s statuses in `order`."""
    rank = _RANK[category]
    start = sum(1 for s in order if _RANK.get(s.category, 1) < rank)
    end = sum(1 for s in order if _RANK.get(s.category, 1) <= rank)
    return start, end


def _renumber(order: list[LeadStatus]) -> dict[str, tuple[int, int]]:
    """Positions 0..n-1 in `order` (sorted into its category blocks); {key: (before, after)} of
    those that changed."""
    order.sort(key=lambda s: _RANK.get(s.category, 1))  # stable: keeps the order within each block
    moved = {}
    for i, status in enumerate(order):
        if status.position != i:
            moved[status.key] = (status.position, i)
            status.position = i
    return moved


def _place(order: list[LeadStatus], status: LeadStatus, index: int) -> None:
    """Put `status` at `index` of `order`, kept within its category's block."""
    if status in order:
        order.remove(status)
    start, end = _block(order, status.category)
    order.insert(min(max(index, start), end), status)


def _audit_positions(session, actor, moved: dict, keys) -> None:
    for key in keys:
        if key in moved:
            before, after = moved[key]
            audit.record(session, actor, AREA, key, "updated", {"position": before}, {"position": after})


# ---------------------------------------------------------------- writes


def _given(data: dict, name: str, strict: bool) -> bool:
    """Whether `data` gives `name` a value to check: JSON, whenever the key is there (null is
    refused); a form, when the input is not left blank."""
    if name not in data:
        return False
    raw = data[name]
    return strict or not (raw is None or isinstance(raw, str) and not raw.strip())


def add_status(session, actor, data: dict, *, strict: bool = False) -> LeadStatus:
    """A new status from `data`: label (required), key (made from the label when absent, or
    blank in a form), category ("open" by default, or "closed"), position (where in the order,
    0 first; kept within its category's block; default: the end of that block). `strict`: a
    JSON body (types as sent). Raises Forbidden, Invalid, Conflict (too many statuses)."""
    require_admin(actor)
    errors = _check_body(data, FIELDS)
    # Locked first: a concurrent add or rename waits, then sees this one's label and key.
    order = _locked(session)
    label = _label(session, data.get("label"), strict, errors)
    key = _given_key(session, data["key"], strict, errors) if _given(data, "key", strict) else None
    category = (_parse(CATEGORY_SPEC, data["category"], strict, errors, "category")
                if _given(data, "category", strict) else "open")
    position = (_parse(_spec("position"), data["position"], strict, errors, "position")
                if _given(data, "position", strict) else None)
    _raise(errors)
    if len(order) >= STATUSES_MAX:
        raise Conflict(Text(TOO_MANY, max=STATUSES_MAX))
    if key is None:
        key = key_from(label, (s.key for s in order))
    status = LeadStatus(key=key, label=label, category=category, position=len(order))
    _place(order, status, len(order) if position is None else position)
    _renumber(order)
    session.add(status)
    session.flush()
    audit.record(session, actor, AREA, key, "created", after=_snapshot(status))
    return status


def rename_status(session, actor, status: LeadStatus, raw_label, *, strict: bool = False) -> bool:
    """Change the label (the key stays); True when it changed. Raises Forbidden, Invalid."""
    return update_status(session, actor, status, {"label": raw_label}, strict=strict)


def set_category(session, actor, status: LeadStatus, raw_category, *, strict: bool = False) -> bool:
    """Open or closed; True when it changed. Raises Forbidden, Invalid, Conflict (converted, or
    the last open status)."""
    return update_status(session, actor, status, {"category": raw_category}, strict=strict)


def update_status(session, actor, status: LeadStatus, data: dict, *, strict: bool = False) -> bool:
    """Change what `data` holds of label, category and position (the API's PATCH), in that
    order; True when anything changed. Raises Forbidden, Invalid, Conflict."""
    require_admin(actor)
    errors = _check_body(data, FIELDS[1:], fixed=("key",))
    order = _locked(session)
    values = {}
    if "label" in data:
        values["label"] = _label(session, data["label"], strict, errors, status)
    if "category" in data:
        values["category"] = _parse(CATEGORY_SPEC, data["category"], strict, errors, "category")
    if "position" in data:
        values["position"] = _parse(_spec("position"), data["position"], strict, errors, "position")
    _raise(errors)
    before = _snapshot(status)
    if status.category == CONVERTED and (
            ("category" in values and values["category"] != CONVERTED)
            or ("position" in values and values["position"] != status.position)):
        raise Conflict(Text(SYSTEM, label=Text(status.label)))
    if "label" in values:
        status.label = values["label"]
    if values.get("category") not in (None, status.category):
        if status.category == "open" and not any(s.category == "open" for s in order if s is not status):
            raise Conflict(Text(LAST_OPEN, label=Text(status.label)))
        order.remove(status)
        status.category = values["category"]
        # At the boundary: the end of the open block, or the start of the closed one.
        start, end = _block(order, status.category)
        order.insert(end if status.category == "open" else start, status)
    if values.get("position") is not None and status.category != CONVERTED:
        _place(order, status, values["position"])
    _renumber(order)
    session.flush()
    after = _snapshot(status)
    audit.record(session, actor, AREA, status.key, "updated", before, after)
    return before != after


def move_status(session, actor, status: LeadStatus, direction) -> bool:
    """One place up or down within its category's block; True when it moved (False at the edge
    of its block). Raises Forbidden, Invalid (direction), Conflict (converted)."""
    require_admin(actor)
    if direction not in DIRECTIONS:
        raise Invalid.on("direction", Problem("not_choice", choices=", ".join(DIRECTIONS)))
    order = _locked(session)
    if status.category == CONVERTED:
        raise Conflict(Text(SYSTEM, label=Text(status.label)))
    _renumber(order)
    index = order.index(status)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(order) or order[other].category != status.category:
        return False
    order[index], order[other] = order[other], order[index]
    moved = _renumber(order)
    session.flush()
    _audit_positions(session, actor, moved, [status.key])
    return True


def reorder(session, actor, keys) -> bool:
    """The whole order at once: `keys` lists every status once (converted may be left out: it
    stays last); each must stay within its category's block. True when anything moved. Raises
    Forbidden, Invalid."""
    require_admin(actor)
    order = _locked(session)
    by_key = {s.key: s for s in order}
    if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
        raise Invalid.on("order", Problem("not_list"))
    keys = list(keys) + [s.key for s in order if s.category == CONVERTED and s.key not in keys]
    if len(keys) != len(set(keys)) or set(keys) != set(by_key):
        raise Invalid.on("order", Problem("order_keys", N_("must list every status once")))
    wanted = [by_key[k] for k in keys]
    ranks = [_RANK.get(s.category, 1) for s in wanted]
    if ranks != sorted(ranks):
        raise Invalid.on("order", Problem("order_blocks", N_("must list the open statuses first, then the "
                                                              "closed ones, and Converted last")))
    moved = _renumber(wanted)
    session.flush()
    _audit_positions(session, actor, moved, keys)
    return bool(moved)


def delete_blocker(session, status: LeadStatus, order: list[LeadStatus] | None = None) -> Conflict | None:
    """Why `status` cannot be deleted at all (whatever happens to its leads), or None: it is
    `converted`, the last open status, or automation rules fire on it."""
    order = ordered(session) if order is None else order
    label = Text(status.label)
    if status.category == CONVERTED:
        return Conflict(Text(SYSTEM, label=label), code="system_status")
    if status.category == "open" and not any(s.category == "open" for s in order if s.key != status.key):
        return Conflict(Text(LAST_OPEN, label=label), code="last_open_status")
    rules = rules_on(session, status.key)
    if rules:
        return Conflict(Text(HAS_RULES, label=label, rules=", ".join(f"“{r.name}”" for r in rules)),
                        code="status_has_rules", rules=[r.id for r in rules])
    return None


def move_targets(order: list[LeadStatus], status: LeadStatus) -> list[LeadStatus]:
    """Where the leads of `status` may move when it is deleted: any other open or closed status."""
    return [s for s in order if s.key != status.key and s.category != CONVERTED]


def delete_status(session, actor, status: LeadStatus, move_to=None) -> int:
    """Delete `status`; with `move_to` (another open or closed status's key), its leads move
    there first, in this same transaction, without automation rules. Returns how many leads
    moved. Raises Forbidden, Invalid (move_to), Conflict (converted, last open status, rules
    fire on it, leads have it and no move_to)."""
    require_admin(actor)
    order = _locked(session)
    # FOR UPDATE on the row itself: no lead can start referring to it until we commit.
    session.execute(select(LeadStatus.key).where(LeadStatus.key == status.key).with_for_update())
    blocker = delete_blocker(session, status, order)
    if blocker is not None:
        raise blocker
    target = None
    if move_to not in (None, ""):
        targets = move_targets(order, status)
        target = next((s for s in targets if s.key == move_to), None)
        if target is None:
            raise Invalid.on("move_to", Problem("not_a_target", NOT_A_TARGET),
                             Text("Choose the status its leads move to: {choices}.",
                                  choices=", ".join(s.key for s in targets)))
    count = leads_with(session, status.key)
    if count and target is None:
        raise Conflict(Text(HAS_LEADS, label=Text(status.label), count=count), code="status_has_leads",
                       leads=count)
    before = {**_snapshot(status), "leads": count}
    if count:
        _move_leads(session, actor, status, target)
        before["leads_moved_to"] = target.key
    order.remove(status)
    session.delete(status)
    session.flush()
    _renumber(order)
    session.flush()
    audit.record(session, actor, AREA, status.key, "deleted", before=before)
    return count


def _move_leads(session, actor, status: LeadStatus, target: LeadStatus) -> None:
    """Every lead of `status` to `target`: one INSERT ... SELECT of their timeline events, one
    UPDATE (the count triggers keep the board's numbers), no automation rules."""
    now = utcnow()
    text = Text("Status changed from {old} to {new}: the status {old} was deleted",
                old=Text(status.label), new=Text(target.label))
    data = {"text": text.to_json(), "from": status.key, "to": target.key, "reason": "status_deleted"}
    events = TimelineEvent.__table__
    session.execute(insert(events).from_select(
        ["parent_type", "parent_id", "kind", "message", "data", "actor_id", "created_at"],
        select(literal("lead"), Lead.id, literal("status_changed"), literal(str(text)[:500]),
               literal(data, JSON), literal(getattr(actor, "id", None)), literal(now, events.c.created_at.type))
        .where(Lead.status == status.key)))
    loaded = [o for o in session.identity_map.values() if isinstance(o, Lead) and o.status == status.key]
    session.execute(update(Lead).where(Lead.status == status.key).values(status=target.key, updated_at=now)
                    .execution_options(synchronize_session=False))
    for lead in loaded:
        session.expire(lead)
