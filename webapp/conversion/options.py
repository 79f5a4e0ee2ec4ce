"""What the user asks for: ConversionOptions and its strict parser of the API body (api.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ..errors import N_, Problem, Text
from ..fields import ID_SPEC, FieldError, model_specs
from ..models import Deal, Task
from ..normalize import text_problem
from .errors import InvalidOptions

ACTIONS = ("auto", "create", "link", "none")
TARGETS = ("contact", "account", "deal")
ATTACHMENT_TARGETS = ("contact", "account", "deal")
ACTIVITY_TARGETS = ("contact", "account")


@dataclass
class EntityChoice:
    """Account or contact: auto (C4.3 rules), create, link (merge into `id`) or none."""

    action: str = "auto"
    id: int | None = None
    parent_id: int | None = None  # account only: "is a subsidiary of" (C2.3)
    # Override / complete the mapped values: standard keys ("last_name") and "custom.<key>".
    fields: dict = field(default_factory=dict)


@dataclass
class DealOptions:
    """C5.1: the deal to create (None on ConversionOptions means no deal)."""

    name: str | None = None
    pipeline_id: int | None = None
    stage: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    closing_date: date | None = None
    contact_role: str | None = None
    campaign_id: int | None = None
    owner_id: int | None = None
    fields: dict = field(default_factory=dict)


@dataclass
class TaskOptions:
    """C5.4: the follow-up task, linked to the contact and the deal."""

    subject: str = ""
    due_date: date | None = None
    owner_id: int | None = None


@dataclass
class LeadFields:
    """C7.4: lead fields filled from the conversion form, written on the lead before mapping."""

    fields: dict = field(default_factory=dict)  # standard keys ("industry") and "custom.<key>"


@dataclass
class ConversionOptions:
    """Every choice of one conversion; from_dict() parses the API body / the modal's dict."""

    account: EntityChoice = field(default_factory=EntityChoice)
    contact: EntityChoice = field(default_factory=EntityChoice)
    deal: DealOptions | None = None
    task: TaskOptions | None = None
    lead: LeadFields = field(default_factory=LeadFields)
    attachments_to: str = "contact"
    activities_to: str = "contact"
    tags_to: list[str] = field(default_factory=lambda: ["contact", "deal"])
    owner_id: int | None = None
    dry_run: bool = False
    # The modal (a person choosing): hidden duplicates are reported on the plan, not raised.
    interactive: bool = False
    # What parse() refused, {"deal.stage": ["is required"]}: plan() reports these together with
    # its own field errors in one InvalidOptions (never part of to_dict()).
    errors: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)
    # JSON (the API): `fields` values must have their JSON type (a form sends text).
    strict: bool = field(default=False, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data, strict: bool = False) -> ConversionOptions:
        """Parse the JSON body of POST /lead-conversions (lead_id is ignored); raises InvalidOptions
        with every error of the body (the planner's checks of `fields` are not run)."""
        options = cls.parse(data, strict)
        if options.errors:
            raise InvalidOptions(errors=options.errors)
        return options

    @classmethod
    def parse(cls, data, strict: bool = False) -> ConversionOptions:
        """Like from_dict, but the body's errors are kept on .errors (each refused value left at
        its default) instead of raised, so that plan() / apply() report them together with the
        checks that need the database (a bad e-mail in `fields`, an unknown pipeline...) in one
        InvalidOptions: validation in one pass. Raises only for a body that is not an object."""
        options = _Parser(strict).options(data)
        options.strict = strict
        return options

    def to_dict(self) -> dict:
        """JSON-ready and canonical (stored on the Conversion, hashed for idempotency)."""
        deal = None
        if self.deal is not None:
            d = self.deal
            deal = {"name": d.name, "pipeline_id": d.pipeline_id, "stage": d.stage,
                    "amount": None if d.amount is None else str(d.amount), "currency": d.currency,
                    "closing_date": d.closing_date.isoformat() if d.closing_date else None,
                    "contact_role": d.contact_role, "campaign_id": d.campaign_id,
                    "owner_id": d.owner_id, "fields": _json_fields(d.fields)}
        task = None
        if self.task is not None:
            task = {"subject": self.task.subject, "owner_id": self.task.owner_id,
                    "due_date": self.task.due_date.isoformat() if self.task.due_date else None}
        out = {
            "account": {"action": self.account.action, "id": self.account.id,
                        "parent_id": self.account.parent_id, "fields": _json_fields(self.account.fields)},
            "contact": {"action": self.contact.action, "id": self.contact.id,
                        "fields": _json_fields(self.contact.fields)},
            "deal": deal, "task": task, "attachments_to": self.attachments_to,
            "activities_to": self.activities_to, "tags_to": list(self.tags_to),
            "owner_id": self.owner_id, "dry_run": self.dry_run, "interactive": self.interactive,
        }
        if self.lead.fields:  # only when used: the canonical form (and hash) of older requests is kept
            out["lead"] = {"fields": _json_fields(self.lead.fields)}
        return out


