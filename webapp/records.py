"""Record services shared by pages, API and domain: tags and custom field values on any record."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, select

from .normalize import norm_email, text_problem, words
from .models import CustomField, CustomFieldValue, Tag, Tagging

TAG_MAX = 60


def clean_tags(names) -> list[str]:
    """Trimmed, de-duplicated (case-insensitive) tag names in their first spelling; raises ValueError."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names or []:
        if not isinstance(name, str):
            raise ValueError("each tag must be a string")
        name = " ".join(name.split())
        if not name:
            continue
        if len(name) > TAG_MAX:
            raise ValueError(f"a tag is at most {TAG_MAX} characters")
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def get_tags(session, parent_type: str, parent_id: int) -> list[str]:
    return list(session.scalars(
        select(Tag.name).join(Tagging).where(
            Tagging.parent_type == parent_type, Tagging.parent_id == parent_id
        ).order_by(Tag.name)
    ))


def tags_for(session, parent_type: str, ids) -> dict[int, list[str]]:
    """Tags of many records in one query (for lists)."""
    result: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return result
    rows = session.execute(
        select(Tagging.parent_id, Tag.name).join(Tag).where(
            Tagging.parent_type == parent_type, Tagging.parent_id.in_(list(ids))
        ).order_by(Tag.name)
    )
    for pid, name in rows:
        result[pid].append(name)
    return result


def _tag(session, name: str) -> Tag:
    tag = session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        # Same tag whatever the case: reuse an existing spelling.
        for existing in session.scalars(select(Tag).where(Tag.name.ilike(name))):
            if existing.name.lower() == name.lower():
                return existing
        tag = Tag(name=name)
        session.add(tag)
        session.flush()
    return tag


def set_tags(session, parent_type: str, parent_id: int, names) -> list[str]:
    """Replace the record's tags; raises ValueError on a bad name."""
    names = clean_tags(names)
    session.execute(delete(Tagging).where(
        Tagging.parent_type == parent_type, Tagging.parent_id == parent_id))
    for name in names:
        session.add(Tagging(tag=_tag(session, name), parent_type=parent_type, parent_id=parent_id))
    session.flush()
    return names


def add_tags(session, parent_type: str, parent_id: int, names) -> list[str]:
    """Add tags to a record, keeping those it has; returns the names actually added."""
    have = {n.lower() for n in get_tags(session, parent_type, parent_id)}
    added = [n for n in clean_tags(names) if n.lower() not in have]
    for name in added:
        session.add(Tagging(tag=_tag(session, name), parent_type=parent_type, parent_id=parent_id))
    session.flush()
    return added


def custom_fields(session, entity: str) -> list[CustomField]:
    return list(session.scalars(
        select(CustomField).where(CustomField.entity == entity).order_by(CustomField.position, CustomField.id)
    ))


def parse_bool(raw) -> bool:
    """A checkbox value from JSON or a form ("true", "on", "0"...); raises ValueError."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return raw.lower() in ("true", "1", "yes", "on")
    raise ValueError("must be true or false")


def parse_custom_value(field: CustomField, raw):
    """The typed value for a custom field, or None when empty; raises ValueError with the reason."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = field.type
    if kind == "checkbox":
        return parse_bool(raw)
    if kind in ("number", "decimal"):
        if isinstance(raw, bool):
            raise ValueError("must be a number")
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError("must be a number") from None
        if not value.is_finite():
            raise ValueError("must be a number")
        if kind == "number" and value != value.to_integral_value():
            raise ValueError("must be a whole number")
        if abs(value) >= Decimal("1e13"):
            raise ValueError("is too large")
        return int(value) if kind == "number" else value
    if kind == "date":
        try:
            return raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD)") from None
    if not isinstance(raw, str):
        raise ValueError("must be text")
    value = raw.strip()
    limit = field.length or (10000 if kind == "textarea" else 255)
    if len(value) > limit:
        raise ValueError(f"is at most {limit} characters")
    if problem := text_problem(value):
        raise ValueError(problem)
    if kind == "picklist" and value not in (field.options or []):
        raise ValueError("must be one of: " + ", ".join(field.options or []))
    if kind == "email":
        from email_validator import EmailNotValidError, validate_email

        try:
            value = validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as e:
            raise ValueError(str(e)) from None
    return value


def _norm(field: CustomField, value) -> str | None:
    if value is None:
        return None
    if field.type == "email":
        return norm_email(value)
    if field.type == "phone":
        from .normalize import norm_phone

        return norm_phone(value) or " ".join(words(value))
    return " ".join(words(str(value)))[:255] or str(value)[:255]


def get_custom(session, parent_type: str, parent_id: int) -> dict:
    """{key: value} of the record's custom fields (JSON-ready: decimals as strings, dates ISO)."""
    rows = session.scalars(select(CustomFieldValue).where(
        CustomFieldValue.parent_type == parent_type, CustomFieldValue.parent_id == parent_id))
    return {row.field.key: _value_of(row) for row in rows}


def customs_for(session, parent_type: str, ids) -> dict[int, dict]:
    """Custom values of many records in one query (for lists): {id: {key: value}}."""
    result: dict[int, dict] = {i: {} for i in ids}
    if not ids:
        return result
    rows = session.scalars(select(CustomFieldValue).where(
        CustomFieldValue.parent_type == parent_type, CustomFieldValue.parent_id.in_(list(ids))))
    for row in rows:
        result.setdefault(row.parent_id, {})[row.field.key] = _value_of(row)
    return result


def _value_of(row: CustomFieldValue):
    kind = row.field.type
    if kind == "checkbox":
        return row.value_text == "true"
    if kind == "number":
        return None if row.value_number is None else int(row.value_number)
    if kind == "decimal":
        return None if row.value_number is None else str(row.value_number.normalize())
    if kind == "date":
        return row.value_date.isoformat() if row.value_date else None
    return row.value_text


def validate_custom(session, entity: str, values: dict | None, partial: bool = True,
                    definitions: dict[str, CustomField] | None = None) -> tuple[dict, dict]:
    """(typed values by key, errors by key). Unknown keys and bad values are errors.

    `definitions` ({key: CustomField} of `entity`) spares the query when the caller holds them."""
    fields = definitions if definitions is not None else {f.key: f for f in custom_fields(session, entity)}
    typed: dict = {}
    errors: dict[str, list[str]] = {}
    if values is not None and not isinstance(values, dict):
        return {}, {"custom": ["must be an object of field key to value"]}
    for key, raw in (values or {}).items():
        field = fields.get(key)
        if field is None:
            errors[f"custom.{key}"] = ["is not a custom field of this record"]
            continue
        try:
            typed[key] = parse_custom_value(field, raw)
        except ValueError as e:
            errors[f"custom.{key}"] = [str(e)]
    if not partial:
        for key, field in fields.items():
            if field.required and typed.get(key) is None:
                errors.setdefault(f"custom.{key}", ["is required"])
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
        row.value_norm = _norm(field, value if field.type != "checkbox" else row.value_text)
    session.flush()
