"""e2e: create an API token on the profile page, use it against the API, revoke it."""

from __future__ import annotations

import urllib.request

from e2e.conftest import screenshot
from webapp.models import ApiToken


def _api_status(base: str, token: str) -> int:
    request = urllib.request.Request(f"{base}/api/v1/leads", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_create_use_and_revoke_a_token(page, live_server, login, app_db):
    login("sales@example.com")
    page.goto(f"{live_server}/profile/")
    page.get_by_label("Token name").fill("Nightly import")
    page.get_by_label("Token name").press("Enter")  # keyboard submit, swapped by htmx
    token = page.get_by_label("New API token").input_value()
    assert token.startswith("crm_")
    assert _api_status(live_server, token) == 200
    page.get_by_role("row", name="Nightly import").wait_for()
    screenshot(page, "profile-tokens")
    assert app_db.session.query(ApiToken).filter_by(name="Nightly import").count() == 1
    page.get_by_role("button", name="Revoke token Nightly import").click()
    page.get_by_text("revoked").wait_for()
    assert _api_status(live_server, token) == 401
