"""Values (C3, C5): what each created record receives, what a merged one's empty fields get
(C3.5), the typed `fields` of the options (C7.5), the deal's pipeline, stage, amount and
currency (C5.1-C5.3) and the follow-up task (C5.4). Functions of a plan.Planning."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import bindparam, select

from .. import permissions
from ..entities import noun
from ..errors import Problem, Text
from ..fields import FieldError
from ..models import Account, Campaign, Pipeline, Stage, User
from ..normalize import norm_company, norm_email, norm_name
from ..services.currencies import rates_on
from ..services.custom_values import get_custom, validate_custom
from .mapping import build_values, field_specs, fill_empty_only, is_empty
from .plan import EntityPlan, Planning

CENT = Decimal("0.01")
# Lead fields the conversion form may not set (C7.4 fills fields; it does not reassign the lead).
LEAD_NOT_SETTABLE = {"owner_id"}


# --- the options' `fields` (C7.5) ------------------------------------------------------------
def validate_fields(p: Planning, entity: str, fields: dict) -> dict:
    """Typed override values: standard keys by their column, custom ones via custom_values.validate_custom.
    Errors go to p.err("<entity>.<field>", reason); the valid values are returned."""
    if not fields:
        return {}
    if entity == "lead":  # validated like a lead edit: the lead's own editable fields
        specs = {k: v for k, v in field_specs("lead", p.defs, source=True).items() if k not in LEAD_NOT_SETTABLE}
    else:
        specs = field_specs(entity, p.defs, source=False)
    typed: dict = {}
    custom_raw = {}
    for key, raw in fields.items():
        if key.startswith("custom."):
            if not is_empty(raw):  # a blank value is no value (as for standard fields): C7.4 lists it
                custom_raw[key[7:]] = raw
            continue
        spec = specs.get(key)
        if spec is None:
            p.err(f"{entity}.{key}", Text("is not a {entity} field that can be set here", entity=noun(entity)))
            continue
        try:
            typed[key] = spec.parse(raw, strict=p.options.strict)
        except FieldError as e:
            p.err(f"{entity}.{key}", e.problem)
    if "owner_id" in typed and typed["owner_id"] is not None:
        typed["owner_id"] = user_id(p, typed["owner_id"], f"{entity}.owner_id")
    values, errors = (validate_custom(p.session, entity, custom_raw, definitions=p.defs.get(entity, {}),
                                      strict=p.options.strict)
                      if custom_raw else ({}, {}))
    for k, msgs in errors.items():
        for m in msgs:
            p.err(f"{entity}.{k}", m)
    typed.update({f"custom.{k}": v for k, v in values.items()})
    return {k: v for k, v in typed.items() if v is not None}


def user_id(p: Planning, uid: int | None, key: str) -> int | None:
    """The id of an active user, else an error on `key` (and None)."""
    if uid is None:
        return None
    if uid not in p.users:
        p.users[uid] = p.session.get(User, uid)
    user = p.users[uid]
    if user is None or not user.active:
        p.err(key, Text("no such active user"))
        return None
    return user.id


class LeadView:
    """The lead as the conversion form's lead fields will leave it (C7.4), read by the mapping and
    the matching; plan() never writes, so the lead itself is untouched until apply()."""

    def __init__(self, lead, values: dict):
        def get(name):
            return values.get(name, getattr(lead, name))

        self._lead = lead
        self._values = {
            **values, "email_norm": norm_email(get("email")), "company_norm": norm_company(get("company")),
            "name_norm": norm_name(get("first_name"), get("last_name")),
            "full_name": " ".join(part for part in (get("first_name"), get("last_name")) if part),
        }

    def __getattr__(self, name):
        values = self.__dict__["_values"]
        return values[name] if name in values else getattr(self.__dict__["_lead"], name)


# --- account and contact (C3.1, C3.5) ----------------------------------------------------------
def fill_account(p: Planning, account: EntityPlan) -> None:
    opts = p.options
    values = build_values(p.source, p.mapping, "account", p.lead_custom)
    values["owner_id"] = p.owner_id
    if opts.account.parent_id is not None:
        parent = p.session.get(Account, opts.account.parent_id)
        if parent is None or not permissions.can_view(p.session, p.actor, parent):
            p.err("account.parent_id", Text("no such account"))
        elif account.record is not None and parent.id == account.record.id:
            p.err("account.parent_id", Problem("own_parent"))
        else:
            values["parent_id"] = parent.id
    values.update(p.overrides["account"])
    set_values(p, account, values)


def fill_contact(p: Planning, contact: EntityPlan, account: EntityPlan) -> None:
    values = build_values(p.source, p.mapping, "contact", p.lead_custom)
    values["owner_id"] = p.owner_id
    values.update(p.overrides["contact"])
    if account.record is not None and contact.record is None:
        values["account_id"] = account.record.id
    if contact.record is not None and account.record is not None and not contact.record.account_id:
        values["account_id"] = account.record.id  # C4.4: a contact without account gets this one
    set_values(p, contact, values)


def set_values(p: Planning, plan: EntityPlan, values: dict) -> None:
    """A created record gets `values`; a merged one only those of its fields that are empty (C3.5)."""
    if plan.action == "created":
        plan.values = values
    elif plan.action == "merged":
        record = plan.record
        wants_custom = any(k.startswith("custom.") for k in values)
        custom = record_custom(p, plan.entity, record.id) if wants_custom else {}
        current = {k: (custom.get(k[7:]) if k.startswith("custom.") else getattr(record, k, None))
                   for k in values}
        plan.fills = fill_empty_only(current, values)
        if plan.fills.get("parent_id") == record.id:
            plan.fills.pop("parent_id")


def memoized(p: Planning, key, compute):
    """compute(), or what p.memo holds under `key` (filled on first use): reference data that
    many plans share (conversion/bulk.py); without a memo, computed each time."""
    if p.memo is None:
        return compute()
    if key not in p.memo:
        p.memo[key] = compute()
    return p.memo[key]


def record_custom(p: Planning, entity: str, record_id: int) -> dict:
    """The custom values of an existing record (a bulk chunk prefetches them into p.memo)."""
    return memoized(p, ("custom", entity, record_id), lambda: get_custom(p.session, entity, record_id))


# --- the deal (C5.1-C5.3) and the task (C5.4) ------------------------------------------------
def plan_deal(p: Planning) -> EntityPlan:
    """C5.1-C5.3: name, pipeline, stage, amount and currency of the new deal."""
    d = p.options.deal
    plan = EntityPlan("deal")
    if d is None:
        return plan
    s, lead = p.session, p.source
    values = build_values(lead, p.mapping, "deal", p.lead_custom)
    values["owner_id"] = user_id(p, d.owner_id, "deal.owner_id") or p.owner_id
    values["name"] = d.name or lead.company or lead.full_name or None
    pipeline = memoized(p, ("pipeline", d.pipeline_id), lambda: pipeline_and_stages(s, d.pipeline_id))
    if pipeline is None:
        if d.pipeline_id:
            p.err("deal.pipeline_id", Text("no such pipeline"))
    else:
        pipeline_id, pipeline_name, stages = pipeline
        values["pipeline_id"] = pipeline_id
        stage = d.stage
        if stage and stages and stage not in stages:
            # C5.2: a stage that is not in the pipeline falls back to its first stage.
            p.warnings.append(Text("The stage “{stage}” is not in the pipeline {pipeline}: the deal starts at "
                                   "“{first}”.", stage=stage, pipeline=pipeline_name, first=stages[0]))
            stage = stages[0]
        values["stage"] = stage
    deal_money(p, d, values)
    if d.closing_date:
        values["closing_date"] = d.closing_date
    if d.contact_role:
        values["contact_role"] = d.contact_role
    if d.campaign_id is not None:
        if s.get(Campaign, d.campaign_id) is None:
            p.err("deal.campaign_id", Text("no such campaign"))
        else:
            values["campaign_id"] = d.campaign_id
    values.update(p.overrides["deal"])
    plan.action, plan.values, plan.label = "created", values, values.get("name") or ""
    return plan


def _pipeline_rows(which):
    return (select(Pipeline.id, Pipeline.name, Stage.name).outerjoin(Stage, Stage.pipeline_id == Pipeline.id)
            .where(Pipeline.id == which).order_by(Stage.position, Stage.id))


# Built once (building and keying a statement costs more than running these small ones).
_PIPELINE = _pipeline_rows(bindparam("pipeline_id"))
_DEFAULT_PIPELINE = _pipeline_rows(
    select(Pipeline.id).where(Pipeline.is_default.is_(True)).order_by(Pipeline.id).limit(1)
    .correlate(None).scalar_subquery())
def pipeline_and_stages(session, pipeline_id: int | None) -> tuple[int, str, list[str]] | None:
    """(id, name, stage names in order) of the pipeline `pipeline_id`, else of the default one;
    None when there is none. One query (plain rows: nothing here is written)."""
    rows = (session.execute(_PIPELINE, {"pipeline_id": pipeline_id}) if pipeline_id
            else session.execute(_DEFAULT_PIPELINE)).all()
    if not rows:
        return None
    return rows[0][0], rows[0][1], [name for _, _, name in rows if name is not None]


def deal_money(p: Planning, d, values: dict) -> None:
    """C5.3 (004 bulk rule 5): a deal naming a currency is created in it with the amount as
    given; otherwise the amount is read in the base currency and converted into the lead's
    currency with the configured rate (rates are base units per one unit of a currency)."""
    if d.currency is None and d.amount is None:
        values["currency"] = p.lead.currency or "EUR"
        return
    rates = memoized(p, "rates", lambda: rates_on(p.session, date.today()))  # the rates in force today
    if d.currency:
        if rates and d.currency not in rates:
            p.err("deal.currency", Text("{currency} is not a configured currency", currency=d.currency))
            return
        values["currency"] = d.currency
        if d.amount is not None:
            values["amount"] = d.amount
        return
    currency = p.lead.currency or next((c for c, r in rates.items() if r.is_base), "EUR")
    values["currency"] = currency
    if d.amount is None:
        return
    rate = rates.get(currency)
    if rate is None or not rate.rate:
        p.err("deal.amount", Text("there is no exchange rate for {currency}: name the deal's currency",
                                  currency=currency))
        return
    base = next((c for c, r in rates.items() if r.is_base), currency)
    if currency == base:
        values["amount"] = d.amount
    else:
        values["amount"] = (d.amount / Decimal(rate.rate)).quantize(CENT, ROUND_HALF_UP)


def plan_task(p: Planning) -> EntityPlan:
    """C5.4: the follow-up task (the executor links it to the contact, else the account, and the deal)."""
    t = p.options.task
    plan = EntityPlan("task")
    if t is None:
        return plan
    values = {"subject": t.subject, "due_date": t.due_date, "kind": "task", "status": "open",
              "owner_id": user_id(p, t.owner_id, "task.owner_id") or p.owner_id}
    plan.action, plan.values, plan.label = "created", values, t.subject
    return plan
