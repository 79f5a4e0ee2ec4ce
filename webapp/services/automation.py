"""Automation rules (C8.6): "when a lead enters status S and matches the conditions, convert it
with options O" — the rules themselves (administrators only) and the hook that runs them.

Flask-free, like every service: functions take a session and an actor, check rights, add and
flush, and never commit (the caller does).

Decisions (issue 9 item 6):
- A rule fires whatever moved the lead: services.leads.change_status calls run_rules() once per
  real change (the lead form, the board, the API's PATCH all go through it), and create_lead
  calls it for the status a new lead starts in (a lead created in S enters S: Bitrix24's
  "create using source" converts leads as they arrive, 001).
- All conditions of a rule must hold (AND); an OR is two rules. Rules of a status are tried in
  `position` order (then id); the first one whose conversion succeeds stops the evaluation, a
  refused one does not (the next rule may still convert).
- A rule converts with the rights of the user who changed the status (C7.1, C7.2, C4.8 apply to
  them): a rep whose rights forbid the conversion gets the reason on the lead's timeline, and the
  status change stands. With no user (actor None) a rule cannot convert (reason on the timeline).
- The conversion is non-interactive (C4.3 automatic choices, C4.8 hidden duplicates refuse it,
  C5.2 stage fallback, C5.3 currency, C7.4 missing required fields refuse it with the reason)
  and runs through conversion.executor.apply inside a SAVEPOINT: a refusal rolls back only the
  conversion, never the status change nor what the caller did before.
- Options are the bulk subset of POST /lead-conversions (api.md): no lead_id, no account.id /
  contact.id, no per-lead `fields` (account, contact, lead), no dry_run; deal.fields stay and
  deal.name may be a template ({company}, {first_name}, {last_name}, {full_name}). The bulk
  engine checks them (conversion/bulk.py BulkOptions.parse and validate, the one validator of
  bulk options) on save, where they are stored in canonical form (BulkOptions.to_dict()), and
  again when the rule runs (a pipeline or a user may be gone since).
- The hook reads the active rules once per transaction (session.info, forgotten when the
  transaction ends): a status change of many leads in one transaction reads them once.
- Condition values go through the field layer (the lead field's FieldSpec, or the custom
  field's), and compare normalised (FieldSpec.norm): case, accents and punctuation do not count
  for text, e-mails and phones compare as keys, numbers and dates by value.

- Every change of a rule (create, update, delete, move) is recorded in the settings audit
  (services.audit, area "automation_rule", keyed by the rule's name) in the same transaction, here
  and only here: the admin screen and the API both go through these functions.
- The rules' runs are the lead timeline's "rule_converted" / "rule_not_converted" events (their
  data names the rule): last_runs() and recent_runs() read them for the admin screen.

Raises (create / update / delete / move / get): Forbidden (not an administrator), NotFound,
Invalid (field errors, keys like "conditions.0.value" and "options.deal.pipeline_id"; nothing
written).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import entities, permissions
from ..conversion.bulk import PLACEHOLDERS, BulkOptions, render_name, validate
from ..conversion.errors import InvalidOptions
from ..conversion.executor import apply
from ..conversion.options import ACTIONS
from ..conversion.serialize import jsonable
from ..errors import N_, DomainError, Forbidden, Invalid, NotFound, Problem, Text
from ..fields import INT_MAX, TEXT_KINDS, FieldError, FieldSpec, custom_spec, model_specs
from ..models import AutomationRule, Lead, TimelineEvent, record_event, utcnow
from ..normalize import text_problem, words
from . import audit
from .custom_values import get_custom
from .tags import get_tags

OPS = ("equals", "not_equals", "contains", "empty", "not_empty", "in")
VALUELESS_OPS = ("empty", "not_empty")
TAG_OPS = ("contains", "in", "empty", "not_empty")
CONDITIONS_MAX = 20  # conditions per rule
IN_MAX = 100  # values of an "in" condition
FIELD_NAME_MAX = 100  # a condition's field name (custom keys are at most 60 characters)
# Lead fields a condition may not test: the status is the rule's own trigger.
NOT_CONDITIONS = ("status", "custom")
RULE_FIELDS = ("name", "on_status", "conditions", "options", "active", "position")
AREA = "automation_rule"  # the settings audit's area (services.audit.AREAS)
RUN_KINDS = ("rule_converted", "rule_not_converted")  # a rule's runs: these timeline events
RUNS_DAYS = 30  # the window of last_runs()' counts
MOVES = ("up", "down")
READ_ONLY = ("id", "created_by", "created_at", "updated_at")
# The bulk subset of the conversion options (api.md "Bulk"): what a rule may set.
OPTION_KEYS = ("account", "contact", "deal", "task", "attachments_to", "activities_to", "tags_to", "owner_id")
RULE_ACTIONS = tuple(a for a in ACTIONS if a != "link")  # "link" names one record: not for many leads
DEAL_NAME_PLACEHOLDERS = PLACEHOLDERS  # the bulk engine's ({company}, {first_name}, ...)
deal_name = render_name  # a deal name template filled from a lead: the bulk engine's

ADMIN_ONLY = N_("Your role lacks the “Administration” permission, which automation rules need.")
NAME_TAKEN = N_("is already the name of another rule")
PER_LEAD = N_("names one lead’s records: a rule converts many leads and cannot use it")
NO_VALUE = N_("must be left out (or null) with “{op}”")
ONE_TAG = N_("must be one tag name")
GONE_FIELD = N_("The condition on “{field}” names a lead field that no longer exists.")
CONVERTED = N_("Converted by the rule “{name}”")
NOT_CONVERTED = N_("Rule “{name}” could not convert this lead: {reason}")
NO_ACTOR = N_("no user made this change, and a rule converts with the rights of the user who changes the status")
CONCURRENT = N_("it conflicted with a change made at the same time; nothing was converted")


# ---------------------------------------------------------------- rights and reads


def require_admin(actor) -> None:
    """Raises Forbidden unless `actor` has the "admin" permission (permissions.is_admin)."""
    if not permissions.is_admin(actor):
        raise Forbidden(Text(ADMIN_ONLY))


def list_rules(session, actor, on_status: str | None = None, active: bool | None = None):
    """The rules as a statement (the API pages it), optionally of one status / activity; raises
    Forbidden."""
    require_admin(actor)
    stmt = select(AutomationRule)
    if on_status is not None:
        stmt = stmt.where(AutomationRule.on_status == on_status)
    if active is not None:
        stmt = stmt.where(AutomationRule.active.is_(active))
    return stmt


def get_rule(session, actor, rule_id) -> AutomationRule:
    """One rule; raises Forbidden, NotFound."""
    require_admin(actor)
    rule = session.get(AutomationRule, rule_id) if isinstance(rule_id, int) and 0 < rule_id <= INT_MAX else None
    if rule is None:
        raise NotFound(Text("There is no automation rule with id {id}.", id=rule_id))
    return rule


# ---------------------------------------------------------------- writes


def create_rule(session, actor, data) -> AutomationRule:
    """A new rule from `data` (the API body: name and on_status required); raises Forbidden,
    Invalid (every field's problem at once, nothing written)."""
    require_admin(actor)
    values = clean_rule(session, actor, data, None)
    if "position" not in values:  # after every other rule
        last = session.scalar(select(func.max(AutomationRule.position)))
        values["position"] = min((last if last is not None else -1) + 1, INT_MAX)
    rule = AutomationRule(created_by=actor.id, conditions=[], options=default_options(), active=True)
    for key, value in values.items():
        setattr(rule, key, value)
    session.add(rule)
    session.flush()
    audit.record(session, actor, AREA, rule.name, "created", after=_snapshot(rule))
    return rule


def update_rule(session, actor, rule: AutomationRule, data, *, replace_all: bool = False) -> AutomationRule:
    """Change the fields present in `data` (PATCH), or replace the rule (PUT, `replace_all`:
    name and on_status required, conditions / options / active back to their defaults when
    absent, the position kept unless given); raises Forbidden, Invalid."""
    require_admin(actor)
    values = clean_rule(session, actor, data, None if replace_all else rule, rule_id=rule.id)
    if replace_all:
        values = {"conditions": [], "options": default_options(), "active": True, **values}
    before = _snapshot(rule)
    for key, value in values.items():
        if getattr(rule, key) != value:
            setattr(rule, key, value)
    session.flush()
    audit.record(session, actor, AREA, rule.name, "updated", before, _snapshot(rule))
    return rule


def delete_rule(session, actor, rule: AutomationRule) -> None:
    """Delete a rule (leads it converted stay converted); raises Forbidden."""
    require_admin(actor)
    before = _snapshot(rule)
    session.delete(rule)
    session.flush()
    audit.record(session, actor, AREA, before["name"], "deleted", before=before)


def move_rule(session, actor, rule: AutomationRule, direction) -> bool:
    """Move a rule one place up or down in the order of every rule (position, then id: the order
    the list shows and the hook tries a status's rules in); False when it is first (up) or last
    (down) already. The positions are kept as they are but for the two rules swapped; equal ones
    (the API may set any) are spread first, so that the move changes nothing else's order. Each
    changed position is audited. Raises Forbidden, Invalid (a direction other than up / down)."""
    require_admin(actor)
    if direction not in MOVES:
        raise Invalid(errors={"direction": [Problem("not_choice", choices=", ".join(MOVES))]})
    rules = list(session.scalars(select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id)))
    at = next(i for i, r in enumerate(rules) if r.id == rule.id)
    other = at - 1 if direction == "up" else at + 1
    if not 0 <= other < len(rules):
        return False
    places = _spread([r.position or 0 for r in rules])
    rules[at], rules[other] = rules[other], rules[at]
    for moved, place in zip(rules, places, strict=True):
        if moved.position != place:
            before = moved.position
            moved.position = place
            audit.record(session, actor, AREA, moved.name, "updated", {"position": before}, {"position": place})
    session.flush()
    return True


