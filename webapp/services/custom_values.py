"""Custom field values on any record: definitions, typed values, their normalised keys
(custom_field_values.value_norm), read and written in one place (Flask-free). Values are
checked by the field layer (webapp/fields.py, webapp/entities.py)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from ..fields import custom_spec, parse_bool
from ..models import CustomField, CustomFieldValue

__all__ = ["custom_fields", "custom_norm", "custom_value", "customs_for", "get_custom", "parse_bool",
           "set_custom", "validate_custom"]


def custom_fields(session, entity: str) -> list[CustomField]:
    return list(session.scalars(
        select(CustomField).where(CustomField.entity == entity).order_by(CustomField.position, CustomField.id)
    ))


def custom_norm(field: CustomField, value) -> str | None:
    """The normalised key of a custom value (custom_field_values.value_norm)."""
    return custom_spec(field).norm(value)


def get_custom(session, parent_type: str, parent_id: int) -> dict:
    """{key: value} of the record's custom fields (JSON-ready: decimals as strings, dates ISO)."""
    rows = session.scalars(select(CustomFieldValue).where(
        CustomFieldValue.parent_type == parent_type, CustomFieldValue.parent_id == parent_id))
    return {row.field.key: custom_value(row) for row in rows}


def customs_for(session, parent_type: str, ids) -> dict[int, dict]:
    """Custom values of many records in one query (for lists): {id: {key: value}}."""
    result: dict[int, dict] = {i: {} for i in ids}
    if not ids:
        return result
    # Plain columns, not entities: a page of 50 records has ~100 values, and building (and
    # identity-mapping) a CustomFieldValue and its joined CustomField for each cost more
    # than the query.
    v = CustomFieldValue
    rows = session.execute(
        select(v.parent_id, CustomField.key, CustomField.type, v.value_text, v.value_number, v.value_date)
        .join(CustomField, CustomField.id == v.field_id)
        .where(v.parent_type == parent_type, v.parent_id.in_(list(ids))))
    for parent_id, key, kind, text, number, day in rows:
        result.setdefault(parent_id, {})[key] = _typed(kind, text, number, day)
    return result


def custom_value(row: CustomFieldValue):
    """A stored custom value, JSON-ready (decimals as strings, dates ISO)."""
    return _typed(row.field.type, row.value_text, row.value_number, row.value_date)


def _typed(kind: str, text, number, day):
    if kind == "checkbox":
        return text == "true"
    if kind == "number":
        return None if number is None else int(number)
    if kind == "decimal":
        # format "f": 10.000000 is "10", never str()'s "1E+1".
        return None if number is None else format(number.normalize(), "f")
    if kind == "date":
        return day.isoformat() if day else None
    return text


def validate_custom(session, entity: str, values: dict | None, partial: bool = True,
                    definitions: dict[str, CustomField] | None = None,
                    strict: bool = False) -> tuple[dict, dict]:
    """(typed values by key, errors by "custom.<key>"): the field layer's rules (entities.clean).

    `definitions` ({key: CustomField} of `entity`) spares the query when the caller holds them."""
    from ..entities import check_custom, custom_definitions

    defs = definitions if definitions is not None else custom_definitions(session, entity)
    errors: dict = {}
    typed = check_custom(defs, values, not partial, errors, strict)
    return typed, errors


def set_custom(session, parent_type: str, parent_id: int, typed: dict,
               definitions: dict[str, CustomField] | None = None) -> None:
    """Write already-validated custom values (None clears one); `definitions` as in validate_custom."""
    fields = definitions if definitions is not None else {f.key: f for f in custom_fields(session, parent_type)}
    existing = {row.field.key: row for row in session.scalars(select(CustomFieldValue).where(
        CustomFieldValue.parent_type == parent_type, CustomFieldValue.parent_id == parent_id))}
    for key, value in typed.items():
        field = fields[key]
        row = existing.get(key)
        if value is None:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            row = CustomFieldValue(field=field, parent_type=parent_type, parent_id=parent_id)
            session.add(row)
        row.value_text = row.value_number = row.value_date = None
        if field.type == "checkbox":
            row.value_text = "true" if value else "false"
        elif field.type in ("number", "decimal"):
            row.value_number = Decimal(value)
        elif field.type == "date":
            row.value_date = value
        else:
            row.value_text = value
        row.value_norm = custom_norm(field, value)
    session.flush()
