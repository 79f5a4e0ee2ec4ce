"""e2e: create an account, a contact on it, then a deal; see them linked on the account page;
keyboard navigation of the accounts list; screenshots of the list and detail pages."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from e2e.conftest import screenshot
from webapp.models import Account, Contact, Deal


def test_account_contact_deal_linked(login, live_server, app_db):
    page = login("sales@example.com")
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("link", name="New account").click()
    page.get_by_label("Account name").fill("Orbit Systems SAS")
    page.get_by_label("Industry").fill("Aerospace")
    page.get_by_label("Website").fill("https://orbit.example")
    page.get_by_label("Phone").first.fill("+33 1 44 55 66 77")
    page.get_by_label("Annual revenue").fill("2500000")
    page.get_by_label("Employees").fill("180")
    page.get_by_label("Tags").fill("strategic, space")
    page.locator("#billing_city").fill("Toulouse")
    page.locator("#billing_country").fill("France")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Orbit Systems SAS")
    # The record's timeline is in the side column's Timeline tab, as on the lead page.
    page.get_by_role("tab", name="Timeline").click()
    expect(page.get_by_role("tabpanel", name="Timeline").get_by_text("Account created")).to_be_visible()

    page.get_by_role("link", name="New contact").click()
    expect(page.locator("#account_id")).to_have_value(str(
        app_db.session.scalar(select(Account.id).where(Account.name == "Orbit Systems SAS"))))
    page.get_by_label("First name").fill("Nadia")
    page.get_by_label("Last name").fill("Benali")
    page.get_by_label("Title").fill("Head of procurement")
    page.get_by_label("E-mail", exact=True).fill("nadia@orbit.example")
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nadia Benali")

    page.get_by_role("link", name="New deal").click()
    page.get_by_label("Deal name").fill("Orbit ground stations")
    page.get_by_label("Stage").select_option("Proposal")
    page.get_by_label("Amount").fill("480000")
    page.get_by_label("Closing date").fill("2026-11-30")
    page.get_by_label("Contact role").fill("Decision maker")
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Orbit ground stations")
    expect(page.locator(".stage-current")).to_contain_text("Proposal")
    screenshot(page, "deal-detail")

    app_db.session.expire_all()
    account = app_db.session.scalar(select(Account).where(Account.name == "Orbit Systems SAS"))
    contact = app_db.session.scalar(select(Contact).where(Contact.last_name == "Benali"))
    deal = app_db.session.scalar(select(Deal).where(Deal.name == "Orbit ground stations"))
    assert contact.account_id == account.id
    assert (deal.account_id, deal.contact_id, deal.stage) == (account.id, contact.id, "Proposal")

    page.get_by_role("link", name="Orbit Systems SAS").first.click()
    expect(page.get_by_role("link", name="Nadia Benali")).to_be_visible()
    expect(page.get_by_role("link", name="Orbit ground stations")).to_be_visible()
    screenshot(page, "account-detail")


def test_bad_input_shows_error_next_to_field(login, live_server):
    page = login("sales@example.com")
    page.goto(f"{live_server}/deals/new")
    page.get_by_label("Deal name").fill("Negative")
    page.get_by_label("Amount").fill("-5")
    page.get_by_role("button", name="Create deal").click()
    expect(page.locator("#amount-error")).to_contain_text("zero or more")


def test_accounts_list_live_search_and_keyboard(login, live_server, app_db):
    for i, name in enumerate(("Helios Energy", "Helix Pharma", "Nordwind GmbH", "Zylker Inc.", "Acme Corp")):
        app_db.session.add(Account(name=name, industry=("Energy", "Health", "Logistics", "Software", "Retail")[i],
                                   billing_city=("Lyon", "Basel", "Hamburg", "Paris", "Austin")[i]))
    app_db.session.commit()
    page = login("sales@example.com")
    page.goto(f"{live_server}/accounts/")
    screenshot(page, "accounts-list")
    page.keyboard.press("/")
    page.keyboard.type("heli")
    expect(page.locator("#rows tr[data-href]")).to_have_count(2)
    expect(page).to_have_url(f"{live_server}/accounts/?q=heli&owner_id=&tag=&sort=name")
    page.wait_for_load_state("networkidle")
    page.locator("#rows tr[data-href]").first.focus()
    page.keyboard.press("j")
    expect(page.locator("#rows tr[data-href]").nth(1)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Helix Pharma")
