"""What the user asks for: ConversionOptions and its strict parser of the API body (api.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from .errors import InvalidOptions
from ..normalize import text_problem

ACTIONS = ("auto", "create", "link", "none")
TARGETS = ("contact", "account", "deal")
ATTACHMENT_TARGETS = ("contact", "account", "deal")
ACTIVITY_TARGETS = ("contact", "account")
MAX_AMOUNT = Decimal("1e14")
INT_MAX = 2**31 - 1  # ids are PostgreSQL `integer`: a larger one can exist nowhere


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

    @classmethod
    def from_dict(cls, data) -> ConversionOptions:
        """Parse the JSON body of POST /lead-conversions (lead_id is ignored); raises InvalidOptions."""
        return _Parser().options(data)

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
    out = {}
    for key, value in sorted(fields.items()):
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


class _Parser:
    """Collects every error before raising, so a form can show them all at once."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def err(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def options(self, data) -> ConversionOptions:
        if not isinstance(data, dict):
            raise InvalidOptions("The request body must be a JSON object.", {"body": ["must be an object"]})
        known = {"lead_id", "lead", "account", "contact", "deal", "task", "attachments_to", "activities_to",
                 "tags_to", "owner_id", "dry_run", "interactive"}
        for key in data:
            if key not in known:
                self.err(str(key), "is not a conversion option")
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
            self.err("contact.action", "an account or a contact must be created or linked (C1.1)")
        if self.errors:
            raise InvalidOptions(errors=self.errors)
        return opts

    # --- pieces -------------------------------------------------------------------------
    def obj(self, value, key: str, allowed: set[str]) -> dict | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.err(key, "must be an object or null")
            return None
        for k in value:
            if k not in allowed:
                self.err(f"{key}.{k}", "is not a known option")
        return value

    def entity(self, value, key: str) -> EntityChoice:
        allowed = {"action", "id", "fields"} | ({"parent_id"} if key == "account" else set())
        value = self.obj(value, key, allowed)
        if value is None:
            return EntityChoice()
        action = value.get("action", "auto")
        if action not in ACTIONS:
            self.err(f"{key}.action", "must be one of: " + ", ".join(ACTIONS))
            action = "auto"
        rid = self.int_id(value.get("id"), f"{key}.id")
        if action == "link" and value.get("id") is None:
            self.err(f"{key}.id", "is required to link to an existing record")
        if rid is not None and action != "link":
            self.err(f"{key}.id", 'is only used with action "link"')
        return EntityChoice(action=action, id=rid,
                            parent_id=self.int_id(value.get("parent_id"), f"{key}.parent_id"),
                            fields=self.fields(value.get("fields"), key))

    def fields(self, value, key: str) -> dict:
        """Flat {field: value}: {"custom": {"vat": "x"}} becomes {"custom.vat": "x"}."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.err(f"{key}.fields", "must be an object of field name to value")
            return {}
        out = {}
        for name, raw in value.items():
            if name == "custom":
                if not isinstance(raw, dict):
                    self.err(f"{key}.custom", "must be an object of custom field key to value")
                    continue
                for ckey, craw in raw.items():
                    out[f"custom.{ckey}"] = self.scalar(craw, f"{key}.custom.{ckey}")
                continue
            out[name] = self.scalar(raw, f"{key}.{name}")
        return out

    def scalar(self, value, key: str):
        # Decimal: the API parses JSON fractions exactly.
        if value is not None and not isinstance(value, str | int | float | bool | Decimal):
            self.err(key, "must be a text, number, boolean or null")
            return None
        if isinstance(value, str) and (problem := text_problem(value)):
            self.err(key, problem)
            return None
        return value

    def lead(self, value) -> LeadFields:
        value = self.obj(value, "lead", {"fields"})
        return LeadFields(self.fields(value.get("fields"), "lead") if value else {})

    def deal(self, value) -> DealOptions | None:
        allowed = {"name", "pipeline_id", "stage", "amount", "currency", "closing_date", "contact_role",
                   "campaign_id", "owner_id", "fields"}
        value = self.obj(value, "deal", allowed)
        if value is None:
            return None
        stage = self.text(value.get("stage"), "deal.stage", 100)
        if not stage and "deal.stage" not in self.errors:
            self.err("deal.stage", "is required")
        currency = self.text(value.get("currency"), "deal.currency", 3)
        if currency is not None:
            if len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
                self.err("deal.currency", "must be a 3-letter ISO code such as EUR")
            currency = currency.upper()
        return DealOptions(
            name=self.text(value.get("name"), "deal.name", 255),
            pipeline_id=self.int_id(value.get("pipeline_id"), "deal.pipeline_id"),
            stage=stage,
            amount=self.amount(value.get("amount"), "deal.amount"),
            currency=currency,
            closing_date=self.date(value.get("closing_date"), "deal.closing_date"),
            contact_role=self.text(value.get("contact_role"), "deal.contact_role", 100),
            campaign_id=self.int_id(value.get("campaign_id"), "deal.campaign_id"),
            owner_id=self.int_id(value.get("owner_id"), "deal.owner_id"),
            fields=self.fields(value.get("fields"), "deal"),
        )

    def task(self, value) -> TaskOptions | None:
        value = self.obj(value, "task", {"subject", "due_date", "owner_id"})
        if value is None:
            return None
        subject = self.text(value.get("subject"), "task.subject", 255)
        if not subject and "task.subject" not in self.errors:
            self.err("task.subject", "is required")
        return TaskOptions(subject=subject or "", due_date=self.date(value.get("due_date"), "task.due_date"),
                           owner_id=self.int_id(value.get("owner_id"), "task.owner_id"))

    def choice(self, data: dict, key: str, allowed: tuple, default: str) -> str:
        value = data.get(key, default)
        if value is None:
            return default
        if value not in allowed:
            self.err(key, "must be one of: " + ", ".join(allowed))
            return default
        return value

    def tags_to(self, value) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or any(v not in TARGETS for v in value):
            self.err("tags_to", "must be a list of: " + ", ".join(TARGETS))
            return []
        return list(dict.fromkeys(value))

    def int_id(self, value, key: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.err(key, "must be a positive integer id or null")
            return None
        if value > INT_MAX:
            self.err(key, f"is out of range: no id is above {INT_MAX}")
            return None
        return value

    def boolean(self, value, key: str) -> bool:
        if not isinstance(value, bool):
            self.err(key, "must be true or false")
            return False
        return value

    def text(self, value, key: str, limit: int) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.err(key, "must be text")
            return None
        value = value.strip()
        if len(value) > limit:
            self.err(key, f"is at most {limit} characters")
        elif problem := text_problem(value):
            self.err(key, problem)
            return None
        return value or None

    def amount(self, value, key: str) -> Decimal | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            self.err(key, "must be a decimal number such as \"1250.00\"")
            return None
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.err(key, "must be a decimal number such as \"1250.00\"")
            return None
        if not amount.is_finite():
            self.err(key, "must be a decimal number such as \"1250.00\"")
            return None
        if amount < 0:
            self.err(key, "must not be negative")
            return None
        if amount >= MAX_AMOUNT:
            self.err(key, "is too large")
            return None
        if amount != amount.quantize(Decimal("0.01")):
            self.err(key, "has at most 2 decimals")
            return None
        return amount.quantize(Decimal("0.01"))

    def date(self, value, key: str) -> date | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.err(key, "must be a date (YYYY-MM-DD)")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.err(key, "must be a date (YYYY-MM-DD)")
            return None
