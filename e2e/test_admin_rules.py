"""e2e (issue 10 item 7, C8.6): an administrator creates an automation rule on the rules screen —
a condition row added by keyboard, the deal with a name template and "+ add a field" from the
bulk panel's widgets — drags a lead to its status on the board and sees it converted (the card
leaves the board), then sees the run on the rules list; deactivates and deletes the rule.
Screenshots in English and French (/tmp/shots/admin_rules_*.png), axe on the pages. The e2e
database is shared: the leads and the rule have a prefix no other test uses ("Arrule"), the rule
is deleted at the end and the admin is back in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from e2e.test_a11y import axe_violations, readable
from e2e.test_board_bulk import card, drag
from webapp.models import AuditEntry, AutomationRule, Deal, Lead, User

SHOTS = Path("/tmp/shots")
PREFIX = "Arrule"
RULE = "Arrule contacted"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # The pages' Content-Security-Policy forbids injected scripts: let axe in (this module only).
    return {**browser_context_args, "bypass_csp": True}


@pytest.fixture
def leads(app_db):
    session = app_db.session
    owner = session.scalar(select(User.id).where(User.email == "sales@example.com"))
    rows = [Lead(first_name=f"{PREFIX}{i:02d}", last_name="Zed", company=f"{PREFIX} Co {i}", status="new",
                 email=f"{PREFIX.lower()}{i}@e2e.example", owner_id=owner) for i in range(2)]
    session.add_all(rows)
    session.commit()
    yield [r.id for r in rows]
    session.rollback()
    session.execute(delete(AutomationRule).where(AutomationRule.name.like(f"{PREFIX}%")))
    session.query(User).filter(User.email == "admin@example.com").update({"language": None})
    session.commit()


def settled(page) -> None:
    """Wait until htmx has finished the swap."""
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"admin_rules_{name}.png"), full_page=True)


def fill_the_rule(page) -> None:
    page.locator("#name").fill(RULE)
    page.locator("#on_status").select_option("contacted")
    # A condition by keyboard: the new row's field takes the focus.
    add = page.get_by_role("button", name="+ Add a condition")
    add.focus()
    page.keyboard.press("Enter")
    field = page.get_by_label("Condition 1: field")
    expect(field).to_be_focused()
    settled(page)
    field.select_option("company")
    settled(page)
    expect(page.get_by_label("Condition 1: operator")).to_have_value("equals")
    page.get_by_label("Condition 1: value").fill(f"{PREFIX} Co 0")
    # A second row, removed again: the focus goes back to "Add a condition".
    add.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Condition 2: field")).to_be_focused()
    settled(page)
    page.get_by_role("button", name="Remove condition 2").press("Enter")
    expect(page.get_by_label("Condition 2: field")).to_have_count(0)
    expect(page.get_by_role("button", name="+ Add a condition")).to_be_focused()
    settled(page)
    # The bulk panel's widgets: the deal with a name template and "+ add a field".
    page.get_by_label("Create a deal").check()
    page.get_by_label("Deal name").fill("{company} – rule")
    page.locator("#add_field").select_option("amount")
    settled(page)
    expect(page.get_by_label("Condition 1: value")).to_have_value(f"{PREFIX} Co 0")  # kept through the swap
    page.get_by_label("Amount", exact=True).fill("1500")


def test_create_a_rule_and_see_a_lead_converted_when_dragged_to_its_status(page, live_server, login, app_db, leads):
    login("admin@example.com")
    page.goto(f"{live_server}/admin/")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Automation rules").click()
    page.get_by_role("heading", name="Automation rules", level=1).wait_for()
    page.get_by_role("link", name="New rule").click()
    page.get_by_role("heading", name="New automation rule", level=1).wait_for()

    # Bad input first: 422, each reason next to its field, nothing saved.
    page.get_by_role("button", name="+ Add a condition").click()
    settled(page)
    page.get_by_label("Condition 1: field").select_option("employees")
    settled(page)
    page.get_by_label("Condition 1: value").fill("beaucoup")
    page.get_by_role("button", name="Create the rule").click()
    expect(page.locator("#name-error")).to_have_text("Name is required.")
    expect(page.locator("#conditions-0-value-error")).to_have_text("Value must be a whole number.")
    expect(page.get_by_label("Condition 1: value")).to_have_attribute("aria-invalid", "true")
    assert app_db.session.scalar(select(AutomationRule).where(AutomationRule.name.like(f"{PREFIX}%"))) is None
    shot(page, "form_errors_en")
    page.get_by_role("button", name="Remove condition 1").click()
    settled(page)

    fill_the_rule(page)
    assert not (v := axe_violations(page)), readable("rule form", v)
    shot(page, "form_en")
    page.get_by_role("button", name="Create the rule").click()
    page.wait_for_url(f"{live_server}/admin/rules")
    expect(page.locator("#flashes")).to_contain_text(f"Rule “{RULE}” created.")
    row = page.locator("tr.rule-row", has_text=RULE)
    expect(row).to_contain_text(f"Company is “{PREFIX} Co 0”")
    expect(row).to_contain_text("Never run")

    # The board: the lead dragged to "Contacted" is converted by the rule and leaves the board.
    page.goto(f"{live_server}/leads/board?q={PREFIX}")
    contacted = page.locator('ul.board-cards[data-status="contacted"]')
    with page.expect_response(re.compile(rf"/leads/{leads[0]}/status$")) as moved:
        drag(page, card(page, f"{PREFIX}00 Zed"), contacted)
    assert moved.value.status == 200 and moved.value.json()["converted"] is True
    expect(page.locator("#board-live")).to_have_text(
        f"{PREFIX}00 Zed moved to Contacted and converted by the rule “{RULE}”.")
    expect(card(page, f"{PREFIX}00 Zed")).to_have_count(0)
    # The other lead does not match the condition: a plain move.
    with page.expect_response(re.compile(rf"/leads/{leads[1]}/status$")) as moved:
        drag(page, card(page, f"{PREFIX}01 Zed"), contacted)
    assert moved.value.json()["converted"] is False
    expect(contacted.get_by_role("listitem", name=re.compile(f"^{PREFIX}01 Zed"))).to_be_visible()
    session = app_db.session
    session.expire_all()
    assert session.get(Lead, leads[0]).converted and not session.get(Lead, leads[1]).converted
    deal = session.scalar(select(Deal).where(Deal.name == f"{PREFIX} Co 0 – rule"))
    assert deal is not None and deal.amount == 1500

    # Its run on the rules list: converted, the lead linked.
    page.goto(f"{live_server}/admin/rules")
    row = page.locator("tr.rule-row", has_text=RULE)
    runs = row.locator("td.rule-runs")
    expect(runs).to_contain_text("Converted")
    expect(runs.get_by_role("link", name=f"{PREFIX}00 Zed")).to_have_attribute("href", f"/leads/{leads[0]}")
    expect(runs.locator(".rule-counts")).to_have_attribute("data-converted", "1")
    assert not (v := axe_violations(page)), readable("rules list", v)
    shot(page, "list_en")

    # Deactivate by keyboard: the panel is swapped, the focus stays on the button.
    toggle = row.get_by_role("button", name=f"Deactivate “{RULE}”")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text=f"“{RULE}” is inactive")).to_be_visible()
    expect(row.locator(".badge-inactive")).to_be_visible()
    expect(row.get_by_role("button", name=f"Activate “{RULE}”")).to_be_focused()
    settled(page)

    # French: the list and the form.
    page.get_by_role("button", name="FR", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    shot(page, "list_fr")
    row.locator("a.rule-name").click()
    page.wait_for_url(re.compile(r"/admin/rules/\d+$"))
    expect(page.locator("#conditions-0-value")).to_have_value(f"{PREFIX} Co 0")
    shot(page, "form_fr")
    page.locator("#name").fill("")
    page.locator("#save-rule").click()
    expect(page.locator("#name-error")).to_be_visible()
    shot(page, "form_errors_fr")

    # Delete, after the confirmation page.
    page.goto(f"{live_server}/admin/rules")
    page.locator("tr.rule-row", has_text=RULE).locator("td.rule-actions a.btn-danger").click()
    page.wait_for_url(re.compile(r"/admin/rules/\d+/delete$"))
    assert not (v := axe_violations(page)), readable("delete a rule", v)
    shot(page, "delete_fr")
    page.locator("#confirm-delete").click()
    page.wait_for_url(f"{live_server}/admin/rules")
    expect(page.locator("tr.rule-row", has_text=RULE)).to_have_count(0)
    session.expire_all()
    assert session.scalar(select(AutomationRule).where(AutomationRule.name == RULE)) is None
    actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.area == "automation_rule",
                                                                    AuditEntry.key == RULE).order_by(AuditEntry.id)))
    assert actions == ["created", "updated", "deleted"]
