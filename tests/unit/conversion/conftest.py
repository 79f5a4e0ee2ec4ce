"""Helpers for the conversion domain tests: convert / preview a lead by options dict, snapshots."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.conversion.executor import apply
from webapp.conversion.options import ConversionOptions
from webapp.conversion.planner import plan
from webapp.models import CustomField, CustomFieldValue


@pytest.fixture
def convert(db):
    """convert(actor, lead, **options_dict) -> Conversion, committed (like a route would)."""

    def run(actor, lead, /, key=None, **body):
        try:
            conversion = apply(db.session, actor, lead.id, ConversionOptions.from_dict(body), key)
        except Exception:
            db.session.rollback()
            raise
        db.session.commit()
        return conversion

    return run


@pytest.fixture
def preview(db):
    """preview(actor, lead, **options_dict) -> ConversionPlan (nothing written)."""

    def run(actor, lead, /, **body):
        return plan(db.session, actor, lead.id, ConversionOptions.from_dict(body))

    return run


@pytest.fixture
def custom_field(db):
    """custom_field(entity, key, type="text", **kw) -> CustomField (committed)."""

    def make(entity, key, type="text", **kw):
        field = CustomField(entity=entity, key=key, label=kw.pop("label", key.upper()), type=type, **kw)
        db.session.add(field)
        db.session.commit()
        return field

    return make


@pytest.fixture
def set_value(db):
    """set_value(entity, record_id, key, value): a custom value through records.set_custom."""
    from webapp.services.custom_values import set_custom, validate_custom

    def put(entity, record_id, key, value):
        typed, errors = validate_custom(db.session, entity, {key: value})
        assert not errors, errors
        set_custom(db.session, entity, record_id, typed)
        db.session.commit()

    return put


def snapshot(db) -> dict:
    """Every row of every table, ordered: equal snapshots mean nothing was written."""
    out = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out


def custom_value(db, entity, record_id, key):
    row = db.session.scalar(select(CustomFieldValue).join(CustomField).where(
        CustomField.entity == entity, CustomField.key == key, CustomFieldValue.parent_id == record_id,
        CustomFieldValue.parent_type == entity))
    return None if row is None else (row.value_text if row.value_text is not None else row.value_number)


@pytest.fixture
def sales(users):
    return users["sales"]


@pytest.fixture
def make_account(make_account, sales):
    """Accounts owned by the sales user unless told otherwise (so that they may merge, C7.3)."""
    return lambda **kw: make_account(**{"owner_id": sales.id, **kw})


@pytest.fixture
def make_contact(make_contact, sales):
    """Contacts owned by the sales user unless told otherwise."""
    return lambda **kw: make_contact(**{"owner_id": sales.id, **kw})