def _json_fields(fields: dict) -> dict:
    return {key: _json_value(value) for key, value in sorted(fields.items())}


def _json_value(value):
    """A value as JSON holds it; `fields` keep what was sent (the planner refuses lists...),
    so nested values are converted too (a request hash of any body, never a 500)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


NOT_OBJECT = N_("must be an object or null")


class _Parser:
    """Collects every error before raising, so a form can show them all at once. `strict`: JSON,
    where a value has its JSON type and "" is no date, amount nor currency (a form's blank is none)."""

    def __init__(self, strict: bool = False):
        self.errors: dict[str, list[str]] = {}
        self.strict = strict

    def err(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def options(self, data) -> ConversionOptions:
        if not isinstance(data, dict):
            raise InvalidOptions(Text("The request body must be a JSON object."), {"body": [Problem("not_object")]})
        known = {"lead_id", "lead", "account", "contact", "deal", "task", "attachments_to", "activities_to",
                 "tags_to", "owner_id", "dry_run", "interactive"}
        for key in data:
            if key not in known:
                self.err(str(key), Text("is not a conversion option"))
        opts = ConversionOptions(
            account=self.entity(data.get("account"), "account"),
            contact=self.entity(data.get("contact"), "contact"),
            deal=self.deal(data.get("deal")),
            task=self.task(data.get("task")),
            lead=self.lead(data.get("lead")),
            attachments_to=self.choice(data, "attachments_to", ATTACHMENT_TARGETS, "contact"),
            activities_to=self.choice(data, "activities_to", ACTIVITY_TARGETS, "contact"),
            tags_to=self.tags_to(data.get("tags_to", ["contact", "deal"])),
            owner_id=self.int_id(data.get("owner_id"), "owner_id"),
            dry_run=self.boolean(data.get("dry_run", False), "dry_run"),
            interactive=self.boolean(data.get("interactive", False), "interactive"),
        )
        if opts.account.action == "none" and opts.contact.action == "none":
            self.err("contact.action", Text("an account or a contact must be created or linked (C1.1)"))
        opts.errors = self.errors
        return opts

    # --- pieces -------------------------------------------------------------------------
    def obj(self, value, key: str, allowed: set[str]) -> dict | None:
        """The object at `key`; None when null or absent (api.md: no deal, no task). Any other
        value, "" included, is refused like a wrong type ("not_object")."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.err(key, Problem("not_object", NOT_OBJECT))
            return None
        for k in value:
            if k not in allowed:
                self.err(f"{key}.{k}", Problem("unknown_option"))
        return value

    def entity(self, value, key: str) -> EntityChoice:
        allowed = {"action", "id", "fields"} | ({"parent_id"} if key == "account" else set())
        value = self.obj(value, key, allowed)
        if value is None:
            return EntityChoice()
        action = value.get("action", "auto")
        if action not in ACTIONS:
            self.err(f"{key}.action", Problem("not_choice", choices=", ".join(ACTIONS)))
            action = "auto"
        rid = self.int_id(value.get("id"), f"{key}.id")
        if action == "link" and value.get("id") is None:
            self.err(f"{key}.id", Text("is required to link to an existing record"))
        if rid is not None and action != "link":
            self.err(f"{key}.id", Text('is only used with action "link"'))
        return EntityChoice(action=action, id=rid,
                            parent_id=self.int_id(value.get("parent_id"), f"{key}.parent_id"),
                            fields=self.fields(value.get("fields"), key))

    def fields(self, value, key: str) -> dict:
        """Flat {field: value}: {"custom": {"vat": "x"}} becomes {"custom.vat": "x"}. The values
        are checked by the field layer once the planner knows which field each one fills."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.err(f"{key}.fields", Problem("not_object"))
            return {}
        out = {}
        for name, raw in value.items():
            if name == "custom":
                if not isinstance(raw, dict):
                    self.err(f"{key}.custom", Problem("not_object"))
                    continue
                for ckey, craw in raw.items():
                    if self.key_ok(ckey, f"{key}.custom"):
                        out[f"custom.{ckey}"] = craw
                continue
            if self.key_ok(name, f"{key}.fields"):
                out[name] = raw
        return out

    def key_ok(self, name, where: str) -> bool:
        """A key must be text that can be answered back (no NUL, no lone surrogate)."""
        if isinstance(name, str) and text_problem(name) is None:
            return True
        self.err(where, Problem("bad_key"))
        return False

    def lead(self, value) -> LeadFields:
        value = self.obj(value, "lead", {"fields"})
        return LeadFields(self.fields(value.get("fields"), "lead") if value else {})

    def deal(self, value) -> DealOptions | None:
        allowed = {"name", "pipeline_id", "stage", "amount", "currency", "closing_date", "contact_role",
                   "campaign_id", "owner_id", "fields"}
        value = self.obj(value, "deal", allowed)
        if value is None:
            return None
        deal = model_specs(Deal)
        stage = self.value(deal["stage"], value.get("stage"), "deal.stage")
        if not stage and "deal.stage" not in self.errors:
            self.err("deal.stage", Problem("required"))
        return DealOptions(
            name=self.value(deal["name"], value.get("name"), "deal.name"),
            pipeline_id=self.int_id(value.get("pipeline_id"), "deal.pipeline_id"),
            stage=stage,
            amount=self.value(deal["amount"], value.get("amount"), "deal.amount"),
            currency=self.value(deal["currency"], value.get("currency"), "deal.currency"),
            closing_date=self.value(deal["closing_date"], value.get("closing_date"), "deal.closing_date"),
            contact_role=self.value(deal["contact_role"], value.get("contact_role"), "deal.contact_role"),
            campaign_id=self.int_id(value.get("campaign_id"), "deal.campaign_id"),
            owner_id=self.int_id(value.get("owner_id"), "deal.owner_id"),
            fields=self.fields(value.get("fields"), "deal"),
        )

    def task(self, value) -> TaskOptions | None:
        value = self.obj(value, "task", {"subject", "due_date", "owner_id"})
        if value is None:
            return None
        task = model_specs(Task)
        subject = self.value(task["subject"], value.get("subject"), "task.subject")
        if not subject and "task.subject" not in self.errors:
            self.err("task.subject", Problem("required"))
        return TaskOptions(subject=subject or "",
                           due_date=self.value(task["due_date"], value.get("due_date"), "task.due_date"),
                           owner_id=self.int_id(value.get("owner_id"), "task.owner_id"))

    def value(self, spec, raw, key: str):
        """`raw` checked by the field layer (the rules of the column it fills), or None."""
        try:
            return spec.parse(raw, strict=self.strict)
        except FieldError as e:
            self.err(key, e.problem)
            return None

    def choice(self, data: dict, key: str, allowed: tuple, default: str) -> str:
        value = data.get(key, default)
        if value is None:
            return default
        if value not in allowed:
            self.err(key, Problem("not_choice", choices=", ".join(allowed)))
            return default
        return value

    def tags_to(self, value) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.err("tags_to", Problem("not_choice", choices=", ".join(TARGETS)))
            return []
        for i, target in enumerate(value):
            if target not in TARGETS:
                self.err(f"tags_to.{i}", Problem("not_choice", choices=", ".join(TARGETS)))
        return list(dict.fromkeys(v for v in value if v in TARGETS))

    def int_id(self, value, key: str) -> int | None:
        try:
            return ID_SPEC.parse(value, strict=True)
        except FieldError as e:
            self.err(key, e.problem)
            return None

    def boolean(self, value, key: str) -> bool:
        if not isinstance(value, bool):
            self.err(key, Problem("not_bool"))
            return False
        return value
