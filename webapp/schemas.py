"""The API's field table: one spec per entity that both validates JSON input and emits JSON Schema.

Each `Entity` lists its fields once (name, kind, flags); string lengths come from the model
columns, so the API, its OpenAPI document and the database cannot drift apart. Flask-free:
functions take a session and the acting user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import String, select

from . import permissions
from .models import (
    PARENT_TYPES,
    RECORD_MODELS,
    TASK_STATUSES,
    Account,
    Campaign,
    Contact,
    CurrencyRate,
    Deal,
    Lead,
    LeadStatus,
    Note,
    Pipeline,
    Stage,
    Task,
    User,
)
from .records import TAG_MAX, clean_tags, custom_fields, validate_custom
from .services.activities import NOTE_MAX

INT_MAX = 2**31 - 1  # PostgreSQL `integer`: larger ids are refused, never sent to the database
MONEY_MAX = Decimal("99999999999999.99")  # Numeric(16, 2)
TEXT_MAX = 10_000  # Text columns (description...): the same bound as the forms
TAGS_MAX = 50
MONEY_PATTERN = r"^[0-9]{1,14}(\.[0-9]{1,2})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
READ_ONLY = ("id", "created_at", "updated_at")


class Invalid(Exception):
    """Validation failed: `errors` maps each field to its reasons (answered with 422)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("invalid input")
        self.errors = errors


@dataclass(frozen=True)
class Field:
    """One writable field. kind: str, text, email, phone, money, int, bool, date, currency,
    ref (an id of `ref`), enum (one of `choices`), tags, custom."""

    name: str
    kind: str = "str"
    required: bool = False
    create_only: bool = False
    ref: Any = None
    choices: Any = None  # a tuple, or a callable(session) -> list[str] for database enums
    description: str | None = None
    max_length: int | None = None  # overrides the column's length


@dataclass(frozen=True)
class Filter:
    """One list filter (query parameter): kind eq (a column), q (search), tag, converted."""

    name: str
    kind: str = "eq"
    type: str = "int"  # int, str, bool, enum
    choices: Any = None


@dataclass
class Entity:
    name: str  # singular: lead, account... (also parent_type and the permission prefix)
    plural: str
    model: Any
    fields: list[Field]
    filters: list[Filter] = field(default_factory=list)
    # At least one of these must hold a value (a lead needs a name or a company...).
    one_of: tuple[str, ...] = ()
    extra_read_only: dict[str, dict] = field(default_factory=dict)

    @property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @property
    def title(self) -> str:
        return self.name.title()

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.fields)


def _lead_statuses(session) -> list[str]:
    return list(session.scalars(select(LeadStatus.key).where(
        LeadStatus.category != "converted").order_by(LeadStatus.position)))


def _currencies(session) -> list[str]:
    return list(session.scalars(select(CurrencyRate.code).order_by(CurrencyRate.code)))


def _stages(session) -> list[str]:
    return sorted(set(session.scalars(select(Stage.name))))


def _strs(*names: str) -> list[Field]:
    return [Field(n) for n in names]


def _address(prefix: str) -> list[Field]:
    return _strs(*(f"{prefix}{part}" for part in ("street", "city", "state", "postal_code", "country")))


OWNER = Field("owner_id", "ref", ref=User, description="Defaults to the caller.")
TAGS = Field("tags", "tags")
CUSTOM = Field("custom", "custom")
RECORD_FILTERS = [Filter("q", "q", "str"), Filter("owner_id"), Filter("tag", "tag", "str")]
PARENT_FIELDS = [Field("parent_type", "enum", required=True, create_only=True, choices=PARENT_TYPES),
                 Field("parent_id", "int", required=True, create_only=True)]
PARENT_FILTERS = [Filter("parent_type", type="enum", choices=PARENT_TYPES), Filter("parent_id")]

