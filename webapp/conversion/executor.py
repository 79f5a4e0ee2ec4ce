"""apply(): one conversion in one transaction (C1.3). Adds and flushes, never commits.

The work is split into steps, STEPS, an explicit tuple of functions of a Run, applied in
order. The seam for fault injection is apply(..., after_step=callback): the callback is
called as callback(step_name, run) after each step, so that a test can raise there and check
that the caller's rollback leaves no trace (STEP_NAMES lists the names).

Concurrency: the resolve step plans with lock=True, so conversions sharing a normalised match
key (company, e-mail, name) are serialised before their duplicate look-up: the second one
finds and links what the first created (resolve.lock_match_keys). The lead is marked
converted last, by a conditional UPDATE: of two simultaneous conversions of one lead exactly
one matches the row; the loser raises AlreadyConverted and its caller rolls back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, insert, select, update

from ..errors import Text
from ..models import (
    Account,
    Contact,
    Conversion,
    Deal,
    Lead,
    LeadStatus,
    Task,
    TimelineEvent,
    record_event,
    utcnow,
)
from ..normalize import text_problem
from ..services.custom_values import get_custom, set_custom
from .errors import AlreadyConverted, IdempotencyConflict, InvalidOptions
from .options import ConversionOptions
from .plan import ConversionPlan, EntityPlan
from .planner import plan
from .serialize import jsonable
from .transfer import Targets, Transfer, transfer_all

MODELS = {"account": Account, "contact": Contact, "deal": Deal, "task": Task}


@dataclass
class Run:
    """The state one apply() carries from step to step."""

    session: object
    actor: object
    lead_id: int
    options: ConversionOptions
    idempotency_key: str | None = None
    request_hash: str | None = None
    plan: ConversionPlan | None = None
    records: dict = field(default_factory=dict)  # entity -> the produced record
    fields_written: dict = field(default_factory=dict)
    previous_values: dict = field(default_factory=dict)
    transfer: Transfer | None = None
    conversion: Conversion | None = None


def request_hash(lead_id: int, options: ConversionOptions) -> str:
    """SHA-256 of the canonical request (the lead and every option but dry_run)."""
    body = {k: v for k, v in options.to_dict().items() if k != "dry_run"}
    raw = json.dumps({"lead_id": lead_id, **body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def apply(session, actor, lead_id: int, options: ConversionOptions | None = None,
          idempotency_key: str | None = None, *, after_step=None) -> Conversion:
    """Convert the lead; returns the Conversion (flushed, not committed).

    Raises RecordNotFound, ConversionDenied, DuplicatesHidden, InvalidOptions, MissingRequired,
    AlreadyConverted, IdempotencyConflict; after any of them the caller must roll back.
    after_step(step_name, run), when given, is called after each step of STEPS (the tests'
    fault-injection seam; whatever it raises propagates, nothing is caught)."""
    options = options or ConversionOptions()
    _check_key(idempotency_key)
    run = Run(session, actor, lead_id, options, idempotency_key, request_hash(lead_id, options))
    # Options that carry parse errors (ConversionOptions.parse) go on to plan(), which raises them
    # with its own: they are never a replay (refused values were replaced by defaults).
    if idempotency_key and not options.errors:
        existing = session.scalar(_BY_KEY, {"actor": actor.id, "key": idempotency_key})
        if existing is not None:
            if existing.request_hash != run.request_hash:
                raise IdempotencyConflict(Text("This Idempotency-Key was already used with another request."),
                                          {"idempotency_key": [Text("was used with another request")]})
            return existing  # a replay: nothing more is written
    for step in STEPS:
        step(run)
        if after_step is not None:
            after_step(step.__name__, run)
    return run.conversion


def _check_key(key) -> None:
    """The key is stored (String(255)): refuse what the column cannot hold, before any query."""
    if key is None:
        return
    if not isinstance(key, str) or not 1 <= len(key) <= 255 or text_problem(key):
        raise InvalidOptions(Text("The idempotency key must be 1 to 255 characters of text."),
                             {"idempotency_key": [Text("must be 1 to 255 characters of text")]})


# --- the steps ----------------------------------------------------------------------------
def resolve(run: Run) -> None:
    """Plan, and refuse what the plan forbids (C4.8, C7.4)."""
    run.plan = plan(run.session, run.actor, run.lead_id, run.options, lock=True)
    run.plan.check()


def _write(run: Run, p: EntityPlan, extra: dict | None = None):
    """Create the record of a "created" plan, or fill a "merged" one; returns the record."""
    s = run.session
    if p.action == "created":
        values = {**p.values, **(extra or {})}
        custom = {k[7:]: v for k, v in values.items() if k.startswith("custom.")}
        obj = MODELS[p.entity](**{k: v for k, v in values.items() if not k.startswith("custom.")})
        s.add(obj)
        s.flush()
        if custom:
            set_custom(s, p.entity, obj.id, custom, run.plan.defs.get(p.entity))
    elif p.action in ("merged", "linked"):
        obj = p.record
        fills = dict(p.fills) if p.action == "merged" else {}
        fills.update(extra or {})
        if fills:
            _fill(run, p.entity, obj, fills)
    else:
        return None
    run.records[p.entity] = obj
    return obj


def _fill(run: Run, entity: str, obj, fills: dict) -> None:
    """C3.5: write into empty fields, keeping what they held for the revert (C1.5, C9.1)."""
    custom = {k[7:]: v for k, v in fills.items() if k.startswith("custom.")}
    before_custom = get_custom(run.session, entity, obj.id) if custom else {}
    previous = run.previous_values.setdefault(entity, {})
    for key, value in fills.items():
        if key.startswith("custom."):
            previous[key] = before_custom.get(key[7:])
        else:
            previous[key] = getattr(obj, key)
            setattr(obj, key, value)
    if custom:
        set_custom(run.session, entity, obj.id, custom, run.plan.defs.get(entity))
    run.fields_written.setdefault(entity, {}).update(fills)
    run.session.flush()


def write_lead(run: Run) -> None:
    """C7.4: the lead fields filled in the conversion form, kept with their previous values (C9.1).
    The plan already mapped them; writing them first keeps the lead and its records in step."""
    if run.plan.lead_values:
        _fill(run, "lead", run.plan.lead, run.plan.lead_values)


def write_account(run: Run) -> None:
    """Create or fill the account (C2, C3.5)."""
    _write(run, run.plan.account)


def write_contact(run: Run) -> None:
    """Create or fill the contact, linked to the account (C2.2, C4.4)."""
    p, account = run.plan.contact, run.records.get("account")
    extra = {}
    if account is not None:
        if p.action == "created" and "account_id" not in p.values:
            extra["account_id"] = account.id
        # C4.4: a merged contact without an account gets the conversion's account.
        if p.action == "merged" and p.record.account_id is None and "account_id" not in p.fills:
            extra["account_id"] = account.id
    _write(run, p, extra)


def write_deal(run: Run) -> None:
    """Create the deal on the account and contact (C5.1-C5.3)."""
    account, contact = run.records.get("account"), run.records.get("contact")
    _write(run, run.plan.deal, {"account_id": account.id if account else None,
                                "contact_id": contact.id if contact else None})


def write_task(run: Run) -> None:
    """C5.4: the follow-up task hangs on the contact (else the account) and the deal."""
    p = run.plan.task
    if p.action != "created":
        return
    parent = run.plan.contact if run.records.get("contact") is not None else run.plan.account
    record = run.records[parent.entity]
    deal = run.records.get("deal")
    _write(run, p, {"parent_type": parent.entity, "parent_id": record.id, "deal_id": deal.id if deal else None})


def transfer(run: Run) -> None:
    """Move what belongs to the lead (C6, C3.4)."""
    s, p = run.session, run.plan
    targets = Targets(run.records.get("account"), run.records.get("contact"), run.records.get("deal"),
                      p.writable(), counts=p.moves)
    run.transfer = transfer_all(s, p.lead, targets, run.options)


def record(run: Run) -> None:
    """C1.5: the conversion record; C1.6: the timeline events, with links both ways."""
    s, p, lead = run.session, run.plan, run.plan.lead
    produced = {e: run.records.get(e) for e in ("account", "contact", "deal", "task")}
    actions = {e.entity: e for e in p.entities()}
    conversion = Conversion(
        lead_id=lead.id, created_by=run.actor.id, options=run.options.to_dict(),
        account_id=_id(produced["account"]), account_action=p.account.action, account_reason=p.account.reason,
        contact_id=_id(produced["contact"]), contact_action=p.contact.action, contact_reason=p.contact.reason,
        deal_id=_id(produced["deal"]), deal_action=p.deal.action,
        task_id=_id(produced["task"]), task_action=p.task.action,
        fields_written={e: jsonable(v) for e, v in run.fields_written.items()},
        previous_values={e: jsonable(v) for e, v in run.previous_values.items()},
        not_updated=p.not_updated(), moved=dict(run.transfer.moved), moved_records=run.transfer.records,
        lead_before={"status": lead.status, "converted": False, "conversion_id": None, "converted_at": None},
        idempotency_key=run.idempotency_key, request_hash=run.request_hash,
    )
    s.add(conversion)
    try:
        s.flush()
    except Exception as e:  # the unique (created_by, idempotency_key): a concurrent twin won
        if run.idempotency_key and "idempot" in str(e).lower():
            raise IdempotencyConflict(Text("A request with this Idempotency-Key is being processed; retry later."),
                                      {"idempotency_key": [Text("is already in use")]}) from e
        raise
    run.conversion = conversion

    actor_name = run.actor.display_name
    lead_link = {"type": "lead", "id": lead.id, "label": lead.display_name}
    links = [{"type": e, "id": r.id, "label": actions[e].label or _label(r)}
             for e, r in produced.items() if r is not None]
    events = _Events()  # models.record_event builds each event; one statement inserts them all
    record_event(events, "lead", lead.id, "converted", Text("Converted by {name}", name=actor_name), run.actor.id,
                 {"links": links, "conversion_id": conversion.id})
    for entity, rec in produced.items():
        if rec is None or entity == "task":
            continue
        if actions[entity].action == "created":
            record_event(events, entity, rec.id, "created_from_lead",
                         Text("Created from lead {lead}", lead=lead.display_name),
                         run.actor.id, {"links": [lead_link], "conversion_id": conversion.id})
        else:
            record_event(events, entity, rec.id, "lead_merged",
                         Text("Lead {lead} merged into this", lead=lead.display_name),
                         run.actor.id, {"links": [lead_link], "conversion_id": conversion.id,
                                        "fields": sorted(run.fields_written.get(entity, {}))})
    events.insert(s)


class _Events:
    """Stands for the session in record_event(): keeps the events it builds, then inserts them
    in one executemany (the ORM would insert them one by one on SQLite, to read back each id,
    which nothing here needs)."""

    COLUMNS = ("parent_type", "parent_id", "kind", "message", "data", "actor_id")

    def __init__(self):
        self.events: list[TimelineEvent] = []

    def add(self, event: TimelineEvent) -> None:
        self.events.append(event)

    def insert(self, session) -> None:
        if self.events:
            session.execute(insert(TimelineEvent), [{c: getattr(e, c) for c in self.COLUMNS} for e in self.events])


def mark_converted(run: Run) -> None:
    """C1.4, last: the conditional UPDATE that only the first of two concurrent conversions wins."""
    s, lead = run.session, run.plan.lead
    result = s.execute(MARK_CONVERTED, {"lead": lead.id, "conversion": run.conversion.id, "now": utcnow()})
    if result.rowcount != 1:
        winner = s.execute(select(Lead.conversion_id).where(Lead.id == lead.id)).scalar()
        raise AlreadyConverted(conversion_id=winner)
    # Keep the loaded object in step with the row without reloading it.
    s.expire(lead, ["converted", "status", "converted_at", "conversion_id", "updated_at", "status_ref"])


_BY_KEY = select(Conversion).where(Conversion.created_by == bindparam("actor"),
                                   Conversion.idempotency_key == bindparam("key"))

# A plain (Core) UPDATE, built once; the loaded lead is expired rather than synchronised. The status
# is the first of the "converted" category (the lead keeps its own when there is none).
_LEADS = Lead.__table__
CONVERTED_STATUS = (select(LeadStatus.key).where(LeadStatus.category == "converted")
                     .order_by(LeadStatus.position).limit(1).scalar_subquery())
MARK_CONVERTED = (
    update(_LEADS).where(_LEADS.c.id == bindparam("lead"), _LEADS.c.converted.is_(False))
    .values(converted=True, status=func.coalesce(CONVERTED_STATUS, _LEADS.c.status),
            converted_at=bindparam("now"), conversion_id=bindparam("conversion"), updated_at=bindparam("now"))
)

# The steps, in order (C1.3): each takes the Run and leaves its result on it.
STEPS = (resolve, write_lead, write_account, write_contact, write_deal, write_task, transfer, record,
         mark_converted)
STEP_NAMES = tuple(step.__name__ for step in STEPS)


def _id(obj) -> int | None:
    return obj.id if obj is not None else None


def _label(obj) -> str:
    return getattr(obj, "display_name", None) or getattr(obj, "subject", None) or f"#{obj.id}"


__all__ = ["STEPS", "STEP_NAMES", "Run", "apply", "request_hash"]
