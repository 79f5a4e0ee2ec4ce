"""POST /api/v1/lead-conversions with the engine follow-ups (issue 4): the "lead" part (C7.4),
exact decimals without a shim, C4.8 with an explicit "create", and bad input that must be a 422,
never a 500 (C7.5), with nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.api.test_conversions_api import (
    EXPECTED_CONVERT,
    ROLES,
    URL,
    assert_error,
    counts,
    post,
    tokens,  # noqa: F401 — a fixture
)
from webapp.models import Account, Conversion, CustomField, Deal, Lead, Role
from webapp.services.custom_values import get_custom


@pytest.fixture
def sales_lead(users, make_lead):
    return make_lead(owner_id=users["sales"].id, team_id=users["sales"].team_id)


@pytest.fixture
def vat_required(db):
    """A required lead custom field no target has: only the "lead" part can fill it (C7.4)."""
    db.session.add(CustomField(entity="lead", key="vat", label="VAT", type="text", required=True))
    db.session.commit()


def raw_post(client, headers, text: str):
    return client.post(URL, data=text, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("role", ROLES)
def test_c7_4_lead_fields_fill_a_required_lead_field_by_role(client, db, tokens, sales_lead, vat_required, role):  # noqa: F811
    before = counts(db)
    response = post(client, tokens[role], {"lead_id": sales_lead.id, "lead": {"fields": {"custom": {"vat": "FR42"}}}})
    assert response.status_code == EXPECTED_CONVERT[role], response.get_data(as_text=True)
    if response.status_code == 201:
        body = response.get_json()
        assert body["fields_written"]["lead"] == {"custom.vat": "FR42"}
        assert get_custom(db.session, "lead", sales_lead.id) == {"vat": "FR42"}
        conversion = db.session.get(Conversion, body["id"])
        assert conversion.previous_values["lead"] == {"custom.vat": None}
    else:
        assert counts(db) == before and get_custom(db.session, "lead", sales_lead.id) == {}


def test_c7_4_without_the_lead_part_the_required_field_is_named(client, db, tokens, sales_lead, vat_required):  # noqa: F811
    before = counts(db)
    assert_error(post(client, tokens["sales"], {"lead_id": sales_lead.id}), 422, "lead.custom.vat")
    assert counts(db) == before


def test_c8_7_dry_run_with_lead_fields_writes_nothing(client, db, tokens, sales_lead, vat_required):  # noqa: F811
    response = post(client, tokens["sales"], {"lead_id": sales_lead.id, "dry_run": True,
                                              "lead": {"fields": {"custom.vat": "FR1", "industry": "IT"}}})
    assert response.status_code == 200
    assert response.get_json()["fields_written"] == {"lead": {"custom.vat": "FR1", "industry": "IT"}}
    db.session.expire_all()
    assert db.session.get(Lead, sales_lead.id).industry != "IT" and count_conversions(db) == 0


def count_conversions(db) -> int:
    return db.session.query(Conversion).count()


@pytest.mark.parametrize("payload,field", [
    ({"lead": {"fields": {"employees": 2**31}}}, "lead.employees"),
    ({"lead": {"fields": {"owner_id": 1}}}, "lead.owner_id"),
    ({"lead": {"fields": {"email": "nope"}}}, "lead.email"),
    ({"lead": {"bogus": 1}}, "lead.bogus"),
    ({"lead": {"fields": {"custom": {"vat": "a\u0000b"}}}}, "lead.custom.vat"),
])
def test_c7_5_bad_lead_fields_are_422(client, db, tokens, sales_lead, vat_required, payload, field):  # noqa: F811
    before = counts(db)
    assert_error(post(client, tokens["sales"], {"lead_id": sales_lead.id, **payload}), 422, field)
    assert counts(db) == before


def test_openapi_documents_the_lead_part(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    lead = doc["components"]["schemas"]["LeadConversionRequest"]["properties"]["lead"]
    assert "fields" in lead["properties"] and "C7.4" in lead["description"]


# --- decimals: no shim, exact -----------------------------------------------------------------------
def test_json_fractions_stay_exact(client, db, tokens, sales_lead):  # noqa: F811
    """Request 4: JSON numbers arrive as Decimal and are used as such (0.1 + 0.2 stays 0.30)."""
    response = raw_post(client, tokens["sales"], (
        f'{{"lead_id": {sales_lead.id}, "deal": {{"stage": "Qualification", "amount": 1250.1, "currency": "EUR"}},'
        ' "account": {"fields": {"annual_revenue": 0.30}}}'))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert db.session.get(Deal, body["deal"]["id"]).amount == Decimal("1250.10")
    assert db.session.get(Account, body["account"]["id"]).annual_revenue == Decimal("0.30")
    assert body["created_at"].endswith("+00:00")


# --- never a 500 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fragment,field", [
    ('"contact": {"fields": {"last_name": "\\ud800"}}', "contact.last_name"),
    ('"deal": {"stage": "\\udfff"}', "deal.stage"),
    ('"contact": {"fields": {"custom": {"\\ud800": "x"}}}', "contact.custom"),
    ('"tags_to": ["\\ud800"]', "tags_to.0"),
    ('"lead": {"fields": {"industry": "\\ud83d"}}', "lead.industry"),
])
def test_c7_5_lone_surrogates_are_422_not_500(client, db, tokens, sales_lead, fragment, field):  # noqa: F811
    """Valid JSON, but no database (and not the schema validator) can encode a lone surrogate."""
    before = counts(db)
    response = raw_post(client, tokens["sales"], f'{{"lead_id": {sales_lead.id}, {fragment}}}')
    assert_error(response, 422, field)
    assert counts(db) == before


@pytest.mark.parametrize("payload,field", [
    ({"account": {"fields": {"employees": 2**31}}}, "account.employees"),
    ({"account": {"fields": {"employees": 10**25}}}, "account.employees"),
    ({"contact": {"fields": {"owner_id": 2**40}}}, "contact.owner_id"),
    ({"deal": {"stage": "Won", "fields": {"owner_id": -3}}}, "deal.owner_id"),
    ({"account": {"fields": {"annual_revenue": -1}}}, "account.annual_revenue"),
])
def test_c7_5_integers_beyond_the_columns_are_422(client, db, tokens, sales_lead, payload, field):  # noqa: F811
    before = counts(db)
    assert_error(post(client, tokens["sales"], {"lead_id": sales_lead.id, **payload}), 422, field)
    assert counts(db) == before


# --- C4.8 with an explicit "create" ----------------------------------------------------------------
def test_c4_8_explicit_create_over_a_hidden_duplicate_is_403(client, db, make_user, make_contact, make_lead,
                                                            api_headers, users):
    db.session.add(Role(key="restricted", label="Restricted", scope="own",
                        permissions=["lead.convert", "lead.edit", "account.create", "contact.create",
                                     "account.edit", "contact.edit"]))
    db.session.commit()
    restricted = make_user("restricted", manager_id=users["manager"].id)
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    lead = make_lead(owner_id=restricted.id)
    before = counts(db)
    response = post(client, api_headers(restricted), {"lead_id": lead.id, "contact": {"action": "create"}})
    assert assert_error(response, 403)["error"] == "duplicates_hidden"
    assert counts(db) == before


# --- C5.1: "" is no deal (nor task): only null or absent means none --------------------------------
@pytest.mark.parametrize("payload,field", [
    ({"deal": ""}, "deal"),
    ({"task": ""}, "task"),
    ({"deal": "", "dry_run": True}, "deal"),
    ({"deal": {"stage": "Qualification", "currency": ""}}, "deal.currency"),
    ({"task": {"subject": "Call back", "due_date": ""}}, "task.due_date"),
])
def test_c5_1_an_empty_string_is_no_deal_or_task_but_a_422(client, db, tokens, sales_lead, payload, field):  # noqa: F811
    before = counts(db)
    data = assert_error(post(client, tokens["sales"], {"lead_id": sales_lead.id, **payload}), 422, field)
    assert data["error"] == "invalid" and list(data["errors"]) == [field]
    assert counts(db) == before and not db.session.get(Lead, sales_lead.id).converted
    # The same options with null are no deal and no task.
    nulls = {key: None for key in ("deal", "task")}
    response = post(client, tokens["sales"], {"lead_id": sales_lead.id, **nulls})
    assert response.status_code == 201 and response.get_json()["deal"]["action"] == "none"
