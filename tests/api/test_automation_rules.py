"""/api/v1/automation-rules (api.md Settings, C8.6): CRUD for administrators, 403 for every other
role, 401 without a token, 422 field errors with nothing written, never a 500 for bad input."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, db_rows
from webapp.models import AutomationRule, Lead

URL = "/api/v1/automation-rules"
RULE_KEYS = {"id", "name", "on_status", "conditions", "options", "active", "position", "created_by",
             "created_at", "updated_at"}
OPTION_KEYS = {"account", "contact", "deal", "task", "attachments_to", "activities_to", "tags_to", "owner_id"}
BODY = {"name": "Qualified with a company", "on_status": "qualified",
        "conditions": [{"field": "company", "op": "not_empty"},
                       {"field": "lead_source", "op": "in", "value": ["Web", "Referral"]}],
        "options": {"deal": {"stage": "Qualification", "name": "{company} – new business", "amount": "500.00"},
                    "task": {"subject": "Call back"}, "tags_to": ["contact"]},
        "active": True}


@pytest.fixture
def admin(users, api_headers):
    return api_headers(users["admin"])


def rules(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AutomationRule))


def post(client, headers, body=BODY):
    return client.post(URL, json=body, headers=headers)


def error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    data = response.get_json()
    assert {"error", "message", "errors"} <= set(data) and data["message"]
    for f in fields:
        assert f in data["errors"], data
    return data


# --- CRUD ---------------------------------------------------------------------------------------

def test_create_show_update_replace_delete(client, db, users, admin):
    r = post(client, admin)
    assert r.status_code == 201, r.json
    rule = r.json
    assert set(rule) == RULE_KEYS and set(rule["options"]) == OPTION_KEYS
    assert r.headers["Location"].endswith(f"{URL}/{rule['id']}")
    assert rule["created_by"] == users["admin"].id and rule["position"] == 0 and rule["active"] is True
    assert rule["conditions"] == [{"field": "company", "op": "not_empty", "value": None},
                                  {"field": "lead_source", "op": "in", "value": ["Web", "Referral"]}]
    assert rule["options"]["deal"]["amount"] == "500.00" and rule["options"]["account"] == {
        "action": "auto", "parent_id": None}
    assert rule["created_at"].endswith("+00:00")

    assert client.get(f"{URL}/{rule['id']}", headers=admin).json == rule

    r = client.patch(f"{URL}/{rule['id']}", json={"active": False, "position": 5}, headers=admin)
    assert r.status_code == 200 and (r.json["active"], r.json["position"]) == (False, 5)
    assert r.json["conditions"] == rule["conditions"]  # untouched

    r = client.put(f"{URL}/{rule['id']}", json={"name": "Contacted", "on_status": "contacted"}, headers=admin)
    assert r.status_code == 200
    assert (r.json["name"], r.json["on_status"], r.json["conditions"], r.json["active"], r.json["position"]) == (
        "Contacted", "contacted", [], True, 5)
    assert r.json["options"]["deal"] is None and r.json["options"]["tags_to"] == ["contact", "deal"]

    assert client.delete(f"{URL}/{rule['id']}", headers=admin).status_code == 204
    assert client.get(f"{URL}/{rule['id']}", headers=admin).status_code == 404
    assert rules(db) == 0


def test_new_rules_go_last(client, admin):
    first = post(client, admin, {"name": "A", "on_status": "new", "position": 9}).json
    second = post(client, admin, {"name": "B", "on_status": "new"}).json
    assert (first["position"], second["position"]) == (9, 10)


def test_list_is_paginated_and_filtered(client, admin):
    for i, status in enumerate(["new", "qualified", "qualified", "contacted", "qualified"]):
        assert post(client, admin, {"name": f"R{i}", "on_status": status, "active": i != 4}).status_code == 201
    seen, cursor = [], None
    while True:
        r = client.get(URL, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=admin)
        assert r.status_code == 200 and len(r.json["items"]) <= 2
        seen += [item["name"] for item in r.json["items"]]
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == ["R4", "R3", "R2", "R1", "R0"]  # newest first, every rule once
    r = client.get(URL, query_string={"on_status": "qualified", "active": "true"}, headers=admin)
    assert [item["name"] for item in r.json["items"]] == ["R2", "R1"]


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 501}, {"cursor": "garbage"}, {"on_status": "nope"},
                                   {"on_status": "converted"}, {"active": "yes"}, {"sort": "name"}])
def test_bad_list_parameters_are_422(client, admin, query):
    error(client.get(URL, query_string=query, headers=admin), 422)


# --- rights ------------------------------------------------------------------------------------

@pytest.fixture
def existing(client, admin):
    return post(client, admin).json["id"]


def _calls(rule_id):
    return [("get", URL, None), ("post", URL, BODY), ("get", f"{URL}/{rule_id}", None),
            ("put", f"{URL}/{rule_id}", {"name": "X", "on_status": "new"}),
            ("patch", f"{URL}/{rule_id}", {"active": False}), ("delete", f"{URL}/{rule_id}", None)]


@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_only_administrators_403(client, db, users, api_headers, existing, role):
    headers = api_headers(users[role])
    before = db_rows(db)
    for method, url, body in _calls(existing):
        r = getattr(client, method)(url, json=body, headers=headers) if body else getattr(client, method)(
            url, headers=headers)
        data = error(r, 403)
        assert "Administration" in data["message"]
    # An unknown rule is a 403 too: a rep learns nothing of which rules exist.
    error(client.get(f"{URL}/999", headers=headers), 403)
    assert_unchanged(db, before)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_without_a_valid_token_401(client, db, existing, headers):
    before = db_rows(db)
    for method, url, body in _calls(existing):
        r = getattr(client, method)(url, json=body, headers=headers) if body else getattr(client, method)(
            url, headers=headers)
        error(r, 401)
    assert_unchanged(db, before)


def test_unknown_ids_404(client, admin):
    for url in (f"{URL}/999", f"{URL}/{2**31}", f"{URL}/{10**30}"):
        error(client.get(url, headers=admin), 404)
        error(client.patch(url, json={"active": False}, headers=admin), 404)
        error(client.put(url, json={"name": "X", "on_status": "new"}, headers=admin), 404)
        error(client.delete(url, headers=admin), 404)


# --- bad input: 400 / 422, nothing written, never a 500 ------------------------------------------

@pytest.mark.parametrize("raw", ["{bad", "[1]", '"text"', "", "null", '{"a": NaN}', "[" * 5000 + "]" * 5000])
def test_malformed_body_is_400(client, db, admin, raw):
    r = client.post(URL, data=raw, headers={**admin, "Content-Type": "application/json"})
    error(r, 400)
    assert rules(db) == 0


HUGE = "x" * 1_000_000
BAD = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "\ud800"}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"name": HUGE}, "name"),
    ({"name": 12}, "name"),
    ({"on_status": "converted"}, "on_status"),
    ({"on_status": "nope\x00"}, "on_status"),
    ({"on_status": None}, "on_status"),
    ({"active": "yes"}, "active"),
    ({"active": None}, "active"),
    ({"position": -1}, "position"),
    ({"position": 2**31}, "position"),
    ({"position": 10**400}, "position"),
    ({"position": 1.5}, "position"),
    ({"position": None}, "position"),
    ({"id": 3}, "id"),
    ({"created_at": "2026-01-01"}, "created_at"),
    ({"colour": "red"}, "colour"),
    ({"conditions": None}, "conditions"),
    ({"conditions": {"field": "company"}}, "conditions"),
    ({"conditions": [{"field": "company", "op": "not_empty"}] * 10_000}, "conditions"),
    ({"conditions": [{"field": "company\x00", "op": "equals", "value": "x"}]}, "conditions.0.field"),
    ({"conditions": [{"field": HUGE, "op": "equals", "value": "x"}]}, "conditions.0.field"),
    ({"conditions": [{"field": "company", "op": "equals", "value": "a\x00"}]}, "conditions.0.value"),
    ({"conditions": [{"field": "company", "op": "equals", "value": HUGE}]}, "conditions.0.value"),
    ({"conditions": [{"field": "company", "op": "equals", "value": {"a": 1}}]}, "conditions.0.value"),
    ({"conditions": [{"field": "employees", "op": "equals", "value": 10**30}]}, "conditions.0.value"),
    ({"conditions": [{"field": "annual_revenue", "op": "equals", "value": "1e999"}]}, "conditions.0.value"),
    ({"conditions": [{"field": "employees", "op": "in", "value": list(range(1000))}]}, "conditions.0.value"),
    ({"conditions": [{"field": "tags", "op": "contains", "value": "x" * 61}]}, "conditions.0.value"),
    ({"options": None}, "options"),
    ({"options": []}, "options"),
    ({"options": {"dry_run": True}}, "options.dry_run"),
    ({"options": {"owner_id": 10**30}}, "options.owner_id"),
    ({"options": {"owner_id": 999}}, "options.owner_id"),
    ({"options": {"contact": {"action": "link", "id": 1}}}, "options.contact.id"),
    ({"options": {"deal": {"stage": "a\x00"}}}, "options.deal.stage"),
    ({"options": {"deal": {"stage": "Won", "name": HUGE}}}, "options.deal.name"),
    ({"options": {"deal": {"stage": "Won", "amount": "1" * 100}}}, "options.deal.amount"),
    ({"options": {"deal": {"stage": "Won", "fields": {"description": "a\x00"}}}}, "options.deal.description"),
    ({"options": {"deal": {"stage": "Won", "fields": {"\x00": 1}}}}, "options.deal.fields"),
    ({"options": {"task": {"subject": HUGE}}}, "options.task.subject"),
    ({"options": {"deal": {"stage": "Won", "currency": ""}}}, "options.deal.currency"),  # JSON: "" is no currency
    ({"options": {"deal": {"stage": "Won", "amount": ""}}}, "options.deal.amount"),
    ({"options": {"deal": {"stage": "Won", "closing_date": ""}}}, "options.deal.closing_date"),
    ({"options": {"task": {"subject": "Call", "due_date": " "}}}, "options.task.due_date"),
    ({"options": {"\ud800": 1}}, "options"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_values_are_422_with_the_field_nothing_written(client, db, admin, existing, change, field):
    before = db_rows(db)
    body = {"name": "New", "on_status": "new", **change}
    raw = json.dumps(body)  # lone surrogates and huge numbers exactly as a client may send them
    for method, url in (("post", URL), ("patch", f"{URL}/{existing}"), ("put", f"{URL}/{existing}")):
        r = getattr(client, method)(url, data=raw, headers={**admin, "Content-Type": "application/json"})
        error(r, 422, field)
    assert_unchanged(db, before)


def test_every_error_at_once(client, db, admin):
    r = post(client, admin, {"name": "", "on_status": "nope", "conditions": [{"field": "x", "op": "y"}],
                             "options": {"deal": {}}, "active": 3})
    data = error(r, 422, "name", "on_status", "conditions.0.field", "conditions.0.op", "options.deal.stage", "active")
    assert data["error"] == "invalid"
    assert rules(db) == 0


def test_a_duplicate_name_is_a_field_error(client, db, admin, existing):
    error(post(client, admin, {**BODY, "name": BODY["name"].upper()}), 422, "name")
    other = post(client, admin, {"name": "Other", "on_status": "new"}).json["id"]
    error(client.patch(f"{URL}/{other}", json={"name": BODY["name"]}, headers=admin), 422, "name")
    assert rules(db) == 2


def test_names_compare_with_unicode_case_folding(client, admin):
    assert post(client, admin, {"name": "Ⱥlpha ÉTÉ", "on_status": "new"}).status_code == 201
    error(post(client, admin, {"name": "ⱥlpha été", "on_status": "new"}), 422, "name")


def test_a_name_taken_at_the_same_time_is_409(client, db, admin, existing, monkeypatch):
    from webapp.services import automation

    monkeypatch.setattr(automation, "_name_taken", lambda *args: False)  # the other request's row not seen yet
    before = db_rows(db)
    error(post(client, admin), 409, "name")
    assert_unchanged(db, before)


def test_required_on_create_and_put_not_on_patch(client, admin, existing):
    error(post(client, admin, {}), 422, "name", "on_status")
    error(client.put(f"{URL}/{existing}", json={"active": True}, headers=admin), 422, "name", "on_status")
    assert client.patch(f"{URL}/{existing}", json={}, headers=admin).status_code == 200


def test_messages_in_french(client, db, users, api_headers):
    users["admin"].language = "fr"
    db.session.commit()
    r = client.post(URL, json={"name": "", "on_status": "new"}, headers=api_headers(users["admin"]))
    data = error(r, 422, "name")
    assert data["message"] == "Certains champs sont à vérifier." and data["errors"]["name"] != ["is required"]


# --- a rule saved through the API converts (the hook) ---------------------------------------------

def test_a_rule_saved_here_converts_a_lead_moved_through_the_api(client, db, users, api_headers, admin, make_lead):
    post(client, admin)
    lead = make_lead(owner_id=users["sales"].id, lead_source="Web")
    r = client.patch(f"/api/v1/leads/{lead.id}", json={"status": "qualified"}, headers=api_headers(users["sales"]))
    assert r.status_code == 200 and r.json["converted"] is True and r.json["conversion_id"]
    conversion = client.get(f"/api/v1/lead-conversions/{r.json['conversion_id']}", headers=admin).json
    assert conversion["deal"]["action"] == "created" and conversion["task"]["action"] == "created"
    assert db.session.get(Lead, lead.id).status == "converted"