ENTITIES: dict[str, Entity] = {e.plural: e for e in [
    Entity("lead", "leads", Lead, [
        *_strs("salutation", "first_name", "last_name", "company", "title"),
        Field("email", "email"), Field("phone", "phone"), Field("mobile", "phone"),
        Field("fax", "phone"),
        *_strs("website", "skype", "linkedin", "twitter", "facebook", "industry"),
        Field("annual_revenue", "money"), Field("employees", "int"), Field("lead_source"),
        Field("status", "enum", choices=_lead_statuses,
              description="A lead status key; `converted` is reached only by a lead conversion."),
        Field("rating"), Field("email_opt_out", "bool"), Field("description", "text"),
        *_strs("street", "city", "state", "postal_code", "country"),
        Field("currency", "currency"), OWNER, TAGS, CUSTOM,
    ], filters=[Filter("status", type="enum", choices=_lead_statuses), Filter("owner_id"),
                Filter("q", "q", "str"), Filter("converted", "converted", "bool"),
                Filter("tag", "tag", "str")],
        one_of=("last_name", "company"),
        extra_read_only={"converted": {"type": "boolean"},
                         "conversion_id": {"type": ["integer", "null"]}}),
    Entity("account", "accounts", Account, [
        Field("name", required=True), Field("industry"), Field("website"),
        Field("phone", "phone"), Field("fax", "phone"), Field("annual_revenue", "money"),
        Field("employees", "int"), Field("parent_id", "ref", ref=Account),
        *_address("billing_"), *_address("shipping_"), OWNER, TAGS, CUSTOM,
    ], filters=RECORD_FILTERS),
    Entity("contact", "contacts", Contact, [
        *_strs("salutation", "first_name"), Field("last_name", required=True), Field("title"),
        Field("email", "email"), Field("phone", "phone"), Field("mobile", "phone"),
        Field("fax", "phone"), *_strs("skype", "linkedin", "twitter", "facebook", "lead_source"),
        Field("email_opt_out", "bool"), Field("description", "text"), *_address("mailing_"),
        Field("account_id", "ref", ref=Account), OWNER, TAGS, CUSTOM,
    ], filters=[*RECORD_FILTERS, Filter("account_id")]),
    Entity("deal", "deals", Deal, [
        Field("name", required=True), Field("account_id", "ref", ref=Account),
        Field("contact_id", "ref", ref=Contact), Field("contact_role"),
        Field("pipeline_id", "ref", ref=Pipeline, description="Defaults to the default pipeline."),
        Field("stage", "enum", choices=_stages,
              description="A stage of the deal's pipeline; defaults to its first stage."),
        Field("amount", "money"), Field("currency", "currency"), Field("closing_date", "date"),
        Field("lead_source"), Field("campaign_id", "ref", ref=Campaign), Field("rating"),
        OWNER, TAGS, CUSTOM,
    ], filters=[*RECORD_FILTERS, Filter("account_id"), Filter("contact_id"),
                Filter("stage", type="enum", choices=_stages)]),
    Entity("task", "tasks", Task, [
        Field("subject", required=True), Field("due_date", "date"),
        Field("status", "enum", choices=TASK_STATUSES), OWNER, *PARENT_FIELDS,
    ], filters=PARENT_FILTERS),
    Entity("note", "notes", Note, [Field("body", "text", required=True, max_length=NOTE_MAX),
                                   *PARENT_FIELDS],
           filters=PARENT_FILTERS,
           extra_read_only={"author_id": {"type": ["integer", "null"]}}),
]}


def max_length(entity: Entity, f: Field) -> int | None:
    """The column's length (String(n)); TEXT_MAX for Text columns."""
    if f.kind not in ("str", "text", "email", "phone"):
        return None
    if f.max_length:
        return f.max_length
    column = entity.model.__table__.c[f.name]
    return column.type.length if isinstance(column.type, String) and column.type.length else TEXT_MAX


def choices_of(session, f: Field | Filter) -> list[str]:
    return list(f.choices(session) if callable(f.choices) else f.choices)


def _nullable(entity: Entity, f: Field) -> bool:
    if f.required or f.kind in ("bool", "tags", "custom", "currency"):
        return False
    if f.kind == "enum" and entity.name != "deal":
        return False  # lead and task statuses always hold a value
    return True


