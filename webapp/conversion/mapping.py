"""Field mapping (C3): the default table as data, the stored mapping, compatibility checks (C3.2),
carry-over custom fields (C3.3), and the pure builders of mapped values (C3.5)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import select

from ..entities import noun
from ..errors import N_, Problem, Text
from ..fields import FieldSpec, column_spec, custom_spec
from ..models import Account, Contact, CustomField, Deal, Lead, Setting

SETTING_KEY = "conversion_mapping"
ENTITY_MODELS = {"lead": Lead, "account": Account, "contact": Contact, "deal": Deal}
TARGET_ENTITIES = ("account", "contact", "deal")

_ADDRESS = ("street", "city", "state", "postal_code", "country")

# C3.1 (004's table, extended with 002's social fields). Company -> contact is the link to
# the account and company -> deal the default deal name: both are done by the planner.
DEFAULT_MAPPING: dict[str, dict[str, str]] = {
    "account": {
        "company": "name", "industry": "industry", "annual_revenue": "annual_revenue",
        "owner_id": "owner_id", "phone": "phone", "fax": "fax", "website": "website",
        "employees": "employees", **{a: f"billing_{a}" for a in _ADDRESS},
    },
    "contact": {
        **{f: f for f in ("salutation", "first_name", "last_name", "title", "lead_source", "owner_id",
                          "phone", "mobile", "fax", "email", "skype", "linkedin", "twitter", "facebook",
                          "email_opt_out", "description")},
        **{a: f"mailing_{a}" for a in _ADDRESS},
    },
    "deal": {"lead_source": "lead_source", "rating": "rating", "owner_id": "owner_id"},
}

# Columns the conversion (or the database) owns: never mapped from or to.
_SYSTEM = {"id", "created_at", "updated_at", "team_id", "email_norm", "name_norm", "name_rev_norm",
           "company_norm", "phone_e164", "converted", "conversion_id", "converted_at"}
_NOT_SOURCES = _SYSTEM | {"status", "currency"}
# Links and deal settings the conversion sets itself (C2.2, C2.3, C5).
_NOT_TARGETS = _SYSTEM | {"account_id", "contact_id", "parent_id", "pipeline_id", "stage", "currency",
                         "campaign_id"}
TEXTLIKE = ("text", "email", "phone", "url")
# Built once: every plan reads the definitions and the stored mapping.
_DEFINITIONS = select(CustomField).order_by(CustomField.position, CustomField.id)
_MAPPING = select(Setting.value).where(Setting.key == SETTING_KEY)
# C3.2: why a date / checkbox maps only to its own kind (one sentence each, for translation).
_SAME_KIND_ONLY = {"date": N_("a date maps only to a date"), "checkbox": N_("a checkbox maps only to a checkbox")}


def custom_definitions(session) -> dict[str, dict[str, CustomField]]:
    """Every custom field definition, {entity: {key: CustomField}} (one query)."""
    defs: dict[str, dict[str, CustomField]] = {e: {} for e in ENTITY_MODELS}
    for f in session.scalars(_DEFINITIONS):
        defs.setdefault(f.entity, {})[f.key] = f
    return defs


@cache
def _standard_specs(entity: str, source: bool) -> dict[str, FieldSpec]:
    excluded = _NOT_SOURCES if source else _NOT_TARGETS
    specs = {}
    for column in ENTITY_MODELS[entity].__table__.columns:
        if column.name in excluded:
            continue
        spec = column_spec(column)
        if spec is not None:
            specs[spec.name] = spec
    return specs


def field_specs(entity: str, defs: dict, *, source: bool) -> dict[str, FieldSpec]:
    """{name: FieldSpec} of the fields of `entity` that may be mapped from (source) or to."""
    specs = dict(_standard_specs(entity, source))
    for f in defs.get(entity, {}).values():
        spec = custom_spec(f)
        specs[spec.name] = spec
    return specs


def source_fields(session) -> dict[str, FieldSpec]:
    """The lead fields an administrator may map (standard and custom)."""
    return field_specs("lead", custom_definitions(session), source=True)


def target_fields(session, entity: str) -> dict[str, FieldSpec]:
    """The fields of account / contact / deal a lead field may be mapped to."""
    return field_specs(entity, custom_definitions(session), source=False)


def incompatibility(src: FieldSpec, tgt: FieldSpec) -> str | None:
    """Why `src` may not be mapped to `tgt` (C3.2), or None when the pair is allowed."""
    if src.kind.startswith("lookup:") or tgt.kind.startswith("lookup:"):
        return None if src.kind == tgt.kind else Text("a lookup maps only to a lookup of the same entity")
    if src.kind == "picklist":
        if tgt.kind != "picklist":
            return Text("a picklist maps only to a picklist")
        lacking = [o for o in src.options if o not in tgt.options]
        if lacking:
            return Text("the target picklist lacks the values: {values}", values=", ".join(lacking))
        return None
    if src.kind == "number":
        return None if tgt.kind in ("number", "decimal") else Text("a number maps only to a number")
    if src.kind == "decimal":
        return None if tgt.kind == "decimal" else Text("a decimal number maps only to a decimal field")
    if src.kind in ("date", "checkbox"):
        return None if tgt.kind == src.kind else Text(_SAME_KIND_ONLY[src.kind])
    if src.kind == "textarea":
        if tgt.kind != "textarea":
            return Text("a long text maps only to a long text")
    elif src.kind in TEXTLIKE:
        if tgt.kind not in ("text", "textarea", src.kind):
            return Text("a {kind} field maps only to a text or {kind} field", kind=src.kind)
    else:
        return Text("fields of type {kind} cannot be mapped", kind=src.kind)
    if (tgt.length or 0) < (src.length or 0):
        return Text("the target holds {target} characters, the lead field up to {source}",
                    target=tgt.length, source=src.length)
    return None


def load_mapping(session) -> dict[str, dict[str, str]]:
    """The stored mapping (Setting "conversion_mapping"), else the default table."""
    value = session.execute(_MAPPING).scalar()
    if not isinstance(value, dict):
        return {e: dict(m) for e, m in DEFAULT_MAPPING.items()}
    return {e: dict(value.get(e) or {}) for e in TARGET_ENTITIES}


def check_mapping(session, mapping, defs: dict | None = None) -> list[dict]:
    """Problems of a mapping: [{"entity", "source", "target", "reason"}]; empty when it is valid."""
    defs = defs if defs is not None else custom_definitions(session)
    if not isinstance(mapping, dict):
        return [{"entity": None, "source": None, "target": None, "reason": Problem("not_object")}]
    problems = []
    sources = field_specs("lead", defs, source=True)
    for entity, pairs in mapping.items():
        if entity not in TARGET_ENTITIES:
            problems.append({"entity": entity, "source": None, "target": None,
                             "reason": Text("is not account, contact or deal")})
            continue
        if not isinstance(pairs, dict):
            problems.append({"entity": entity, "source": None, "target": None,
                             "reason": Text("must be an object of lead field to field")})
            continue
        targets = field_specs(entity, defs, source=False)
        used: dict[str, str] = {}
        for src, tgt in pairs.items():
            problem = {"entity": entity, "source": src, "target": tgt}
            if src not in sources:
                problems.append({**problem, "reason": Text("{field} is not a lead field that can be mapped",
                                                           field=src)})
            elif not isinstance(tgt, str) or tgt not in targets:
                problems.append({**problem, "reason": Text("{field} is not a {entity} field that can be mapped to",
                                                           field=tgt, entity=noun(entity))})
            elif tgt in used:
                problems.append({**problem, "reason": Text("{field} is already mapped from {source}",
                                                           field=tgt, source=used[tgt])})
            else:
                reason = incompatibility(sources[src], targets[tgt])
                if reason:
                    problems.append({**problem, "reason": reason})
                used[tgt] = src
    return problems


def effective_mapping(session, mapping: dict, defs: dict) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The mapping a conversion applies: incompatible pairs dropped (and reported, C3.2) and
    carry-over lead custom fields added towards same-key custom fields (C3.3)."""
    problems = check_mapping(session, mapping, defs)
    bad = {(p["entity"], p["source"]) for p in problems}
    warnings = [Text("The mapping {source} → {entity}.{target} is not applied: {reason}.",
                     source=p["source"], entity=p["entity"], target=p["target"], reason=p["reason"])
                for p in problems]
    result: dict[str, dict[str, str]] = {}
    for entity in TARGET_ENTITIES:
        pairs = {s: t for s, t in (mapping.get(entity) or {}).items() if (entity, s) not in bad}
        taken = set(pairs.values())
        for key, f in defs.get("lead", {}).items():
            src, tgt = f"custom.{key}", f"custom.{key}"
            target = defs.get(entity, {}).get(key)
            if (f.carry_over and target is not None and src not in pairs and tgt not in taken
                    and incompatibility(custom_spec(f), custom_spec(target)) is None):
                pairs[src] = tgt
        result[entity] = pairs
    return result, warnings


def is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def build_values(lead, mapping: dict, entity: str, lead_custom: dict | None = None) -> dict:
    """{target field: value} for `entity` from the lead's non-empty mapped fields (pure)."""
    values = {}
    for src, tgt in (mapping.get(entity) or {}).items():
        if src.startswith("custom."):
            value = (lead_custom or {}).get(src[len("custom."):])
        else:
            value = getattr(lead, src, None)
        if not is_empty(value):
            values[tgt] = value
    return values


def fill_empty_only(current: dict, values: dict) -> dict:
    """C3.5: the values that go into a merged record: only where its field is empty.

    `current` holds the record's present values by the same keys; a checkbox that is off
    counts as empty only for a value that turns it on (opting out is never undone)."""
    fills = {}
    for key, value in values.items():
        have = current.get(key)
        if is_empty(value):
            continue
        if is_empty(have) or (have is False and value is True):
            fills[key] = value
    return fills
