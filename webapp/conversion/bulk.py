"""Convert many leads (C8.2-C8.5): a chunk planned with one query per look-up kind, the same
decisions as the single path, written with multi-row statements. Never imports Flask.

Many is not a loop of one (ARCHITECTURE.md, convention 8): a chunk of leads (hundreds to a few
thousand) is read with one query per kind (the leads, their custom values, what hangs on them,
contacts by e-mail, contacts by name, accounts by company, records by unique custom value), then
each lead is planned by the single path's own parts:

  requirements.check_may_convert / check_rights / missing   C7.1, C7.2, C7.4, C1.4
  resolve.resolve(p, matcher)                                C2, C4 (the matcher answers from the
                                                             chunk's rows: ChunkMatcher)
  values.fill_account / fill_contact / plan_deal / plan_task C3, C5 (reference data shared through
                                                             Planning.memo)
  resolve.hidden_duplicates                                  C4.8
  transfer's placement functions                             C6

so a lead gets the plan planner.plan() would give it (tests/unit/conversion/test_bulk.py runs
seed 004's scenario tables through both and compares them field by field). Matches inside the
chunk count: a record a lead creates is offered to the next leads (two leads of one new company
give one account, the second merged into it; the same for one e-mail), and a merged record's
filled fields are what the next leads see, exactly as if the leads were converted one after the
other. A lead refused by the rules is skipped with its reason before anything is written.

Then the chunk is written: accounts, contacts, deals, tasks, the moves (C6), the conversion
records (C1.5, the very rows executor.record writes: revert reads them), the timeline events
(C1.6) and the leads marked converted, each kind in one multi-row statement (RETURNING the new
ids). If that write fails, the chunk is written again lead by lead (a savepoint each, each lead
planned again as a chunk of one), so one bad lead never spoils the others.

Concurrency: the match keys of the whole chunk (resolve.match_keys of each lead, their union,
sorted) are locked with resolve.lock_match_keys before the look-ups, as a single conversion
locks its own: a new company shared by two jobs, or by a job and a single conversion, still
gives one account. The leads are marked converted with the executor's conditional UPDATE: a
lead that another conversion took meanwhile makes the chunk fail and go lead by lead, where it
is skipped as already converted.

Public interface:
  BulkOptions.parse(body) / from_dict(body)  the bulk subset of the conversion options (C8.4)
  convert_chunk(session, actor, lead_ids, options) -> [Outcome]  (written, not committed)
  plan_chunk(session, actor, lead_ids, options) -> [Outcome]     (reads only: dry run)
  summarize(session, actor, lead_ids, options) -> dict           (the bulk panel's dry run)
  validate(session, actor, options)   raises InvalidOptions for options no lead could use
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import (
    ARRAY,
    JSON,
    DateTime,
    Integer,
    String,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.orm import joinedload, lazyload

from .. import permissions
from ..errors import DomainError, Invalid, Problem, Text
from ..fields import INT_MAX
from ..models import (
    Account,
    Address,
    Attachment,
    CampaignMember,
    Contact,
    Conversion,
    CustomFieldValue,
    Deal,
    Lead,
    LineItem,
    Note,
    Tag,
    Tagging,
    Task,
    TimelineEvent,
    utcnow,
)
from ..normalize import norm_company, norm_email, norm_name, norm_phone, region_for
from ..services.custom_values import custom_norm, customs_for, set_custom
from .errors import AlreadyConverted, InvalidOptions, RecordNotFound
from .executor import CONVERTED_STATUS, MARK_CONVERTED
from .mapping import custom_definitions, effective_mapping, is_empty, load_mapping
from .matching import LIMIT, Match, Matcher, unique_keys
from .options import ConversionOptions
from .plan import Candidate, ConversionPlan, EntityPlan, Planning, label_of
from .planner import decide, warn_lead_source
from .requirements import check_may_convert, missing
from .resolve import hidden_duplicates, lock_match_keys, match_keys
from .serialize import jsonable
from .transfer import FALLBACKS, address_place, destinations, first_of, note_places, tag_places
from .values import (
    fill_account,
    plan_deal,
    plan_task,
    record_custom,
    user_id,
    validate_fields,
)

# Deal name placeholders (api.md, Bulk): the lead's own values.
PLACEHOLDERS = ("company", "first_name", "last_name", "full_name")
DEAL_NAME_MAX = 255
# The options a bulk conversion does not take (C8.4: names and companies are not editable in
# bulk, no per-record choice): "<option>" or "<option>.<key>".
NOT_IN_BULK = ("lead", "account.id", "contact.id", "account.fields", "contact.fields", "dry_run", "interactive")
MOVE_KINDS = ("notes", "attachments", "activities", "campaigns", "tags", "addresses", "line_items")


# --- options ----------------------------------------------------------------------------------
@dataclass
class BulkOptions:
    """The bulk subset of ConversionOptions (api.md, Bulk; C8.4): account / contact actions
    (auto, create, none), the deal with a name template ({company}, {first_name}, {last_name},
    {full_name}) and extra deal fields, the follow-up task, attachments / activities / tags
    destinations, one owner for all (else each lead's own)."""

    options: ConversionOptions = field(default_factory=ConversionOptions)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, data, strict: bool = False) -> BulkOptions:
        """The options part of a bulk request (without lead_ids / filter); errors on .errors."""
        if not isinstance(data, dict):
            raise InvalidOptions(Text("The request body must be a JSON object."), {"body": [Problem("not_object")]})
        errors: dict[str, list[str]] = {}
        data = dict(data)
        for name in NOT_IN_BULK:  # refused when given (an empty value is no value), then left out
            head, _, key = name.partition(".")
            part = data.get(head) if key else data
            if not isinstance(part, dict) or (key or head) not in part:
                continue
            if part[key or head] not in (None, {}, [], False):
                errors.setdefault(name, []).append(Text("is not a bulk conversion option"))
            if key:
                data[head] = {k: v for k, v in part.items() if k != key}
            else:
                data.pop(head)
        for entity in ("account", "contact"):
            choice = data.get(entity)
            if isinstance(choice, dict) and choice.get("action") == "link":
                errors.setdefault(f"{entity}.action", []).append(
                    Text("“link” names one record: in bulk, use “auto”, “create” or “none”"))
        options = ConversionOptions.parse(data, strict)
        for key, messages in options.errors.items():
            errors.setdefault(key, []).extend(messages)
        options.errors = {}
        deal = options.deal
        if deal is not None and deal.name:
            problem = template_problem(deal.name)
            if problem:
                errors.setdefault("deal.name", []).append(problem)
        return cls(options, errors)

    @classmethod
    def from_dict(cls, data, strict: bool = False) -> BulkOptions:
        parsed = cls.parse(data, strict)
        if parsed.errors:
            raise InvalidOptions(errors=parsed.errors)
        return parsed

    @property
    def template(self) -> str | None:
        d = self.options.deal
        return d.name if d is not None and d.name and "{" in d.name else None

    def for_lead(self, lead) -> ConversionOptions:
        """The options of one lead's conversion: the deal name template filled in."""
        template = self.template
        if template is None:
            return self.options
        return replace(self.options, deal=replace(self.options.deal, name=render_name(template, lead)))

    def to_dict(self) -> dict:
        """Canonical JSON (stored on the job); the API's bulk body without lead_ids / filter."""
        out = self.options.to_dict()
        for key in ("dry_run", "interactive"):
            out.pop(key, None)
        for entity in ("account", "contact"):
            out[entity] = {"action": out[entity]["action"],
                           **({"parent_id": out[entity]["parent_id"]} if entity == "account" else {})}
        return out

    @classmethod
    def from_stored(cls, data: dict) -> BulkOptions:
        """Options stored by to_dict() (a job's params)."""
        return cls.from_dict(data)


def template_problem(template: str) -> str | None:
    """Why `template` is no deal name template ({company}, {first_name}, {last_name}, {full_name})."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return Text("has an unmatched brace: write the placeholders as {company}, {full_name}…")
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            return Text("{placeholder} is not a placeholder; use {names}", placeholder="{" + name + "}",
                        names=", ".join("{" + p + "}" for p in PLACEHOLDERS))
    return None


_SPACES = re.compile(r"\s+")


def render_name(template: str, lead) -> str | None:
    """The deal name for `lead`; None (the default name, C5.1) when the template gives nothing."""
    values = {"company": lead.company or "", "first_name": lead.first_name or "",
              "last_name": lead.last_name or "", "full_name": lead.full_name or ""}
    name = _SPACES.sub(" ", template.format_map(values)).strip()
    return name[:DEAL_NAME_MAX] or None


# --- outcomes -----------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What became of one lead: converted (conversion_id), skipped or failed (reason)."""

    lead_id: int
    outcome: str  # converted | skipped | failed
    conversion_id: int | None = None
    reason: str | None = None  # a Text
    plan: ConversionPlan | None = field(default=None, repr=False)
    code: str | None = None  # the refusal's code (already_converted, missing_required, ...)


