"""Log in / out, CSRF on the login form, anonymous redirects."""

from urllib.parse import urlsplit

import pytest

from tests.conftest import PASSWORD, csrf_token_from


def test_anonymous_is_sent_to_login(client):
    response = client.get("/leads/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_with_good_password(client, users):
    response = client.post("/login", data={"email": "SALES@example.com ", "password": PASSWORD})
    assert response.status_code == 303
    assert client.get("/leads/").status_code == 200


def test_login_with_bad_password_shows_error_next_to_field(client, users):
    response = client.post("/login", data={"email": "sales@example.com", "password": "nope"})
    assert response.status_code == 422
    assert b"Wrong e-mail or password." in response.data
    assert client.get("/leads/").status_code == 302


def test_login_refuses_open_redirect(client, users):
    response = client.post("/login?next=//evil.example/x", data={"email": "sales@example.com", "password": PASSWORD})
    assert urlsplit(response.headers["Location"]).path == "/"  # the dashboard, never another site


@pytest.mark.csrf
def test_login_without_csrf_token_is_refused(client, users):
    response = client.post("/login", data={"email": "sales@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/leads/").status_code == 302


@pytest.mark.csrf
def test_login_with_csrf_token(client, users):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "sales@example.com", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303


def test_logout(as_user):
    client = as_user("sales")
    assert client.post("/logout").status_code == 303
    assert client.get("/leads/").status_code == 302


def test_inactive_user_cannot_log_in(client, users, db):
    users["sales"].active = False
    db.session.commit()
    response = client.post("/login", data={"email": "sales@example.com", "password": PASSWORD})
    assert response.status_code == 422
