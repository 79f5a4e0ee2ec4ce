"""The profile page's API tokens: list, create (shown once), revoke; rights and CSRF."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import csrf_token_from, login
from webapp.models import ApiToken

ROLES = ("admin", "manager", "sales", "viewer")


@pytest.mark.parametrize("role, status", [*((r, 200) for r in ROLES), ("anonymous", 302)])
def test_profile_page_by_role(as_user, role, status):
    r = as_user(role).get("/profile/")
    assert r.status_code == status
    if status == 302:
        assert "/login" in r.headers["Location"]
    else:
        assert "API tokens" in r.text


@pytest.mark.parametrize("role", ROLES)
def test_create_token_shows_it_once_and_it_works(as_user, db, role, users):
    client = as_user(role)
    r = client.post("/profile/tokens", data={"name": "Nightly <import>"})
    assert r.status_code == 201
    token = r.text.split('id="new-token"')[1].split('value="')[1].split('"')[0]
    assert token.startswith("crm_")
    assert "Nightly &lt;import&gt;" in r.text  # escaped
    row = db.session.scalar(select(ApiToken))
    assert row.user_id == users[role].id and row.token_hash == ApiToken.hash(token) and token not in row.token_hash
    assert token not in client.get("/profile/").text  # shown only once
    api = client.application.test_client()
    assert api.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_create_token_htmx_gets_fragment(as_user):
    r = as_user("sales").post("/profile/tokens", data={"name": "x"}, headers={"HX-Request": "true"})
    assert r.status_code == 201 and "<html" not in r.text and "new-token" in r.text
    assert "HX-Request" in r.headers["Vary"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_bad_token_name_is_422_next_to_field(as_user, db, name):
    r = as_user("sales").post("/profile/tokens", data={"name": name})
    assert r.status_code == 422 and "field-error" in r.text
    assert db.session.scalar(select(ApiToken)) is None


def test_revoke_own_token(as_user, db, users, api_headers):
    headers = api_headers(users["sales"])
    row = db.session.scalar(select(ApiToken))
    client = as_user("sales")
    r = client.post(f"/profile/tokens/{row.id}/revoke")
    assert r.status_code == 303
    assert db.session.scalar(select(ApiToken)) is None
    assert client.get("/api/v1/leads", headers=headers).status_code == 401


def test_cannot_revoke_someone_elses_token(as_user, db, users, api_headers):
    api_headers(users["admin"])
    row = db.session.scalar(select(ApiToken))
    assert as_user("sales").post(f"/profile/tokens/{row.id}/revoke").status_code == 404
    assert as_user("anonymous").post(f"/profile/tokens/{row.id}/revoke").status_code == 302
    assert db.session.scalar(select(ApiToken)) is not None


@pytest.mark.csrf
def test_token_forms_need_csrf(client, users, db, api_headers):
    login(client, users["sales"])
    assert client.post("/profile/tokens", data={"name": "x"}).status_code == 400
    api_headers(users["sales"])
    row = db.session.scalar(select(ApiToken))
    assert client.post(f"/profile/tokens/{row.id}/revoke").status_code == 400
    token = csrf_token_from(client.get("/profile/").text)
    assert client.post("/profile/tokens", data={"name": "x", "csrf_token": token}).status_code == 201
