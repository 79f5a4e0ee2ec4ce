"""C7.5 "bad input is answered with the field and the reason, and nothing is written": ids,
integers, amounts and texts the database cannot hold never reach it, whoever calls the engine
(API, modal, bulk, rules), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from decimal import Decimal

import pytest

from webapp.conversion.errors import InvalidOptions, RecordNotFound
from webapp.conversion.executor import apply
from webapp.conversion.options import ConversionOptions
from webapp.conversion.planner import plan
from webapp.fields import INT_MAX
from webapp.services.custom_values import validate_custom

from .conftest import snapshot

HUGE = [2**31, 2**63, 2**64 + 1, 10**30]


# --- the options parser -------------------------------------------------------------------------
@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("body,key", [
    (lambda v: {"owner_id": v}, "owner_id"),
    (lambda v: {"account": {"action": "link", "id": v}}, "account.id"),
    (lambda v: {"contact": {"action": "link", "id": v}}, "contact.id"),
    (lambda v: {"account": {"parent_id": v}}, "account.parent_id"),
    (lambda v: {"deal": {"stage": "Won", "pipeline_id": v}}, "deal.pipeline_id"),
    (lambda v: {"deal": {"stage": "Won", "campaign_id": v}}, "deal.campaign_id"),
    (lambda v: {"deal": {"stage": "Won", "owner_id": v}}, "deal.owner_id"),
    (lambda v: {"task": {"subject": "Call", "owner_id": v}}, "task.owner_id"),
])
def test_c7_5_ids_out_of_the_integer_range_are_refused(body, key, value):
    with pytest.raises(InvalidOptions) as e:
        ConversionOptions.from_dict(body(value))
    assert e.value.errors[key] == [f"must be a whole number between 1 and {INT_MAX}"]


def test_c7_5_the_largest_id_is_accepted_by_the_parser():
    assert ConversionOptions.from_dict({"owner_id": INT_MAX}).owner_id == INT_MAX


BAD_TEXTS = [("a\x00b", "must not contain NUL characters"), ("lone \ud800", "is not valid Unicode text")]


@pytest.mark.parametrize("text,reason", BAD_TEXTS)
@pytest.mark.parametrize("body,key", [
    (lambda t: {"deal": {"stage": t}}, "deal.stage"),
    (lambda t: {"deal": {"stage": "Won", "name": t}}, "deal.name"),
    (lambda t: {"deal": {"stage": "Won", "contact_role": t}}, "deal.contact_role"),
    (lambda t: {"task": {"subject": t}}, "task.subject"),
])
def test_c7_5_nul_and_lone_surrogates_are_refused_in_every_text(body, key, text, reason):
    """PostgreSQL refuses NUL in text; a lone surrogate cannot even be encoded."""
    with pytest.raises(InvalidOptions) as e:
        ConversionOptions.from_dict(body(text))
    assert e.value.errors[key] == [reason]


@pytest.mark.parametrize("text,reason", BAD_TEXTS)
@pytest.mark.parametrize("body,key", [
    (lambda t: {"contact": {"fields": {"last_name": t}}}, "contact.last_name"),
    (lambda t: {"account": {"fields": {"custom": {"vat": t}}}}, "account.custom.vat"),
    (lambda t: {"lead": {"fields": {"custom.vat": t}}}, "lead.custom.vat"),
])
def test_c7_5_nul_and_lone_surrogates_in_fields_are_refused_by_the_plan(body, key, text, reason, custom_field,
                                                                         lead, sales, db):
    """The values of `fields` are checked by the field layer once the planner knows their field."""
    custom_field("account", "vat")
    custom_field("lead", "vat")
    with pytest.raises(InvalidOptions) as e:
        plan(db.session, sales, lead.id, ConversionOptions.parse(body(text)))
    assert e.value.errors[key] == [reason]


def test_c7_5_currency_must_be_ascii_letters():
    with pytest.raises(InvalidOptions) as e:
        ConversionOptions.from_dict({"deal": {"stage": "Won", "currency": "ÉÛR"}})
    assert "deal.currency" in e.value.errors


# --- through plan() / apply(): typed field values --------------------------------------------------
@pytest.fixture
def lead(make_lead, sales):
    return make_lead(owner_id=sales.id)


@pytest.mark.parametrize("body,key", [
    ({"account": {"fields": {"employees": 2**31}}}, "account.employees"),
    ({"account": {"fields": {"employees": 10**30}}}, "account.employees"),
    ({"account": {"fields": {"employees": -1}}}, "account.employees"),
    ({"account": {"fields": {"employees": "1e40"}}}, "account.employees"),
    ({"account": {"fields": {"annual_revenue": "-5"}}}, "account.annual_revenue"),
    ({"account": {"fields": {"annual_revenue": Decimal("1e20")}}}, "account.annual_revenue"),
    ({"contact": {"fields": {"owner_id": 2**31}}}, "contact.owner_id"),
    ({"contact": {"fields": {"owner_id": 2**64 + 1}}}, "contact.owner_id"),
    ({"contact": {"fields": {"owner_id": 0}}}, "contact.owner_id"),
    ({"deal": {"stage": "Won", "fields": {"owner_id": 10**12}}}, "deal.owner_id"),
    ({"lead": {"fields": {"employees": 2**31}}}, "lead.employees"),
    ({"lead": {"fields": {"description": "x\x00"}}}, "lead.description"),
])
def test_c7_5_integer_and_money_fields_are_bounded_nothing_written(body, key, lead, sales, db):
    """Integer columns are 32-bit in PostgreSQL, money is Numeric(16, 2): larger values are a 422."""
    before = snapshot(db)
    with pytest.raises(InvalidOptions) as e:
        apply(db.session, sales, lead.id, ConversionOptions.from_dict(body))
    db.session.rollback()
    assert key in e.value.errors and e.value.http_status == 422
    assert snapshot(db) == before


def test_c7_5_employees_at_the_integer_limit_is_stored(lead, sales, db):
    c = apply(db.session, sales, lead.id, ConversionOptions.from_dict(
        {"account": {"fields": {"employees": INT_MAX}}}))
    db.session.commit()
    from webapp.models import Account

    assert db.session.get(Account, c.account_id).employees == INT_MAX


@pytest.mark.parametrize("lead_id", [0, -1, 2**31, 2**63, 2**64 + 1, True, "1", None])
def test_lead_ids_no_column_can_hold_are_not_found(lead_id, sales, db):
    with pytest.raises(RecordNotFound):
        plan(db.session, sales, lead_id, ConversionOptions())


@pytest.mark.parametrize("key", ["", "k" * 256, "a\x00b", "lone \ud800", 12])
def test_c7_5_idempotency_key_the_column_cannot_hold_is_refused(key, lead, sales, db):
    before = snapshot(db)
    with pytest.raises(InvalidOptions) as e:
        apply(db.session, sales, lead.id, ConversionOptions(), key)
    db.session.rollback()
    assert "idempotency_key" in e.value.errors and snapshot(db) == before


@pytest.mark.parametrize("text,reason", BAD_TEXTS)
def test_c7_5_custom_text_values_refuse_nul(text, reason, custom_field, db):
    """records.validate_custom (shared by every edit form, the API and the planner) says why."""
    field = custom_field("contact", "vat")
    typed, errors = validate_custom(db.session, "contact", {"vat": text}, definitions={"vat": field})
    assert [str(m) for m in errors["custom.vat"]] == [reason]


def test_validate_custom_uses_the_definitions_it_is_given(custom_field, db):
    """Request 1: the planner holds the definitions; validate_custom need not query them again."""
    from sqlalchemy import event

    field = custom_field("contact", "vat")
    assert field.type == "text"  # loaded before counting
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        typed, errors = validate_custom(db.session, "contact", {"vat": "FR1", "nope": 1}, definitions={"vat": field})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert typed == {"vat": "FR1"} and list(errors) == ["custom.nope"]  # the wording is fields.py's
    assert statements == []
    # Without them it still loads them itself (the other callers).
    assert validate_custom(db.session, "contact", {"vat": "FR2"}) == ({"vat": "FR2"}, {})


def test_plan_reads_custom_definitions_once(custom_field, lead, sales, db):
    """Request 1: overrides of account, contact and deal custom fields add no definition query."""
    from sqlalchemy import event

    for entity in ("account", "contact", "deal", "lead"):
        custom_field(entity, "vat")
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    body = {"account": {"fields": {"custom.vat": "A"}}, "contact": {"fields": {"custom.vat": "C"}},
            "deal": {"stage": "Won", "fields": {"custom.vat": "D"}}, "lead": {"fields": {"custom.vat": "L"}}}
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        plan(db.session, sales, lead.id, ConversionOptions.from_dict(body))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    definition_queries = [s for s in statements if "FROM custom_fields" in s and "custom_field_values" not in s]
    assert len(definition_queries) == 1, definition_queries