def _spread(positions: list[int]) -> list[int]:
    """Ascending positions made strictly increasing with the fewest changes (2, 2, 5 -> 2, 3, 5);
    0, 1, 2... when that would pass INT_MAX."""
    out: list[int] = []
    for p in positions:
        out.append(p if not out or p > out[-1] else out[-1] + 1)
    return out if not out or out[-1] <= INT_MAX else list(range(len(out)))


def _snapshot(rule: AutomationRule) -> dict:
    """What the audit keeps of a rule: its settings (not its bookkeeping)."""
    return audit.snapshot(rule, *RULE_FIELDS)


def default_options() -> dict:
    """The options of a rule that names none, in canonical form (built afresh, so that no stored
    dict is shared)."""
    return BulkOptions().to_dict()


# ---------------------------------------------------------------- validation (the field layer)


def clean_rule(session, actor, data, current: AutomationRule | None, *, rule_id: int | None = None) -> dict:
    """The checked values of a rule body (create when `current` is None: name and on_status
    required); raises Invalid with every problem, keyed like the body ("conditions.0.op")."""
    if not isinstance(data, dict):
        raise Invalid(errors={"body": [Problem("not_object")]})
    errors: dict[str, list] = {}
    values: dict = {}
    specs = model_specs(AutomationRule)
    for key, raw in data.items():
        if key in READ_ONLY:
            errors[key] = [Problem("read_only")]
        elif key not in RULE_FIELDS:
            errors[_key(key, "body")] = [Problem("unknown_field")]
        elif key == "on_status":
            values[key] = _status(session, raw, errors)
        elif key == "conditions":
            values[key] = clean_conditions(session, raw, errors)
        elif key == "options":
            values[key] = clean_options(session, actor, raw, errors)
        else:  # name, active, position: their column's rules
            try:
                value = specs[key].parse(raw, strict=True)
            except FieldError as e:
                errors[key] = [e.problem]
                continue
            if value is None:
                errors[key] = [Problem("required" if key == "name" else "not_null")]
            values[key] = value
    if current is None:
        for key in ("name", "on_status"):
            if key not in data and key not in errors:
                errors[key] = [Problem("required")]
    name = values.get("name")
    if name and "name" not in errors and _name_taken(session, name, rule_id):
        errors["name"] = [Problem("name_taken", NAME_TAKEN)]
    entities.raise_errors(errors)
    return values


