"""Bad input: 400 for malformed bodies, 422 with field errors for each kind of bad value,
nothing written; keyset pagination walks every row once; the schemas' domain level."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, db_rows
from webapp.entities import ENTITIES, clean
from webapp.fields import model_specs
from webapp.models import CustomField, Deal, Lead
from webapp.schemas import field_schema


@pytest.fixture
def headers(users, api_headers):
    return api_headers(users["admin"])


def _lead_count(db):
    return db.session.scalar(select(func.count(Lead.id)))


@pytest.mark.parametrize("raw", ["{bad", "[1, 2]", '"text"', "", "null", '{"a": NaN}',
                                 "[" * 5000 + "]" * 5000])
def test_malformed_body_is_400(client, db, headers, raw):
    r = client.post("/api/v1/leads", data=raw, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["error"] == "bad_request" and r.json["message"]
    assert _lead_count(db) == 0


BAD = [
    ("last_name", "x" * 101, "at most 100"),
    ("last_name", 12, "must be text"),
    ("email", "not-an-email", "e-mail"),
    ("email", "a@b.c" + "x" * 300, "at most"),
    ("phone", "12", "digits"),
    ("phone", "call me", "phone"),
    ("annual_revenue", "12.345", "2 decimals"),
    ("annual_revenue", "-5", "zero or more"),
    ("annual_revenue", "1e3", "decimal"),
    ("annual_revenue", True, "decimal"),
    ("annual_revenue", "1" * 20, "at most"),
    ("annual_revenue", 10**400, "at most"),
    ("employees", "12", "whole number"),
    ("employees", 1.5, "whole number"),
    ("employees", -1, "between"),
    ("employees", 2**40, "between"),
    ("email_opt_out", "yes", "true or false"),
    ("currency", "eur", "ISO"),
    ("currency", "XYZ", "not a currency"),
    ("status", "nope", "one of"),
    ("owner_id", 999, "not an active user"),
    ("owner_id", "1", "whole number"),
    ("tags", "a,b", "list"),
    ("tags", ["x" * 61], "60"),
    ("tags", [1], "list of strings"),
    ("custom", [], "object"),
    ("description", "nul\x00byte", "NUL"),
    ("description", "lone \ud800 surrogate", "Unicode"),
    ("id", 5, "read-only"),
    ("converted", True, "read-only"),
    ("conversion_id", 1, "read-only"),
    ("created_at", "2020-01-01", "read-only"),
    ("unknown_field", 1, "not a field"),
]


@pytest.mark.parametrize("field, value, reason", BAD)
def test_bad_value_is_422_next_to_the_field(client, db, headers, field, value, reason):
    r = client.post("/api/v1/leads", json={"last_name": "Stone", field: value}, headers=headers)
    assert r.status_code == 422, r.json
    assert r.json["error"] == "invalid"
    assert reason in " ".join(r.json["errors"][field])
    assert _lead_count(db) == 0


def test_lead_needs_name_or_company(client, db, headers):
    r = client.post("/api/v1/leads", json={"first_name": "Only"}, headers=headers)
    assert r.status_code == 422 and "last_name" in r.json["errors"]
    assert _lead_count(db) == 0


@pytest.mark.parametrize("plural, body, field", [
    ("accounts", {}, "name"), ("accounts", {"name": "  "}, "name"),
    ("accounts", {"name": "A", "parent_id": 999}, "parent_id"),
    ("contacts", {"last_name": "D", "account_id": 0}, "account_id"),
    ("deals", {"name": "D", "closing_date": "31/12/2026"}, "closing_date"),
    ("deals", {"name": "D", "closing_date": "2026-02-30"}, "closing_date"),
    ("deals", {"name": "D", "campaign_id": 5}, "campaign_id"),
    ("tasks", {"subject": "x", "parent_type": "user", "parent_id": 1}, "parent_type"),
    ("tasks", {"subject": "x", "parent_type": "lead"}, "parent_id"),
    ("tasks", {"subject": "x", "parent_type": "lead", "parent_id": 1, "status": "later"}, "status"),
    ("notes", {"body": "x" * 10_001, "parent_type": "lead", "parent_id": 1}, "body"),
])
def test_bad_record_input_is_422(client, db, headers, make_lead, plural, body, field):
    make_lead()
    before = db_rows(db)
    r = client.post(f"/api/v1/{plural}", json=body, headers=headers)
    assert r.status_code == 422 and field in r.json["errors"], r.json
    assert_unchanged(db, before)


def test_custom_fields_are_validated(client, db, headers):
    db.session.add(CustomField(entity="lead", key="budget", label="Budget", type="decimal", required=True))
    db.session.commit()
    r = client.post("/api/v1/leads", json={"last_name": "S"}, headers=headers)
    assert r.status_code == 422 and "custom.budget" in r.json["errors"]
    r = client.post("/api/v1/leads", json={"last_name": "S", "custom": {"budget": "abc"}}, headers=headers)
    assert r.status_code == 422 and "custom.budget" in r.json["errors"]
    r = client.post("/api/v1/leads", json={"last_name": "S", "custom": {"nope": 1}}, headers=headers)
    assert r.status_code == 422 and "custom.nope" in r.json["errors"]
    r = client.post("/api/v1/leads", json={"last_name": "S", "custom": {"budget": "12.5"}}, headers=headers)
    assert r.status_code == 201 and r.json["custom"] == {"budget": "12.5"}


@pytest.mark.parametrize("query, param", [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=abc", "limit"), ("limit=-1", "limit"),
    ("cursor=garbage", "cursor"), ("cursor=eyJ4IjoxfQ", "cursor"), ("owner_id=x", "owner_id"),
    ("converted=maybe", "converted"), ("status=nope", "status"), ("q=" + "x" * 201, "q"),
    ("nope=1", "nope"),
])
def test_bad_list_parameters_are_422(client, headers, query, param):
    r = client.get(f"/api/v1/leads?{query}", headers=headers)
    assert r.status_code == 422 and param in r.json["errors"], r.json


@pytest.mark.parametrize("plural", ["accounts", "notes"])
def test_bad_cursor_elsewhere_is_422(client, headers, plural):
    r = client.get(f"/api/v1/{plural}?cursor=%%%", headers=headers)
    assert r.status_code == 422 and "cursor" in r.json["errors"]


@pytest.mark.parametrize("plural, builder", [
    ("leads", "make_lead"), ("accounts", "make_account"), ("notes", "make_note"),
])
def test_pagination_walks_every_row_once(request, client, headers, plural, builder):
    make = request.getfixturevalue(builder)
    if plural == "notes":
        request.getfixturevalue("make_lead")()
    made = {make().id for _ in range(23)}
    seen: list[int] = []
    url = f"/api/v1/{plural}?limit=5"
    pages = 0
    while url:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.json
        assert len(r.json["items"]) <= 5
        seen += [i["id"] for i in r.json["items"]]
        cursor = r.json["next_cursor"]
        url = f"/api/v1/{plural}?limit=5&cursor={cursor}" if cursor else None
        pages += 1
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert pages == 5


def test_list_filters(client, headers, users, make_lead, make_account, make_contact):
    a = make_lead(last_name="Alpha", owner_id=users["sales"].id, tags=["Hot"])
    make_lead(last_name="Beta", company="Other", email="b@x.com", owner_id=users["manager"].id)
    ids = lambda url: [i["id"] for i in client.get(url, headers=headers).json["items"]]  # noqa: E731
    assert ids(f"/api/v1/leads?owner_id={users['sales'].id}") == [a.id]
    assert ids("/api/v1/leads?tag=hot") == [a.id]
    assert ids("/api/v1/leads?q=alph") == [a.id]  # last names are searched too (issue 3)
    assert ids("/api/v1/leads?q=charles") != []
    account = make_account(name="Acme")
    contact = make_contact(account_id=account.id)
    make_contact(last_name="Loose")
    assert ids(f"/api/v1/contacts?account_id={account.id}") == [contact.id]
    assert ids("/api/v1/accounts?q=acm") == [account.id]


# ---------------------------------------------------------------- domain level (no client)


def test_clean_without_a_client(app, db, users):
    cleaned = clean(db.session, users["admin"], "deal",
                    {"name": " Deal ", "amount": Decimal("10.5"), "tags": ["a"]}, strict=True)
    assert cleaned.values == {"name": "Deal", "amount": Decimal("10.50")}, cleaned.errors
    assert cleaned.tags == ["a"] and cleaned.custom == {} and cleaned.errors == {}
    cleaned = clean(db.session, users["admin"], "deal", {"amount": "x"}, strict=True)
    assert set(cleaned.errors) == {"amount", "name"}
    assert [p.code for p in cleaned.errors["amount"]] == ["not_money"]


@pytest.mark.parametrize("raw, out", [("0", "0.00"), (Decimal("1.5"), "1.50"), (7, "7.00"),
                                      ("99999999999999.99", "99999999999999.99")])
def test_money_from_the_column(raw, out):
    assert f"{model_specs(Deal)['amount'].parse(raw, strict=True):.2f}" == out


def test_schema_lengths_come_from_the_model(app, db):
    entity = ENTITIES["leads"]
    assert field_schema(db.session, entity, entity.by_name["first_name"])["maxLength"] == 100
    assert field_schema(db.session, entity, entity.by_name["email"])["maxLength"] == 254
    status = field_schema(db.session, entity, entity.by_name["status"])
    assert "converted" not in status["enum"] and "new" in status["enum"]