def reason_of(error: DomainError) -> Text:
    """One sentence for a bulk report: the refusal's message, with its first field error when the
    message alone says nothing specific (C7.4, C7.5)."""
    message = error.message if isinstance(error.message, Text) else Text(str(error.message))
    if isinstance(error, Invalid) and error.errors:
        key, problems = next(iter(error.errors.items()))
        if problems and error.code != "missing_required":
            problem = problems[0] if isinstance(problems[0], Text) else Text(str(problems[0]))
            return Text("{message} {field}: {problem}", message=message, field=key, problem=problem)
    return message


# --- the chunk's look-ups -------------------------------------------------------------------------
def among(session, column, values):
    """column IN (values). On PostgreSQL `= ANY(array)`: one parameter for the whole list (an IN
    of a chunk's hundreds of ids is hundreds of parameters the driver parses on each query)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)



def has_unique(mapping: dict, defs: dict) -> dict[str, bool]:
    """Per entity, whether the mapping brings lead values into unique custom fields (C4.1 a/b)."""
    return {e: any(t.startswith("custom.") and getattr(defs.get(e, {}).get(t[7:]), "unique", False)
                   for t in (mapping.get(e) or {}).values()) for e in ("account", "contact")}


class Lookups:
    """The records a chunk's leads may match, read with one query per look-up kind, plus the
    records the chunk's earlier leads will create (in-chunk matches): each list in id order, the
    chunk's own records after the existing ones (they are newer), at most matching.LIMIT."""

    def __init__(self, session, actor, mapping: dict, defs: dict):
        self.session, self.actor, self.mapping, self.defs = session, actor, mapping, defs
        self.by_email: dict[str, list] = defaultdict(list)      # contacts
        self.by_name: dict[str, list] = defaultdict(list)       # contacts
        self.by_company: dict[str, list] = defaultdict(list)    # accounts
        self.by_unique: dict[tuple, list] = defaultdict(list)   # (entity, field id, norm) -> records
        self.new: dict[tuple, list] = defaultdict(list)         # the same keys -> the chunk's new records
        self.full: set[tuple] = set()  # keys whose existing records reached LIMIT (more may exist)
        self.temp_ids = iter(range(-1, -(2**31), -1))
        self.pending: dict[int, tuple[str, dict, int | None]] = {}  # temp id -> (entity, values, account ref)
        self.objects: dict[int, object] = {}  # temp id -> the record as it will be (materialised)
        self.key_counts: Counter = Counter()  # how many leads of the chunk look a key up
        self.has_unique = has_unique(mapping, defs)

    # -- reading ----------------------------------------------------------------------------
    def prefetch(self, leads: list, lead_custom: dict[int, dict]) -> None:
        """Every existing record the leads may match: one query per look-up kind."""
        emails = {lead.email_norm for lead in leads if lead.email_norm}
        names = {lead.name_norm for lead in leads if lead.name_norm}
        companies = {lead.company_norm for lead in leads if lead.company_norm}
        for lead in leads:
            for kind, key in (("email", lead.email_norm), ("name", lead.name_norm), ("company", lead.company_norm)):
                if key:
                    self.key_counts[kind, key] += 1
        self._load(Contact, Contact.email_norm, emails, self.by_email, "email")
        self._load(Contact, Contact.name_norm, names, self.by_name, "name")
        self._load(Account, Account.name_norm, companies, self.by_company, "company")
        wanted: dict[str, set] = {"account": set(), "contact": set()}
        for lead in leads if any(self.has_unique.values()) else ():
            custom = lead_custom.get(lead.id, {})
            for entity in wanted:
                for target, key in unique_keys(entity, self.mapping, self.defs, lead, custom):
                    wanted[entity].add((target.id, key))
                    self.key_counts["unique", entity, target.id, key] += 1
        for entity, pairs in wanted.items():
            if pairs:
                self._load_unique(entity, pairs)

    def _load(self, model, column, keys: set, into: dict, kind: str) -> None:
        if not keys:
            return
        ranked = (select(model.id, column.label("k"),
                         func.row_number().over(partition_by=column, order_by=model.id).label("rn"))
                  .where(among(self.session, column, sorted(keys))).subquery())
        stmt = (select(model, ranked.c.k).join(ranked, ranked.c.id == model.id)
                .where(ranked.c.rn <= LIMIT).order_by(model.id))
        if model is Contact:
            stmt = stmt.options(joinedload(Contact.account))
        for record, key in self.session.execute(stmt).unique():
            into[key].append(record)
            if len(into[key]) == LIMIT:
                self.full.add((kind, key))

    def _load_unique(self, entity: str, pairs: set) -> None:
        model = Account if entity == "account" else Contact
        v = CustomFieldValue
        ranked = (select(model.id, v.field_id, v.value_norm,
                         func.row_number().over(partition_by=(v.field_id, v.value_norm), order_by=model.id)
                         .label("rn"))
                  .join(v, v.parent_id == model.id)
                  .where(v.parent_type == entity, tuple_(v.field_id, v.value_norm).in_(sorted(pairs)))
                  .subquery())
        stmt = (select(model, ranked.c.field_id, ranked.c.value_norm).join(ranked, ranked.c.id == model.id)
                .where(ranked.c.rn <= LIMIT).order_by(model.id))
        if model is Contact:
            stmt = stmt.options(joinedload(Contact.account))
        for record, field_id, key in self.session.execute(stmt).unique():
            self.by_unique[entity, field_id, key].append(record)

    def records(self) -> dict[str, dict[int, object]]:
        """The existing records read, by entity and id."""
        out: dict[str, dict[int, object]] = {"account": {}, "contact": {}}
        for lists, entity in ((self.by_email, "contact"), (self.by_name, "contact"), (self.by_company, "account")):
            for records in lists.values():
                for r in records:
                    out[entity][r.id] = r
        for (entity, _f, _k), records in self.by_unique.items():
            for r in records:
                out[entity][r.id] = r
        for r in list(out["contact"].values()):
            if r.account is not None:
                out["account"].setdefault(r.account.id, r.account)
        return out

    # -- answering ---------------------------------------------------------------------------
    def found(self, kind: tuple, existing: list) -> list:
        """The existing records of a key, then the chunk's new ones; at most LIMIT."""
        new = self.new.get(kind)
        if not new:
            return existing
        return (existing + [self.materialise(t) for t in new])[:LIMIT]

    def complete(self, kind: tuple) -> bool:
        return kind not in self.full

    # -- the chunk's own records ---------------------------------------------------------------
    def add_new(self, entity: str, values: dict, account_ref: int | None = None, lead=None) -> int:
        """A record an earlier lead of the chunk creates: a temporary (negative) id, offered to the
        next leads under its keys (only looked at when some other lead of the chunk has them).
        `lead`: the lead it comes from, whose keys are the record's when the values are its own."""
        temp = next(self.temp_ids)
        self.pending[temp] = (entity, values, account_ref)
        for kind in self._keys(entity, values, lead=lead):
            if self.key_counts.get(kind):  # some lead of the chunk looks this key up
                self.new[kind].append(temp)
        return temp

    def reindex(self, entity: str, record, fills: dict) -> None:
        """A merged record whose empty key fields get filled (already overlaid) is found by
        those keys too, among the existing records (in id order)."""
        values = {k: getattr(record, k, None) for k in ("name", "email", "first_name", "last_name")}
        values.update({k: v for k, v in fills.items() if k.startswith("custom.")})
        for kind in self._keys(entity, values, only=fills):
            existing = self._existing(kind)
            if all(r.id != record.id for r in existing):
                existing.append(record)
                existing.sort(key=lambda r: r.id)

    def _existing(self, kind: tuple) -> list:
        if kind[0] == "unique":
            return self.by_unique[kind[1:]]
        return {"email": self.by_email, "name": self.by_name, "company": self.by_company}[kind[0]][kind[1]]

    def _keys(self, entity: str, values: dict, only: dict | None = None, lead=None) -> list[tuple]:
        """The look-up keys a record with `values` has (only those `only` touches, when given);
        the normalisers' (C4.7), or the lead's own keys for the values that are the lead's."""
        def touched(*names):
            return only is None or any(n in only for n in names)

        def same(*names):
            return lead is not None and all(values.get(n) == getattr(lead, s) for n, s in names)

        keys = []
        if entity == "account":
            if touched("name") and values.get("name"):
                key = lead.company_norm if same(("name", "company")) else norm_company(values["name"])
                keys.append(("company", key))
        else:
            if touched("email") and values.get("email"):
                key = lead.email_norm if same(("email", "email")) else norm_email(values["email"])
                keys.append(("email", key))
            if touched("first_name", "last_name"):
                name = (lead.name_norm if same(("first_name", "first_name"), ("last_name", "last_name"))
                        else norm_name(values.get("first_name"), values.get("last_name")))
                if name:
                    keys.append(("name", name))
        for key, f in self.defs.get(entity, {}).items():
            value = values.get(f"custom.{key}")
            if f.unique and touched(f"custom.{key}") and not is_empty(value):
                keys.append(("unique", entity, f.id, custom_norm(f, value)))
        return [k for k in keys if k[-1]]

    def materialise(self, temp: int):
        """The record a temporary id stands for, as it will be created: a transient model
        instance (never added to the session) that the decisions read like any record."""
        obj = self.objects.get(temp)
        if obj is not None:
            return obj
        entity, values, account_ref = self.pending[temp]
        model = Account if entity == "account" else Contact
        obj = model._sa_class_manager.new_instance()
        columns = {k: v for k, v in values.items() if not k.startswith("custom.") and k in model.__table__.c}
        for column in model.__table__.columns:
            obj.__dict__[column.key] = columns.get(column.key)
        obj.__dict__["id"] = temp
        if entity == "contact":
            obj.__dict__["account_id"] = account_ref
            obj.__dict__["account"] = self.record_of("account", account_ref) if account_ref else None
        self.objects[temp] = obj
        return obj

    def record_of(self, entity: str, record_id: int):
        if record_id < 0:
            return self.materialise(record_id)
        model = Account if entity == "account" else Contact
        return self.session.get(model, record_id)