def _name_taken(session, name: str, rule_id: int | None) -> bool:
    """Whether another rule has this name, whatever its case (Unicode case folding, which SQL's
    lower() does not do on SQLite: the rules are few, their names are compared here)."""
    folded = name.casefold()
    return any(other.casefold() == folded for rid, other in session.execute(_NAMES) if rid != rule_id)


_NAMES = select(AutomationRule.id, AutomationRule.name)


def _key(key, where: str) -> str:
    """A body key as an error key, when it is text that can be answered back."""
    return key if isinstance(key, str) and text_problem(key) is None else where


def _status(session, raw, errors: dict) -> str | None:
    """A lead status a lead can enter by a status change (open or closed; never "converted")."""
    lead = entities.BY_NAME["lead"]
    try:
        value = entities.spec_of(session, lead, lead.by_name["status"]).parse(raw, strict=True)
    except FieldError as e:
        errors["on_status"] = [e.problem]
        return None
    if value is None:
        errors["on_status"] = [Problem("required")]
    return value


def condition_specs(session) -> dict[str, FieldSpec]:
    """The lead fields a condition may test, by name ("company", "tags", "custom.vat")."""
    lead = entities.BY_NAME["lead"]
    specs: dict[str, FieldSpec] = {}
    for f in lead.fields:
        if f.name in NOT_CONDITIONS:
            continue
        specs[f.name] = model_specs(Lead)[f.name] if f.kind == "ref" else entities.spec_of(session, lead, f)
    for key, definition in entities.custom_definitions(session, "lead").items():
        specs[f"custom.{key}"] = custom_spec(definition)
    return specs


