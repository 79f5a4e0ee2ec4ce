"""/api/v1/lead-statuses (api.md Settings; issue 10 item 4): reading for every signed-in user,
writing for administrators (403 for every other role, 401 without a token), 422 with field
errors and nothing written, 409 for what the statuses' state forbids, never a 500; and the
OpenAPI document."""

from __future__ import annotations

import pytest

from tests.conftest import assert_unchanged, db_rows
from webapp.models import AutomationRule, Lead, LeadStatus

URL = "/api/v1/lead-statuses"
SHAPE = {"key", "label", "category", "position"}
DEFAULT = [("new", "New", "open", 0), ("contacted", "Contacted", "open", 1), ("qualified", "Qualified", "open", 2),
           ("disqualified", "Disqualified", "closed", 3), ("converted", "Converted", "converted", 4)]


@pytest.fixture
def admin(users, api_headers):
    return api_headers(users["admin"])


def error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    data = response.get_json()
    assert {"error", "message", "errors"} <= set(data) and data["message"]
    for f in fields:
        assert f in data["errors"], data
    return data


def listing(client, headers) -> list[tuple]:
    items = client.get(URL, headers=headers).json["items"]
    return [(s["key"], s["label"], s["category"], s["position"]) for s in items]


# --- reading -------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "manager", "sales", "viewer"])
def test_every_signed_in_user_reads_the_statuses_in_order(client, users, api_headers, role):
    headers = api_headers(users[role])
    r = client.get(URL, headers=headers)
    assert r.status_code == 200 and r.json["next_cursor"] is None
    assert all(set(item) == SHAPE for item in r.json["items"])
    assert listing(client, headers) == DEFAULT
    r = client.get(f"{URL}/qualified", headers=headers)
    assert r.status_code == 200 and r.json == {"key": "qualified", "label": "Qualified", "category": "open",
                                               "position": 2}


def test_the_list_pages_by_cursor(client, admin):
    for i in range(4):
        assert client.post(URL, json={"label": f"Step {i}"}, headers=admin).status_code == 201
    seen, cursor = [], None
    while True:
        r = client.get(URL, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=admin)
        assert r.status_code == 200 and len(r.json["items"]) <= 2
        seen += [s["key"] for s in r.json["items"]]
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert seen == ["new", "contacted", "qualified", "step_0", "step_1", "step_2", "step_3", "disqualified",
                    "converted"]


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 501}, {"cursor": "garbage"}, {"cursor": "e30"},
                                   {"sort": "label"}])
def test_bad_list_parameters_are_422(client, admin, query):
    error(client.get(URL, query_string=query, headers=admin), 422)


def test_unknown_keys_are_404(client, admin):
    for key in ("nope", "x" * 41, "N%C3%A9", "a%00b", "UPPER"):
        error(client.get(f"{URL}/{key}", headers=admin), 404)
        error(client.patch(f"{URL}/{key}", json={"label": "X"}, headers=admin), 404)
        error(client.delete(f"{URL}/{key}", headers=admin), 404)


# --- writing -----------------------------------------------------------------------------------

def test_create_update_delete(client, db, admin, make_lead):
    r = client.post(URL, json={"label": "Non joignable"}, headers=admin)
    assert r.status_code == 201, r.json
    assert r.json == {"key": "non_joignable", "label": "Non joignable", "category": "open", "position": 3}
    assert r.headers["Location"].endswith(f"{URL}/non_joignable")
    r = client.post(URL, json={"label": "Lost", "key": "lost", "category": "closed", "position": 0}, headers=admin)
    assert r.json["position"] == 4  # a closed status comes after the open ones
    r = client.patch(f"{URL}/non_joignable", json={"label": "Injoignable", "position": 0}, headers=admin)
    assert r.status_code == 200 and r.json == {"key": "non_joignable", "label": "Injoignable", "category": "open",
                                               "position": 0}
    r = client.patch(f"{URL}/non_joignable", json={"category": "closed"}, headers=admin)
    assert r.json["category"] == "closed" and r.json["position"] == 3  # the start of the closed block
    assert [k for k, *_ in listing(client, admin)] == ["new", "contacted", "qualified", "non_joignable", "lost",
                                                      "disqualified", "converted"]
    lead = make_lead(status="non_joignable")
    data = error(client.delete(f"{URL}/non_joignable", headers=admin), 409)
    assert data["leads"] == 1 and data["error"] == "status_has_leads"
    error(client.delete(f"{URL}/non_joignable", query_string={"move_to": "converted"}, headers=admin), 422,
          "move_to")
    assert client.delete(f"{URL}/non_joignable", query_string={"move_to": "lost"}, headers=admin).status_code == 204
    assert db.session.get(Lead, lead.id).status == "lost"
    error(client.get(f"{URL}/non_joignable", headers=admin), 404)
    assert client.delete(f"{URL}/lost", headers=admin).status_code == 409  # its lead now
    assert client.delete(f"{URL}/lost", query_string={"move_to": "new"}, headers=admin).status_code == 204
    assert listing(client, admin) == DEFAULT


