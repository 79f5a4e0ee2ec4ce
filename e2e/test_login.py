"""e2e: signing in and out."""

from playwright.sync_api import expect

from e2e.conftest import screenshot


def test_login_page_and_bad_password(page, live_server):
    page.goto(f"{live_server}/login")
    page.get_by_label("E-mail").fill("sales@example.com")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong e-mail or password.")).to_be_visible()
    screenshot(page, "login-error")


def test_login_then_sign_out(login, live_server):
    page = login("sales@example.com")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/login")