def ops_for(spec: FieldSpec) -> tuple[str, ...]:
    """The operators a field allows: contains only for text and tags, equals not for tags."""
    if spec.kind == "tags":
        return TAG_OPS
    if spec.kind in TEXT_KINDS:
        return OPS
    return tuple(op for op in OPS if op != "contains")


def clean_conditions(session, raw, errors: dict) -> list[dict]:
    """[{"field", "op", "value"}] checked by the field layer, values typed then stored as JSON."""
    if not isinstance(raw, list):
        errors["conditions"] = [Problem("not_list")]
        return []
    if len(raw) > CONDITIONS_MAX:
        errors["conditions"] = [Problem("too_many", max=CONDITIONS_MAX)]
        return []
    specs = condition_specs(session) if raw else {}
    out = []
    for i, condition in enumerate(raw):
        where = f"conditions.{i}"
        if not isinstance(condition, dict):
            errors[where] = [Problem("not_object")]
            continue
        bad = [k for k in condition if k not in ("field", "op", "value")]
        for k in bad:
            errors[f"{where}.{k}" if _key(k, "") else where] = [Problem("unknown_option")]
        name, op = condition.get("field"), condition.get("op")
        spec = specs.get(name) if isinstance(name, str) else None
        if spec is None:
            errors[f"{where}.field"] = [Problem("required" if name is None else "unknown_field")]
        if op not in OPS or (spec is not None and op not in ops_for(spec)):
            allowed = ops_for(spec) if spec is not None else OPS
            errors[f"{where}.op"] = [Problem("required" if op is None else "not_choice", choices=", ".join(allowed))]
            continue
        if spec is None or bad:
            continue
        try:
            value = condition_value(spec, op, condition.get("value"))
        except _ValueError as e:
            errors[f"{where}.value{e.suffix}"] = [e.problem]
            continue
        out.append({"field": name, "op": op, "value": _json(value)})
    return out


class _ValueError(Exception):
    def __init__(self, problem, suffix: str = ""):
        self.problem, self.suffix = problem, suffix


def condition_value(spec: FieldSpec, op: str, raw):
    """A condition's value, typed by the field's spec (contains: text, tags: tag names)."""
    if op in VALUELESS_OPS:
        if raw is not None:
            raise _ValueError(Problem("no_value", NO_VALUE, op=op))
        return None
    if op == "in":
        if not isinstance(raw, list):
            raise _ValueError(Problem("not_list"))
        if not raw:
            raise _ValueError(Problem("required"))
        if len(raw) > IN_MAX:
            raise _ValueError(Problem("too_many", max=IN_MAX))
        return [_one_value(spec, op, item, f".{j}") for j, item in enumerate(raw)]
    return _one_value(spec, op, raw, "")


def _one_value(spec: FieldSpec, op: str, raw, suffix: str):
    try:
        if spec.kind == "tags":
            if not isinstance(raw, str):
                raise FieldError("not_text")
            tags = spec.parse([raw], strict=True)
            if len(tags) != 1:
                raise _ValueError(Problem("one_tag", ONE_TAG), suffix)
            return tags[0]
        if op == "contains":  # a part of the value: text of the field's length, not a whole e-mail
            spec = FieldSpec(spec.name, spec.label, "textarea" if spec.kind == "textarea" else "text", spec.length)
        value = spec.parse(raw, strict=True)
    except FieldError as e:
        raise _ValueError(e.problem, suffix) from None
    if value is None:
        raise _ValueError(Problem("required"), suffix)
    return value