def overlay(record, values: dict) -> None:
    """What an earlier lead of the chunk writes into an existing record, seen by the next leads
    (and by nothing else: the instance's loaded state is changed, not marked for a flush; the
    chunk's commit or rollback expires it)."""
    for key, value in values.items():
        if not key.startswith("custom."):
            record.__dict__[key] = value


class ChunkMatcher(Matcher):
    """matching.Matcher's look-ups for one lead, answered from the chunk's Lookups (plus a real
    query for the rare list the prefetch could not complete)."""

    def __init__(self, lookups: Lookups, p: Planning):
        super().__init__(p.session, p.actor, p.source, p.mapping, p.defs, p.lead_custom)
        self.lookups = lookups

    def unique(self, entity: str) -> list[Match]:
        out: list[Match] = []
        if not self.lookups.has_unique[entity]:
            return out  # what unique_keys() would find: nothing
        for target, key in unique_keys(entity, self.mapping, self.defs, self.lead, self.lead_custom):
            kind = ("unique", entity, target.id, key)
            records = self.lookups.found(kind, self.lookups.by_unique.get(kind[1:], []))
            out += self._wrap(records, f"unique:{target.key}")
        return out

    def contacts_by_email(self, account_id: int | None = None) -> list[Match]:
        return self._step("email", self.lead.email_norm, self.lookups.by_email, account_id,
                          super().contacts_by_email)

    def contacts_by_name(self, account_id: int | None = None) -> list[Match]:
        return self._step("name", self.lead.name_norm, self.lookups.by_name, account_id,
                          super().contacts_by_name)

    def accounts_by_name(self) -> list[Match]:
        key = self.lead.company_norm
        if not key:
            return []
        return self._wrap(self.lookups.found(("company", key), self.lookups.by_company.get(key, [])),
                          "company_name")

    def _step(self, kind: str, key, lists: dict, account_id, query) -> list[Match]:
        if not key:
            return []
        reason = "email" if kind == "email" else "full_name"
        records = self.lookups.found((kind, key), lists.get(key, []))
        if account_id is None:
            return self._wrap(records, reason)
        mine = [r for r in records if r.account_id == account_id]
        if self.lookups.complete((kind, key)) or account_id < 0:
            return self._wrap(mine, reason)
        # More records have this key than were read: ask the database for this account's.
        found = query(account_id)
        ids = {m.id for m in found}
        return (found + self._wrap([r for r in mine if r.id not in ids], reason))[:LIMIT]


# --- the chunk -------------------------------------------------------------------------------------
_LEADS = select(Lead).options(lazyload(Lead.status_ref))


@dataclass
class Work:
    """One lead's conversion in a chunk: its plan, then what writing it produced."""

    plan: ConversionPlan
    temp: dict = field(default_factory=dict)    # entity -> temporary id of a record it creates
    ids: dict = field(default_factory=dict)     # entity -> id of the produced record
    labels: dict = field(default_factory=dict)  # entity -> its label (timeline links)
    fields_written: dict = field(default_factory=dict)
    previous_values: dict = field(default_factory=dict)
    moved: dict = field(default_factory=dict)
    records: list = field(default_factory=list)  # moved_records (C1.5)
    conversion_id: int | None = None


