"""plan(): everything a conversion will do, computed without writing (the preview and the dry run).

Reads a constant number of indexed rows: the lead, its custom values, the mapping and the
custom field definitions, one query per duplicate step (C4.1), the merged records' custom
values, the pipeline, the currency rates and one query counting what moves (C6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import bindparam, func, literal, select, union_all

from .. import permissions
from ..models import (
    Account,
    Address,
    Attachment,
    Campaign,
    CampaignMember,
    Contact,
    CurrencyRate,
    Lead,
    LineItem,
    Note,
    Pipeline,
    Tagging,
    Task,
    User,
)
from ..records import get_custom, parse_bool, validate_custom
from .errors import (
    AlreadyConverted,
    ConversionDenied,
    DuplicatesHidden,
    InvalidOptions,
    MissingRequired,
    RecordNotFound,
)
from .mapping import (
    ENTITY_MODELS,
    build_values,
    custom_definitions,
    effective_mapping,
    field_specs,
    fill_empty_only,
    is_empty,
    load_mapping,
)
from .matching import Match, Matcher, Matches
from ..normalize import norm_company, norm_email, norm_name, text_problem
from .options import INT_MAX, ConversionOptions
from .transfer import destinations

REQUIRED = {"account": ("name",), "contact": ("last_name",), "deal": ("name", "stage"), "task": ("subject",)}
CENT = Decimal("0.01")
# Lead fields the conversion form may not set (C7.4 fills fields; it does not reassign the lead).
LEAD_NOT_SETTABLE = {"owner_id"}


@dataclass
class Candidate:
    """An existing record offered for "Add to existing" (C4.3), with why it matched."""

    id: int
    name: str
    reason: str

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "reason": self.reason}


@dataclass
class EntityPlan:
    """What happens to one entity: created / merged / linked / none (C1.1, C3.5, C7.3)."""

    entity: str
    action: str = "none"  # created | merged | linked | none
    record_id: int | None = None
    reason: str | None = None
    label: str = ""
    values: dict = field(default_factory=dict)  # a created record's values
    fills: dict = field(default_factory=dict)   # a merged record's empty fields that get filled
    read_only: bool = False
    record: object | None = field(default=None, repr=False)  # the existing record (merged / linked)

    def as_dict(self) -> dict:
        return {"id": self.record_id, "action": self.action, "reason": self.reason}


@dataclass
class ConversionPlan:
    """The whole outcome of a conversion before it happens (C8.7)."""

    lead: Lead
    options: ConversionOptions
    account: EntityPlan
    contact: EntityPlan
    deal: EntityPlan
    task: EntityPlan
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    moves: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    blocked: DuplicatesHidden | None = None
    mapping: dict = field(default_factory=dict, repr=False)
    # C7.4: the lead fields the form fills ({"industry": "IT", "custom.vat": "FR1"}), written first.
    lead_values: dict = field(default_factory=dict)
    # C6 in words: {"notes": ["deal", "account (copy)", ...], "tags": ["contact", "deal"], ...}.
    destinations: dict[str, list[str]] = field(default_factory=dict)
    defs: dict = field(default_factory=dict, repr=False)  # the custom field definitions, by entity

    def entities(self) -> list[EntityPlan]:
        return [self.account, self.contact, self.deal, self.task]

    def present(self) -> set[str]:
        """The account / contact / deal this conversion produces (created, merged or linked)."""
        return {p.entity for p in (self.account, self.contact, self.deal) if p.action != "none"}

    def writable(self) -> set[str]:
        """Those the actor may write to (tags, addresses): all but a read-only link (C7.3)."""
        return {p.entity for p in (self.account, self.contact, self.deal)
                if p.action in ("created", "merged") or (p.action == "linked" and not p.read_only)}

    def errors(self) -> dict[str, list[str]]:
        """The missing required fields as form errors: {"contact.last_name": ["is required"]}."""
        return {f"{entity}.{name}": ["is required"] for entity, names in self.missing.items() for name in names}

    def check(self) -> None:
        """Raise what forbids applying this plan: DuplicatesHidden (C4.8), MissingRequired (C7.4)."""
        if self.blocked is not None:
            raise self.blocked
        if self.missing:
            names = ", ".join(self.errors())
            raise MissingRequired(f"Fill the required fields before converting: {names}.", self.errors())

    def fields_written(self) -> dict:
        """Values written on existing records: merged ones' empty fields (C3.5), the lead's (C7.4)."""
        out = {p.entity: _jsonable(p.fills) for p in (self.account, self.contact)
               if p.action == "merged" and p.fills}
        if self.lead_values:
            out["lead"] = _jsonable(self.lead_values)
        return out

    def not_updated(self) -> list[dict]:
        return [{"entity": p.entity, "id": p.record_id, "reason": "read_only"}
                for p in (self.account, self.contact) if p.read_only]

    def as_dict(self) -> dict:
        """The dry-run response of api.md (200)."""
        return {
            "id": None, "lead_id": self.lead.id, "created_by": None, "created_at": None,
            "reverted_at": None, "dry_run": True,
            "account": self.account.as_dict(), "contact": self.contact.as_dict(),
            "deal": self.deal.as_dict(), "task": self.task.as_dict(),
            "fields_written": self.fields_written(), "not_updated": self.not_updated(),
            "moved": dict(self.moves),
            "candidates": {e: [c.as_dict() for c in cs] for e, cs in self.candidates.items()},
        }


def _jsonable(values: dict) -> dict:
    out = {}
    for k, v in values.items():
        if isinstance(v, Decimal):
            v = str(v)
        elif isinstance(v, date):
            v = v.isoformat()
        out[k] = v
    return out


def label_of(record) -> str:
    return getattr(record, "display_name", None) or f"#{record.id}"


def plan(session, actor, lead_id: int, options: ConversionOptions | None = None) -> ConversionPlan:
    """Plan the conversion of lead `lead_id` by `actor` (reads only).

    Raises RecordNotFound, ConversionDenied, AlreadyConverted, InvalidOptions and, unless
    options.interactive, DuplicatesHidden. Missing required fields are on plan.missing."""
    return _Planner(session, actor, lead_id, options or ConversionOptions()).run()


class _Planner:
    def __init__(self, session, actor, lead_id, options: ConversionOptions):
        self.session = session
        self.actor = actor
        self.lead_id = lead_id
        self.options = options
        self.errors: dict[str, list[str]] = {}
        self.warnings: list[str] = []

    def err(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    # --- the steps -------------------------------------------------------------------
    def run(self) -> ConversionPlan:
        s, opts = self.session, self.options
        # An id no integer column can hold is unknown, never sent to the database.
        valid_id = isinstance(self.lead_id, int) and not isinstance(self.lead_id, bool) and 1 <= self.lead_id <= INT_MAX
        lead = s.get(Lead, self.lead_id) if valid_id else None
        if lead is None or not permissions.can_view(s, self.actor, lead):
            raise RecordNotFound("This lead does not exist.", {"lead_id": ["no such lead"]})
        if not permissions.can_convert(self.actor):
            message = "Your role lacks the “Convert leads” permission."
            raise ConversionDenied(message, {"lead": [message]})
        if lead.converted:
            raise AlreadyConverted(conversion_id=lead.conversion_id)
        allowed, reason = permissions.may_convert_lead(s, self.actor, lead)
        if not allowed:
            raise ConversionDenied(reason, {"lead": [reason]})
        self.lead = lead
        self.defs = custom_definitions(s)
        mapping, self.warnings = effective_mapping(s, load_mapping(s), self.defs)
        self.mapping = mapping
        self.lead_custom = get_custom(s, "lead", lead.id)
        self.owner_id = self.user_id(opts.owner_id, "owner_id") or lead.owner_id
        # C7.4: the lead as the form's lead fields leave it is what the mapping and matching read.
        self.lead_values = self.validate_fields("lead", opts.lead.fields)
        standard = {k: v for k, v in self.lead_values.items() if not k.startswith("custom.")}
        self.source = _LeadView(lead, standard) if standard else lead
        self.lead_custom.update({k[7:]: _jsonable({k: v})[k] for k, v in self.lead_values.items()
                                 if k.startswith("custom.")})
        self.overrides = {e: self.validate_fields(e, getattr(opts, e).fields) for e in ("account", "contact")}
        self.overrides["deal"] = self.validate_fields("deal", opts.deal.fields) if opts.deal else {}

        account, contact, matches = self.resolve()
        self.fill_account(account)
        self.fill_contact(contact, account)
        deal = self.plan_deal(account, contact)
        task = self.plan_task(contact, account, deal)
        if self.errors:
            raise InvalidOptions(errors=self.errors)
        self.check_rights(account, contact, deal, task)

        result = ConversionPlan(
            lead=lead, options=opts, account=account, contact=contact, deal=deal, task=task,
            candidates={e: [Candidate(m.id, label_of(m.record), m.reason) for m in matches.candidates(e)]
                        for e in ("account", "contact")},
            moves=self.count_moves(deal),
            missing=self.missing(account, contact, deal, task),
            mapping=mapping, lead_values=self.lead_values, defs=self.defs,
        )
        result.destinations = destinations(result.present(), result.writable(), opts)
        result.blocked = self.hidden_duplicates(matches, account, contact)
        if result.blocked is not None and not opts.interactive:
            raise result.blocked
        self.warn_lead_source(contact, deal)
        if "account" in opts.tags_to and account.action == "none" and self.lead_tags_count(result):
            self.warnings.append("No account is created or found: the tags go to the contact (C6.5).")
        result.warnings = self.warnings
        return result

    # --- duplicates and choices (C4) ---------------------------------------------------
    def resolve(self) -> tuple[EntityPlan, EntityPlan, Matches]:
        """Decide created / merged / linked for account and contact (C2, C4.3-C4.6)."""
        s, lead, opts = self.session, self.source, self.options
        account, contact = EntityPlan("account"), EntityPlan("contact")
        has_company = bool(lead.company_norm) or not is_empty(self.overrides["account"].get("name"))
        has_name = bool(lead.name_norm) or any(
            not is_empty(self.overrides["contact"].get(k)) for k in ("first_name", "last_name"))
        # C2.1 / C2.4: an account needs a company; a company lead without a person gives no contact.
        want_account = opts.account.action == "link" or (opts.account.action != "none" and has_company)
        want_contact = opts.contact.action == "link" or (
            opts.contact.action != "none" and (has_name or not has_company))
        if opts.account.action == "none" and opts.contact.action != "none":
            want_contact = True
        matcher = Matcher(s, self.actor, lead, self.mapping, self.defs, self.lead_custom)
        # C4.8: "create" looks too, only for hidden matches (the person chose not to merge).
        matches = matcher.find(
            contacts=want_contact and opts.contact.action in ("auto", "create"),
            accounts=opts.account.action == "auto" or (opts.account.action == "create" and want_account))

        if opts.account.action == "link":
            self.choose(account, self.linked_record(Account, opts.account.id, "account"), "chosen")
        if opts.contact.action == "link":
            self.choose(contact, self.linked_record(Contact, opts.contact.id, "contact"), "chosen")

        if opts.account.action == "auto" or (opts.contact.action == "auto" and want_contact):
            self.auto(account, contact, matches, matcher, want_account, want_contact)

        if account.action == "none" and want_account and opts.account.action in ("auto", "create"):
            account.action = "created"
        if contact.action == "none" and want_contact and opts.contact.action in ("auto", "create"):
            contact.action = "created"
        if account.action == "none" and contact.action == "none":
            raise InvalidOptions("Choose an account or a contact to create or link (C1.1).", {
                "contact.action": ["an account or a contact must be created or linked"]})
        return account, contact, matches

    def auto(self, account: EntityPlan, contact: EntityPlan, matches: Matches, matcher: Matcher,
             want_account: bool, want_contact: bool) -> None:
        """The non-interactive rules: first visible match in C4.1 order, then C4.4-C4.6 follow-ups."""
        opts = self.options
        auto_account = opts.account.action == "auto"
        auto_contact = opts.contact.action == "auto" and want_contact
        # The anchor: the first step with a visible match, among the entities still to decide.
        anchor: tuple[str, Match] | None = None
        if account.action == "none" and contact.action == "none":
            for entity, ms in matches.steps():
                if (entity == "account" and not auto_account) or (entity == "contact" and not auto_contact):
                    continue
                if entity == "account" and not want_account:
                    continue
                visible = [m for m in ms if m.visible]
                if visible:
                    anchor = (entity, visible[0])
                    break
            if anchor:
                entity, match = anchor
                self.choose(account if entity == "account" else contact, match.record, match.reason)

        # C4.4 / C4.6: a contact (matched or chosen) keeps its account, else gets one.
        if contact.record is not None and auto_account and account.action == "none":
            if contact.record.account_id:
                self.choose(account, contact.record.account, "contact_account", link_only=True)
            elif want_account:
                self.first_visible(account, matches.account_unique + matches.account_name)
        # C4.5 / C4.6: an account (matched or chosen) has its contacts searched.
        if account.record is not None and auto_contact and contact.action == "none":
            by_unique = account.reason and account.reason.startswith("unique:")
            found = matcher.contacts_by_email(account.record.id)
            if not any(m.visible for m in found) and (by_unique or matches.name_is_automatic):
                found = matcher.contacts_by_name(account.record.id)
            if not self.first_visible(contact, found):
                # Suggestions for a person (C4.2): same name among the account's contacts first.
                matches.contact_name = [m for m in matcher.contacts_by_name(account.record.id)
                                        if m.visible] + matches.contact_name
        # No anchor at all: the remaining account comes from the company name, if visible.
        if auto_account and account.action == "none" and want_account:
            self.first_visible(account, matches.account_unique + matches.account_name)

    def first_visible(self, plan: EntityPlan, ms: list[Match]) -> bool:
        for m in ms:
            if m.visible:
                self.choose(plan, m.record, m.reason)
                return True
        return False

    def linked_record(self, model, record_id: int, entity: str):
        record = self.session.get(model, record_id)
        if record is None or not permissions.can_view(self.session, self.actor, record):
            raise RecordNotFound(f"This {entity} does not exist.", {f"{entity}.id": [f"no such {entity}"]})
        return record

    def choose(self, plan: EntityPlan, record, reason: str, link_only: bool = False) -> None:
        """Merge into `record` (C3.5), or only link when the actor may not edit it (C7.3)."""
        plan.record, plan.record_id, plan.reason, plan.label = record, record.id, reason, label_of(record)
        plan.read_only = not permissions.can_edit(self.session, self.actor, record)
        plan.action = "linked" if (link_only or plan.read_only) else "merged"

    def hidden_duplicates(self, matches: Matches, account: EntityPlan, contact: EntityPlan):
        """C4.8: creating a record whose only duplicates the actor may not see is refused."""
        hidden = []
        for plan in (account, contact):
            if plan.action == "created":
                hidden += matches.hidden(plan.entity)
        if not hidden:
            return None
        people = [u for u in permissions.who_can_edit(self.session, self.lead)
                  if u.id != self.actor.id and permissions.can_convert(u)
                  and all(permissions.can_view(self.session, u, m.record) for m in hidden)]
        names = ", ".join(u.display_name for u in people) or "an administrator"
        kinds = " and ".join(sorted({m.record.__class__.__name__.lower() + "s" for m in hidden}))
        return DuplicatesHidden(
            f"This lead matches existing {kinds} you are not allowed to see, so converting it would "
            f"create duplicates. Ask {names} to convert it.",
            {"lead": ["matches records you may not see"]}, who=people)

    # --- values ------------------------------------------------------------------------
    def fill_account(self, account: EntityPlan) -> None:
        opts = self.options
        values = build_values(self.source, self.mapping, "account", self.lead_custom)
        values["owner_id"] = self.owner_id
        if opts.account.parent_id is not None:
            parent = self.session.get(Account, opts.account.parent_id)
            if parent is None or not permissions.can_view(self.session, self.actor, parent):
                self.err("account.parent_id", "no such account")
            elif account.record is not None and parent.id == account.record.id:
                self.err("account.parent_id", "an account cannot be its own parent")
            else:
                values["parent_id"] = parent.id
        values.update(self.overrides["account"])
        self.set_values(account, values)

    def fill_contact(self, contact: EntityPlan, account: EntityPlan) -> None:
        values = build_values(self.source, self.mapping, "contact", self.lead_custom)
        values["owner_id"] = self.owner_id
        values.update(self.overrides["contact"])
        if account.record is not None and contact.record is None:
            values["account_id"] = account.record.id
        if contact.record is not None and account.record is not None and not contact.record.account_id:
            values["account_id"] = account.record.id  # C4.4: a contact without account gets this one
        self.set_values(contact, values)

    def set_values(self, plan: EntityPlan, values: dict) -> None:
        if plan.action == "created":
            plan.values = values
        elif plan.action == "merged":
            record = plan.record
            wants_custom = any(k.startswith("custom.") for k in values)
            custom = get_custom(self.session, plan.entity, record.id) if wants_custom else {}
            current = {k: (custom.get(k[7:]) if k.startswith("custom.") else getattr(record, k, None))
                       for k in values}
            plan.fills = fill_empty_only(current, values)
            if plan.fills.get("parent_id") == record.id:
                plan.fills.pop("parent_id")

    def plan_deal(self, account: EntityPlan, contact: EntityPlan) -> EntityPlan:
        """C5.1-C5.3: name, pipeline, stage, amount and currency of the new deal."""
        d = self.options.deal
        plan = EntityPlan("deal")
        if d is None:
            return plan
        s, lead = self.session, self.source
        values = build_values(lead, self.mapping, "deal", self.lead_custom)
        values["owner_id"] = self.user_id(d.owner_id, "deal.owner_id") or self.owner_id
        values["name"] = d.name or lead.company or lead.full_name or None
        pipeline = (s.get(Pipeline, d.pipeline_id) if d.pipeline_id
                    else s.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)).limit(1)))
        if pipeline is None:
            if d.pipeline_id:
                self.err("deal.pipeline_id", "no such pipeline")
        else:
            values["pipeline_id"] = pipeline.id
            stages = [st.name for st in pipeline.stages]
            stage = d.stage
            if stage and stages and stage not in stages:
                # C5.2: a stage that is not in the pipeline falls back to its first stage.
                self.warnings.append(f"The stage “{stage}” is not in the pipeline {pipeline.name}: "
                                     f"the deal starts at “{stages[0]}”.")
                stage = stages[0]
            values["stage"] = stage
        self.deal_money(d, values)
        if d.closing_date:
            values["closing_date"] = d.closing_date
        if d.contact_role:
            values["contact_role"] = d.contact_role
        if d.campaign_id is not None:
            if s.get(Campaign, d.campaign_id) is None:
                self.err("deal.campaign_id", "no such campaign")
            else:
                values["campaign_id"] = d.campaign_id
        values.update(self.overrides["deal"])
        plan.action, plan.values, plan.label = "created", values, values.get("name") or ""
        return plan

    def deal_money(self, d, values: dict) -> None:
        """C5.3 (004 bulk rule 5): a deal naming a currency is created in it with the amount as
        given; otherwise the amount is read in the base currency and converted into the lead's
        currency with the configured rate (rates are base units per one unit of a currency)."""
        if d.currency is None and d.amount is None:
            values["currency"] = self.lead.currency or "EUR"
            return
        rates = {r.code: r for r in self.session.scalars(select(CurrencyRate))}
        if d.currency:
            if rates and d.currency not in rates:
                self.err("deal.currency", f"{d.currency} is not a configured currency")
                return
            values["currency"] = d.currency
            if d.amount is not None:
                values["amount"] = d.amount
            return
        currency = self.lead.currency or next((c for c, r in rates.items() if r.is_base), "EUR")
        values["currency"] = currency
        if d.amount is None:
            return
        rate = rates.get(currency)
        if rate is None or not rate.rate:
            self.err("deal.amount", f"there is no exchange rate for {currency}: name the deal's currency")
            return
        base = next((c for c, r in rates.items() if r.is_base), currency)
        if currency == base:
            values["amount"] = d.amount
        else:
            values["amount"] = (d.amount / Decimal(rate.rate)).quantize(CENT, ROUND_HALF_UP)

    def plan_task(self, contact: EntityPlan, account: EntityPlan, deal: EntityPlan) -> EntityPlan:
        t = self.options.task
        plan = EntityPlan("task")
        if t is None:
            return plan
        values = {"subject": t.subject, "due_date": t.due_date, "kind": "task", "status": "open",
                  "owner_id": self.user_id(t.owner_id, "task.owner_id") or self.owner_id}
        plan.action, plan.values, plan.label = "created", values, t.subject
        return plan

    def user_id(self, user_id: int | None, key: str) -> int | None:
        if user_id is None:
            return None
        user = self.session.get(User, user_id)
        if user is None or not user.active:
            self.err(key, "no such active user")
            return None
        return user.id

    def validate_fields(self, entity: str, fields: dict) -> dict:
        """Typed override values (C7.5): standard keys by their column, custom via records."""
        if not fields:
            return {}
        if entity == "lead":  # validated like a lead edit: the lead's own editable fields
            specs = {k: v for k, v in field_specs("lead", self.defs, source=True).items()
                     if k not in LEAD_NOT_SETTABLE}
        else:
            specs = field_specs(entity, self.defs, source=False)
        typed: dict = {}
        custom_raw = {}
        for key, raw in fields.items():
            if key.startswith("custom."):
                custom_raw[key[7:]] = raw
                continue
            spec = specs.get(key)
            if spec is None:
                self.err(f"{entity}.{key}", f"is not a {entity} field that can be set here")
                continue
            try:
                typed[key] = _typed(spec, raw)
            except ValueError as e:
                self.err(f"{entity}.{key}", str(e))
        if "owner_id" in typed and typed["owner_id"] is not None:
            typed["owner_id"] = self.user_id(typed["owner_id"], f"{entity}.owner_id")
        values, errors = (validate_custom(self.session, entity, custom_raw, definitions=self.defs.get(entity, {}))
                          if custom_raw else ({}, {}))
        for k, msgs in errors.items():
            for m in msgs:
                self.err(f"{entity}.{k}", m)
        typed.update({f"custom.{k}": v for k, v in values.items()})
        return {k: v for k, v in typed.items() if v is not None}

    # --- rights, required fields, moves, warnings -------------------------------------
    def check_rights(self, *plans: EntityPlan) -> None:
        """C7.1: the create permission of every entity the conversion creates."""
        for p in plans:
            if p.action == "created" and not permissions.can_create(self.actor, p.entity):
                message = f"Your role may not create {p.entity}s, which this conversion needs."
                raise ConversionDenied(message, {p.entity: [message]})

    def missing(self, *plans: EntityPlan) -> dict[str, list[str]]:
        """C7.4: the lead's required custom fields, then each created record's required fields."""
        out: dict[str, list[str]] = {}
        provided = {(p.entity, k) for p in plans if p.action == "created" for k, v in p.values.items()
                    if not is_empty(v)}
        for key, f in self.defs.get("lead", {}).items():
            if not f.required or not is_empty(self.lead_custom.get(key)):
                continue
            # Satisfied when a target's form field receiving it (same key or mapped) is filled.
            targets = {(e, self.mapping.get(e, {}).get(f"custom.{key}")) for e in ("account", "contact", "deal")}
            targets |= {(e, f"custom.{key}") for e in ("account", "contact", "deal")}
            if not any((e, t) in provided and t in self.overrides.get(e, {}) for e, t in targets):
                out.setdefault("lead", []).append(f"custom.{key}")
        for p in plans:
            if p.action != "created":
                continue
            names = list(REQUIRED[p.entity])
            names += [f"custom.{k}" for k, f in self.defs.get(p.entity, {}).items() if f.required]
            lacking = [n for n in names if is_empty(p.values.get(n))]
            if lacking:
                out[p.entity] = lacking
        return out

    def count_moves(self, deal: EntityPlan) -> dict[str, int]:
        """C6: how many related records move, in one query."""
        counts = {kind: n for kind, n in self.session.execute(_COUNT_MOVES, {"lead_id": self.lead.id})}
        if deal.action != "created":
            counts["line_items"] = 0  # they stay on the lead: only a deal takes them (C3.4)
        return counts

    def lead_tags_count(self, result: ConversionPlan) -> int:
        return result.moves.get("tags", 0)

    def warn_lead_source(self, contact: EntityPlan, deal: EntityPlan) -> None:
        """C6.6: say so when the mapping drops the lead source."""
        if is_empty(self.source.lead_source):
            return
        kept = any(
            p.action != "none" and "lead_source" in (self.mapping.get(p.entity) or {})
            for p in (contact, deal)
        ) or "lead_source" in (self.mapping.get("account") or {})
        if not kept:
            self.warnings.append(f"The lead source “{self.source.lead_source}” is not mapped to the records "
                                 "this conversion produces: it will only stay on the converted lead.")


def _count(name: str, model):
    return select(literal(name).label("kind"), func.count().label("n")).select_from(model).where(
        model.parent_type == "lead", model.parent_id == bindparam("lead_id"))


# Built once: one round trip counts everything that moves (C6) for the preview and the record.
_COUNT_MOVES = union_all(
    _count("notes", Note), _count("attachments", Attachment), _count("activities", Task),
    _count("campaigns", CampaignMember), _count("tags", Tagging), _count("addresses", Address),
    _count("line_items", LineItem))


def _typed(spec, raw):
    """A raw form / JSON value as the Python value of a standard column; raises ValueError."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = spec.kind
    if kind == "checkbox":
        return parse_bool(raw)
    if kind in ("number", "decimal") or kind.startswith("lookup:"):
        if isinstance(raw, bool):
            raise ValueError("must be a number")
        try:
            value = Decimal(str(raw).strip())
        except ArithmeticError:
            raise ValueError("must be a number") from None
        if not value.is_finite():
            raise ValueError("must be a number")
        if kind == "decimal":
            # Money columns (Numeric(16, 2)), amounts and revenues: never negative (as in the forms).
            if not 0 <= value < Decimal("1e13"):
                raise ValueError("must be a number between 0 and 9999999999999.99")
            return value.quantize(CENT, ROUND_HALF_UP)
        if value != value.to_integral_value():
            raise ValueError("must be a whole number")
        # Integer columns are 32-bit in PostgreSQL: a larger value must never reach the database.
        low = 1 if kind.startswith("lookup:") else 0
        if not low <= value <= INT_MAX:
            raise ValueError(f"must be a whole number between {low} and {INT_MAX}")
        return int(value)
    if kind == "date":
        try:
            return date.fromisoformat(str(raw))
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD)") from None
    if not isinstance(raw, str):
        raise ValueError("must be text")
    value = raw.strip()
    if spec.length and len(value) > spec.length:
        raise ValueError(f"is at most {spec.length} characters")
    if problem := text_problem(value):
        raise ValueError(problem)
    if kind == "email":
        from email_validator import EmailNotValidError, validate_email

        try:
            value = validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as e:
            raise ValueError(str(e)) from None
    if kind == "phone":
        from ..normalize import norm_phone

        if norm_phone(value) is None:
            raise ValueError("is not a valid phone number")
    return value


class _LeadView:
    """The lead as the conversion form's lead fields will leave it (C7.4), read by the mapping and
    the matching; plan() never writes, so the lead itself is untouched until apply()."""

    def __init__(self, lead: Lead, values: dict):
        def get(name):
            return values.get(name, getattr(lead, name))

        self._lead = lead
        self._values = {
            **values, "email_norm": norm_email(get("email")), "company_norm": norm_company(get("company")),
            "name_norm": norm_name(get("first_name"), get("last_name")),
            "full_name": " ".join(p for p in (get("first_name"), get("last_name")) if p),
        }

    def __getattr__(self, name):
        values = self.__dict__["_values"]
        return values[name] if name in values else getattr(self.__dict__["_lead"], name)


__all__ = ["Candidate", "ConversionPlan", "EntityPlan", "plan", "ENTITY_MODELS"]
