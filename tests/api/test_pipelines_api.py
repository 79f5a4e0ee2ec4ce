"""/api/v1/pipelines (api.md Settings; issue 10, item 5): `{"id", "name", "default", "stages":
[{"name", "position", "probability"}]}`; reading for every user, writing for administrators
(403 for every other role, 401 without a token); 422 field errors and 409 conflicts with
nothing written; in the OpenAPI document."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests.conftest import assert_unchanged, db_rows
from webapp.models import Deal, Pipeline

URL = "/api/v1/pipelines"
KEYS = {"id", "name", "default", "stages"}
STAGE_KEYS = {"name", "position", "probability"}
ROLES = ("admin", "manager", "sales", "viewer")


@pytest.fixture
def admin(users, api_headers):
    return api_headers(users["admin"])


@pytest.fixture
def default_id(db) -> int:
    return db.session.scalar(select(Pipeline.id).where(Pipeline.is_default.is_(True)))


def error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    data = response.get_json()
    assert {"error", "message", "errors"} <= set(data) and data["message"]
    for f in fields:
        assert f in data["errors"], data
    return data


def deals(db, **where) -> list[str]:
    return list(db.session.scalars(select(Deal.stage).filter_by(**where).order_by(Deal.id)))


# ---------------------------------------------------------------- the permission matrix

def _writes(default_id: int) -> list[tuple[str, str, dict | None]]:
    return [
        ("post", URL, {"name": "Matrix"}),
        ("patch", f"{URL}/{default_id}", {"name": "Renamed"}),
        ("put", f"{URL}/{default_id}", {"name": "Renamed", "stages": [{"name": "A"}]}),
        ("delete", f"{URL}/{default_id}", None),
        ("post", f"{URL}/{default_id}/stages", {"name": "Demo"}),
        ("patch", f"{URL}/{default_id}/stages/Won", {"probability": 90}),
        ("delete", f"{URL}/{default_id}/stages/Lost", None),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_user_reads_the_pipelines(client, users, api_headers, default_id, role):
    headers = api_headers(users[role])
    r = client.get(URL, headers=headers)
    assert r.status_code == 200 and r.json["next_cursor"] is None
    [sales] = r.json["items"]
    assert set(sales) == KEYS and sales["default"] is True and sales["name"] == "Sales"
    assert all(set(s) == STAGE_KEYS for s in sales["stages"])
    assert [(s["name"], s["position"], s["probability"]) for s in sales["stages"]] == [
        ("Incoming", 0, 10), ("Qualification", 1, 20), ("Proposal", 2, 40), ("Negotiation", 3, 60),
        ("Won", 4, 100), ("Lost", 5, 0)]
    assert client.get(f"{URL}/{default_id}", headers=headers).json == sales


@pytest.mark.parametrize("role", ("manager", "sales", "viewer"))
def test_only_administrators_write(client, db, users, api_headers, default_id, role):
    headers = api_headers(users[role])
    before = db_rows(db)
    for method, url, body in _writes(default_id):
        r = getattr(client, method)(url, json=body, headers=headers) if body is not None else \
            getattr(client, method)(url, headers=headers)
        data = error(r, 403)
        assert data["error"] == "forbidden" and "Administration" in data["message"], (method, url)
    assert_unchanged(db, before)


def test_without_a_token_everything_is_401(client, db, default_id):
    calls = [("get", URL, None), ("get", f"{URL}/{default_id}", None), *_writes(default_id)]
    for method, url, body in calls:
        r = getattr(client, method)(url, json=body) if body is not None else getattr(client, method)(url)
        assert r.status_code == 401 and r.json["error"] == "unauthorized", (method, url)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


# ---------------------------------------------------------------- pipelines

def test_create_with_the_default_stages_or_its_own(client, db, admin):
    r = client.post(URL, json={"name": "Renewals"}, headers=admin)
    assert r.status_code == 201, r.json
    assert set(r.json) == KEYS and r.json["default"] is False
    assert [s["name"] for s in r.json["stages"]] == ["Incoming", "Qualification", "Proposal", "Negotiation",
                                                     "Won", "Lost"]
    assert r.headers["Location"].endswith(f"{URL}/{r.json['id']}")
    r = client.post(URL, json={"name": "Partners", "default": True,
                               "stages": [{"name": "Intro", "probability": 10}, {"name": "Signed", "probability": 100}]},
                    headers=admin)
    assert r.status_code == 201 and r.json["default"] is True
    assert r.json["stages"] == [{"name": "Intro", "position": 0, "probability": 10},
                                {"name": "Signed", "position": 1, "probability": 100}]
    listed = client.get(URL, headers=admin).json["items"]
    assert [p["name"] for p in listed] == ["Partners", "Renewals", "Sales"]  # newest first
    assert [p["name"] for p in listed if p["default"]] == ["Partners"]  # exactly one default


@pytest.mark.parametrize(("body", "fields"), [
    ({}, ("name",)),
    ({"name": ""}, ("name",)),
    ({"name": "sales"}, ("name",)),
    ({"name": "N\x00"}, ("name",)),
    ({"name": "x" * 5000}, ("name",)),
    ({"name": 12}, ("name",)),
    ({"name": "P", "default": "true"}, ("default",)),
    ({"name": "P", "stages": []}, ("stages",)),
    ({"name": "P", "stages": [{"name": "A", "probability": 101}, {"name": "a"}]},
     ("stages.0.probability", "stages.1.name")),
    ({"name": "P", "stages": [{"name": "A", "probability": "10"}]}, ("stages.0.probability",)),
    ({"name": "P", "id": 4, "colour": "red"}, ("id", "colour")),
])
def test_create_refuses_bad_values_with_field_errors(client, db, admin, body, fields):
    before = db_rows(db)
    data = error(client.post(URL, json=body, headers=admin), 422, *fields)
    assert data["error"] == "invalid"
    assert_unchanged(db, before)


def test_malformed_bodies_and_parameters(client, db, admin, default_id):
    assert client.post(URL, data="{", headers={**admin, "Content-Type": "application/json"}).status_code == 400
    assert client.post(URL, json=[1], headers=admin).status_code == 400
    assert error(client.get(f"{URL}?limit=0", headers=admin), 422, "limit")
    assert error(client.get(f"{URL}?colour=red", headers=admin), 422, "colour")
    assert error(client.get(f"{URL}?cursor=nope", headers=admin), 422, "cursor")
    assert client.get(f"{URL}/999", headers=admin).status_code == 404
    assert client.get(f"{URL}/{2**40}", headers=admin).status_code == 404
    assert client.patch(f"{URL}/{default_id}/stages/Nope", json={"name": "X"}, headers=admin).status_code == 404
    assert client.delete(f"{URL}/{default_id}/stages/{quote(chr(0))}", headers=admin).status_code == 404


def test_pages_by_cursor(client, db, admin):
    for i in range(3):
        assert client.post(URL, json={"name": f"P{i}"}, headers=admin).status_code == 201
    first = client.get(f"{URL}?limit=2", headers=admin).json
    assert [p["name"] for p in first["items"]] == ["P2", "P1"] and first["next_cursor"]
    second = client.get(f"{URL}?limit=2&cursor={first['next_cursor']}", headers=admin).json
    assert [p["name"] for p in second["items"]] == ["P0", "Sales"] and second["next_cursor"] is None


def test_rename_and_make_default(client, db, admin, default_id):
    other = client.post(URL, json={"name": "Partners"}, headers=admin).json
    r = client.patch(f"{URL}/{other['id']}", json={"name": "Channel partners", "default": True}, headers=admin)
    assert r.status_code == 200 and (r.json["name"], r.json["default"]) == ("Channel partners", True)
    assert client.get(f"{URL}/{default_id}", headers=admin).json["default"] is False
    data = error(client.patch(f"{URL}/{other['id']}", json={"default": False}, headers=admin), 409, "default")
    assert data["error"] == "default_pipeline"
    error(client.patch(f"{URL}/{default_id}", json={"name": "channel PARTNERS"}, headers=admin), 422, "name")


def test_delete_refusals_and_delete(client, db, admin, default_id, make_deal):
    data = error(client.delete(f"{URL}/{default_id}", headers=admin), 409)
    assert data["error"] == "default_pipeline"
    other = client.post(URL, json={"name": "Partners", "stages": [{"name": "Intro"}]}, headers=admin).json
    make_deal(pipeline_id=other["id"], stage="Intro")
    make_deal(pipeline_id=other["id"], stage="Intro")
    before = db_rows(db)
    data = error(client.delete(f"{URL}/{other['id']}", headers=admin), 409)
    assert (data["error"], data["deals"]) == ("pipeline_in_use", 2)
    assert data["message"] == "Deals in the pipeline “Partners”: 2. Move them to another pipeline before deleting it."
    assert_unchanged(db, before)
    db.session.query(Deal).delete()
    db.session.commit()
    assert client.delete(f"{URL}/{other['id']}", headers=admin).status_code == 204
    assert client.get(f"{URL}/{other['id']}", headers=admin).status_code == 404


def test_put_replaces_name_and_stages(client, db, admin, default_id, make_deal):
    make_deal(stage="Won")
    error(client.put(f"{URL}/{default_id}", json={"name": "Sales"}, headers=admin), 422, "stages")
    r = client.put(f"{URL}/{default_id}", json={"name": "Sales", "stages": [
        {"name": "Incoming"}, {"name": "Won", "probability": 100}, {"name": "Lost"}]}, headers=admin)
    assert r.status_code == 200, r.json
    assert [s["name"] for s in r.json["stages"]] == ["Incoming", "Won", "Lost"]
    data = error(client.patch(f"{URL}/{default_id}", json={"stages": [{"name": "Incoming"}]}, headers=admin), 409)
    assert (data["error"], data["deals"]) == ("stage_in_use", 1)


# ---------------------------------------------------------------- stages

def test_add_rename_move_a_stage(client, db, admin, default_id, make_deal):
    make_deal(stage="Proposal")
    r = client.post(f"{URL}/{default_id}/stages", json={"name": "Demo", "probability": 30, "position": 1},
                    headers=admin)
    assert r.status_code == 201 and [s["name"] for s in r.json["stages"]][:3] == ["Incoming", "Demo", "Qualification"]
    r = client.patch(f"{URL}/{default_id}/stages/Proposal", json={"name": "Offer / quote", "position": 0},
                     headers=admin)
    assert r.status_code == 200, r.json
    assert r.json["stages"][0] == {"name": "Offer / quote", "position": 0, "probability": 40}
    assert deals(db) == ["Offer / quote"]  # the deal followed the rename
    # A name with a slash is addressed as it is.
    r = client.patch(f"{URL}/{default_id}/stages/{quote('Offer / quote')}", json={"probability": 45}, headers=admin)
    assert r.status_code == 200 and r.json["stages"][0]["probability"] == 45
    error(client.post(f"{URL}/{default_id}/stages", json={"name": "won"}, headers=admin), 422, "name")
    error(client.patch(f"{URL}/{default_id}/stages/Won", json={"probability": 101}, headers=admin), 422, "probability")
    error(client.patch(f"{URL}/{default_id}/stages/Won", json={"position": -1}, headers=admin), 422, "position")


def test_a_stage_with_deals_is_deleted_only_by_moving_them(client, db, admin, default_id, make_deal):
    for _ in range(2):
        make_deal(stage="Proposal")
    before = db_rows(db)
    data = error(client.delete(f"{URL}/{default_id}/stages/Proposal", headers=admin), 409, "move_to")
    assert (data["error"], data["deals"]) == ("stage_in_use", 2)
    error(client.delete(f"{URL}/{default_id}/stages/Proposal?move_to=Dreaming", headers=admin), 422, "move_to")
    error(client.delete(f"{URL}/{default_id}/stages/Proposal?move_to={quote(chr(0))}", headers=admin), 422, "move_to")
    error(client.delete(f"{URL}/{default_id}/stages/Proposal?colour=red", headers=admin), 422, "colour")
    assert_unchanged(db, before)
    assert client.delete(f"{URL}/{default_id}/stages/Proposal?move_to=Negotiation", headers=admin).status_code == 204
    assert deals(db) == ["Negotiation", "Negotiation"]
    stages = client.get(f"{URL}/{default_id}", headers=admin).json["stages"]
    assert [s["name"] for s in stages] == ["Incoming", "Qualification", "Negotiation", "Won", "Lost"]
    assert client.delete(f"{URL}/{default_id}/stages/Lost", headers=admin).status_code == 204  # empty


def test_the_openapi_document_describes_the_pipelines(client):
    doc = client.get("/api/v1/openapi.json").json
    assert {"get", "post"} <= set(doc["paths"]["/api/v1/pipelines"])
    assert {"get", "patch", "put", "delete"} <= set(doc["paths"]["/api/v1/pipelines/{id}"])
    assert {"patch", "delete"} <= set(doc["paths"]["/api/v1/pipelines/{id}/stages/{name}"])
    assert "post" in doc["paths"]["/api/v1/pipelines/{id}/stages"]
    schema = doc["components"]["schemas"]
    assert set(schema["Pipeline"]["required"]) == KEYS
    assert set(schema["PipelineStage"]["properties"]) == STAGE_KEYS
    assert schema["PipelineStageCreate"]["properties"]["probability"]["maximum"] == 100
    assert "409" in doc["paths"]["/api/v1/pipelines/{id}/stages/{name}"]["delete"]["responses"]



def test_a_name_taken_at_the_same_time_is_a_409(client, db, admin, monkeypatch):
    from webapp.services import pipelines as svc

    monkeypatch.setattr(svc, "_pipeline_name_taken", lambda *a: False)
    before = db_rows(db)
    data = error(client.post(URL, json={"name": "Sales"}, headers=admin), 409)
    assert data["error"] == "conflict" and "nothing was saved" in data["message"]
    assert_unchanged(db, before)