def test_a_new_status_is_a_lead_status_of_the_api_at_once(client, admin):
    client.post(URL, json={"label": "Nurturing"}, headers=admin)
    r = client.post("/api/v1/leads", json={"last_name": "Martin", "company": "Zylker", "status": "nurturing"},
                    headers=admin)
    assert r.status_code == 201 and r.json["status"] == "nurturing"
    r = client.get("/api/v1/leads", query_string={"status": "nurturing"}, headers=admin)
    assert [lead["last_name"] for lead in r.json["items"]] == ["Martin"]
    enum = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert "nurturing" in str(enum)


def test_conflicts_are_409(client, db, admin):
    for method, url, body in [("patch", f"{URL}/converted", {"category": "open"}),
                              ("patch", f"{URL}/converted", {"position": 0}),
                              ("delete", f"{URL}/converted", None)]:
        data = error(getattr(client, method)(url, json=body, headers=admin) if body else
                     getattr(client, method)(url, headers=admin), 409)
        assert "managed by the system" in data["message"]
    assert client.patch(f"{URL}/converted", json={"label": "Won", "position": 4}, headers=admin).json["label"] == "Won"
    db.session.add(AutomationRule(name="Auto", on_status="qualified", options={}))
    db.session.commit()
    data = error(client.delete(f"{URL}/qualified", query_string={"move_to": "new"}, headers=admin), 409)
    assert data["error"] == "status_has_rules" and len(data["rules"]) == 1 and "“Auto”" in data["message"]
    for key in ("contacted", "qualified"):
        client.patch(f"{URL}/{key}", json={"category": "closed"}, headers=admin)
    data = error(client.patch(f"{URL}/new", json={"category": "closed"}, headers=admin), 409)
    assert "last open status" in data["message"]


