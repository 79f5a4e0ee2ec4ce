"""/api/v1/settings/currency and /api/v1/currency-rates (issue 10 item 8): reads for every
user, writes for administrators (403 otherwise, 401 without a token), 422 per field with
nothing written, 409 for a company-currency change while rates exist, never a 500."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select

from tests.conftest import assert_unchanged, db_rows
from webapp.models import AuditEntry
from webapp.models.catalog import ExchangeRate
from webapp.services import currencies as svc

RATES = "/api/v1/currency-rates"
COMPANY = "/api/v1/settings/currency"
BODY = {"currency": "USD", "rate": "0.92", "valid_from": "2026-11-01"}


@pytest.fixture(autouse=True)
def _no_dated_rates(db):
    """Start without dated rates, whether or not the reference data dates its seeded rates
    (services.currencies.ensure_dated_rates)."""
    db.session.execute(delete(ExchangeRate))
    db.session.commit()


@pytest.fixture
def headers(users, api_headers):
    """headers(role) -> the bearer header of that role's user (None: no token)."""
    cache: dict = {}

    def get(role):
        if role == "anonymous":
            return {}
        if role not in cache:
            cache[role] = api_headers(users[role])
        return cache[role]

    return get


@pytest.fixture
def rate(db, users):
    row = svc.add_rate(db.session, users["admin"], BODY)
    db.session.commit()
    return row


def error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    data = response.get_json()
    assert {"error", "message", "errors"} <= set(data) and data["message"]
    for f in fields:
        assert f in data["errors"], data
    return data


# ---------------------------------------------------------------- CRUD


def test_create_show_list_update_delete(client, db, headers):
    admin = headers("admin")
    r = client.post(RATES, json=BODY, headers=admin)
    assert r.status_code == 201, r.json
    assert r.json == {"id": r.json["id"], "currency": "USD", "rate": "0.92000000", "valid_from": "2026-11-01"}
    assert r.headers["Location"].endswith(f"{RATES}/{r.json['id']}")
    rid = r.json["id"]
    assert client.get(f"{RATES}/{rid}", headers=admin).json["rate"] == "0.92000000"
    client.post(RATES, json={"currency": "GBP", "rate": 1.17, "valid_from": "2026-01-01"}, headers=admin)
    listing = client.get(RATES, headers=admin).json
    assert [i["currency"] for i in listing["items"]] == ["GBP", "USD"] and listing["next_cursor"] is None
    assert [i["currency"] for i in client.get(f"{RATES}?currency=USD", headers=admin).json["items"]] == ["USD"]
    r = client.patch(f"{RATES}/{rid}", json={"rate": "0.9350"}, headers=admin)
    assert r.status_code == 200 and r.json["rate"] == "0.93500000" and r.json["valid_from"] == "2026-11-01"
    assert client.patch(f"{RATES}/{rid}", json={}, headers=admin).status_code == 200  # nothing sent, nothing changed
    assert client.delete(f"{RATES}/{rid}", headers=admin).status_code == 204
    assert client.get(f"{RATES}/{rid}", headers=admin).status_code == 404
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.area == "currency")
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["created", "created", "updated", "deleted"]


def test_pages_by_cursor(client, db, users, headers):
    for i in range(5):
        svc.add_rate(db.session, users["admin"], {"currency": "USD", "rate": "1", "valid_from": f"2026-01-0{i + 1}"})
    db.session.commit()
    first = client.get(f"{RATES}?limit=2", headers=headers("sales")).json
    assert [i["valid_from"] for i in first["items"]] == ["2026-01-05", "2026-01-04"] and first["next_cursor"]
    second = client.get(f"{RATES}?limit=2&cursor={first['next_cursor']}", headers=headers("sales")).json
    assert [i["valid_from"] for i in second["items"]] == ["2026-01-03", "2026-01-02"]
    error(client.get(f"{RATES}?cursor=nope", headers=headers("sales")), 422, "cursor")
    error(client.get(f"{RATES}?currency=XYZ", headers=headers("sales")), 422, "currency")
    error(client.get(f"{RATES}?currency=usd", headers=headers("sales")), 422, "currency")
    error(client.get(f"{RATES}?currency=U%00D", headers=headers("sales")), 422, "currency")
    error(client.get(f"{RATES}?sort=x", headers=headers("sales")), 422, "sort")


def test_the_company_currency(client, db, headers, rate):
    assert client.get(COMPANY, headers=headers("viewer")).json == {"currency": "EUR"}
    data = error(client.put(COMPANY, json={"currency": "USD"}, headers=headers("admin")), 409, "currency")
    assert data["error"] == "rates_exist" and data["rates"] == 1
    assert "EUR" in data["message"] and svc.company_currency(db.session) == "EUR"
    r = client.put(COMPANY, json={"currency": "USD", "delete_rates": True}, headers=headers("admin"))
    assert r.status_code == 200 and r.json == {"currency": "USD"}
    assert client.get(RATES, headers=headers("admin")).json["items"] == []
    assert client.get(COMPANY, headers=headers("sales")).json == {"currency": "USD"}


def test_messages_in_the_token_owners_language(client, db, users, headers):
    users["admin"].language = "fr"
    db.session.commit()
    data = error(client.post(RATES, json={**BODY, "rate": "0"}, headers=headers("admin")), 422, "rate")
    assert data["message"] == "Certains champs sont à vérifier." and data["errors"]["rate"]