class Chunk:
    """One actor converting a chunk of leads with one BulkOptions (not committed here)."""

    def __init__(self, session, actor, options: BulkOptions, now: datetime | None = None,
                 detailed: bool = False, dry_run: bool = False):
        self.session, self.actor, self.options = session, actor, options
        # The preview's parts (candidates, destinations, warnings): for a dry run, not for writing.
        self.detailed = detailed
        # A dry run reads how many records hang on each lead, not the records (nothing moves).
        self.counts_only = dry_run
        self.now = now or utcnow()
        self.defs = custom_definitions(session)
        self.mapping, self.mapping_warnings = effective_mapping(session, load_mapping(session), self.defs)
        self.memo: dict = {}
        self.users: dict = {}
        self.deal_fields: dict = {}
        probe = self._planning(options.options)
        self.owner_id = user_id(probe, options.options.owner_id, "owner_id")
        deal = options.options.deal
        self.deal_fields = validate_fields(probe, "deal", deal.fields) if deal else {}
        self.option_errors = probe.errors
        self.base_dict = options.options.to_dict()
        self.lookups: Lookups | None = None
        self.lead_custom: dict[int, dict] = {}
        self.related: dict[str, dict[int, list]] = {}

    def _planning(self, options: ConversionOptions) -> Planning:
        p = Planning(self.session, self.actor, options)
        p.defs, p.mapping, p.users, p.memo = self.defs, self.mapping, self.users, self.memo
        p.overrides = {"account": {}, "contact": {}, "deal": self.deal_fields}
        return p

    # -- reading ---------------------------------------------------------------------------------
    def load(self, lead_ids: list[int]) -> tuple[list[Lead], list[Outcome]]:
        """The chunk's leads the actor may see (in the order given), and the others as skipped."""
        ids = [i for i in dict.fromkeys(lead_ids) if isinstance(i, int) and 1 <= i <= INT_MAX]
        found = self.session.scalars(_LEADS.where(among(self.session, Lead.id, ids))) if ids else ()
        by_id = {lead.id: lead for lead in found}
        leads, skipped = [], []
        for lead_id in dict.fromkeys(lead_ids):
            lead = by_id.get(lead_id)
            if lead is None or not permissions.can_view(self.session, self.actor, lead):
                error = RecordNotFound(Text("This lead does not exist."))
                skipped.append(Outcome(lead_id, "skipped", reason=error.message, code=error.code))
            else:
                leads.append(lead)
        if leads and self.defs.get("lead"):
            self.lead_custom = customs_for(self.session, "lead", [lead.id for lead in leads])
        return leads, skipped

    def keys(self, leads: list[Lead]) -> list[str]:
        """The union of the leads' match keys (resolve.match_keys), sorted."""
        out: set[str] = set()
        p = self._planning(self.options.options)
        if not any(has_unique(self.mapping, self.defs).values()):
            p.mapping = {}  # match_keys reads the mapping for unique fields only: none to lock
        for lead in leads:
            p.source, p.lead_custom = lead, self.lead_custom.get(lead.id, {})
            out.update(match_keys(p))
        return sorted(out)

    def refresh_converted(self, leads: list[Lead]) -> None:
        """After the locks: a lead another conversion took meanwhile is seen converted."""
        ids = [lead.id for lead in leads]
        if not ids:
            return
        rows = self.session.execute(select(Lead.id, Lead.conversion_id).where(
            among(self.session, Lead.id, ids), Lead.converted.is_(True))).all()
        by_id = {lead.id: lead for lead in leads}
        for lead_id, conversion_id in rows:
            by_id[lead_id].__dict__.update(converted=True, conversion_id=conversion_id)

    def prefetch(self, leads: list[Lead]) -> None:
        """The records the leads may match and what hangs on them (C6)."""
        self.lookups = Lookups(self.session, self.actor, self.mapping, self.defs)
        self.lookups.prefetch(leads, self.lead_custom)
        ids = [lead.id for lead in leads]
        self.related = related_rows(self.session, ids) if not self.counts_only else related_counts(self.session, ids)
        # Merged records' custom values (C3.5 reads them), one query per entity.
        for entity, records in self.lookups.records().items():
            if records and any(t.startswith("custom.") for t in (self.mapping.get(entity) or {}).values()):
                for record_id, values in customs_for(self.session, entity, list(records)).items():
                    self.memo["custom", entity, record_id] = values

    # -- planning -------------------------------------------------------------------------------
    def plan(self, lead: Lead) -> ConversionPlan | Outcome:
        """planner.plan() for one lead of the chunk, on the chunk's look-ups; or why it is skipped."""
        options = self.options.for_lead(lead)
        p = self._planning(options)
        p.lead = p.source = lead
        p.warnings = list(self.mapping_warnings)
        p.lead_custom = dict(self.lead_custom.get(lead.id, {}))
        p.owner_id = self.owner_id or lead.owner_id
        p.errors = {k: list(v) for k, v in self.option_errors.items()}
        try:
            check_may_convert(self.session, self.actor, lead)
            account, contact, matches, deal, task = decide(p, ChunkMatcher(self.lookups, p))
            result = ConversionPlan(
                lead=lead, options=options, account=account, contact=contact, deal=deal, task=task,
                candidates={e: [Candidate(m.id, label_of(m.record), m.reason) for m in matches.candidates(e)]
                            for e in ("account", "contact")} if self.detailed else {},
                moves=self.moves(lead.id, deal),
                missing=missing(p, account, contact, deal, task),
                mapping=p.mapping, lead_values={}, defs=p.defs,
            )
            result.blocked = hidden_duplicates(p, matches, account, contact)
            result.check()  # C4.8 (non-interactive: refused), C7.4
        except DomainError as error:
            conversion_id = error.conversion_id if isinstance(error, AlreadyConverted) else None
            return Outcome(lead.id, "skipped", conversion_id=conversion_id, reason=reason_of(error),
                           code=error.code)
        if self.detailed:
            result.destinations = destinations(result.present(), result.writable(), options)
            warn_lead_source(p, contact, deal)
            if "account" in options.tags_to and account.action == "none" and result.moves.get("tags", 0):
                p.warnings.append(Text("No account is created or found: the tags go to the contact (C6.5)."))
            result.warnings = p.warnings
        return result

    def moves(self, lead_id: int, deal: EntityPlan) -> dict[str, int]:
        if self.counts_only:
            counts = {kind: self.related[kind].get(lead_id, 0) for kind in MOVE_KINDS}
        else:
            counts = {kind: len(self.related[kind].get(lead_id, ())) for kind in MOVE_KINDS}
        if deal.action != "created":
            counts["line_items"] = 0
        return counts

    def register(self, plan: ConversionPlan) -> Work:
        """What the next leads of the chunk see of this one's conversion: the records it creates
        (matchable, C4) and the fields it fills on merged ones (C3.5)."""
        work = Work(plan)
        lookups, account, contact = self.lookups, plan.account, plan.contact
        if account.action == "created":
            work.temp["account"] = lookups.add_new("account", account.values, lead=plan.lead)
        account_ref = account.record_id if account.record is not None else work.temp.get("account")
        if contact.action == "created":
            ref = contact.values.get("account_id") or account_ref
            work.temp["contact"] = lookups.add_new("contact", contact.values, ref, lead=plan.lead)
        for p in (account, contact):
            if p.action != "merged":
                continue
            fills = dict(p.fills)
            if (p.entity == "contact" and account_ref is not None and p.record.account_id is None
                    and "account_id" not in fills):
                fills["account_id"] = account_ref  # C4.4, executor.write_contact's extra
            if not fills:
                continue
            # As executor._fill: what the fields held (what the chunk's earlier leads left), for C9.1.
            custom = (record_custom(self._planning(plan.options), p.entity, p.record.id)
                      if any(k.startswith("custom.") for k in fills) else {})
            work.previous_values[p.entity] = {
                k: custom.get(k[7:]) if k.startswith("custom.") else getattr(p.record, k, None) for k in fills}
            work.fields_written[p.entity] = fills
            self._overlay(p, fills)
        return work

    def options_dict(self, options: ConversionOptions) -> dict:
        """options.to_dict() (what the conversion record keeps), computed once per chunk."""
        if options is self.options.options:
            return self.base_dict
        deal = {**self.base_dict["deal"], "name": options.deal.name}
        return {**self.base_dict, "deal": deal}

    def _overlay(self, p: EntityPlan, fills: dict) -> None:
        record = p.record
        overlay(record, fills)
        if "account_id" in fills and p.entity == "contact":
            record.__dict__["account"] = self.lookups.record_of("account", fills["account_id"])
        custom = {k[7:]: v for k, v in jsonable(fills).items() if k.startswith("custom.")}
        if custom:
            key = ("custom", p.entity, record.id)
            self.memo[key] = {**self.memo.get(key, {}), **custom}
        if record.id > 0:
            self.lookups.reindex(p.entity, record, fills)


def related_counts(session, lead_ids: list[int]) -> dict[str, dict[int, int]]:
    """How many of each kind hang on each lead (C6): what a dry run needs of related_rows."""
    out: dict[str, dict[int, int]] = {}
    for kind, model in _RELATED.items():
        out[kind] = dict(session.execute(
            select(model.parent_id, func.count()).where(model.parent_type == "lead",
                                                        among(session, model.parent_id, lead_ids))
            .group_by(model.parent_id)).all()) if lead_ids else {}
    return out


def related_rows(session, lead_ids: list[int]) -> dict[str, dict[int, list]]:
    """What hangs on the leads (C6), {kind: {lead id: [row, ...]}} (a row: the id, or a tuple of
    the id and what the moves read), oldest first, tags by name: one query per kind (an empty
    kind costs one index probe per lead, as counting it would)."""
    out: dict[str, dict[int, list]] = {kind: {} for kind in _RELATED}
    if not lead_ids:
        return out
    raw_dates = session.get_bind().dialect.name == "sqlite"
    for kind, model in _RELATED.items():
        rows: dict[int, list] = defaultdict(list)
        if kind == "tags":
            stmt = (select(Tagging.parent_id, Tag.id, Tag.name).join(Tag, Tag.id == Tagging.tag_id)
                    .where(Tagging.parent_type == "lead", among(session, Tagging.parent_id, lead_ids))
                    .order_by(Tag.name))
        else:
            columns = [model.__table__.c[c] for c in _RELATED_COLUMNS[kind]]
            if raw_dates:  # SQLite's stored text, written back as it is (Batch): no parse, no format
                columns = [type_coerce(c, String) if isinstance(c.type, DateTime) else c for c in columns]
            stmt = (select(*columns).where(model.parent_type == "lead", among(session, model.parent_id, lead_ids))
                    .order_by(model.id))
        for parent_id, *rest in session.execute(stmt):
            rows[parent_id].append(rest[0] if len(rest) == 1 else tuple(rest))
        out[kind] = rows
    return out


_RELATED = {"notes": Note, "attachments": Attachment, "activities": Task, "campaigns": CampaignMember,
            "tags": Tagging, "addresses": Address, "line_items": LineItem}
_RELATED_COLUMNS = {
    "notes": ("parent_id", "id", "body", "author_id", "created_at"),
    "attachments": ("parent_id", "id"),
    "activities": ("parent_id", "id", "status", "deal_id"),
    "campaigns": ("parent_id", "id", "campaign_id"),
    "addresses": ("parent_id", "id"),
    "line_items": ("parent_id", "id"),
}


