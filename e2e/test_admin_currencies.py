"""e2e (issue 10, item 8): an administrator adds an exchange rate (a refused one first: the
reason next to the field), edits it in its row by keyboard, sees the amount of a new deal in
that currency converted into the company currency as it is typed, and deletes the rate.
Screenshots of the page and the deal form in English and French (/tmp/shots/admin_currencies_*.png)
and axe on the page. The e2e database is shared: the currency used here (ISK) is one no other
test uses; its rates and its currency row are removed at the end, the admin back in English."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete

from e2e.test_a11y import axe_violations, readable
from webapp.models import AuditEntry, CurrencyRate, User
from webapp.models.catalog import ExchangeRate

SHOTS = Path("/tmp/shots")
CODE = "ISK"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # The pages' Content-Security-Policy forbids injected scripts: let axe in (this module only).
    return {**browser_context_args, "bypass_csp": True}


@pytest.fixture
def cleanup(app_db):
    def clean():
        session = app_db.session
        session.expire_all()
        session.execute(delete(ExchangeRate).where(ExchangeRate.currency == CODE))
        session.execute(delete(CurrencyRate).where(CurrencyRate.code == CODE))
        session.execute(delete(AuditEntry).where(AuditEntry.area == "currency", AuditEntry.key.like(f"{CODE} %")))
        session.query(User).filter(User.email == "admin@example.com").update({"language": None})
        session.commit()

    clean()
    yield
    clean()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"admin_currencies_{name}.png"), full_page=True)


def french(page) -> None:
    """The top bar's language switch (POST /profile/language language=fr)."""
    page.get_by_role("button", name="FR", exact=True).click()
    page.wait_for_load_state()


def test_add_edit_use_and_delete_a_rate(page, live_server, login, app_db, cleanup):
    login("admin@example.com")
    page.goto(f"{live_server}/admin/")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Currencies").click()
    page.get_by_role("heading", name="Currencies", level=1).wait_for()
    expect(page.locator("#company-currency")).to_have_value("EUR")
    assert not (v := axe_violations(page)), readable("currencies", v)

    # A refused rate: the reason next to the field, nothing saved.
    form = page.get_by_role("form", name="Add a rate")
    form.get_by_label("Currency").select_option(CODE)
    form.get_by_label("Rate (in EUR for 1 unit)").fill("0")
    form.get_by_label("Valid from").fill("2026-11-01")
    form.get_by_role("button", name="Add the rate").click()
    expect(page.locator("#new-rate-error")).to_have_text("Rate must be more than 0.")
    assert app_db.session.query(ExchangeRate).filter_by(currency=CODE).count() == 0

    # Corrected (what was typed stays): added, in force.
    form = page.get_by_role("form", name="Add a rate")
    expect(form.get_by_label("Currency")).to_have_value(CODE)
    form.get_by_label("Rate (in EUR for 1 unit)").fill("0.0065")
    form.get_by_role("button", name="Add the rate").click()
    expect(page.get_by_role("status").filter(has_text=f"Rate of {CODE} from Nov 1, 2026 added.")).to_be_visible()
    rate_id = app_db.session.query(ExchangeRate.id).filter_by(currency=CODE).scalar()
    row = page.locator(f"#rate-{rate_id}")
    expect(row).to_contain_text("0.0065")
    expect(row).to_contain_text("In force")

    # Edit it in its row, by keyboard: Enter in the rate field saves.
    row.get_by_role("link", name=f"Edit the rate of {CODE} from Nov 1, 2026").click()
    rate_input = page.locator(f"#rate{rate_id}-rate")
    rate_input.wait_for()
    rate_input.fill("0.0072")
    rate_input.press("Enter")
    expect(page.get_by_role("status").filter(has_text=f"Rate of {CODE} from Nov 1, 2026 saved.")).to_be_visible()
    expect(page.locator(f"#rate-{rate_id}")).to_contain_text("0.0072")
    shot(page, "en")

    # The deal form converts the amount as it is typed.
    page.goto(f"{live_server}/deals/new")
    page.locator("#name").fill("Currencies e2e deal")
    page.locator("#currency").select_option(CODE)
    page.locator("#amount").fill("150000")
    page.locator("#amount").press("Tab")
    expect(page.locator("#amount-converted")).to_have_text(
        "≈ €1,080.00 at the rate of Nov 1, 2026 (1 ISK = 0.0072 EUR)")
    page.locator("#currency").select_option("EUR")
    expect(page.locator("#amount-converted")).to_have_text("")
    page.locator("#currency").select_option(CODE)
    expect(page.locator("#amount-converted")).to_contain_text("≈ €1,080.00")
    shot(page, "deal_form_en")

    # In French: the names of the currencies, numbers and dates the French way.
    french(page)
    page.goto(f"{live_server}/admin/currencies")
    expect(page.locator("#company-currency option:checked")).to_have_text("euro (EUR)")
    expect(page.locator(f"#rate-{rate_id}")).to_contain_text("0,0072")
    shot(page, "fr")
    page.goto(f"{live_server}/deals/new")
    page.locator("#currency").select_option(CODE)
    page.locator("#amount").fill("150 000")
    page.locator("#amount").press("Tab")
    expect(page.locator("#amount-converted")).to_contain_text("1\u202f080,00\xa0€")
    shot(page, "deal_form_fr")

    # Delete it (the browser asks first).
    page.goto(f"{live_server}/admin/currencies")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#rate-{rate_id} button.btn-danger").click()
    expect(page.locator(f"#rate-{rate_id}")).to_have_count(0)
    assert app_db.session.query(ExchangeRate).filter_by(currency=CODE).count() == 0
