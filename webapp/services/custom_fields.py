"""Custom field definitions (issue 10, item 2): create, update, reorder, delete — what an
administrator changes, one service call per change, in the caller's transaction (the route
commits once), each change audited (area "custom_field"; the conversion mapping's pairs this
service adds or removes: area "conversion_mapping"). Flask-free.

The rules:
- A field belongs to one entity (lead, account, contact, deal) and has a key: a slug (a-z,
  digits, _; made from the label when not given), unique in its entity, never one of the
  entity's standard fields (webapp/entities.py, the model's columns); entity and key never
  change (values, the mapping and the API name the field by them).
- The type is one of models.FIELD_TYPES (api.md). `length` applies to the text types (text,
  textarea, email, phone, url), at most fields.CUSTOM_LENGTHS of the type (the default);
  `options` to picklists only: at least one, each trimmed, unique (case does not count), at
  most OPTION_MAX characters. `unique` (duplicate matching, C4.1 a/b) is for the types whose
  values identify a record; `carry_over` (C3.3) for lead fields only.
- Changing a type, shortening a length or removing picklist options is refused (Conflict) while
  existing values do not fit, saying how many records hold what ("12 leads hold a value longer
  than 20 characters"); when they all fit, a type change converts them (the field layer parses
  each one as the new type) in the same call.
- Deleting a field that holds values is refused unless `confirm`: the refusal says what it
  holds (records, the mapping's pairs); confirmed, its values and its mapping pairs go with it,
  in the same transaction. A lead field that an automation rule's conditions test is not
  deleted (change the rules first).
- "Also create on contact / account / deal and map it" (C3.3, seed 004): creating a lead field
  with `counterparts` creates each counterpart (same key, label, type, length, options, unique)
  and maps the lead field to it in the conversion mapping, in the same call.
- Positions are kept 0..n-1 per entity (form order); a new field goes last unless `position`
  says otherwise.

Values come as form text (strict=False) or JSON (strict=True, the API): every one goes through
the field layer (webapp/fields.py). Refusals are DomainErrors: Invalid (422, every field's
problem at once), Conflict (409, the state that prevents the change), NotFound, Forbidden;
nothing is written then.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import delete, func, select, tuple_, update

from .. import permissions
from ..conversion.mapping import SETTING_KEY, TARGET_ENTITIES, load_mapping
from ..entities import BY_NAME
from ..errors import N_, Conflict, Forbidden, Invalid, N_plural, NotFound, Problem, Text
from ..fields import CUSTOM_LENGTHS, INT_MAX, FieldError, FieldSpec, custom_spec, model_specs
from ..models import ENTITIES, FIELD_TYPES, AutomationRule, CustomField, CustomFieldValue, Setting
from . import audit
from .custom_values import _typed

AREA = "custom_field"
MAPPING_AREA = "conversion_mapping"
FIELDS = ("entity", "key", "label", "type", "length", "options", "required", "unique", "carry_over", "position")
CREATE_FIELDS = (*FIELDS, "counterparts")
FIXED = ("entity", "key")  # set on create only
LENGTH_TYPES = ("text", "textarea", "email", "phone", "url")
UNIQUE_TYPES = ("text", "email", "phone", "url", "number", "decimal", "date")
OPTIONS_MAX = 200  # options of one picklist
OPTION_MAX = CUSTOM_LENGTHS["picklist"]  # characters of one option
FIELDS_MAX = 500  # custom fields of one entity
KEY_RE = re.compile(r"[a-z][a-z0-9_]*")  # fullmatch
KEY_PATTERN = "^[a-z][a-z0-9_]*$"  # the same, as JSON Schema says it
# Where each type keeps its value (custom_field_values): a change within a storage converts.
STORAGE = {"text": "text", "textarea": "text", "email": "text", "phone": "text", "url": "text",
           "picklist": "text", "number": "number", "decimal": "number", "date": "date", "checkbox": "bool"}

# The types' names as people read them (the admin page, the refusals).
TYPE_LABELS = {
    "text": N_("Text"), "textarea": N_("Long text"), "number": N_("Whole number"), "decimal": N_("Decimal number"),
    "date": N_("Date"), "checkbox": N_("Checkbox"), "picklist": N_("Picklist"), "email": N_("E-mail"),
    "phone": N_("Phone"), "url": N_("Web address"),
}
RECORDS = {
    "lead": N_plural("{count} lead", "{count} leads"),
    "account": N_plural("{count} account", "{count} accounts"),
    "contact": N_plural("{count} contact", "{count} contacts"),
    "deal": N_plural("{count} deal", "{count} deals"),
}
PLURAL_NOUNS = {"lead": N_("leads"), "account": N_("accounts"), "contact": N_("contacts"), "deal": N_("deals")}

ADMIN_ONLY = N_("Your role lacks the “Administration” permission, which changing custom fields needs.")
KEY_FORMAT = N_("must start with a letter a–z and hold only letters a–z, digits and _")
KEY_TAKEN = N_("is already the key of another field of this entity")
KEY_STANDARD = N_("is the name of a standard field of {entities}: choose another key")
LABEL_TAKEN = N_("is already the label of another field of this entity")
LENGTH_ONLY_TEXT = N_("applies only to text, long text, e-mail, phone and web address fields")
OPTIONS_ONLY_PICKLIST = N_("apply only to picklists")
OPTIONS_REQUIRED = N_("must hold at least one option for a picklist")
OPTION_TWICE = N_("“{value}” appears twice (case does not count)")
UNIQUE_NOT_FOR = N_("does not apply to fields of the type “{type}”")
CARRY_OVER_LEAD = N_("applies only to lead fields")
COUNTERPARTS_LEAD = N_("only a lead field gets counterparts on accounts, contacts and deals")
COUNTERPART_TAKEN = N_("a field of {entity} already has the key “{key}”")
COUNTERPART_STANDARD = N_("“{key}” is a standard field of {entity}")
NOT_ENTITIES = N_("must be a list of: account, contact, deal")
COUNTERPART_TWICE = N_("names an entity twice")
TOO_MANY_FIELDS = N_("There are {max} custom fields on {entities} already: delete one before adding another.")
TOO_LONG_VALUES = N_plural("{records} holds a value longer than {max} characters",
                           "{records} hold a value longer than {max} characters")
NOT_OPTIONS = N_plural("{records} holds a value the options no longer include: {values}",
                       "{records} hold values the options no longer include: {values}")
NOT_TYPE = N_plural("{records} holds a value that does not fit the type “{type}”: it {reason}",
                    "{records} hold values that do not fit the type “{type}”: one {reason}")
CHECKBOX_VALUES = N_plural("{records} holds a value, and a checkbox field changes type only while it holds none",
                           "{records} hold values, and a checkbox field changes type only while it holds none")
NOTHING_CHANGED = N_("{reason}. Nothing was changed.")
HOLDS_VALUES = N_("“{label}” holds values on {records}: deleting the field deletes them too. Confirm to delete it.")
RULES_TEST = N_("Automation rules use “{label}”: {rules}. Change them before deleting the field.")


class Counted(Text):
    """A sentence with a singular and a plural form, chosen by its `count` param (ngettext in
    the reader's language when shown: i18n.translate calls translate())."""

    forms: tuple[str, str]

    def __new__(cls, forms: tuple[str, str], count: int, **params):
        self = super().__new__(cls, forms[0] if count == 1 else forms[1], count=count, **params)
        self.forms = forms
        return self

    def translate(self, gettext, write=None) -> str:
        # Imported at render time only: this module stays Flask-free.
        from flask_babel import get_translations

        params = {k: v.translate(gettext, write) if isinstance(v, Text) else write(v) if write else v
                  for k, v in self.params.items()}
        return get_translations().ngettext(*self.forms, self.params["count"]).format(**params)


def records(entity: str, count: int) -> Counted:
    """"12 leads", in the reader's language when shown."""
    return Counted(RECORDS[entity], count)


# ---------------------------------------------------------------- rights and reads


def require_admin(actor) -> None:
    """Raises Forbidden unless `actor` has the "admin" permission."""
    if not permissions.is_admin(actor):
        raise Forbidden(Text(ADMIN_ONLY))


def get_field(session, field_id) -> CustomField:
    """One definition by id; raises NotFound."""
    field = (session.get(CustomField, field_id)
             if isinstance(field_id, int) and not isinstance(field_id, bool) and 0 < field_id <= INT_MAX else None)
    if field is None:
        raise NotFound(Text("There is no custom field with id {id}.", id=field_id))
    return field


def ordered(session, entity: str) -> list[CustomField]:
    """The fields of `entity` in form order (position, then id)."""
    return list(session.scalars(select(CustomField).where(CustomField.entity == entity)
                                .order_by(CustomField.position, CustomField.id)))


def page(session, entity: str, after: int | None = None, limit: int = 50) -> tuple[list[CustomField], int | None]:
    """A keyset page of `entity`'s fields in form order, after the field `after` (an id); the id
    to continue after when there are more. One query."""
    stmt = select(CustomField).where(CustomField.entity == entity)
    anchor = None
    if after and 0 < after <= INT_MAX:
        anchor = session.execute(select(CustomField.position, CustomField.id).where(
            CustomField.id == after, CustomField.entity == entity)).first()
    if anchor is not None:
        stmt = stmt.where(tuple_(CustomField.position, CustomField.id) > tuple_(*anchor))
    rows = list(session.scalars(stmt.order_by(CustomField.position, CustomField.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def counts(session) -> dict[str, int]:
    """Custom fields per entity (one query)."""
    rows = session.execute(select(CustomField.entity, func.count()).group_by(CustomField.entity))
    return {entity: n for entity, n in rows}


def effective_length(field_type: str, length: int | None) -> int | None:
    """The length a field of `field_type` holds (None: the type has none)."""
    if field_type not in LENGTH_TYPES:
        return None
    return length or CUSTOM_LENGTHS[field_type]


def as_dict(field: CustomField) -> dict:
    """A definition as the API answers it (api.md Settings, plus id and position)."""
    return {"id": field.id, "entity": field.entity, "key": field.key, "label": field.label, "type": field.type,
            "length": effective_length(field.type, field.length),
            "options": list(field.options or []) if field.type == "picklist" else None,
            "required": bool(field.required), "unique": bool(field.unique), "carry_over": bool(field.carry_over),
            "position": field.position}


def _snapshot(field: CustomField) -> dict:
    data = as_dict(field)
    data.pop("id")
    return data


def _audit_key(field: CustomField) -> str:
    return f"{field.entity}.{field.key}"


def value_count(session, field: CustomField) -> int:
    """How many records hold a value of `field`."""
    return session.scalar(select(func.count()).select_from(CustomFieldValue)
                          .where(CustomFieldValue.field_id == field.id)) or 0


def standard_names(entity: str) -> set[str]:
    """The names `entity`'s standard fields take (columns, API fields, read-only ones)."""
    e = BY_NAME[entity]
    return set(e.model.__table__.columns.keys()) | set(e.by_name) | set(e.extra_read_only) | {"custom", "tags"}


# ---------------------------------------------------------------- values (the field layer)

KEY_SPEC = model_specs(CustomField)["key"]
LABEL_SPEC = model_specs(CustomField)["label"]
TYPE_SPEC = FieldSpec("type", "Type", "picklist", options=FIELD_TYPES)
ENTITY_SPEC = FieldSpec("entity", "Entity", "picklist", options=ENTITIES)
FLAG_SPEC = FieldSpec("flag", "Flag", "checkbox")
POSITION_SPEC = FieldSpec("position", "Position", "number", minimum=0, maximum=INT_MAX)
OPTION_SPEC = FieldSpec("option", "Option", "text", OPTION_MAX)
KEY_MAX = KEY_SPEC.length


def length_spec(field_type: str) -> FieldSpec:
    """A length of a `field_type` field: 1 to the type's storage maximum (fields.CUSTOM_LENGTHS)."""
    return FieldSpec("length", "Length", "number", minimum=1, maximum=CUSTOM_LENGTHS[field_type])


def _parse(spec: FieldSpec, raw, strict: bool, errors: dict, name: str, *, required: bool = False):
    if strict and isinstance(raw, str) and spec.length and len(raw) > spec.length:
        errors[name] = [Problem("too_long", max=spec.length)]  # as typed: what the JSON Schema says
        return None
    try:
        value = spec.parse(raw, strict=strict)
    except FieldError as e:
        errors[name] = [e.problem]
        return None
    if value is None and required:
        errors[name] = [Problem("required" if spec.kind != "checkbox" else "not_null")]
    return value


def _check_keys(data, allowed: tuple[str, ...], errors: dict) -> dict:
    if not isinstance(data, dict):
        raise Invalid(errors={"body": [Problem("not_object")]})
    for key in data:
        name = (key if isinstance(key, str) and key.isprintable() else "?")[:60]
        if key == "id":
            errors["id"] = [Problem("read_only")]
        elif key not in allowed:
            errors[name] = [Problem("unknown_field")]
    return data


def well_formed(key) -> bool:
    return isinstance(key, str) and 0 < len(key) <= KEY_MAX and KEY_RE.fullmatch(key) is not None


def key_from(label: str, taken) -> str:
    """A key made from `label` ("N° TVA" -> "n_tva"): ASCII letters, digits and _, starting with a
    letter, at most KEY_MAX characters, not in `taken` (a suffix _2, _3... when it is)."""
    ascii_ = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_).strip("_") or "field"
    if not base[0].isalpha():
        base = "f_" + base
    base = base[:KEY_MAX].rstrip("_")
    key, n = base, 1
    while key in taken:
        n += 1
        suffix = f"_{n}"
        key = base[:KEY_MAX - len(suffix)].rstrip("_") + suffix
    return key


def _options(raw, strict: bool, errors: dict) -> list[str] | None:
    """A picklist's options: a list (JSON) or one a line (a form's text); trimmed, unique."""
    if raw is None:
        return None
    if isinstance(raw, str) and not strict:
        raw = [line for line in raw.splitlines() if line.strip()]
    if not isinstance(raw, list):
        errors["options"] = [Problem("not_list")]
        return None
    if len(raw) > OPTIONS_MAX:
        errors["options"] = [Problem("too_many", max=OPTIONS_MAX)]
        return None
    out: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        value = _parse(OPTION_SPEC, item, True, errors, f"options.{i}", required=True)
        if value is None:
            continue
        if value.casefold() in seen:
            errors[f"options.{i}"] = [Problem("option_twice", OPTION_TWICE, value=value)]
            continue
        seen.add(value.casefold())
        out.append(value)
    return out


def _label_taken(session, entity: str, label: str, field_id: int | None) -> bool:
    folded = label.casefold()
    return any(other.casefold() == folded for fid, other in session.execute(
        select(CustomField.id, CustomField.label).where(CustomField.entity == entity)) if fid != field_id)


@dataclass
class Shape:
    """What a field holds: its type, length (None: no length) and options (None: not a picklist)."""

    type: str
    length: int | None
    options: list[str] | None


def _shape(data: dict, strict: bool, errors: dict, current: CustomField | None) -> Shape | None:
    """The type, length and options `data` asks for (on `current` when updating: what it does not
    name stays, a type change resets what the new type does not have)."""
    if "type" in data or current is None:
        field_type = _parse(TYPE_SPEC, data.get("type"), strict, errors, "type", required=True)
    else:
        field_type = current.type
    if field_type is None:
        return None
    length = None
    if field_type in LENGTH_TYPES:
        if data.get("length") is not None:
            length = _parse(length_spec(field_type), data["length"], strict, errors, "length")
        elif "length" not in data and current is not None and current.type in LENGTH_TYPES:
            # A length chosen for the old type carries over (within the new type's maximum);
            # the old type's default becomes the new type's default.
            old = effective_length(current.type, current.length)
            length = None if old == CUSTOM_LENGTHS[current.type] else min(old, CUSTOM_LENGTHS[field_type])
        length = length or CUSTOM_LENGTHS[field_type]
    elif data.get("length") not in (None, ""):
        errors["length"] = [Problem("length_only_text", LENGTH_ONLY_TEXT)]
    options = None
    if field_type == "picklist":
        if "options" in data or current is None or current.type != "picklist":
            options = _options(data.get("options"), strict, errors)
            if not options and "options" not in errors and not any(k.startswith("options.") for k in errors):
                errors["options"] = [Problem("required", OPTIONS_REQUIRED)]
        else:
            options = list(current.options or [])
    elif data.get("options") not in (None, "", []):
        errors["options"] = [Problem("options_only_picklist", OPTIONS_ONLY_PICKLIST)]
    return Shape(field_type, length, options)


def _flags(data: dict, strict: bool, errors: dict, entity: str | None, shape: Shape | None,
           current: CustomField | None) -> dict:
    values = {}
    for name in ("required", "unique", "carry_over"):
        if name in data:
            values[name] = _parse(FLAG_SPEC, data[name], strict, errors, name, required=True)
        elif current is None:
            values[name] = False
    unique = values.get("unique", current.unique if current is not None else False)
    if unique and shape is not None and shape.type not in UNIQUE_TYPES and "unique" not in errors:
        errors["unique"] = [Problem("unique_not_for", UNIQUE_NOT_FOR, type=Text(TYPE_LABELS[shape.type]))]
    if values.get("carry_over") and entity is not None and entity != "lead":
        errors["carry_over"] = [Problem("carry_over_lead", CARRY_OVER_LEAD)]
    return values


# ---------------------------------------------------------------- the conversion mapping


def _store_mapping(session, actor, before: dict, after: dict) -> None:
    """Save the conversion mapping (Setting "conversion_mapping"), one audit entry per entity changed."""
    row = session.get(Setting, SETTING_KEY)
    if row is None:
        row = Setting(key=SETTING_KEY, value={})
        session.add(row)
    # What else the setting keeps (e.g. per-layout pairs) stays as it is.
    stored = row.value if isinstance(row.value, dict) else {}
    row.value = {**stored, **{e: dict(after.get(e) or {}) for e in TARGET_ENTITIES}}
    for entity in TARGET_ENTITIES:
        audit.record(session, actor, MAPPING_AREA, entity, "updated", before.get(entity) or {}, after.get(entity) or {})


def _pairs_of(mapping: dict, field: CustomField) -> list[tuple[str, str, str]]:
    """The mapping's pairs (entity, source, target) naming `field`."""
    name = f"custom.{field.key}"
    out = []
    for entity, pairs in mapping.items():
        for src, tgt in (pairs or {}).items():
            if (field.entity == "lead" and src == name) or (field.entity == entity and tgt == name):
                out.append((entity, src, tgt))
    return out


def mapped_targets(session) -> dict[str, list[str]]:
    """{lead custom key: [target entity...]}: where the mapping sends each lead custom field."""
    out: dict[str, list[str]] = {}
    for entity, pairs in load_mapping(session).items():
        for src in pairs:
            if src.startswith("custom."):
                out.setdefault(src[len("custom."):], []).append(entity)
    return out


# ---------------------------------------------------------------- create


def _free_key(session, entity: str, key: str, errors: dict, name: str = "key") -> bool:
    if key in standard_names(entity):
        errors[name] = [Problem("key_standard", KEY_STANDARD, entities=Text(PLURAL_NOUNS[entity]))]
        return False
    if session.scalar(select(CustomField.id).where(CustomField.entity == entity, CustomField.key == key)):
        errors[name] = [Problem("key_taken", KEY_TAKEN)]
        return False
    return True


def _counterparts(session, raw, entity: str | None, key: str | None, strict: bool, errors: dict) -> list[str]:
    if raw in (None, []):
        return []
    if not isinstance(raw, list | tuple) or not all(isinstance(e, str) for e in raw):
        errors["counterparts"] = [Problem("not_list", NOT_ENTITIES)]
        return []
    wanted = list(dict.fromkeys(raw))
    if any(e not in TARGET_ENTITIES for e in wanted):
        errors["counterparts"] = [Problem("not_choice", choices=", ".join(TARGET_ENTITIES))]
        return []
    if len(wanted) != len(raw):
        errors["counterparts"] = [Problem("counterpart_twice", COUNTERPART_TWICE)]
        return []
    if entity is not None and entity != "lead":
        errors["counterparts"] = [Problem("counterparts_lead", COUNTERPARTS_LEAD)]
        return []
    if key is None:
        return wanted
    problems = []
    for target in wanted:
        if key in standard_names(target):
            problems.append(Problem("key_standard", COUNTERPART_STANDARD, key=key, entity=Text(PLURAL_NOUNS[target])))
        elif session.scalar(select(CustomField.id).where(CustomField.entity == target, CustomField.key == key)):
            problems.append(Problem("key_taken", COUNTERPART_TAKEN, key=key, entity=Text(PLURAL_NOUNS[target])))
    if problems:
        errors["counterparts"] = problems
    return wanted


def _insert(session, actor, entity: str, values: dict, position: int | None) -> CustomField:
    """Add a field at `position` (None: last), the others shifting; audited."""
    fields = ordered(session, entity)
    if len(fields) >= FIELDS_MAX:
        raise Conflict(Text(TOO_MANY_FIELDS, max=FIELDS_MAX, entities=Text(PLURAL_NOUNS[entity])),
                       code="too_many_fields")
    field = CustomField(entity=entity, **values)
    place = len(fields) if position is None else min(position, len(fields))
    fields.insert(place, field)
    session.add(field)
    _place(session, actor, fields, record=False)
    session.flush()
    audit.record(session, actor, AREA, _audit_key(field), "created", None, _snapshot(field))
    return field


def create(session, actor, data, *, strict: bool = False) -> CustomField:
    """A new field from {"entity", "key" (optional: made from the label), "label", "type",
    "length", "options", "required", "unique", "carry_over", "position", "counterparts" (lead
    fields: ["contact", ...])}. Counterparts are created and mapped in the same call. Raises
    Forbidden, Invalid, Conflict (too many fields)."""
    require_admin(actor)
    errors: dict = {}
    _check_keys(data, CREATE_FIELDS, errors)
    entity = _parse(ENTITY_SPEC, data.get("entity"), strict, errors, "entity", required=True)
    label = _parse(LABEL_SPEC, data.get("label"), strict, errors, "label", required=True)
    if label and entity and _label_taken(session, entity, label, None):
        errors["label"] = [Problem("label_taken", LABEL_TAKEN)]
    key = None
    raw_key = data.get("key")
    if strict and isinstance(raw_key, str) and not well_formed(raw_key):
        errors["key"] = [Problem("too_long", max=KEY_MAX) if len(raw_key) > KEY_MAX
                         else Problem("key_format", KEY_FORMAT)]
    elif raw_key not in (None, ""):
        key = _parse(KEY_SPEC, raw_key, strict, errors, "key")
        if key is not None and not well_formed(key):
            errors["key"] = [Problem("key_format", KEY_FORMAT)]
            key = None
        if key is not None and entity is not None and not _free_key(session, entity, key, errors):
            key = None
    elif label and entity:
        taken = set(session.scalars(select(CustomField.key).where(CustomField.entity == entity)))
        taken |= standard_names(entity)
        wanted = data.get("counterparts")
        for target in wanted if isinstance(wanted, list) else ():
            if target in TARGET_ENTITIES:
                taken |= standard_names(target)
                taken |= set(session.scalars(select(CustomField.key).where(CustomField.entity == target)))
        key = key_from(label, taken)
    shape = _shape(data, strict, errors, None)
    flags = _flags(data, strict, errors, entity, shape, None)
    position = _parse(POSITION_SPEC, data["position"], strict, errors, "position") if "position" in data else None
    counterparts = _counterparts(session, data.get("counterparts"), entity, key, strict, errors)
    if errors:
        raise Invalid(errors=errors)
    values = {"key": key, "label": label, "type": shape.type, "length": shape.length, "options": shape.options,
              **flags}
    field = _insert(session, actor, entity, values, position)
    if counterparts:
        mapping = load_mapping(session)
        before = {e: dict(p) for e, p in mapping.items()}
        for target in counterparts:
            _insert(session, actor, target, {**values, "required": False, "carry_over": False}, None)
            mapping.setdefault(target, {})[f"custom.{key}"] = f"custom.{key}"
        _store_mapping(session, actor, before, mapping)
    session.flush()
    return field


# ---------------------------------------------------------------- update


def _misfits(session, field: CustomField, shape: Shape) -> tuple[dict, list[tuple[int, object]]]:
    """Whether the saved values fit `shape`: ({"type"|"length"|"options": [sentence]} for those
    that do not, with how many records hold what; and the converted values [(value id, typed)]
    when the type changes and they all fit)."""
    same_type = shape.type == field.type
    old_length = effective_length(field.type, field.length)
    shorter = shape.length is not None and old_length is not None and shape.length < old_length
    fewer = (field.type == "picklist" and shape.type == "picklist"
             and bool(set(field.options or []) - set(shape.options or [])))
    if same_type and not shorter and not fewer:
        return {}, []
    v = CustomFieldValue
    where = v.field_id == field.id
    total = session.scalar(select(func.count()).select_from(v).where(where)) or 0
    if not total:
        return {}, []
    entity = field.entity
    if same_type:
        errors: dict = {}
        if shorter:
            n = session.scalar(select(func.count()).select_from(v).where(where, func.length(v.value_text) > shape.length))
            if n:
                errors["length"] = [Counted(TOO_LONG_VALUES, n, records=records(entity, n), max=shape.length)]
        if fewer:
            rows = session.execute(select(v.value_text, func.count()).where(where, v.value_text.not_in(shape.options))
                                   .group_by(v.value_text).order_by(func.count().desc(), v.value_text)).all()
            n = sum(c for _, c in rows)
            if n:
                shown = ", ".join(f"“{value}”" for value, _ in rows[:5]) + ("…" if len(rows) > 5 else "")
                errors["options"] = [Counted(NOT_OPTIONS, n, records=records(entity, n), values=shown)]
        return errors, []
    if "bool" in (STORAGE[field.type], STORAGE[shape.type]):
        return {"type": [Counted(CHECKBOX_VALUES, total, records=records(entity, total))]}, []
    # Another type: each value as the new type would read it (its text), through the field layer.
    new = custom_spec(CustomField(key=field.key, label=field.label, type=shape.type, length=shape.length,
                                  options=shape.options))
    converted: list[tuple[int, object]] = []
    refused: dict[str, list] = {}  # code -> [count, first problem]
    rows = session.execute(select(v.id, v.value_text, v.value_number, v.value_date).where(where)
                           .execution_options(yield_per=1000))
    for value_id, text, number, day in rows:
        typed = _typed(field.type, text, number, day)
        try:
            value = new.parse(None if typed is None else str(typed))
        except FieldError as e:
            seen = refused.setdefault(e.problem.code, [0, e.problem])
            seen[0] += 1
            continue
        converted.append((value_id, value))
    if not refused:
        return {}, converted
    sentences = []
    for code, (n, problem) in refused.items():
        if code == "too_long":
            sentences.append(("length", Counted(TOO_LONG_VALUES, n, records=records(entity, n), max=shape.length)))
        else:
            sentences.append(("type", Counted(NOT_TYPE, n, records=records(entity, n),
                                              type=Text(TYPE_LABELS[shape.type]), reason=problem)))
    errors = {}
    for name, sentence in sentences:
        errors.setdefault(name, []).append(sentence)
    return errors, []


def _convert(session, field: CustomField, converted: list[tuple[int, object]]) -> None:
    """Write the values of a field whose type changed (each already parsed as the new type)."""
    spec = custom_spec(field)
    updates = []
    for value_id, value in converted:
        row = {"id": value_id, "value_text": None, "value_number": None, "value_date": None,
               "value_norm": spec.norm(value)}
        if value is None:
            continue
        if field.type in ("number", "decimal"):
            row["value_number"] = value
        elif field.type == "date":
            row["value_date"] = value
        else:
            row["value_text"] = value
        updates.append(row)
    if updates:
        session.execute(update(CustomFieldValue), updates)
    emptied = [value_id for value_id, value in converted if value is None]
    if emptied:
        session.execute(delete(CustomFieldValue).where(CustomFieldValue.id.in_(emptied)))


def update_field(session, actor, field: CustomField, data, *, strict: bool = False) -> CustomField:
    """Change what `data` names: "label", "type", "length", "options", "required", "unique",
    "carry_over", "position" (entity and key never change). A change the saved values do not fit
    is a Conflict naming how many records hold what; a type change they fit converts them.
    Raises Forbidden, Invalid, Conflict."""
    require_admin(actor)
    errors: dict = {}
    _check_keys(data, FIELDS, errors)
    for name in FIXED:
        if name in data and data[name] != getattr(field, name):
            errors[name] = [Problem("create_only")]
    label = None
    if "label" in data:
        label = _parse(LABEL_SPEC, data["label"], strict, errors, "label", required=True)
        if label and _label_taken(session, field.entity, label, field.id):
            errors["label"] = [Problem("label_taken", LABEL_TAKEN)]
    shape = _shape(data, strict, errors, field)
    flags = _flags(data, strict, errors, field.entity, shape, field)
    position = _parse(POSITION_SPEC, data["position"], strict, errors, "position") if "position" in data else None
    if errors:
        raise Invalid(errors=errors)
    misfits, converted = _misfits(session, field, shape)
    if misfits:
        first = next(iter(misfits.values()))[0]
        raise Conflict(Text(NOTHING_CHANGED, reason=first), misfits, code="values_do_not_fit")
    before = _snapshot(field)
    if label:
        field.label = label
    type_changed = shape.type != field.type
    field.type, field.length, field.options = shape.type, shape.length, shape.options
    for name, value in flags.items():
        setattr(field, name, value)
    after = _snapshot(field)
    if type_changed and converted:
        _convert(session, field, converted)
        after["values converted"] = len(converted)
    session.flush()
    audit.record(session, actor, AREA, _audit_key(field), "updated", before, after)
    if position is not None:
        fields = [f for f in ordered(session, field.entity) if f is not field]
        fields.insert(min(position, len(fields)), field)
        _place(session, actor, fields, record=True)
        session.flush()
    return field


# ---------------------------------------------------------------- order


def _place(session, actor, fields: list[CustomField], *, record: bool) -> None:
    """Positions 0..n-1 in the order of `fields`; `record`: audit each field that moved."""
    for i, field in enumerate(fields):
        if field.position != i:
            if record and field.id is not None:
                audit.record(session, actor, AREA, _audit_key(field), "updated", {"position": field.position},
                             {"position": i})
            field.position = i


def move(session, actor, field: CustomField, offset: int) -> CustomField:
    """Move a field `offset` places (-1: up, 1: down), within its entity's ends."""
    require_admin(actor)
    fields = ordered(session, field.entity)
    index = fields.index(field)
    target = max(0, min(len(fields) - 1, index + offset))
    if target != index:
        fields.insert(target, fields.pop(index))
    _place(session, actor, fields, record=True)
    session.flush()
    return field


def reorder(session, actor, entity: str, keys, *, strict: bool = False) -> list[CustomField]:
    """Put `entity`'s fields in the order of `keys` (every key once). Raises Invalid."""
    require_admin(actor)
    errors: dict = {}
    entity = _parse(ENTITY_SPEC, entity, strict, errors, "entity", required=True)
    if errors:
        raise Invalid(errors=errors)
    fields = {f.key: f for f in ordered(session, entity)}
    if (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
            or sorted(keys) != sorted(fields) or len(set(keys)) != len(keys)):
        raise Invalid(errors={"keys": [Problem("not_choice", Text("must name every field of the entity once: "
                                                                  "{choices}"), choices=", ".join(fields))]})
    order = [fields[k] for k in keys]
    _place(session, actor, order, record=True)
    session.flush()
    return order


# ---------------------------------------------------------------- delete


@dataclass
class Holdings:
    """What a field holds: the records with a value, the mapping's pairs, the rules using it."""

    values: int
    pairs: list[tuple[str, str, str]]
    rules: list[str]

    @property
    def empty(self) -> bool:
        return not self.values and not self.pairs


def _rules_using(session, field: CustomField) -> list[str]:
    """Names of the automation rules whose conditions test this lead field, or whose deal
    fields set this deal field."""
    name = f"custom.{field.key}"
    out = []
    for rule in session.scalars(select(AutomationRule).order_by(AutomationRule.id)):
        if field.entity == "lead":
            if any(isinstance(c, dict) and c.get("field") == name for c in rule.conditions or []):
                out.append(rule.name)
        elif field.entity == "deal":
            deal = (rule.options or {}).get("deal")
            fields = deal.get("fields") if isinstance(deal, dict) else None
            if isinstance(fields, dict) and (name in fields or field.key in (fields.get("custom") or {})):
                out.append(rule.name)
    return out


def holdings(session, field: CustomField) -> Holdings:
    """What deleting `field` would take with it (the delete step's confirmation)."""
    return Holdings(value_count(session, field), _pairs_of(load_mapping(session), field),
                    _rules_using(session, field))


def delete_field(session, actor, field: CustomField, *, confirm: bool = False) -> Holdings:
    """Delete a field. While it holds values, only with `confirm` (a Conflict says what it
    holds otherwise); its values and the mapping's pairs naming it go with it. Refused
    (Conflict) while automation rules use it. Returns what was deleted."""
    require_admin(actor)
    held = holdings(session, field)
    if held.rules:
        raise Conflict(Text(RULES_TEST, label=field.label, rules=", ".join(held.rules)), code="field_in_use",
                       rules=len(held.rules))
    if held.values and not confirm:
        raise Conflict(Text(HOLDS_VALUES, label=field.label, records=records(field.entity, held.values)),
                       code="field_has_values", values=held.values, mapping_pairs=len(held.pairs))
    before = _snapshot(field)
    if held.values:
        before["values deleted"] = held.values
    session.execute(delete(CustomFieldValue).where(CustomFieldValue.field_id == field.id))
    if held.pairs:
        mapping = load_mapping(session)
        old = {e: dict(p) for e, p in mapping.items()}
        for entity, src, _tgt in held.pairs:
            mapping[entity].pop(src, None)
        _store_mapping(session, actor, old, mapping)
    entity = field.entity
    session.delete(field)
    session.flush()
    _place(session, actor, ordered(session, entity), record=False)
    session.flush()
    audit.record(session, actor, AREA, f"{entity}.{before['key']}", "deleted", before, None)
    return held