# --- writing ---------------------------------------------------------------------------------------
class Keys:
    """The normalised keys (C4.7) of rows written with Core, as the models' refresh_keys()
    computes them (Account: name, phone in the billing country's region; Contact: e-mail, name,
    phone else mobile in the mailing country's region), with each distinct phone parsed once
    per chunk (phonenumbers is the dearest part of a conversion: most leads of a company share
    its switchboard)."""

    def __init__(self, leads=()):
        self.phones: dict[tuple, str | None] = {}
        self.regions: dict[str | None, str] = {}
        for lead in leads:  # a lead without a mobile has its phone's key already (Lead.refresh_keys)
            if lead.phone and not lead.mobile:
                self.phones[lead.phone, self.region(lead.country)] = lead.phone_e164

    def region(self, country) -> str:
        region = self.regions.get(country)
        if region is None:
            region = self.regions[country] = region_for(country)
        return region

    def phone(self, value, country) -> str | None:
        if not value:
            return None
        key = (value, self.region(country))
        if key not in self.phones:
            self.phones[key] = norm_phone(*key)
        return self.phones[key]

    def fill(self, entity: str, row: dict) -> None:
        if entity == "account":
            row["name_norm"] = norm_company(row.get("name"))
            row["phone_e164"] = self.phone(row.get("phone"), row.get("billing_country"))
        else:
            country = row.get("mailing_country")
            row["email_norm"] = norm_email(row.get("email"))
            row["name_norm"] = norm_name(row.get("first_name"), row.get("last_name"))
            row["phone_e164"] = self.phone(row.get("phone"), country) or self.phone(row.get("mobile"), country)


class Batch:
    """One Core statement compiled once per dialect and run with the DBAPI's executemany, each
    value through its column type's bind processor: what SQLAlchemy's executemany does for each
    row, without the rest of its per-row work (which costs more than the database's). Python-side
    defaults are not applied: the rows carry every column (Writer fills timestamps and defaults)."""

    _compiled: dict[tuple, tuple] = {}

    def __init__(self, connection, key, build):
        dialect = connection.dialect
        cached = self._compiled.get((dialect.name, key))
        if cached is None:
            statement, names = build()
            compiled = statement.compile(dialect=dialect, column_keys=list(names) if names else None)
            order = list(compiled.positiontup) if compiled.positional else list(compiled.bind_names.values())
            processors = compiled._bind_processors
            # Values the statement itself binds (a literal in a subquery): every row gets them.
            fixed = {name: value for name, value in compiled.construct_params(_check=False).items()
                     if value is not None}
            raw_dates = dialect.name == "sqlite"
            cached = (compiled.string, compiled.positional, order,
                      [_memoised(processors.get(name),
                                 raw_dates and isinstance(compiled.binds[name].type, DateTime)) for name in order],
                      fixed)
            self._compiled[dialect.name, key] = cached
        self.connection = connection
        self.sql, self.positional, self.order, self.processors, self.fixed = cached

    def run(self, rows: list[dict]) -> int:
        """Execute for every row (a dict by bind name); the number of rows changed."""
        if not rows:
            return 0
        if self.fixed:
            rows = [{**self.fixed, **row} for row in rows]
        get = itemgetter(*self.order)
        processed = [(i, p) for i, p in enumerate(self.processors) if p is not None]
        params = []
        for row in rows:
            values = get(row)
            if len(self.order) == 1:
                values = (values,)
            if processed:
                values = list(values)
                for i, p in processed:
                    values[i] = p(values[i])
            params.append(tuple(values) if self.positional else dict(zip(self.order, values, strict=True)))
        return self.connection.exec_driver_sql(self.sql, params).rowcount


def _memoised(processor, raw_text: bool = False):
    """A bind processor remembering its last values (the chunk's one timestamp, repeated ids).
    `raw_text`: a text value is already the column's stored form (SQLite's dates read as text by
    related_rows, copied as they are)."""
    if processor is None:
        return None
    memo: dict = {}
    last = [object(), None]  # the last value (the chunk's `now` comes row after row) and its form

    def process(value):
        if value is last[0]:
            return last[1]
        if raw_text and isinstance(value, str):
            return value
        if value is None or isinstance(value, dict | list):  # JSON: one object may repeat (the options)
            last[0], last[1] = value, processor(value)
            return last[1]
        try:
            return memo[value]
        except KeyError:
            if len(memo) > 1000:
                memo.clear()
            memo[value] = processor(value)
            last[0], last[1] = value, memo[value]
            return memo[value]
        except TypeError:  # unhashable
            return processor(value)

    return process


class Arrays:
    """PostgreSQL: one statement for all the rows, each column sent as one array (unnest), so
    the server runs one INSERT or UPDATE per table and chunk instead of one per row (the
    per-statement work of executemany was most of a chunk's time there)."""

    _sql: dict[tuple, tuple] = {}

    @classmethod
    def _prepared(cls, connection, table, names: tuple, kind: str) -> tuple[str, list]:
        key = (kind, table.name, names)
        cached = cls._sql.get(key)
        if cached is None:
            dialect = connection.dialect
            quote = dialect.identifier_preparer.quote
            # JSON goes as text (serialised here: psycopg's per-element JSON dumping costs more).
            arrays = ", ".join(f"%(a{i})b::TEXT[]::JSON[]" if isinstance(table.c[n].type, JSON)
                               else f"%(a{i})b::{table.c[n].type.compile(dialect=dialect)}[]"
                               for i, n in enumerate(names))
            columns = ", ".join(quote(n) for n in names)
            if kind == "insert":
                sql = f"INSERT INTO {quote(table.name)} ({columns}) SELECT * FROM unnest({arrays})"
            else:  # update by id: names[0] is "id"
                sets = ", ".join(f"{quote(n)} = v.{quote(n)}" for n in names[1:])
                sql = (f"UPDATE {quote(table.name)} SET {sets} FROM unnest({arrays}) AS v({columns}) "
                       f"WHERE {quote(table.name)}.id = v.id")
            processors = [_json_text if isinstance(table.c[n].type, JSON)
                          else table.c[n].type._cached_bind_processor(dialect) for n in names]
            cached = cls._sql[key] = (sql, processors)
        return cached

    @classmethod
    def run(cls, connection, table, names: tuple, rows: list[dict], kind: str) -> int:
        sql, processors = cls._prepared(connection, table, names, kind)
        params = {}
        for i, (name, processor) in enumerate(zip(names, processors, strict=True)):
            values = [row[name] for row in rows]
            params[f"a{i}"] = [processor(v) for v in values] if processor else values
        # Binary parameters (%b): psycopg escapes every element of a text-format array in Python.
        with connection.connection.driver_connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount


def _json_text(value):
    return None if value is None else json.dumps(value)


def allocate_ids(connection, table, n: int) -> list[int]:
    """`n` new ids of `table`, in increasing order. PostgreSQL: taken from its sequence (one
    query). SQLite: the chunk holds the database's write lock (resolve.lock_match_keys), so the
    ids after the largest are the chunk's to give (SQLite does not promise the order of RETURNING
    rows: SQLAlchemy would insert one row per statement to match them)."""
    if n == 0:
        return []
    if connection.dialect.name == "postgresql":
        return list(connection.execute(text(
            "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": n}).scalars())
    start = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar() + 1
    return list(range(start, start + n))


def _scalar_defaults(table) -> dict:
    return {c.name: c.default.arg for c in table.columns
            if c.default is not None and getattr(c.default, "is_scalar", False)}


_DEFAULTS = {model: _scalar_defaults(model.__table__) for model in (Account, Contact, Deal, Task, Note, Conversion)}
# The fields a record's normalised keys derive from (a fill touching one recomputes them).
_KEY_SOURCES = {"account": {"name", "phone", "billing_country"},
                "contact": {"email", "first_name", "last_name", "phone", "mobile", "mailing_country"}}
_MODELS = {"account": Account, "contact": Contact, "deal": Deal, "task": Task}


def insert_rows(connection, model, rows: list[dict], now: datetime) -> list[int]:
    """Insert `rows` (new ids allocated, written into the rows) with one executemany; the ids."""
    if not rows:
        return []
    table = model.__table__
    ids = allocate_ids(connection, table, len(rows))
    keys = set().union(*rows) | {"id"}
    keys |= {c for c in ("created_at", "updated_at") if c in table.c}
    defaults = _DEFAULTS.get(model, {})
    names = tuple(sorted(keys))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
        for name in names:
            if name not in row:
                row[name] = now if name in ("created_at", "updated_at") else defaults.get(name)
            elif row[name] is None and name in ("created_at", "updated_at"):
                row[name] = now
    if connection.dialect.name == "postgresql":
        Arrays.run(connection, table, names, rows, "insert")
    else:
        Batch(connection, ("insert", table.name, names), lambda: (insert(table), names)).run(rows)
    return ids


