"""API authentication: bearer tokens only (api.md Conventions), JSON errors for every failure."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import login
from webapp.models import ApiToken

ENDPOINTS = ["/api/v1/leads", "/api/v1/accounts", "/api/v1/contacts", "/api/v1/deals",
             "/api/v1/tasks", "/api/v1/notes", "/api/v1/leads/1"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer ", "Basic dXNlcjpwdw==", "crm_token"])
def test_no_or_bad_token_is_401_json(client, users, path, header):
    headers = {"Authorization": header} if header is not None else {}
    r = client.get(path, headers=headers)
    assert r.status_code == 401
    assert r.is_json and r.json["error"] == "unauthorized" and r.json["message"] and r.json["errors"] == {}
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_cookie_session_without_bearer_is_401(client, users, make_lead):
    """A logged-in browser never reaches the API: the cookie session is not a credential."""
    make_lead()
    login(client, users["admin"])
    assert client.get("/leads/").status_code == 200  # the session works for pages
    r = client.get("/api/v1/leads")
    assert r.status_code == 401
    r = client.post("/api/v1/leads", json={"last_name": "X"})
    assert r.status_code == 401


@pytest.mark.csrf
def test_bearer_post_needs_no_csrf_token(client, users, api_headers):
    """The blueprint is CSRF-exempt: only bearer requests are authenticated there."""
    r = client.post("/api/v1/leads", json={"last_name": "Stone"}, headers=api_headers(users["sales"]))
    assert r.status_code == 201


def test_inactive_user_token_is_401(client, db, users, api_headers):
    headers = api_headers(users["sales"])
    users["sales"].active = False
    db.session.commit()
    assert client.get("/api/v1/leads", headers=headers).status_code == 401


def test_revoked_token_is_401(client, db, users, api_headers):
    headers = api_headers(users["sales"])
    assert client.get("/api/v1/leads", headers=headers).status_code == 200
    db.session.execute(ApiToken.__table__.delete())
    db.session.commit()
    assert client.get("/api/v1/leads", headers=headers).status_code == 401


def test_last_used_at_is_set_once_per_minute(client, db, users, api_headers):
    headers = api_headers(users["viewer"])
    client.get("/api/v1/leads", headers=headers)
    first = db.session.scalar(select(ApiToken.last_used_at))
    assert first is not None
    client.get("/api/v1/leads", headers=headers)
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken.last_used_at)) == first


def test_openapi_document_is_public(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.json["openapi"].startswith("3.1")


def test_unknown_api_path_is_404_json(client, users, api_headers):
    r = client.get("/api/v1/nothing-here", headers=api_headers(users["admin"]))
    assert r.status_code == 404 and r.json["error"] == "not_found"


def test_unsupported_method_is_405_json_with_allow(client, users, api_headers):
    r = client.put("/api/v1/leads", headers=api_headers(users["admin"]), json={})
    assert r.status_code == 405 and r.json["error"] == "method_not_allowed"
    assert {"GET", "POST"} <= set(r.headers["Allow"].split(", "))