def _json(value):
    if isinstance(value, list):
        return [_json(v) for v in value]
    return jsonable({"v": value})["v"]


def clean_options(session, actor, raw, errors: dict) -> dict:
    """The conversion options of a rule: the bulk subset (OPTION_KEYS), parsed and checked by the
    bulk engine, the one validator of bulk options (BulkOptions.parse, then validate against the
    database: users, pipeline, campaign, currency, parent account, deal fields); every error at
    once, under "options.*". Returns the canonical form (BulkOptions.to_dict())."""
    if not isinstance(raw, dict):
        errors["options"] = [Problem("not_object")]
        return {}
    found: dict[str, list] = {}
    body = {}
    for key, value in raw.items():
        if key in OPTION_KEYS:
            body[key] = value
        else:  # a rule's own shape: no lead_id, no dry_run, no per-lead part (the bulk request's keys)
            found[_key(key, "options")] = [Problem("per_lead", PER_LEAD) if key == "lead" else Problem("unknown_option")]
    options = BulkOptions.parse(body, strict=True)
    for key, messages in options.errors.items():
        found.setdefault(key, []).extend(messages)
    # The database checks run on what parsed (a refused value is left at its default), so that the
    # answer names every field at once; a key the parser refused keeps the parser's reason.
    try:
        validate(session, actor, BulkOptions(options.options))
    except InvalidOptions as e:
        for key, messages in e.errors.items():
            found.setdefault(key, list(messages))
    for key, messages in found.items():
        errors[key if key == "options" else f"options.{key}"] = messages
    return options.to_dict()


def rule_options(session, actor, rule) -> BulkOptions:
    """A rule's stored options as the bulk engine takes them, checked now (BulkOptions.from_dict,
    validate: a pipeline or a user may be gone since the rule was saved); raises InvalidOptions.
    Each lead then converts with options.for_lead(lead): the deal name template filled, C5.1."""
    options = BulkOptions.from_dict(dict(rule.options or {}), strict=True)
    validate(session, actor, options)
    return options


# ---------------------------------------------------------------- conditions


class LeadValues:
    """The lead's values as conditions read them; tags and custom values loaded once, if asked."""

    def __init__(self, session, lead: Lead):
        self.session, self.lead = session, lead
        self._tags = self._custom = self._specs = None

    def specs(self) -> dict[str, FieldSpec]:
        if self._specs is None:
            self._specs = condition_specs(self.session)
        return self._specs

    def get(self, name: str):
        if name == "tags":
            if self._tags is None:
                self._tags = get_tags(self.session, "lead", self.lead.id)
            return self._tags
        if name.startswith("custom."):
            if self._custom is None:
                self._custom = get_custom(self.session, "lead", self.lead.id)
            return self._custom.get(name[7:])
        return getattr(self.lead, name)


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


def _text_key(value) -> str:
    return " ".join(words(str(value)))


def condition_holds(spec: FieldSpec, condition: dict, current) -> bool:
    """One condition against the lead's value `current` (FieldSpec.norm: case / accents free)."""
    op, wanted = condition["op"], condition.get("value")
    if op == "empty":
        return _empty(current)
    if op == "not_empty":
        return not _empty(current)
    if spec.kind == "tags":
        have = {_text_key(t) for t in current or []}
        wanted = wanted if isinstance(wanted, list) else [wanted]
        return any(_text_key(w) in have for w in wanted)
    if op == "contains":
        return not _empty(current) and _text_key(wanted) in _text_key(current)
    key = None if _empty(current) else spec.norm(current)
    if op == "in":
        return key is not None and key in {spec.norm(w) for w in wanted}
    same = key is not None and key == spec.norm(wanted)
    return same if op == "equals" else not same


def matches(values: LeadValues, conditions: list[dict]) -> bool:
    """Whether every condition holds; raises Invalid when one names a field that is gone."""
    for condition in conditions or []:
        spec = values.specs().get(condition.get("field"))
        if spec is None:
            raise Invalid(Text(GONE_FIELD, field=str(condition.get("field"))))
        if not condition_holds(spec, condition, values.get(spec.name)):
            return False
    return True