HUGE = "x" * 1_000_000
BAD_CREATE = [
    ({}, "label"), ({"label": None}, "label"), ({"label": ""}, "label"), ({"label": "   "}, "label"),
    ({"label": "a\x00b"}, "label"), ({"label": "\ud800"}, "label"), ({"label": "x" * 81}, "label"),
    ({"label": HUGE}, "label"), ({"label": 12}, "label"), ({"label": "new"}, "label"),
    ({"label": "X", "key": "new"}, "key"), ({"label": "X", "key": "all"}, "key"), ({"label": "X", "key": None}, "key"),
    ({"label": "X", "key": ""}, "key"), ({"label": "X", "key": "Bad"}, "key"), ({"label": "X", "key": "a\x00"}, "key"),
    ({"label": "X", "key": "k" * 41}, "key"), ({"label": "X", "key": HUGE}, "key"), ({"label": "X", "key": 3}, "key"),
    ({"label": "X", "key": "ok\n"}, "key"),
    ({"label": "X", "category": "converted"}, "category"), ({"label": "X", "category": None}, "category"),
    ({"label": "X", "category": "Open"}, "category"), ({"label": "X", "category": ["open"]}, "category"),
    ({"label": "X", "position": -1}, "position"), ({"label": "X", "position": 2**31}, "position"),
    ({"label": "X", "position": 10**400}, "position"), ({"label": "X", "position": 1.5}, "position"),
    ({"label": "X", "position": "1"}, "position"), ({"label": "X", "position": None}, "position"),
    ({"label": "X", "position": True}, "position"), ({"label": "X", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CREATE)
def test_bad_input_is_422_and_writes_nothing(client, db, admin, body, field):
    before = db_rows(db)
    error(client.post(URL, json=body, headers=admin), 422, field)
    assert_unchanged(db, before)


@pytest.mark.parametrize(("body", "field"), [
    ({"key": "other"}, "key"), ({"key": "contacted"}, "key"), ({"label": None}, "label"), ({"label": "New"}, "label"),
    ({"label": HUGE}, "label"), ({"category": "converted"}, "category"), ({"position": -5}, "position"),
    ({"nope": 1}, "nope")])
def test_bad_changes_are_422_and_write_nothing(client, db, admin, body, field):
    before = db_rows(db)
    error(client.patch(f"{URL}/contacted", json=body, headers=admin), 422, field)
    assert_unchanged(db, before)


@pytest.mark.parametrize("raw", ["{bad", "[1]", '"text"', "", "null", "[" * 5000 + "]" * 5000])
def test_malformed_bodies_are_400(client, db, admin, raw):
    before = db_rows(db)
    error(client.post(URL, data=raw, headers={**admin, "Content-Type": "application/json"}), 400)
    error(client.patch(f"{URL}/new", data=raw, headers={**admin, "Content-Type": "application/json"}), 400)
    assert_unchanged(db, before)


# --- the per-role matrix -----------------------------------------------------------------------

WRITES = [("post", URL, {"label": "Matrix"}), ("patch", f"{URL}/new", {"label": "Fresh"}),
          ("delete", f"{URL}/contacted", None), ("delete", f"{URL}/nope", None)]


@pytest.mark.parametrize(("role", "expected"), [("admin", (201, 200, 204, 404)), ("manager", (403,) * 4),
                                                ("sales", (403,) * 4), ("viewer", (403,) * 4)])
def test_the_permission_matrix(client, db, users, api_headers, role, expected):
    headers = api_headers(users[role])
    before = db_rows(db)
    got = []
    for method, url, body in WRITES:
        r = getattr(client, method)(url, json=body, headers=headers) if body else getattr(client, method)(
            url, headers=headers)
        got.append(r.status_code)
        if r.status_code == 403:
            assert "Administration" in r.json["message"]
    assert tuple(got) == expected
    assert client.get(URL, headers=headers).status_code == 200
    assert client.get(f"{URL}/new", headers=headers).status_code == 200
    if role != "admin":
        assert_unchanged(db, before)
        assert db.session.get(LeadStatus, "new").label == "New"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_without_a_valid_token_401(client, db, headers):
    before = db_rows(db)
    for method, url, body in [("get", URL, None), ("get", f"{URL}/new", None), *WRITES]:
        r = getattr(client, method)(url, json=body, headers=headers) if body else getattr(client, method)(
            url, headers=headers)
        error(r, 401)
    assert_unchanged(db, before)


def test_french_messages_for_a_french_token_owner(client, db, users, api_headers):
    users["admin"].language = "fr"
    db.session.commit()
    data = error(client.post(URL, json={"label": "x" * 81}, headers=api_headers(users["admin"])), 422, "label")
    assert data["errors"]["label"] == ["fait au plus 80 caractères"] and data["error"] == "invalid"


# --- OpenAPI -------------------------------------------------------------------------------------

def test_the_openapi_document_describes_the_endpoints(client):
    doc = client.get("/api/v1/openapi.json").json
    paths = doc["paths"]
    assert set(paths[URL]) == {"get", "post"} and set(paths[f"{URL}/{{key}}"]) == {"get", "patch", "delete"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["LeadStatus"]["properties"]) == SHAPE
    assert schemas["LeadStatus"]["properties"]["category"]["enum"] == ["open", "closed", "converted"]
    assert schemas["LeadStatusCreate"]["properties"]["label"]["maxLength"] == 80
    assert schemas["LeadStatusCreate"]["properties"]["key"]["maxLength"] == 40
    assert schemas["LeadStatusUpdate"]["properties"]["category"]["enum"] == ["open", "closed"]
    assert "key" not in schemas["LeadStatusUpdate"]["properties"]
    delete = paths[f"{URL}/{{key}}"]["delete"]
    assert [p["name"] for p in delete["parameters"]] == ["key", "move_to"]
    assert {"204", "401", "403", "404", "409", "422"} <= set(delete["responses"])
    assert set(paths[URL]["post"]["responses"]) >= {"201", "400", "401", "403", "409", "422"}
