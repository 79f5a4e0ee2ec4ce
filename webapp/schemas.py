"""The API's JSON shapes: a record as answered, and the JSON Schema of input and output.

Both are generated from the entity table (webapp/entities.py) and the field layer
(webapp/fields.py), which also validate the input: the document says what the server
enforces, with the same limits. Flask-free.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from .entities import (
    ENTITIES,
    READ_ONLY,
    Entity,
    Field,
    Filter,
    choices_of,
    custom_definitions,
    nullable,
    spec_of,
)
from .fields import INT_MAX, TAG_MAX, custom_spec, model_specs

__all__ = ["ENTITIES", "READ_ONLY", "Entity", "Field", "Filter", "choices_of", "field_schema",
           "filter_schema", "input_schema", "iso", "output_schema", "to_dict"]


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


def _or_null(schema: dict) -> dict:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    schema = {**schema, "type": [*kinds, "null"]}
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _custom_schema(session, entity: Entity, create: bool) -> dict:
    props, required = {}, []
    for cf in custom_definitions(session, entity.name).values():
        schema = custom_spec(cf).json_schema()
        props[cf.key] = {**(schema if cf.required else _or_null(schema)), "title": cf.label}
        if cf.required and create:
            required.append(cf.key)
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


# A custom value as answered (custom_values._typed): decimals as strings, dates ISO.
_CUSTOM_OUT = {"checkbox": {"type": "boolean"}, "number": {"type": "integer"}, "decimal": {"type": "string"},
               "date": {"type": "string", "format": "date"}}


def _custom_output_schema(session, entity: Entity) -> dict:
    """The custom values of a record as answered: only the keys that hold a value."""
    props = {cf.key: {**_CUSTOM_OUT.get(cf.type, {"type": "string"}), "title": cf.label}
             for cf in custom_definitions(session, entity.name).values()}
    return {"type": "object", "properties": props,
            "description": "Custom field key -> value (GET /custom-fields describes the fields); a field "
                           "without a value is absent."}


def field_schema(session, entity: Entity, f: Field, output: bool = False, create: bool = True) -> dict:
    """JSON Schema of one field, for input (what is accepted) or output (what is answered)."""
    if f.kind == "custom":
        return _custom_output_schema(session, entity) if output else _custom_schema(session, entity, create)
    if f.kind == "ref":
        schema = model_specs(entity.model)[f.name].json_schema()
    else:
        schema = spec_of(session, entity, f).json_schema()
    if output:
        schema = {k: v for k, v in schema.items() if k in ("type", "maxLength", "format")}
        if schema.get("type") == ["string", "number"]:
            schema = {"type": "string"}  # money is answered as a string
        if f.kind not in ("tags", "custom") and schema["type"] != "boolean":
            schema = _or_null(schema)
    elif nullable(entity, f):
        schema = _or_null(schema)
    if f.description:
        schema["description"] = f.description
    return schema


def input_schema(session, entity: Entity, create: bool) -> dict:
    """The request body of POST (create=True: required fields) or PATCH."""
    props = {f.name: field_schema(session, entity, f, create=create) for f in entity.fields
             if create or not f.create_only}
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    required = [f.name for f in entity.fields if f.required and (create or not f.create_only)]
    if create and "custom" in props and props["custom"].get("required"):
        required.append("custom")
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