# ---------------------------------------------------------------- runs (the timeline's events)


def _run_rule_id():
    return TimelineEvent.data["rule_id"].as_integer()


def _runs_of(rule_ids):
    """The run events of these rules since each rule was made (SQLite may give a deleted rule's id
    to a new one: the old rule's runs are not the new one's)."""
    rule_id = _run_rule_id()
    return (select(TimelineEvent)
            .join(AutomationRule, and_(AutomationRule.id == rule_id,
                                       TimelineEvent.created_at >= AutomationRule.created_at))
            .where(TimelineEvent.kind.in_(RUN_KINDS), TimelineEvent.parent_type == "lead",
                   rule_id.in_(list(rule_ids))))


@dataclass(frozen=True)
class Runs:
    """A rule's runs: how many converted / did not convert in the last RUNS_DAYS days, and the
    latest run ever (its event: when, the lead, converted or not)."""

    converted: int = 0
    not_converted: int = 0
    latest: TimelineEvent | None = None


def last_runs(session, actor, rule_ids, now=None) -> dict[int, Runs]:
    """Runs of each of `rule_ids` (a page of rules), in two queries; raises Forbidden."""
    require_admin(actor)
    ids = [i for i in rule_ids if isinstance(i, int)]
    if not ids:
        return {}
    since = (now or utcnow()) - timedelta(days=RUNS_DAYS)
    rule_id = _run_rule_id()
    counts = {}
    recent = (_runs_of(ids).where(TimelineEvent.created_at >= since)
              .with_only_columns(rule_id, TimelineEvent.kind, func.count()).group_by(rule_id, TimelineEvent.kind))
    for rid, kind, n in session.execute(recent):
        counts.setdefault(rid, {})[kind] = n
    latest_ids = _runs_of(ids).with_only_columns(func.max(TimelineEvent.id)).group_by(rule_id)
    latest = {e.data.get("rule_id"): e for e in
              session.scalars(select(TimelineEvent).where(TimelineEvent.id.in_(latest_ids.scalar_subquery())))}
    return {rid: Runs(counts.get(rid, {}).get("rule_converted", 0), counts.get(rid, {}).get("rule_not_converted", 0),
                      latest.get(rid)) for rid in ids}


def recent_runs(session, actor, rule: AutomationRule, limit: int = 10) -> list[TimelineEvent]:
    """A rule's latest runs, newest first; raises Forbidden."""
    require_admin(actor)
    return list(session.scalars(_runs_of([rule.id]).order_by(TimelineEvent.id.desc()).limit(limit)))


# ---------------------------------------------------------------- the hook


# The active rules are read once per transaction: a status change of many leads in one transaction
# (the board, a bulk edit, an import) reads them, and checks each rule's options, once. They are
# kept in session.info as plain values (a rolled-back SAVEPOINT expires ORM objects, not these)
# and forgotten when the transaction ends (commit, rollback, close: the next transaction sees
# every rule saved meanwhile) and by a flush that writes a rule (this transaction sees its own).
_RULES = "automation.active_rules"
_ACTIVE = (select(AutomationRule.id, AutomationRule.name, AutomationRule.on_status, AutomationRule.conditions,
                  AutomationRule.options)
           .where(AutomationRule.active.is_(True)).order_by(AutomationRule.position, AutomationRule.id))


@dataclass(frozen=True)
class ActiveRule:
    """What the hook reads of an active rule: its row's values."""

    id: int
    name: str
    on_status: str
    conditions: list
    options: dict


class ActiveRules:
    """One transaction's active rules by status (in order), and each rule's options as checked for
    an actor (BulkOptions, or the InvalidOptions they raised)."""

    def __init__(self, rows):
        self.by_status: dict[str, list[ActiveRule]] = {}
        for row in rows:
            self.by_status.setdefault(row.on_status, []).append(ActiveRule(*row))
        self.options: dict[tuple[int, int], BulkOptions | InvalidOptions] = {}

    def options_for(self, session, actor, rule: ActiveRule) -> BulkOptions:
        """rule_options(), once per rule and actor; raises InvalidOptions."""
        key = (rule.id, actor.id)
        if key not in self.options:
            try:
                self.options[key] = rule_options(session, actor, rule)
            except InvalidOptions as e:
                self.options[key] = e
        found = self.options[key]
        if isinstance(found, InvalidOptions):
            raise InvalidOptions(found.message, found.errors)
        return found


