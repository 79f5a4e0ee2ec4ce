"""POST /api/v1/lead-conversions/{id}/revert (api.md, C9.1): per role, `{"keep_changed": true}`,
the 409 naming what blocks it, a second revert, a dry run, bad bodies, the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import assert_unchanged, db_rows
from webapp.models import Contact, Conversion, Deal, Lead, Note

URL = "/api/v1/lead-conversions"
DEAL = {"stage": "Qualification", "amount": "1000.00", "currency": "EUR"}
CONVERSION_KEYS = {"id", "lead_id", "created_by", "created_at", "reverted_at", "account", "contact",
                   "deal", "task", "fields_written", "not_updated", "moved"}


@pytest.fixture
def tokens(users, api_headers):
    made = {role: api_headers(user) for role, user in users.items()}
    made["anonymous"] = {}
    return made


@pytest.fixture
def conversion(client, tokens, users, make_lead, make_note):
    """A lead of the sales rep (with a note), converted through the API with a deal and a task."""
    lead = make_lead(owner_id=users["sales"].id, team_id=users["sales"].team_id)
    make_note(parent_id=lead.id, body="From the fair")
    response = client.post(URL, json={"lead_id": lead.id, "deal": DEAL, "task": {"subject": "Call"}},
                           headers=tokens["sales"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def revert(client, headers, conversion_id, body=None, **kw):
    return client.post(f"{URL}/{conversion_id}/revert", json=body, headers=headers, **kw)


@pytest.mark.parametrize("role,status", [
    ("admin", 200), ("manager", 200), ("sales", 200),  # the rep's own lead; the manager's team
    ("viewer", 403), ("other_sales", 404),  # out of sight: 404, never a leak
    ("anonymous", 401),
])
def test_revert_per_role(role, status, client, tokens, conversion, db):
    before = db_rows(db)
    response = revert(client, tokens[role], conversion["id"])
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    if status != 200:
        assert body["error"] and body["message"]
        if status == 403:
            assert "Revert conversions" in body["message"]
        assert_unchanged(db, before)
        return
    assert CONVERSION_KEYS <= set(body) and body["reverted_at"] is not None
    assert body["reverted_by"] == (db.session.scalar(select(Conversion.reverted_by)))
    assert body["deal"] == {"id": None, "action": "created", "reason": None}  # deleted
    assert {s["action"] for s in body["revert"]["steps"]} >= {"restore_lead", "move_back", "delete"}
    db.session.expire_all()
    lead = db.session.get(Lead, conversion["lead_id"])
    assert not lead.converted and lead.conversion_id is None
    assert client.get(f"/api/v1/leads/{lead.id}", headers=tokens[role]).get_json()["converted"] is False
    listed = client.get("/api/v1/leads", headers=tokens["admin"]).get_json()["items"]
    assert lead.id in {item["id"] for item in listed}  # back in the default list (converted=false)
    shown = client.get(f"{URL}/{conversion['id']}", headers=tokens["admin"]).get_json()
    assert shown["reverted_at"] == body["reverted_at"] and set(shown) == CONVERSION_KEYS


def test_409_names_the_blockers_then_keep_changed(client, tokens, conversion, db, users):
    db.session.add(Deal(name="Another deal", contact_id=conversion["contact"]["id"], stage="Qualification",
                        owner_id=users["sales"].id))
    db.session.commit()
    before = db_rows(db)
    refused = revert(client, tokens["sales"], conversion["id"])
    assert refused.status_code == 409
    body = refused.get_json()
    key = f"contact.{conversion['contact']['id']}"
    assert body["error"] == "revert_blocked" and key in body["errors"]
    assert body["errors"][key] == [f"Kept: the contact “{db.session.get(Contact, conversion['contact']['id']).display_name}”, "
                                   "which got the deal “Another deal” since the conversion."]
    assert ("contact", conversion["contact"]["id"], "new_related") in \
        {(b["type"], b["id"], b["reason"]) for b in body["blockers"]}
    assert_unchanged(db, before)

    done = revert(client, tokens["sales"], conversion["id"], {"keep_changed": True})
    assert done.status_code == 200
    report = done.get_json()["revert"]
    assert report["keep_changed"] is True and {b["reason"] for b in report["blockers"]} >= {"new_related"}
    assert done.get_json()["contact"]["id"] == conversion["contact"]["id"]  # kept: still referenced
    db.session.expire_all()
    assert db.session.get(Contact, conversion["contact"]["id"]) is not None
    notes = db.session.scalars(select(Note).where(Note.parent_type == "lead")).all()
    assert [n.body for n in notes] == ["From the fair"]


def test_409_codes_and_keys_do_not_change_with_the_language(client, tokens, conversion, db):
    db.session.add(Deal(name="Autre", contact_id=conversion["contact"]["id"], stage="Qualification"))
    db.session.commit()
    english = revert(client, tokens["sales"], conversion["id"]).get_json()
    french = revert(client, {**tokens["sales"], "Accept-Language": "fr"}, conversion["id"]).get_json()
    assert french["error"] == english["error"] == "revert_blocked"
    assert set(french["errors"]) == set(english["errors"])
    assert [b["reason"] for b in french["blockers"]] == [b["reason"] for b in english["blockers"]]


def test_a_second_revert_is_409(client, tokens, conversion):
    assert revert(client, tokens["sales"], conversion["id"]).status_code == 200
    again = revert(client, tokens["sales"], conversion["id"], {"keep_changed": True})
    assert again.status_code == 409 and again.get_json()["error"] == "already_reverted"


def test_dry_run_writes_nothing(client, tokens, conversion, db):
    before = db_rows(db)
    response = revert(client, tokens["sales"], conversion["id"], {"dry_run": True})
    assert response.status_code == 200
    body = response.get_json()
    assert body["dry_run"] is True and body["blockers"] == [] and body["conversion_id"] == conversion["id"]
    assert {"restore_lead", "move_back", "delete"} <= {s["action"] for s in body["steps"]}
    assert_unchanged(db, before)


@pytest.mark.parametrize("body,status,key", [
    ({"keep_changed": "yes"}, 422, "keep_changed"),
    ({"bogus": 1}, 422, "bogus"),
    ([1], 400, None),
])
def test_bad_bodies(body, status, key, client, tokens, conversion, db):
    before = db_rows(db)
    response = revert(client, tokens["sales"], conversion["id"], body)
    assert response.status_code == status
    if key:
        assert key in response.get_json()["errors"]
    assert_unchanged(db, before)


def test_no_body_is_an_empty_one(client, tokens, conversion):
    response = client.post(f"{URL}/{conversion['id']}/revert", headers=tokens["sales"])
    assert response.status_code == 200


def test_unknown_conversion_404(client, tokens):
    assert revert(client, tokens["admin"], 999999).status_code == 404


def test_openapi_documents_the_operation(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/api/v1/lead-conversions/{id}/revert"]["post"]
    assert op["operationId"] == "revert_lead_conversion"
    assert set(op["responses"]) >= {"200", "401", "403", "404", "409", "422"}
    schemas = doc["components"]["schemas"]
    assert schemas["LeadConversionRevertRequest"]["properties"].keys() == {"keep_changed", "dry_run"}
    assert set(schemas["LeadConversionReverted"]["required"]) == CONVERSION_KEYS | {"reverted_by", "revert"}


def test_answers_match_their_documented_schemas(client, tokens, conversion, db, users):
    import jsonschema_rs

    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    preview = revert(client, tokens["sales"], conversion["id"], {"dry_run": True}).get_json()
    jsonschema_rs.validate(schemas["LeadConversionRevertPreview"], preview)
    db.session.add(Deal(name="Another deal", contact_id=conversion["contact"]["id"], stage="Qualification"))
    db.session.commit()
    blocked = revert(client, tokens["sales"], conversion["id"], {"dry_run": True}).get_json()
    jsonschema_rs.validate(schemas["LeadConversionRevertPreview"], blocked)
    assert blocked["blockers"]
    done = revert(client, tokens["sales"], conversion["id"], {"keep_changed": True}).get_json()
    jsonschema_rs.validate(schemas["LeadConversionReverted"], done)
    assert done["revert"]["kept"] and "text" not in done["revert"]["blockers"][0]
