"""What each record kind is made of, and the one validator of a record's input.

`ENTITIES` lists, once per kind, its writable fields with their flags (required, set on
create only, a reference, database choices); each value's rules come from fields.py.
`clean()` is called by the services, whether the data comes from the JSON API (strict
types) or a form (text): unknown and read-only keys, types, lengths, references the actor
may not see, required and custom fields, the owner rule — every error in one pass.
Flask-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select

from . import permissions
from .errors import N_, Invalid, Problem, Text
from .fields import ID_SPEC, FieldError, FieldSpec, custom_spec, model_specs
from .models import (
    PARENT_TYPES,
    RECORD_MODELS,
    TASK_STATUSES,
    Account,
    Campaign,
    Contact,
    CurrencyRate,
    CustomField,
    Deal,
    Lead,
    LeadStatus,
    Note,
    Pipeline,
    Stage,
    Task,
    User,
)

READ_ONLY = ("id", "created_at", "updated_at")
NOTE_MAX = 10_000

# The kinds of record as a person reads them inside a sentence ("This {kind} ..."): each is a
# msgid, so a sentence's `kind` param (a Text, see noun()) is translated with the sentence.
NOUNS = {
    "lead": N_("lead"), "account": N_("account"), "contact": N_("contact"), "deal": N_("deal"),
    "task": N_("task"), "note": N_("note"), "attachment": N_("attachment"), "file": N_("file"),
    "campaign": N_("campaign"), "pipeline": N_("pipeline"), "team": N_("team"), "user": N_("user"),
    "conversion": N_("conversion"), "product": N_("product"),
}


def noun(name: str) -> str:
    """The kind `name` ("account") as a Text the reader's language translates ("compte"); an
    unknown name stays as it is."""
    return Text(NOUNS[name]) if name in NOUNS else name


@dataclass(frozen=True)
class Field:
    """One writable field. kind: "column" (its rules from the model column through fields.py),
    ref (an id of `ref`), enum (one of `choices`), currency, tags, custom."""

    name: str
    kind: str = "column"
    required: bool = False
    create_only: bool = False
    ref: Any = None
    choices: Any = None  # a tuple, or a callable(session) -> list[str] for database enums
    description: str | None = None
    max_length: int | None = None  # overrides the column's length
    nullable: bool | None = None  # None: from the column (NOT NULL columns refuse null)


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


def lead_statuses(session) -> list[str]:
    return list(session.scalars(select(LeadStatus.key).where(
        LeadStatus.category != "converted").order_by(LeadStatus.position)))


def currencies(session) -> list[str]:
    return list(session.scalars(select(CurrencyRate.code).order_by(CurrencyRate.code)))


def stages(session) -> list[str]:
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
                 Field("parent_id", "column", required=True, create_only=True)]
PARENT_FILTERS = [Filter("parent_type", type="enum", choices=PARENT_TYPES), Filter("parent_id")]

ENTITIES: dict[str, Entity] = {e.plural: e for e in [
    Entity("lead", "leads", Lead, [
        *_strs("salutation", "first_name", "last_name", "company", "title", "email", "phone",
               "mobile", "fax", "website", "skype", "linkedin", "twitter", "facebook", "industry",
               "annual_revenue", "employees", "lead_source"),
        Field("status", "enum", choices=lead_statuses, nullable=False,
              description="A lead status key; `converted` is reached only by a lead conversion."),
        *_strs("rating", "email_opt_out", "description", "street", "city", "state", "postal_code",
               "country"),
        Field("currency", "currency"), OWNER, TAGS, CUSTOM,
    ], filters=[Filter("status", type="enum", choices=lead_statuses), Filter("owner_id"),
                Filter("q", "q", "str"), Filter("converted", "converted", "bool"),
                Filter("tag", "tag", "str")],
        one_of=("last_name", "company"),
        extra_read_only={"converted": {"type": "boolean"},
                         "conversion_id": {"type": ["integer", "null"]}}),
    Entity("account", "accounts", Account, [
        Field("name", required=True), *_strs("industry", "website", "phone", "fax",
                                             "annual_revenue", "employees"),
        Field("parent_id", "ref", ref=Account),
        *_address("billing_"), *_address("shipping_"), OWNER, TAGS, CUSTOM,
    ], filters=RECORD_FILTERS),
    Entity("contact", "contacts", Contact, [
        *_strs("salutation", "first_name"), Field("last_name", required=True),
        *_strs("title", "email", "phone", "mobile", "fax", "skype", "linkedin", "twitter",
               "facebook", "lead_source", "email_opt_out", "description"), *_address("mailing_"),
        Field("account_id", "ref", ref=Account), OWNER, TAGS, CUSTOM,
    ], filters=[*RECORD_FILTERS, Filter("account_id")]),
    Entity("deal", "deals", Deal, [
        Field("name", required=True), Field("account_id", "ref", ref=Account),
        Field("contact_id", "ref", ref=Contact), Field("contact_role"),
        Field("pipeline_id", "ref", ref=Pipeline, description="Defaults to the default pipeline."),
        Field("stage", description="A stage of the deal's pipeline; defaults to its first stage."),
        Field("amount"), Field("currency", "currency"), Field("closing_date"),
        Field("lead_source"), Field("campaign_id", "ref", ref=Campaign), Field("rating"),
        OWNER, TAGS, CUSTOM,
    ], filters=[*RECORD_FILTERS, Filter("account_id"), Filter("contact_id"),
                Filter("stage", type="enum", choices=stages)]),
    Entity("task", "tasks", Task, [
        Field("subject", required=True), Field("due_date"),
        Field("status", "enum", choices=TASK_STATUSES, nullable=False), OWNER, *PARENT_FIELDS,
    ], filters=PARENT_FILTERS),
    Entity("note", "notes", Note, [Field("body", required=True, max_length=NOTE_MAX),
                                   *PARENT_FIELDS],
           filters=PARENT_FILTERS,
           extra_read_only={"author_id": {"type": ["integer", "null"]}}),
]}
BY_NAME: dict[str, Entity] = {e.name: e for e in ENTITIES.values()}


def choices_of(session, f: Field | Filter) -> list[str]:
    return list(f.choices(session) if callable(f.choices) else f.choices)


def spec_of(session, entity: Entity, f: Field) -> FieldSpec:
    """The FieldSpec that checks `f`'s values (choices loaded when they live in the database)."""
    if f.kind == "enum":
        return FieldSpec(f.name, f.name, "picklist", options=tuple(choices_of(session, f)))
    if f.kind == "currency":
        return model_specs(entity.model)[f.name].with_options(currencies(session))
    if f.kind == "tags":
        return FieldSpec("tags", "Tags", "tags")
    spec = model_specs(entity.model)[f.name]
    if f.max_length:
        spec = replace(spec, length=f.max_length)
    if f.create_only and spec.kind == "number":
        spec = replace(spec, minimum=1)  # parent ids
    return spec


