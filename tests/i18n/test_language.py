"""Choosing the language and the time zone, and the locale formats (issue 8)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from tests.conftest import login
from webapp import i18n


def _lang(html: str) -> str:
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(("accept", "expected"), [
    ("fr-FR,fr;q=0.9,en;q=0.5", "fr"), ("fr-CA", "fr"), ("en-GB,en;q=0.8", "en"),
    ("de-DE,de;q=0.9", "en"), ("", "en"), ("de;q=0.9,fr;q=0.4", "fr"),
])
def test_the_browser_chooses_until_the_profile_does(client, accept, expected):
    html = client.get("/login", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert _lang(html) == expected


def test_the_profile_language_wins_over_the_browser(client, users, db):
    users["sales"].language = "fr"
    db.session.commit()
    login(client, users["sales"])
    html = client.get("/leads/", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert _lang(html) == "fr"
    assert "Pistes" in html


def test_the_switcher_sets_the_profile_and_goes_back(client, users, db):
    login(client, users["sales"])
    response = client.post("/profile/language", data={"language": "fr", "next": "/accounts/?q=x"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/accounts/?q=x")
    db.session.refresh(users["sales"])
    assert users["sales"].language == "fr"
    assert _lang(client.get("/accounts/").get_data(as_text=True)) == "fr"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", ""])
def test_the_switcher_never_leaves_the_site(client, users, target):
    login(client, users["sales"])
    response = client.post("/profile/language", data={"language": "en", "next": target})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/"  # the dashboard


def test_an_unknown_language_is_refused_and_nothing_changes(client, users, db):
    login(client, users["sales"])
    response = client.post("/profile/language", data={"language": "xx", "next": "/leads/"})
    assert response.status_code == 422
    db.session.refresh(users["sales"])
    assert users["sales"].language is None


def test_preferences_save_language_and_time_zone(client, users, db):
    login(client, users["sales"])
    response = client.post("/profile/preferences", data={"language": "fr", "timezone": "America/New_York"})
    assert response.status_code == 303
    db.session.refresh(users["sales"])
    assert (users["sales"].language, users["sales"].timezone) == ("fr", "America/New_York")
    response = client.post("/profile/preferences", data={"language": "", "timezone": ""})
    db.session.refresh(users["sales"])
    assert (users["sales"].language, users["sales"].timezone) == (None, None)


def test_a_bad_time_zone_is_shown_next_to_its_field(client, users, db):
    login(client, users["sales"])
    response = client.post("/profile/preferences", data={"language": "fr", "timezone": "Mars/Olympus"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Fuseau horaire" in html or "Time zone" in html
    assert "Europe/Paris" in html  # the example in the reason
    db.session.refresh(users["sales"])
    assert (users["sales"].language, users["sales"].timezone) == (None, None)


def test_the_api_answers_in_the_token_owners_language(client, users, db, api_headers):
    users["sales"].language = "fr"
    db.session.commit()
    headers = {**api_headers(users["sales"]), "Accept-Language": "en"}
    body = client.get("/api/v1/leads/999999", headers=headers).get_json()
    assert body["error"] == "not_found"
    assert body["message"] != "There is nothing here." and body["message"]
    body = client.post("/api/v1/leads", json={"last_name": "x" * 500}, headers=headers).get_json()
    assert body["error"] == "invalid"
    assert list(body["errors"]) == ["last_name"]  # the keys stay
    assert "at most" not in body["errors"]["last_name"][0]


def test_the_api_follows_accept_language_when_the_profile_says_nothing(client, users, api_headers):
    headers = {**api_headers(users["sales"]), "Accept-Language": "fr"}
    body = client.get("/api/v1/leads/999999", headers=headers).get_json()
    assert body["message"] != "There is nothing here."
    english = client.get("/api/v1/leads/999999", headers={**headers, "Accept-Language": "en"}).get_json()
    assert english["message"] == "There is nothing here." or "999999" in english["message"]


def test_an_unauthenticated_api_call_follows_the_browser(client):
    body = client.get("/api/v1/leads", headers={"Accept-Language": "fr"}).get_json()
    assert body["error"] == "unauthorized"
    assert "token" in body["message"].lower() and "Send an API token" not in body["message"]


# --- formats ---------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "money", "day", "number"), [
    ("fr", "12\u202f000,00\xa0€", "1 déc. 2026", "1\u202f234,5"),
    ("en", "€12,000.00", "Dec 1, 2026", "1,234.5"),
])
def test_money_dates_and_numbers_per_locale(app, lang, money, day, number):
    from flask import g

    g.pop("_flask_babel", None)
    with app.test_request_context(headers={"Accept-Language": lang}):
        assert i18n.fmt_money(Decimal("12000"), "EUR") == money
        assert i18n.fmt_date(datetime(2026, 12, 1, 10, 0, tzinfo=UTC)) == day
        assert i18n.fmt_number(Decimal("1234.5")) == number


def test_dates_are_shown_in_the_users_time_zone(app, users, db):
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # already 2 December in Paris
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert i18n.fmt_date(late) == "Dec 2, 2026"  # DEFAULT_TIMEZONE Europe/Paris
    from flask import g

    g.pop("_flask_babel", None)
    users["sales"].timezone = "America/New_York"
    db.session.commit()
    with app.test_request_context(headers={"Accept-Language": "en"}):
        from flask import g
        from flask_babel import refresh

        g.api_user = users["sales"]
        refresh()
        assert i18n.fmt_date(late) == "Dec 1, 2026"
        assert "6:30" in i18n.fmt_datetime(late)


def test_phones_are_shown_in_their_national_format(app):
    with app.test_request_context():
        assert i18n.fmt_phone("+33123456789") == "01 23 45 67 89"
        assert i18n.fmt_phone("+442079460958") == "+44 20 7946 0958"
        assert i18n.fmt_phone("not a phone") == "not a phone"
        assert i18n.fmt_phone(None) == ""


@pytest.mark.parametrize(("lang", "raw", "expected"), [
    ("fr", "12,5", "12.5"), ("fr", "12 000,50", "12000.50"), ("fr", "12\u202f000,50", "12000.50"),
    ("fr", "12.5", "12.5"), ("fr", "-3,25", "-3.25"), ("fr", "1,2,3", "1,2,3"), ("fr", "abc", "abc"),
    ("en", "12.5", "12.5"), ("en", "12,000.50", "12000.50"), ("en", "12 000", "12000"), ("fr", "1 2", "1 2"), ("en", "12,5", "12,5"), ("fr", "", ""),
])
def test_decimal_comma_input(app, lang, raw, expected):
    from flask import g

    g.pop("_flask_babel", None)
    with app.test_request_context(headers={"Accept-Language": lang}):
        assert i18n.parse_locale_decimal(raw) == expected