def update_rows(connection, model, rows: list[dict], now: datetime) -> None:
    """UPDATE model SET <columns> WHERE id = :b_id for each row (one executemany per column set);
    updated_at (its onupdate) set to `now` where the table has it."""
    table = model.__table__
    stamped = "updated_at" in table.c
    groups: dict[tuple, list[dict]] = defaultdict(list)
    last_keys, last_group = None, None
    for row in rows:
        if stamped:
            row.setdefault("updated_at", now)
        if last_keys is None or row.keys() != last_keys:  # most rows of a call share their columns
            last_keys, last_group = row.keys(), groups[tuple(sorted(k for k in row if k != "id"))]
        last_group.append(row)
    for columns, group in groups.items():
        if connection.dialect.name == "postgresql" and len({row["id"] for row in group}) == len(group):
            Arrays.run(connection, table, ("id", *columns), group, "update")
            continue

        def build(columns=columns):
            return (update(table).where(table.c.id == bindparam("b_id"))
                    .values({c: bindparam(f"b_{c}", type_=table.c[c].type) for c in columns})), None
        batch = Batch(connection, ("update", table.name, columns), build)
        batch.run([{f"b_{k}": v for k, v in row.items() if k != "id"} | {"b_id": row["id"]} for row in group])


def _custom_columns(definition, value) -> dict:
    """A custom value's columns, as services.custom_values.set_custom stores them."""
    row = {"value_text": None, "value_number": None, "value_date": None}
    if definition.type == "checkbox":
        row["value_text"] = "true" if value else "false"
    elif definition.type in ("number", "decimal"):
        row["value_number"] = Decimal(value)
    elif definition.type == "date":
        row["value_date"] = datetime.fromisoformat(value).date() if isinstance(value, str) else value
    else:
        row["value_text"] = value
    row["value_norm"] = custom_norm(definition, value)
    return row


def _label(entity: str, values: dict, record_id: int) -> str:
    """The display name a record created with `values` will have (the models' display_name)."""
    if entity == "contact":
        full = " ".join(p for p in (values.get("first_name"), values.get("last_name")) if p)
        return full or values.get("email") or f"Contact #{record_id}"
    if entity == "task":
        return values.get("subject") or f"#{record_id}"
    return values.get("name") or f"#{record_id}"


class _Message:
    """A timeline sentence as models.TimelineEvent stores it: the English (at most 500
    characters) and the Text's template and params (data["text"]), computed once."""

    def __init__(self, text: Text):
        self.message, self.json = str(text)[:500], text.to_json()


def _event(parent_type: str, parent_id: int, kind: str, message: _Message, actor_id, data: dict, now) -> dict:
    """A timeline_events row, as models.TimelineEvent builds it (C1.6)."""
    return {"parent_type": parent_type, "parent_id": parent_id, "kind": kind, "message": message.message,
            "data": {**data, "text": message.json}, "actor_id": actor_id, "created_at": now}