def nullable(entity: Entity, f: Field) -> bool:
    """May the field be set to null (cleared)? Required fields and NOT NULL columns may not."""
    if f.required or f.kind in ("tags", "custom"):
        return False
    if f.nullable is not None:
        return f.nullable
    column = entity.model.__table__.c.get(f.name)
    return column is None or column.nullable


def custom_definitions(session, entity_name: str) -> dict[str, CustomField]:
    """{key: CustomField} of one entity, in form order."""
    return {cf.key: cf for cf in session.scalars(
        select(CustomField).where(CustomField.entity == entity_name)
        .order_by(CustomField.position, CustomField.id))}


@dataclass
class Cleaned:
    """A record's input once checked: column values, typed custom values, tags (None: untouched)."""

    values: dict
    custom: dict
    tags: list[str] | None
    errors: dict[str, list[Problem]]


def clean(session, actor, entity_name: str, data, current=None, *, strict: bool = False,
          definitions: dict[str, CustomField] | None = None) -> Cleaned:
    """Check a record's input (create, or update of `current`); never raises for bad values:
    the errors are on the result, so a service can add its own and refuse once."""
    entity = BY_NAME[entity_name]
    errors: dict[str, list[Problem]] = {}
    values: dict = {}
    if not isinstance(data, dict):
        return Cleaned({}, {}, None, {"body": [Problem("not_object")]})
    fields = entity.by_name
    read_only = set(READ_ONLY) | set(entity.extra_read_only)
    for key, raw in data.items():
        f = fields.get(key)
        if f is None:
            errors[key] = [Problem("read_only" if key in read_only else "unknown_field")]
        elif f.create_only and current is not None:
            errors[key] = [Problem("create_only")]
        elif f.kind != "custom":
            try:
                values[key] = _value(session, actor, entity, f, raw, current, strict)
            except FieldError as e:
                errors[key] = [e.problem]
    if current is None:
        for f in entity.fields:
            if f.required and values.get(f.name) is None and f.name not in errors:
                errors[f.name] = [Problem("required")]
    custom: dict = {}
    if "custom" in fields:
        defs = definitions if definitions is not None else custom_definitions(session, entity.name)
        custom = check_custom(defs, data.get("custom"), current is None, errors, strict)
    if entity.one_of and not any(f in errors for f in entity.one_of):
        merged = {f: values[f] if f in values else getattr(current, f, None) for f in entity.one_of}
        if not any(merged.values()):
            errors[entity.one_of[0]] = [Problem("one_of", others=", ".join(entity.one_of[1:]))]
    tags = values.pop("tags", None)
    return Cleaned(values, custom, tags, errors)