# ---------------------------------------------------------------- bad input


BAD = [
    ({**BODY, "rate": "0"}, "rate"), ({**BODY, "rate": 0}, "rate"), ({**BODY, "rate": -1}, "rate"),
    ({**BODY, "rate": "0.000000001"}, "rate"), ({**BODY, "rate": 1e300}, "rate"), ({**BODY, "rate": True}, "rate"),
    ({**BODY, "rate": None}, "rate"), ({**BODY, "rate": "1\u0000"}, "rate"), ({**BODY, "rate": "9" * 100_000}, "rate"),
    ({**BODY, "currency": "EUR"}, "currency"), ({**BODY, "currency": "usd"}, "currency"),
    ({**BODY, "currency": "XAU"}, "currency"), ({**BODY, "currency": 840}, "currency"),
    ({**BODY, "currency": "\u0000\u0000\u0000"}, "currency"), ({**BODY, "currency": "\ud800US"}, "currency"),
    ({**BODY, "valid_from": "2026-02-30"}, "valid_from"), ({**BODY, "valid_from": None}, "valid_from"),
    ({**BODY, "valid_from": 1}, "valid_from"), ({**BODY, "id": 9}, "id"), ({**BODY, "extra": 1}, "extra"),
    ({"rate": "1", "valid_from": "2026-01-01"}, "currency"),
]


@pytest.mark.parametrize(("body", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_rates_are_422_per_field_and_write_nothing(client, db, headers, body, field):
    admin = headers("admin")
    client.get(COMPANY, headers=admin)  # the token's first use is recorded now, not during the refusal
    before = db_rows(db)
    error(client.post(RATES, data=json.dumps(body), content_type="application/json", headers=admin), 422, field)
    assert_unchanged(db, before)


def test_malformed_bodies_and_duplicates(client, db, headers, rate):
    admin = headers("admin")
    for raw in ("", "nope", "[1]", '{"rate": NaN}'):
        assert client.post(RATES, data=raw, content_type="application/json", headers=admin).status_code == 400, raw
    error(client.post(RATES, json=BODY, headers=admin), 422, "valid_from")
    error(client.patch(f"{RATES}/{rate.id}", json={"currency": "EUR"}, headers=admin), 422, "currency")
    for body in ({"currency": "XYZ"}, {"currency": "USD", "delete_rates": "yes"}, {"currency": None}, {},
                 {"currency": "USD", "delete_rates": None}):
        error(client.put(COMPANY, json=body, headers=admin), 422)
    assert client.put(COMPANY, data="x", content_type="application/json", headers=admin).status_code == 400
    for rid in (0, 2**31, 999):
        assert client.get(f"{RATES}/{rid}", headers=admin).status_code == 404
        assert client.patch(f"{RATES}/{rid}", json={}, headers=admin).status_code == 404
    assert db.session.scalars(select(ExchangeRate)).all() == [rate]


# ---------------------------------------------------------------- the permission matrix


READS = [("GET", COMPANY, None), ("GET", RATES, None), ("GET", f"{RATES}/{{id}}", None)]
WRITES = [("POST", RATES, {**BODY, "valid_from": "2027-01-01"}), ("PATCH", f"{RATES}/{{id}}", {"rate": "1.5"}),
          ("DELETE", f"{RATES}/{{id}}", None), ("PUT", COMPANY, {"currency": "CHF", "delete_rates": True})]
EXPECT = {"admin": (200, None), "manager": (200, 403), "sales": (200, 403), "viewer": (200, 403),
          "anonymous": (401, 401)}


@pytest.mark.parametrize("role", list(EXPECT))
def test_reads_for_every_user_writes_for_administrators(client, db, headers, rate, role):
    read_status, write_status = EXPECT[role]
    headers(role)
    for method, url, _body in READS:
        r = client.open(url.format(id=rate.id), method=method, headers=headers(role))
        assert r.status_code == read_status, (method, url, r.json)
    before = db_rows(db)
    for method, url, body in WRITES:
        r = client.open(url.format(id=rate.id), method=method, json=body, headers=headers(role))
        if write_status is None:
            assert r.status_code in (200, 201, 204), (method, url, r.json)
        else:
            assert r.status_code == write_status, (method, url, r.json)
            assert r.json["error"] == ("forbidden" if write_status == 403 else "unauthorized")
    if write_status is not None:
        assert_unchanged(db, before)


def test_the_openapi_document_describes_the_endpoints(client):
    doc = client.get("/api/v1/openapi.json").json
    assert {"get", "put"} <= set(doc["paths"]["/api/v1/settings/currency"])
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/currency-rates"])
    assert {"get", "patch", "delete"} <= set(doc["paths"]["/api/v1/currency-rates/{id}"])
    create = doc["components"]["schemas"]["CurrencyRateCreate"]
    assert create["required"] == ["currency", "rate", "valid_from"] and create["additionalProperties"] is False
    assert "USD" in create["properties"]["currency"]["enum"] and "XAU" not in create["properties"]["currency"]["enum"]
    assert create["properties"]["rate"]["exclusiveMinimum"] == 0