class Writer:
    """Writes a chunk's planned conversions: each kind of row in one multi-row statement."""

    def __init__(self, chunk: Chunk, works: list[Work]):
        self.chunk, self.works = chunk, works
        self.session, self.now = chunk.session, chunk.now
        self.connection = chunk.session.connection()
        self.real: dict[int, int] = {}  # temporary id -> new id
        self.keys = Keys([w.plan.lead for w in works])

    def id_of(self, record_id: int | None) -> int | None:
        return self.real.get(record_id, record_id) if record_id is not None and record_id < 0 else record_id

    def run(self) -> None:
        self.records("account")
        self.records("contact")
        self.deals()
        self.tasks()
        self.moves()
        self.conversions()
        self.events()
        self.mark_converted()

    def custom_values(self, entity: str, created: list[Work]) -> None:
        """The custom values of the records created (C3.3 carry-over, mapped custom fields)."""
        defs = self.chunk.defs.get(entity, {})
        rows = []
        for w in created:
            for key, value in getattr(w.plan, entity).values.items():
                if key.startswith("custom.") and key[7:] in defs and value is not None:
                    rows.append({"field_id": defs[key[7:]].id, "parent_type": entity, "parent_id": w.ids[entity],
                                 **_custom_columns(defs[key[7:]], value)})
        if rows:
            self.connection.execute(insert(CustomFieldValue.__table__), rows)

    # -- accounts and contacts (C2, C3.5, C4.4) -------------------------------------------------
    def records(self, entity: str) -> None:
        model, defs = _MODELS[entity], self.chunk.defs.get(entity, {})
        created = [w for w in self.works if getattr(w.plan, entity).action == "created"]
        rows = []
        for w in created:
            values = {k: v for k, v in getattr(w.plan, entity).values.items() if not k.startswith("custom.")}
            if entity == "contact":
                if "account_id" in values:
                    values["account_id"] = self.id_of(values["account_id"])
                elif "account" in w.ids:
                    values["account_id"] = w.ids["account"]  # executor.write_contact's extra
            self.keys.fill(entity, values)
            rows.append(values)
        for w, new_id, values in zip(created, insert_rows(self.connection, model, rows, self.now), rows,
                                     strict=True):
            w.ids[entity] = new_id
            if entity in w.temp:
                self.real[w.temp[entity]] = new_id
            w.labels[entity] = _label(entity, values, new_id)
        self.custom_values(entity, created)
        fills = []
        for w in self.works:
            p = getattr(w.plan, entity)
            if p.action not in ("merged", "linked"):
                continue
            record_id = self.id_of(p.record_id)
            w.ids[entity], w.labels[entity] = record_id, p.label
            written = w.fields_written.get(entity)
            if not written:
                continue
            row = {"id": record_id}
            custom = {}
            for key, value in written.items():
                if key.startswith("custom."):
                    custom[key[7:]] = value
                else:
                    row[key] = self.id_of(value) if key == "account_id" else value
            if _KEY_SOURCES[entity] & set(row):
                state = {c.key: getattr(p.record, c.key, None) for c in model.__table__.columns}
                self.keys.fill(entity, state)
                row.update({k: state[k] for k in ("name_norm", "email_norm", "phone_e164") if k in state})
            if len(row) > 1:
                fills.append(row)
            if custom:
                set_custom(self.session, entity, record_id, custom, defs)
        update_rows(self.connection, model, fills, self.now)

    # -- deal and task (C5) ---------------------------------------------------------------------
    def deals(self) -> None:
        created = [w for w in self.works if w.plan.deal.action == "created"]
        rows = []
        for w in created:
            values = {k: v for k, v in w.plan.deal.values.items() if not k.startswith("custom.")}
            values.update(account_id=w.ids.get("account"), contact_id=w.ids.get("contact"))
            rows.append(values)
        for w, new_id, values in zip(created, insert_rows(self.connection, Deal, rows, self.now), rows,
                                     strict=True):
            w.ids["deal"], w.labels["deal"] = new_id, w.plan.deal.label or _label("deal", values, new_id)
        self.custom_values("deal", created)

    def tasks(self) -> None:
        """C5.4: on the contact (else the account), linked to the deal."""
        created = [w for w in self.works if w.plan.task.action == "created"]
        rows = []
        for w in created:
            parent = "contact" if "contact" in w.ids else "account"
            rows.append({**w.plan.task.values, "parent_type": parent, "parent_id": w.ids[parent],
                         "deal_id": w.ids.get("deal")})
        for w, new_id in zip(created, insert_rows(self.connection, Task, rows, self.now), strict=True):
            w.ids["task"], w.labels["task"] = new_id, w.plan.task.label or f"#{new_id}"

    # -- what moves (C6), as transfer.transfer_all moves it -------------------------------------
    def moves(self) -> None:
        related = self.chunk.related
        notes, copies, copy_entries = [], [], []
        attachments, activities, campaigns, taggings, lines, addresses = [], [], [], [], [], []
        have_campaigns, have_tags = self._existing_memberships()
        for w in self.works:
            plan, lead_id, ids, log, moved = w.plan, w.plan.lead.id, w.ids, w.records, w.moved
            counts, options = plan.moves, plan.options
            present = {e for e in ("account", "contact", "deal") if e in ids}
            origin = ["lead", lead_id]

            dest, copy_to = note_places(present)
            rows = related["notes"].get(lead_id, ()) if dest and counts.get("notes") else ()
            for note_id, body, author_id, created_at in rows:
                notes.append({"id": note_id, "parent_type": dest, "parent_id": ids[dest]})
                log.append({"type": "note", "id": note_id, "from": origin, "to": [dest, ids[dest]], "copy": False})
                for entity in copy_to:
                    entry = {"type": "note", "id": None, "from": None, "to": [entity, ids[entity]], "copy": True,
                             "copy_of": note_id}
                    log.append(entry)
                    copies.append({"body": body, "parent_type": entity, "parent_id": ids[entity],
                                   "author_id": author_id, "copy_of_id": note_id, "created_at": created_at})
                    copy_entries.append(entry)
            moved["notes"] = len(rows)

            dest = first_of(FALLBACKS[options.attachments_to], present)
            rows = related["attachments"].get(lead_id, ()) if dest and counts.get("attachments") else ()
            for row_id in rows:
                attachments.append({"id": row_id, "parent_type": dest, "parent_id": ids[dest]})
                log.append({"type": "attachment", "id": row_id, "from": origin, "to": [dest, ids[dest]]})
            moved["attachments"] = len(rows)

            dest = first_of(FALLBACKS[options.activities_to], present)
            rows = related["activities"].get(lead_id, ()) if dest and counts.get("activities") else ()
            for row_id, status, deal_id in rows:
                change = {"id": row_id, "parent_type": dest, "parent_id": ids[dest]}
                entry = {"type": "activity", "id": row_id, "from": origin, "to": [dest, ids[dest]]}
                if "deal" in ids and status == "open" and deal_id is None:
                    change["deal_id"] = entry["deal_id"] = ids["deal"]
                activities.append(change)
                log.append(entry)
            moved["activities"] = len(rows)

            rows = related["campaigns"].get(lead_id, ()) if dest and counts.get("campaigns") else ()
            count = 0
            for row_id, campaign_id in rows:
                have = have_campaigns[dest, ids[dest]]
                if campaign_id in have:
                    continue
                have.add(campaign_id)
                campaigns.append({"id": row_id, "parent_type": dest, "parent_id": ids[dest]})
                log.append({"type": "campaign_member", "id": row_id, "from": origin, "to": [dest, ids[dest]]})
                count += 1
            moved["campaigns"] = count

            places = tag_places(present, plan.writable(), options.tags_to) if counts.get("tags") else []
            tags = related["tags"].get(lead_id, ()) if places else ()
            for entity in places:
                have = have_tags[entity, ids[entity]]
                for tag_id, name in tags:
                    if tag_id not in have:
                        have.add(tag_id)
                        taggings.append({"tag_id": tag_id, "parent_type": entity, "parent_id": ids[entity]})
                        log.append({"type": "tag", "name": name, "from": origin, "to": [entity, ids[entity]],
                                    "copy": True})
            moved["tags"] = len(tags) if places else 0

            rows = related["line_items"].get(lead_id, ()) if "deal" in ids and counts.get("line_items") else ()
            for row_id in rows:
                lines.append({"id": row_id, "parent_type": "deal", "parent_id": ids["deal"]})
                log.append({"type": "line_item", "id": row_id, "from": origin, "to": ["deal", ids["deal"]]})
            moved["line_items"] = len(rows)

            ok = counts.get("addresses") and address_place(present, plan.writable()) is not None
            rows = related["addresses"].get(lead_id, ()) if ok else ()
            for row_id in rows:
                addresses.append({"id": row_id, "parent_type": "account", "parent_id": ids["account"]})
                log.append({"type": "address", "id": row_id, "from": origin, "to": ["account", ids["account"]]})
            moved["addresses"] = len(rows)

        c, now = self.connection, self.now
        for entry, new_id in zip(copy_entries, insert_rows(c, Note, copies, now), strict=True):
            entry["id"] = new_id
        update_rows(c, Note, notes, now)
        update_rows(c, Attachment, attachments, now)
        update_rows(c, Task, activities, now)
        update_rows(c, CampaignMember, campaigns, now)
        if taggings:
            c.execute(insert(Tagging.__table__), taggings)
        update_rows(c, LineItem, lines, now)
        update_rows(c, Address, addresses, now)

    def _existing_memberships(self) -> tuple[dict, dict]:
        """The campaigns and tags the existing target records already have (C6.4: a membership the
        target has stays on the lead; C6.5: a tag it has is not copied twice)."""
        campaigns: dict[tuple, set] = defaultdict(set)
        tags: dict[tuple, set] = defaultdict(set)
        related = self.chunk.related
        targets: dict[str, set] = {"campaigns": set(), "tags": set()}
        for w in self.works:
            for kind in targets:
                if related[kind].get(w.plan.lead.id):
                    targets[kind] |= {(e, w.ids[e]) for e in ("account", "contact", "deal")
                                      if e in w.ids and getattr(w.plan, e).action != "created"}
        for kind, model, column, into in (("campaigns", CampaignMember, CampaignMember.campaign_id, campaigns),
                                          ("tags", Tagging, Tagging.tag_id, tags)):
            if targets[kind]:
                rows = self.connection.execute(select(model.parent_type, model.parent_id, column).where(
                    tuple_(model.parent_type, model.parent_id).in_(sorted(targets[kind]))))
                for parent_type, parent_id, value in rows:
                    into[parent_type, parent_id].add(value)
        return campaigns, tags

    # -- the conversion records (C1.5) and timeline events (C1.6), as executor.record ---------------
    def conversions(self) -> None:
        actor = self.chunk.actor
        rows = []
        for w in self.works:
            p, lead = w.plan, w.plan.lead
            options = self.chunk.options_dict(p.options)
            rows.append({
                "lead_id": lead.id, "created_by": actor.id, "options": options,
                "account_id": w.ids.get("account"), "account_action": p.account.action,
                "account_reason": p.account.reason,
                "contact_id": w.ids.get("contact"), "contact_action": p.contact.action,
                "contact_reason": p.contact.reason,
                "deal_id": w.ids.get("deal"), "deal_action": p.deal.action,
                "task_id": w.ids.get("task"), "task_action": p.task.action,
                "fields_written": {e: jsonable(self._resolved(v)) for e, v in w.fields_written.items()},
                "previous_values": {e: jsonable(v) for e, v in w.previous_values.items()},
                "not_updated": [{**item, "id": self.id_of(item["id"])} for item in p.not_updated()],
                "moved": dict(w.moved), "moved_records": w.records,
                "lead_before": {"status": lead.status, "converted": False, "conversion_id": None,
                                "converted_at": None},
                "idempotency_key": None, "request_hash": _request_hash(lead.id, options),
                "reverted_at": None, "reverted_by": None, "created_at": self.now,
            })
        for w, new_id in zip(self.works, insert_rows(self.connection, Conversion, rows, self.now), strict=True):
            w.conversion_id = new_id

    def _resolved(self, values: dict) -> dict:
        return {k: self.id_of(v) if k == "account_id" else v for k, v in values.items()}

    def events(self) -> None:
        actor = self.chunk.actor
        rows, now = [], self.now
        converted = _Message(Text("Converted by {name}", name=actor.display_name))
        for w in self.works:
            p, lead = w.plan, w.plan.lead
            produced = [e for e in ("account", "contact", "deal", "task") if e in w.ids]
            links = [{"type": e, "id": w.ids[e], "label": w.labels.get(e) or f"#{w.ids[e]}"} for e in produced]
            rows.append(_event("lead", lead.id, "converted", converted, actor.id,
                               {"links": links, "conversion_id": w.conversion_id}, now))
            name = lead.display_name
            lead_link = {"type": "lead", "id": lead.id, "label": name}
            created = merged = None
            for entity in produced:
                if entity == "task":
                    continue
                if getattr(p, entity).action == "created":
                    created = created or _Message(Text("Created from lead {lead}", lead=name))
                    rows.append(_event(entity, w.ids[entity], "created_from_lead", created, actor.id,
                                       {"links": [lead_link], "conversion_id": w.conversion_id}, now))
                else:
                    merged = merged or _Message(Text("Lead {lead} merged into this", lead=name))
                    rows.append(_event(entity, w.ids[entity], "lead_merged", merged, actor.id,
                                       {"links": [lead_link], "conversion_id": w.conversion_id,
                                        "fields": sorted(w.fields_written.get(entity, {}))}, now))
        if not rows:
            return
        names = ("parent_type", "parent_id", "kind", "message", "data", "actor_id", "created_at")
        events = TimelineEvent.__table__
        if self.connection.dialect.name == "postgresql":
            Arrays.run(self.connection, events, names, rows, "insert")
        else:
            Batch(self.connection, ("insert", "timeline_events", names), lambda: (insert(events), names)).run(rows)

    def mark_converted(self) -> None:
        """C1.4, last: executor's conditional UPDATE; a lead taken meanwhile fails the chunk."""
        rows = [{"lead": w.plan.lead.id, "conversion": w.conversion_id, "now": self.now} for w in self.works]
        if self.connection.dialect.name == "postgresql":
            changed = self.connection.execute(_MARK_MANY, {"leads": [r["lead"] for r in rows],
                                                           "conversions": [r["conversion"] for r in rows],
                                                           "now": self.now}).rowcount
        else:
            changed = Batch(self.connection, ("mark_converted",), lambda: (MARK_CONVERTED, None)).run(rows)
        if changed != len(self.works):
            raise AlreadyConverted(Text("Some leads of the chunk were converted meanwhile."))