def check_value(session, actor, entity_name: str, name: str, raw, current=None, *,
                strict: bool = False):
    """One field's value, parsed and normalised; raises Invalid on `name` (for a service that
    takes a single value: a note's body, a task's subject)."""
    entity = BY_NAME[entity_name]
    try:
        return _value(session, actor, entity, entity.by_name[name], raw, current, strict)
    except FieldError as e:
        raise Invalid.on(name, e.problem) from None


def check_id(raw, name: str) -> int:
    """A required record id given in JSON (a lead_id); raises Invalid on `name`."""
    try:
        ident = ID_SPEC.parse(raw, strict=True)
    except FieldError as e:
        raise Invalid.on(name, e.problem) from None
    if ident is None:
        raise Invalid.on(name, Problem("required"))
    return ident


def raise_errors(errors: dict) -> None:
    """Raises Invalid with every field error, when there is any."""
    if errors:
        raise Invalid(errors=errors)


def _value(session, actor, entity: Entity, f: Field, raw, current, strict: bool):
    if f.kind == "ref":
        value = model_specs(entity.model)[f.name].parse(raw, strict=strict)
        if value is not None:
            _check_ref(session, actor, f, value, current)
    elif entity.name == "lead" and f.name == "status" and raw == "converted":
        raise FieldError("status_converted")
    else:
        value = spec_of(session, entity, f).parse(raw, strict=strict)
        if f.kind == "enum" and value is None and raw not in (None, ""):
            raise FieldError("not_choice", choices=", ".join(choices_of(session, f)))
    if value is None:
        if f.required:
            raise FieldError("required")
        if not nullable(entity, f):
            raise FieldError("not_null")
    return value


def _check_ref(session, actor, f: Field, ident: int, current) -> None:
    if f.ref is User:
        current_owner = getattr(current, "owner_id", None)
        problem = permissions.owner_problem(session, actor, ident, current_owner)
        if problem is not None:
            raise FieldError(problem.code, **problem.params)
        return
    obj = session.get(f.ref, ident)
    # A record the caller may not see is answered like a missing one: no leak of its existence.
    if obj is None or (f.ref in RECORD_MODELS.values() and not permissions.can_view(session, actor, obj)):
        raise FieldError("no_record", kind=noun(f.ref.__name__.lower()), id=ident)


def check_custom(defs: dict[str, CustomField], raw, create: bool, errors: dict,
                 strict: bool = False) -> dict:
    """Typed custom values by key; errors under "custom.<key>"."""
    typed: dict = {}
    if raw is not None and not isinstance(raw, dict):
        errors["custom"] = [Problem("not_object")]
        return typed
    for key, value in (raw or {}).items():
        definition = defs.get(key)
        if definition is None:
            errors[f"custom.{key}"] = [Problem("unknown_field")]
            continue
        try:
            typed[key] = custom_spec(definition).parse(value, strict=strict)
        except FieldError as e:
            errors[f"custom.{key}"] = [e.problem]
            continue
        if definition.required and typed[key] is None:
            errors[f"custom.{key}"] = [Problem("required")]
    if create:
        for key, definition in defs.items():
            if definition.required and typed.get(key) is None:
                errors.setdefault(f"custom.{key}", [Problem("required")])
    return typed
