"""/api/v1/custom-fields (api.md Settings, issue 10 item 2): definitions readable by every API user,
written by administrators only (403 for every other role, 401 without a token), 422 field errors
and 409 refusals with nothing written; counterparts created and mapped in one request; the
OpenAPI document describes the endpoints and the records' custom values; a required field added
after leads exist applies to new edits and blocks conversion (single and bulk) until filled."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, db_rows
from webapp.conversion.bulk import BulkOptions, convert_chunk
from webapp.conversion.mapping import load_mapping
from webapp.models import AuditEntry, CustomField, CustomFieldValue, Lead

URL = "/api/v1/custom-fields"
KEYS = {"id", "entity", "key", "label", "type", "length", "options", "required", "unique", "carry_over", "position"}
BODY = {"entity": "lead", "key": "vat", "label": "VAT number", "type": "text", "length": 20}
ROLES = ("admin", "manager", "sales", "viewer")


@pytest.fixture
def tokens(users, api_headers):
    return {role: api_headers(users[role]) for role in ROLES}


def error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    data = response.get_json()
    assert {"error", "message", "errors"} <= set(data) and data["message"]
    for f in fields:
        assert f in data["errors"], data
    return data


def fields(db) -> int:
    return db.session.scalar(select(func.count()).select_from(CustomField))


# --- CRUD ---------------------------------------------------------------------------------------


def test_create_show_list_update_delete(client, db, tokens):
    r = client.post(URL, json=BODY, headers=tokens["admin"])
    assert r.status_code == 201, r.json
    field = r.json
    assert set(field) == KEYS and r.headers["Location"].endswith(f"{URL}/{field['id']}")
    assert (field["key"], field["length"], field["options"], field["required"], field["position"]) == (
        "vat", 20, None, False, 0)
    assert client.get(f"{URL}/{field['id']}", headers=tokens["admin"]).json == field
    r = client.patch(f"{URL}/{field['id']}", json={"label": "TVA", "required": True, "length": 30},
                     headers=tokens["admin"])
    assert r.status_code == 200 and (r.json["label"], r.json["required"], r.json["length"]) == ("TVA", True, 30)
    client.post(URL, json={"entity": "deal", "label": "Tier", "type": "picklist", "options": ["A", "B"]},
                headers=tokens["admin"])
    listing = client.get(URL, headers=tokens["admin"]).json
    assert [f["key"] for f in listing["items"]] == ["tier", "vat"] and listing["next_cursor"] is None
    only = client.get(f"{URL}?entity=deal", headers=tokens["admin"]).json["items"]
    assert [(f["key"], f["options"], f["length"]) for f in only] == [("tier", ["A", "B"], None)]
    assert client.delete(f"{URL}/{field['id']}", headers=tokens["admin"]).status_code == 204
    assert client.get(f"{URL}/{field['id']}", headers=tokens["admin"]).status_code == 404
    assert fields(db) == 1
    actions = [(e.key, e.action) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [("lead.vat", "created"), ("lead.vat", "updated"), ("deal.tier", "created"),
                       ("lead.vat", "deleted")]


def test_list_pages_by_cursor(client, db, tokens):
    for i in range(3):
        db.session.add(CustomField(entity="lead", key=f"k{i}", label=f"K{i}", type="text", position=i))
    db.session.commit()
    first = client.get(f"{URL}?limit=2", headers=tokens["sales"]).json
    second = client.get(f"{URL}?limit=2&cursor={first['next_cursor']}", headers=tokens["sales"]).json
    assert [f["key"] for f in first["items"] + second["items"]] == ["k2", "k1", "k0"] and second["next_cursor"] is None
    error(client.get(f"{URL}?entity=user", headers=tokens["sales"]), 422, "entity")
    error(client.get(f"{URL}?cursor=zz", headers=tokens["sales"]), 422, "cursor")
    error(client.get(f"{URL}?sort=key", headers=tokens["sales"]), 422, "sort")


def test_counterparts_are_created_and_mapped_in_one_request(client, db, tokens):
    body = {"entity": "lead", "key": "nat_id", "label": "National id", "type": "text", "length": 30, "unique": True,
            "counterparts": ["contact", "account"]}
    r = client.post(URL, json=body, headers=tokens["admin"])
    assert r.status_code == 201 and r.json["entity"] == "lead"
    made = client.get(f"{URL}?entity=contact", headers=tokens["sales"]).json["items"]
    assert [(f["key"], f["length"], f["unique"]) for f in made] == [("nat_id", 30, True)]
    mapping = load_mapping(db.session)
    assert mapping["contact"]["custom.nat_id"] == "custom.nat_id" == mapping["account"]["custom.nat_id"]
    # A counterpart that cannot be made refuses everything.
    before = db_rows(db)
    r = client.post(URL, json={**body, "key": "nat_id2", "label": "Other", "counterparts": ["deal", "deal"]},
                    headers=tokens["admin"])
    error(r, 422, "counterparts")
    r = client.post(URL, json={**body, "label": "Again"}, headers=tokens["admin"])
    assert "key" in error(r, 422)["errors"]
    assert_unchanged(db, before)


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "fields_"), [
    ({}, ("entity", "label", "type")),
    ({**BODY, "type": "money"}, ("type",)),
    ({**BODY, "key": "Bad key"}, ("key",)),
    ({**BODY, "key": ""}, ("key",)),
    ({**BODY, "key": "email"}, ("key",)),
    ({**BODY, "length": 256}, ("length",)),
    ({**BODY, "length": "20"}, ("length",)),
    ({**BODY, "type": "picklist", "length": None}, ("options",)),
    ({**BODY, "type": "picklist", "length": None, "options": ["A", "a"]}, ("options.1",)),
    ({**BODY, "type": "number"}, ("length",)),
    ({**BODY, "required": "true"}, ("required",)),
    ({**BODY, "label": "x\u0000y"}, ("label",)),
    ({**BODY, "label": "x" * 121}, ("label",)),
    ({**BODY, "entity": "contact", "counterparts": ["deal"]}, ("counterparts",)),
    ({**BODY, "id": 4, "colour": "red"}, ("id", "colour")),
])
def test_bad_input_is_422_with_every_field_and_nothing_written(client, db, tokens, body, fields_):
    before = db_rows(db)
    error(client.post(URL, json=body, headers=tokens["admin"]), 422, *fields_)
    assert_unchanged(db, before)


def test_malformed_json_is_400_and_unknown_ids_404(client, db, tokens):
    r = client.post(URL, data="{", content_type="application/json", headers=tokens["admin"])
    assert r.status_code == 400
    assert client.post(URL, json=[1], headers=tokens["admin"]).status_code == 400
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"label": "X"}} if method == "patch" else {}
        assert getattr(client, method)(f"{URL}/99", headers=tokens["admin"], **kwargs).status_code == 404
    assert client.get(f"{URL}/{2**31}", headers=tokens["admin"]).status_code == 404


def test_values_that_do_not_fit_are_409_with_the_count(client, db, tokens, make_lead):
    field = client.post(URL, json={**BODY, "length": 255}, headers=tokens["admin"]).json
    for i in range(12):
        r = client.post("/api/v1/leads", json={"last_name": f"L{i}", "custom": {"vat": "FR" + "1" * 25}},
                        headers=tokens["admin"])
        assert r.status_code == 201, r.json
    before = db_rows(db)
    data = error(client.patch(f"{URL}/{field['id']}", json={"length": 20}, headers=tokens["admin"]), 409, "length")
    assert data["error"] == "values_do_not_fit"
    assert data["errors"]["length"] == ["12 leads hold a value longer than 20 characters"]
    data = error(client.patch(f"{URL}/{field['id']}", json={"type": "date"}, headers=tokens["admin"]), 409, "type")
    assert data["errors"]["type"][0].startswith("12 leads hold values that do not fit the type “Date”")
    # Deleting asks first, with what it holds.
    data = error(client.delete(f"{URL}/{field['id']}", headers=tokens["admin"]), 409)
    assert (data["error"], data["values"], data["mapping_pairs"]) == ("field_has_values", 12, 0)
    assert "12 leads" in data["message"]
    error(client.delete(f"{URL}/{field['id']}?confirm=maybe", headers=tokens["admin"]), 422, "confirm")
    assert_unchanged(db, before)
    assert client.delete(f"{URL}/{field['id']}?confirm=true", headers=tokens["admin"]).status_code == 204
    assert db.session.scalar(select(func.count()).select_from(CustomFieldValue)) == 0


def test_errors_in_the_token_owners_language(client, db, users, tokens):
    users["admin"].language = "fr"
    db.session.commit()
    data = error(client.post(URL, json={**BODY, "type": "money"}, headers=tokens["admin"]), 422, "type")
    assert data["error"] == "invalid" and data["errors"]["type"]


# --- the permission matrix ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_user_reads_the_definitions(client, db, tokens, role):
    db.session.add(CustomField(entity="lead", key="vat", label="VAT", type="text"))
    db.session.commit()
    assert client.get(URL, headers=tokens[role]).status_code == 200
    assert client.get(f"{URL}/1", headers=tokens[role]).json["key"] == "vat"


@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_only_administrators_write(client, db, tokens, role):
    db.session.add(CustomField(entity="lead", key="vat", label="VAT", type="text"))
    db.session.commit()
    before = db_rows(db)
    for response in (client.post(URL, json=BODY, headers=tokens[role]),
                     client.patch(f"{URL}/1", json={"label": "X"}, headers=tokens[role]),
                     client.delete(f"{URL}/1?confirm=true", headers=tokens[role])):
        data = error(response, 403)
        assert "Administration" in data["message"]
    assert_unchanged(db, before)


def test_no_token_is_401(client, db):
    db.session.add(CustomField(entity="lead", key="vat", label="VAT", type="text"))
    db.session.commit()
    for method, url in (("get", URL), ("get", f"{URL}/1"), ("post", URL), ("patch", f"{URL}/1"),
                        ("delete", f"{URL}/1")):
        assert getattr(client, method)(url, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert getattr(client, method)(url).status_code == 401


# --- the OpenAPI document -----------------------------------------------------------------------------


def test_the_document_describes_the_endpoints_and_the_records_custom_values(client, db, tokens):
    client.post(URL, json={**BODY, "required": True}, headers=tokens["admin"])
    client.post(URL, json={"entity": "lead", "key": "seats", "label": "Seats", "type": "number"}, headers=tokens["admin"])
    client.post(URL, json={"entity": "deal", "key": "tier", "label": "Tier", "type": "picklist",
                           "options": ["Gold", "Silver"]}, headers=tokens["admin"])
    doc = client.get("/api/v1/openapi.json").json
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/custom-fields"])
    assert {"get", "patch", "delete"} <= set(doc["paths"]["/api/v1/custom-fields/{id}"])
    schemas = doc["components"]["schemas"]
    assert set(schemas["CustomField"]["properties"]) == KEYS
    assert schemas["CustomFieldCreate"]["properties"]["type"]["enum"] == [
        "text", "textarea", "number", "decimal", "date", "checkbox", "picklist", "email", "phone", "url"]
    lead_in = schemas["LeadCreate"]["properties"]["custom"]
    assert lead_in["required"] == ["vat"] and lead_in["properties"]["vat"]["maxLength"] == 20
    lead_out = schemas["Lead"]["properties"]["custom"]["properties"]
    assert lead_out["seats"]["type"] == "integer" and lead_out["vat"]["type"] == "string"
    assert schemas["DealCreate"]["properties"]["custom"]["properties"]["tier"]["enum"] == ["Gold", "Silver", None]


# --- required fields added after leads exist (C7.4) ------------------------------------------------


def test_a_required_field_added_later_applies_to_edits_and_blocks_conversion(client, db, tokens, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id)
    other = make_lead(owner_id=users["sales"].id, last_name="Other", email="other@example.com", company="Other Co")
    r = client.post(URL, json={"entity": "lead", "key": "segment", "label": "Segment", "type": "picklist",
                               "options": ["SMB", "Ent"], "required": True}, headers=tokens["admin"])
    assert r.status_code == 201
    sales = tokens["sales"]
    # New leads need it; edits that empty it are refused; edits that leave it alone are not.
    error(client.post("/api/v1/leads", json={"last_name": "New"}, headers=sales), 422, "custom.segment")
    error(client.patch(f"/api/v1/leads/{lead.id}", json={"custom": {"segment": None}}, headers=sales), 422,
          "custom.segment")
    assert client.patch(f"/api/v1/leads/{lead.id}", json={"title": "CEO"}, headers=sales).status_code == 200
    # The conversion is refused until it is filled, in the request's lead fields...
    data = error(client.post("/api/v1/lead-conversions", json={"lead_id": lead.id}, headers=sales), 422,
                 "lead.custom.segment")
    assert data["error"] == "missing_required" and "Segment" in data["message"]
    r = client.post("/api/v1/lead-conversions", json={"lead_id": lead.id, "lead": {"fields": {"custom.segment": "Ent"}}},
                    headers=sales)
    assert r.status_code == 201, r.json
    # ...and in bulk the lead is skipped with that reason.
    [outcome] = convert_chunk(db.session, users["sales"], [other.id], BulkOptions.from_dict({}))
    db.session.rollback()
    assert (outcome.outcome, outcome.code) == ("skipped", "missing_required") and "Segment" in str(outcome.reason)
    assert not db.session.get(Lead, other.id).converted