def active_rules(session) -> ActiveRules:
    """The active rules, read at most once per transaction (one query)."""
    rules = session.info.get(_RULES)
    if rules is None:
        rules = session.info[_RULES] = ActiveRules(session.execute(_ACTIVE))
    return rules


def forget_rules(session) -> None:
    """Drop the transaction's active rules (the transaction ended, or a rule was written)."""
    session.info.pop(_RULES, None)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session, transaction) -> None:
    if transaction.parent is None:  # the transaction itself, not a SAVEPOINT inside it
        forget_rules(session)


@event.listens_for(Session, "after_flush")
def _rules_written(session, context) -> None:
    if _RULES in session.info and any(isinstance(o, AutomationRule)
                                      for o in (*session.new, *session.dirty, *session.deleted)):
        forget_rules(session)


def run_rules(session, actor, lead: Lead, old_status: str | None, new_status: str):
    """Run the active rules of `new_status` on `lead`, which just entered it (from `old_status`;
    None for a new lead); returns the Conversion of the rule that converted it, or None.

    Never raises a DomainError: each refused conversion is rolled back to its SAVEPOINT and its
    reason recorded on the lead's timeline; the status change (and everything the caller did
    before) stands. Adds and flushes, never commits."""
    rules = active_rules(session)
    if not rules.by_status.get(new_status) or lead.converted:
        return None
    values = LeadValues(session, lead)
    for rule in rules.by_status[new_status]:
        try:
            if not matches(values, rule.conditions):
                continue
        except DomainError as e:
            _not_converted(session, actor, lead, rule, reason(e))
            continue
        conversion = _convert(session, actor, lead, rule, rules)
        if conversion is not None:
            return conversion
    return None


def _convert(session, actor, lead: Lead, rule: ActiveRule, rules: ActiveRules):
    """One rule's conversion in a SAVEPOINT; the Conversion, or None (reason on the timeline)."""
    if actor is None:
        _not_converted(session, actor, lead, rule, Text(NO_ACTOR))
        return None
    try:
        options = rules.options_for(session, actor, rule)
        with session.begin_nested():
            conversion = apply(session, actor, lead.id, options.for_lead(lead))
    except DomainError as e:
        _not_converted(session, actor, lead, rule, reason(e))
        return None
    except IntegrityError:  # a concurrent conversion created what this one meant to (unique keys)
        _not_converted(session, actor, lead, rule, Text(CONCURRENT))
        return None
    record_event(session, "lead", lead.id, "rule_converted", Text(CONVERTED, name=rule.name), actor.id,
                 {"rule_id": rule.id, "conversion_id": conversion.id})
    session.flush()
    return conversion


def _not_converted(session, actor, lead: Lead, rule: ActiveRule, why) -> None:
    record_event(session, "lead", lead.id, "rule_not_converted", Text(NOT_CONVERTED, name=rule.name, reason=why),
                 actor.id if actor is not None else None, {"rule_id": rule.id})
    session.flush()


def reason(error: DomainError) -> Text:
    """A refusal as one sentence for the timeline: its message, then the field reasons it does
    not already say ("deal.pipeline_id: no such pipeline")."""
    # A plain str message (no template) becomes a Text of itself: shown as it is.
    message = error.message if isinstance(error.message, Text) else Text(str(error.message))
    details = [Text("{field}: {problem}", field=key, problem=problem if isinstance(problem, Text) else str(problem))
               for key, problems in error.errors.items() for problem in problems
               if str(problem) != str(message) and key not in str(message)]
    if not details:
        return message
    joined = details[0]
    for more in details[1:]:
        joined = Text("{first}; {second}", first=joined, second=more)
    return Text("{message} ({details})", message=message, details=joined)


__all__ = ["CONDITIONS_MAX", "DEAL_NAME_PLACEHOLDERS", "IN_MAX", "OPS", "OPTION_KEYS", "RULE_ACTIONS", "Runs",
           "clean_rule", "condition_holds", "create_rule", "deal_name", "delete_rule", "get_rule", "last_runs",
           "list_rules", "matches", "move_rule", "ops_for", "recent_runs", "require_admin", "rule_options",
           "run_rules", "update_rule"]