# PostgreSQL: executor's MARK_CONVERTED for a whole chunk in one statement (the same SET, the
# same condition), the lead / conversion pairs as two arrays.
_PAIRS = func.unnest(bindparam("leads", type_=ARRAY(Integer)), bindparam("conversions", type_=ARRAY(Integer))
                     ).table_valued("lead", "conversion").render_derived(name="v")
_L = Lead.__table__
_MARK_MANY = (update(_L).where(_L.c.id == _PAIRS.c.lead, _L.c.converted.is_(False))
              .values(converted=True, status=func.coalesce(CONVERTED_STATUS, _L.c.status),
                      converted_at=bindparam("now"), conversion_id=_PAIRS.c.conversion, updated_at=bindparam("now")))


def _request_hash(lead_id: int, options: dict) -> str:
    """executor.request_hash of the lead's options (their canonical form without dry_run)."""
    body = {k: v for k, v in options.items() if k != "dry_run"}
    raw = json.dumps({"lead_id": lead_id, **body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


# --- the public functions ------------------------------------------------------------------------------
def validate(session, actor, options: BulkOptions) -> None:
    """Refuse (InvalidOptions, 422) options that no lead could be converted with: the parse
    errors, and what values.py checks once per request (owners, pipeline, campaign, currency,
    extra deal fields), found by planning the deal and the task of an empty lead."""
    errors = {k: list(v) for k, v in options.errors.items()}
    if not errors:
        chunk = Chunk(session, actor, options)
        p = chunk._planning(options.options)
        p.errors = {k: list(v) for k, v in chunk.option_errors.items()}
        p.lead = p.source = _NO_LEAD
        p.owner_id = chunk.owner_id
        fill_account(p, EntityPlan("account"))
        plan_deal(p)
        plan_task(p)
        errors = p.errors
    if errors:
        raise InvalidOptions(errors=errors)


class _NoLead:
    """A lead with no value at all: what validate() plans the shared options with."""

    currency = None
    full_name = ""

    def __getattr__(self, name):
        return None


_NO_LEAD = _NoLead()


def _prepare(session, actor, lead_ids, options: BulkOptions, now, lock: bool, detailed: bool = False):
    chunk = Chunk(session, actor, options, now, detailed=detailed, dry_run=not lock)
    leads, outcomes = chunk.load(list(lead_ids))
    if lock:
        lock_match_keys(session, chunk.keys(leads))
        chunk.refresh_converted(leads)
    chunk.prefetch(leads)
    works = []
    for lead in leads:
        planned = chunk.plan(lead)
        if isinstance(planned, Outcome):
            outcomes.append(planned)
        else:
            works.append(chunk.register(planned))
    return chunk, works, outcomes


def _ordered(lead_ids, outcomes: list[Outcome]) -> list[Outcome]:
    by_id = {o.lead_id: o for o in outcomes}
    return [by_id[i] for i in dict.fromkeys(lead_ids)]


def plan_chunk(session, actor, lead_ids, options: BulkOptions, detailed: bool = True) -> list[Outcome]:
    """What convert_chunk would do, writing nothing: "converted" outcomes carry their plan (and
    no conversion_id); in-chunk matches count. `detailed`: the plans have the preview's parts too
    (candidates, destinations, warnings). The session's loaded records are expired after."""
    try:
        _chunk, works, outcomes = _prepare(session, actor, lead_ids, options, None, lock=False, detailed=detailed)
        outcomes += [Outcome(w.plan.lead.id, "converted", plan=w.plan) for w in works]
        return _ordered(lead_ids, outcomes)
    finally:
        session.expire_all()  # the chunk's in-memory overlays (Chunk.register) go


def convert_chunk(session, actor, lead_ids, options: BulkOptions, *, now: datetime | None = None,
                  retry: bool = True) -> list[Outcome]:
    """Convert the leads `lead_ids` (in the caller's transaction, not committed): one outcome per
    distinct id, in their order. Refused leads are skipped with their reason before anything is
    written; when the chunk's write fails it is done again lead by lead (a savepoint each), and a
    lead whose own write fails is "failed" with the reason."""
    now = now or utcnow()
    chunk, works, outcomes = _prepare(session, actor, lead_ids, options, now, lock=True)
    if not works:
        return _ordered(lead_ids, outcomes)
    try:
        with session.begin_nested():
            Writer(chunk, works).run()
    except Exception as error:  # a constraint, a lead taken meanwhile...: one by one
        session.expire_all()
        if not retry:
            raise
        if len(works) == 1 and not isinstance(error, AlreadyConverted):
            outcomes.append(_failed(works[0].plan.lead.id, error))
        else:
            for w in works:
                outcomes += _one(session, actor, w.plan.lead.id, options, now)
        return _ordered(lead_ids, outcomes)
    outcomes += [Outcome(w.plan.lead.id, "converted", conversion_id=w.conversion_id, plan=w.plan) for w in works]
    return _ordered(lead_ids, outcomes)


def _one(session, actor, lead_id: int, options: BulkOptions, now) -> list[Outcome]:
    """One lead as a chunk of one, in its own savepoint (planned again: it sees what the leads
    before it wrote)."""
    try:
        with session.begin_nested():
            return convert_chunk(session, actor, [lead_id], options, now=now, retry=False)
    except Exception as error:
        session.expire_all()
        return [_failed(lead_id, error)]


def _failed(lead_id: int, error: Exception) -> Outcome:
    if isinstance(error, DomainError):
        return Outcome(lead_id, "failed", reason=reason_of(error), code=error.code)
    detail = " ".join(str(getattr(error, "orig", None) or error).split())[:300]
    return Outcome(lead_id, "failed", reason=Text("The conversion could not be saved: {error}", error=detail),
                   code="write_failed")


SUMMARY_EXAMPLES = 5


def summarize(session, actor, lead_ids, options: BulkOptions, chunk_size: int = 10_000) -> dict:
    """The bulk panel's dry run (C8.4): how many leads would create accounts, merge into existing
    ones (with a few named examples), create or merge contacts, be skipped and why."""
    out = {"total": 0, "converted": 0, "skipped": 0,
           "account": Counter(), "contact": Counter(), "deal": Counter(), "task": Counter(),
           "reasons": Counter(), "examples": {"account": [], "contact": []}}
    ids = list(dict.fromkeys(lead_ids))
    for start in range(0, len(ids), chunk_size):
        for outcome in plan_chunk(session, actor, ids[start:start + chunk_size], options, detailed=False):
            out["total"] += 1
            if outcome.outcome != "converted":
                out["skipped"] += 1
                # The reason itself (a Text): translated where it is shown, by its template.
                out["reasons"][outcome.reason] += 1
                continue
            out["converted"] += 1
            for p in outcome.plan.entities():
                out[p.entity][p.action] += 1
                examples = out["examples"].get(p.entity)
                if (examples is not None and p.action in ("merged", "linked") and p.record_id and p.record_id > 0
                        and len(examples) < SUMMARY_EXAMPLES):
                    examples.append({"lead_id": outcome.lead_id, "id": p.record_id, "name": p.label,
                                     "reason": p.reason})
    for key in ("account", "contact", "deal", "task", "reasons"):
        out[key] = dict(out[key])
    return out


__all__ = ["BulkOptions", "Outcome", "convert_chunk", "plan_chunk", "render_name", "summarize", "validate"]