# ---------------------------------------------------------------- validation


def _text(value, limit: int) -> str | None:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > limit:
        raise ValueError(f"is at most {limit} characters")
    # PostgreSQL refuses NUL in text, and lone surrogates cannot be encoded: refuse both here.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text") from None
    return value.strip() or None


def _integer(value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be an integer")
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        raise ValueError("must be an integer")
    value = int(value)
    if not minimum <= value <= INT_MAX:
        raise ValueError(f"must be between {minimum} and {INT_MAX}")
    return value


def parse_money(value) -> Decimal:
    """A non-negative amount with at most 2 decimals, from a string or a JSON number."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError('must be a decimal amount, e.g. "1250.00"')
    if isinstance(value, str) and not re.fullmatch(MONEY_PATTERN, value):
        raise ValueError('must be a decimal amount >= 0 with at most 2 decimals, e.g. "1250.00"')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError('must be a decimal amount, e.g. "1250.00"') from None
    if not amount.is_finite():
        raise ValueError('must be a decimal amount, e.g. "1250.00"')
    # Bounds first: quantize() itself fails on numbers beyond the decimal context's precision.
    if amount < 0:
        raise ValueError("must be zero or more")
    if amount > MONEY_MAX:
        raise ValueError(f"must be at most {MONEY_MAX}")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("must have at most 2 decimals")
    return amount.quantize(Decimal("0.01"))


def parse_date(value) -> date:
    if not isinstance(value, str) or not re.fullmatch(DATE_PATTERN, value):
        raise ValueError("must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a valid date") from None


def _email(value, limit: int) -> str | None:
    value = _text(value, limit)
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise ValueError(f"is not a valid e-mail address ({e})") from None


def _phone(value, limit: int) -> str | None:
    value = _text(value, limit)
    if value is None:
        return None
    try:
        parsed = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        raise ValueError("is not a valid phone number, e.g. +33 1 23 45 67 89") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("has the wrong number of digits for a phone number")
    return value


def _ref(session, actor, f: Field, value) -> int:
    ident = _integer(value, 1)
    obj = session.get(f.ref, ident)
    if f.ref is User:
        if obj is None or not obj.active:
            raise ValueError(f"no active user with id {ident}")
        return ident
    label = f.ref.__name__.lower()
    # A record the caller may not see is answered like a missing one: no leak of its existence.
    if obj is None or (f.ref in RECORD_MODELS.values() and not permissions.can_view(session, actor, obj)):
        raise ValueError(f"no {label} with id {ident}")
    return ident


def _parse(session, actor, entity: Entity, f: Field, value):
    limit = max_length(entity, f)
    kind = f.kind
    if value is None:
        if not _nullable(entity, f):
            raise ValueError("is required" if f.required else "must not be null")
        return None
    if kind in ("str", "text"):
        out = _text(value, limit)
        if out is None and f.required:
            raise ValueError("is required")
        return out
    if kind == "email":
        return _email(value, limit)
    if kind == "phone":
        return _phone(value, limit)
    if kind == "money":
        return parse_money(value)
    if kind == "int":
        return _integer(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == "date":
        return parse_date(value)
    if kind == "currency":
        if not isinstance(value, str) or not re.fullmatch(CURRENCY_PATTERN, value):
            raise ValueError("must be an ISO 4217 code of 3 capital letters, e.g. EUR")
        known = _currencies(session)
        if value not in known:
            raise ValueError("is not a currency of this CRM: " + ", ".join(known))
        return value
    if kind == "ref":
        return _ref(session, actor, f, value)
    if kind == "enum":
        allowed = choices_of(session, f)
        if not isinstance(value, str) or value not in allowed:
            if entity.name == "lead" and value == "converted":
                raise ValueError("a lead becomes converted only through a lead conversion")
            raise ValueError("must be one of: " + ", ".join(allowed))
        return value
    if kind == "tags":
        if not isinstance(value, list):
            raise ValueError("must be a list of strings")
        if len(value) > TAGS_MAX:
            raise ValueError(f"at most {TAGS_MAX} tags")
        for tag in value:
            if isinstance(tag, str):
                _text(tag, TAG_MAX)
        return clean_tags(value)
    raise AssertionError(kind)


def validate(session, actor, entity: Entity, data, current=None) -> tuple[dict, dict, list[str] | None]:
    """(column values, custom values, tags or None) from a JSON object; PATCH when `current`.

    Raises Invalid with the reasons per field: unknown or read-only fields, wrong types,
    over-long strings, ids that do not exist, missing required fields.
    """
    errors: dict[str, list[str]] = {}
    values: dict = {}
    fields = entity.by_name
    read_only = set(READ_ONLY) | set(entity.extra_read_only)
    for key, raw in data.items():
        f = fields.get(key)
        if f is None:
            errors[key] = ["is read-only" if key in read_only else "is not a field of this record"]
            continue
        if f.create_only and current is not None:
            errors[key] = ["cannot be changed once the record exists"]
            continue
        if f.kind == "custom":
            continue
        try:
            values[key] = _parse(session, actor, entity, f, raw)
        except ValueError as e:
            errors[key] = [str(e)]
    if current is None:
        for f in entity.fields:
            if f.required and f.name not in data:
                errors.setdefault(f.name, ["is required"])
    custom: dict = {}
    if "custom" in fields:
        custom, custom_errors = validate_custom(session, entity.name, data.get("custom"),
                                                partial=current is not None)
        errors.update(custom_errors)
    if entity.one_of and not any(f in errors for f in entity.one_of):
        merged = {f: values[f] if f in values else getattr(current, f, None) for f in entity.one_of}
        if not any(merged.values()):
            errors[entity.one_of[0]] = ["at least one of " + ", ".join(entity.one_of) + " is required"]
    if errors:
        raise Invalid(errors)
    tags = values.pop("tags", None)
    return values, custom, tags


def check_owner(session, actor, owner_id: int | None) -> None:
    """An owner the caller may hand records to: anyone (scope all), their team, or themselves.

    Raises Invalid on owner_id otherwise: the caller would lose the record they create.
    """
    if owner_id is None or owner_id == actor.id:
        return
    scope = actor.role.scope if actor.role else "own"
    if scope == "all":
        return
    if scope == "team" and owner_id in permissions.team_user_ids(session, actor):
        return
    raise Invalid({"owner_id": ["you may only assign records to yourself"
                                + (" or your team" if scope == "team" else "")]})


# ---------------------------------------------------------------- output


def iso(value) -> str | None:
    """ISO 8601 with offset; SQLite hands back naive datetimes, which are UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value.isoformat()


def to_dict(entity: Entity, obj, tags: list[str] | None = None, custom: dict | None = None) -> dict:
    """The record as the API answers it: every field, money as strings, dates ISO."""
    out: dict = {"id": obj.id}
    for f in entity.fields:
        if f.kind == "tags":
            out["tags"] = tags or []
        elif f.kind == "custom":
            out["custom"] = custom or {}
        else:
            value = getattr(obj, f.name)
            if isinstance(value, Decimal):
                value = f"{value:.2f}"
            elif isinstance(value, date | datetime):
                value = iso(value)
            out[f.name] = value
    for name in entity.extra_read_only:
        out[name] = getattr(obj, name)
    out["created_at"] = iso(obj.created_at)
    out["updated_at"] = iso(obj.updated_at)
    return out


# ---------------------------------------------------------------- JSON Schema


def _custom_schema(session, entity: Entity) -> dict:
    props = {}
    for cf in custom_fields(session, entity.name):
        kind = cf.type
        if kind == "checkbox":
            schema = {"type": ["boolean", "null"]}
        elif kind == "number":
            schema = {"type": ["integer", "null"], "minimum": -(10**13) + 1, "maximum": 10**13 - 1}
        elif kind == "decimal":
            schema = {"type": ["string", "number", "null"]}
        elif kind == "date":
            schema = {"type": ["string", "null"], "format": "date"}
        elif kind == "picklist":
            schema = {"type": ["string", "null"], "enum": [*(cf.options or []), None]}
        else:
            limit = cf.length or (10000 if kind == "textarea" else 255)
            schema = {"type": ["string", "null"], "maxLength": limit}
            if kind == "email":
                schema["format"] = "email"
        props[cf.key] = {**schema, "title": cf.label}
    return {"type": "object", "properties": props, "additionalProperties": False}


def field_schema(session, entity: Entity, f: Field, output: bool = False) -> dict:
    """JSON Schema of one field, for input (what is accepted) or output (what is answered)."""
    kind = f.kind
    limit = max_length(entity, f)
    if kind in ("str", "text", "phone", "email"):
        schema: dict = {"type": "string", "maxLength": limit}
        if kind == "email" and not output:
            schema["format"] = "email"
        if not output:
            schema["pattern"] = "^[^\\u0000]*$"
    elif kind == "money":
        schema = ({"type": "string", "pattern": MONEY_PATTERN} if output else
                  {"type": ["string", "number"], "pattern": MONEY_PATTERN, "minimum": 0,
                   "maximum": float(MONEY_MAX)})
        schema["description"] = 'A decimal amount, e.g. "1250.00" (at most 2 decimals, >= 0).'
    elif kind == "int":
        schema = {"type": "integer", "minimum": 0, "maximum": INT_MAX}
    elif kind == "bool":
        schema = {"type": "boolean"}
    elif kind == "date":
        schema = {"type": "string", "format": "date"}
    elif kind == "currency":
        schema = {"type": "string", "pattern": CURRENCY_PATTERN}
        if not output:
            schema["enum"] = _currencies(session)
    elif kind == "ref":
        schema = {"type": "integer", "minimum": 1, "maximum": INT_MAX}
    elif kind == "enum":
        schema = {"type": "string"}
        if not output:
            schema["enum"] = choices_of(session, f)
    elif kind == "tags":
        schema = {"type": "array", "items": {"type": "string", "maxLength": TAG_MAX}}
        if not output:
            schema["maxItems"] = TAGS_MAX
            schema["items"]["pattern"] = "^[^\\u0000]*$"
    elif kind == "custom":
        schema = _custom_schema(session, entity) if not output else {"type": "object"}
    else:
        raise AssertionError(kind)
    if kind == "int" and f.create_only:
        schema["minimum"] = 1
    if output and kind not in ("tags", "custom", "bool"):
        schema["type"] = [schema["type"], "null"] if isinstance(schema["type"], str) else [*schema["type"], "null"]
    elif not output and _nullable(entity, f):
        schema["type"] = [schema["type"], "null"] if isinstance(schema["type"], str) else [*schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    if f.description:
        schema["description"] = f.description
    return schema


def input_schema(session, entity: Entity, create: bool) -> dict:
    """The request body of POST (create=True: required fields) or PATCH."""
    props = {f.name: field_schema(session, entity, f) for f in entity.fields
             if create or not f.create_only}
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    required = [f.name for f in entity.fields if f.required and (create or not f.create_only)]
    if create and required:
        schema["required"] = required
    if entity.one_of:
        schema["description"] = "At least one of " + ", ".join(entity.one_of) + " must be filled."
    return schema


def output_schema(session, entity: Entity) -> dict:
    props = {"id": {"type": "integer"}}
    props.update({f.name: field_schema(session, entity, f, output=True) for f in entity.fields})
    props.update(entity.extra_read_only)
    props["created_at"] = {"type": ["string", "null"], "format": "date-time"}
    props["updated_at"] = {"type": ["string", "null"], "format": "date-time"}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def filter_schema(session, f: Filter) -> dict:
    if f.type == "int":
        return {"type": "integer", "minimum": 1, "maximum": INT_MAX}
    if f.type == "bool":
        return {"type": "boolean", "default": False}
    if f.type == "enum":
        return {"type": "string", "enum": choices_of(session, f)}
    return {"type": "string", "maxLength": 200 if f.kind == "q" else TAG_MAX}
