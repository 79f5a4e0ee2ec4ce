"""e2e: axe-core (WCAG 2.1 A and AA rules) on every screen of the app, the conversion modal
included: 0 violations. Also the focus ring, the board's one tab stop per column, the live
search's announced count and the favicon.

axe-core is pinned in package.json (devDependencies) and injected from node_modules into each
page (page.add_script_tag). A failure prints every violation with the elements it found.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Account, Contact, Deal, Lead, Note, Pipeline, Task, User

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


# --- axe --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # The pages' Content-Security-Policy forbids injected scripts: let axe in (this module only).
    return {**browser_context_args, "bypass_csp": True}


def axe_violations(page: Page) -> list[dict]:
    """Run axe on the page as it is now; its violations, with their elements."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async (tags) => {
          const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                                  resultTypes: ["violations"]});
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
            nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 160),
                                        why: n.failureSummary}))}));
        }""", TAGS)


def readable(screen: str, violations: list[dict]) -> str:
    lines = [f"{screen}: {len(violations)} axe violation(s)"]
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{v['url']}]")
        for n in v["nodes"][:8]:
            why = " / ".join(line.strip() for line in (n["why"] or "").splitlines()[1:3])
            lines.append(f"    at {n['target']}: {why}")
            lines.append(f"       {n['html']}")
        if len(v["nodes"]) > 8:
            lines.append(f"    ... and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def assert_accessible(page: Page, screen: str) -> None:
    violations = axe_violations(page)
    assert not violations, readable(screen, violations)


# --- data: one of each record, with activities, a conversion and the badges that had low contrast

@pytest.fixture(scope="module")
def records(live_app):
    from webapp.conversion.executor import apply
    from webapp.conversion.options import ConversionOptions

    with live_app.app_context():
        session = db.session
        sales = session.scalar(select(User).where(User.email == "sales@example.com"))
        lead = session.scalar(select(Lead).where(Lead.last_name == "Franklin-A11y"))
        if lead is None:
            lead = Lead(first_name="Rosalind", last_name="Franklin-A11y", company="Helix Imaging A11y",
                        email="rosalind@helix-a11y.example", phone="+44 20 7946 0000", rating="Hot",
                        lead_source="Web", industry="Biotech", owner_id=sales.id, status="new")
            session.add(lead)
            session.flush()
            session.add(Note(body="Asked for a demo of the imaging suite.", parent_type="lead",
                             parent_id=lead.id, author_id=sales.id))
            session.add(Task(subject="Send the brochure", kind="call", parent_type="lead", parent_id=lead.id,
                             owner_id=sales.id, due_date=date.today() + timedelta(days=3)))
        if session.scalar(select(Lead).where(Lead.last_name == "Crick-A11y")) is None:
            session.add(Lead(first_name="Francis", last_name="Crick-A11y", company="Double Helix A11y",
                             email="francis@crick-a11y.example", owner_id=sales.id, status="new"))
        other = session.scalar(select(Lead).where(Lead.last_name == "Wilkins-A11y"))
        if other is None:
            other = Lead(first_name="Maurice", last_name="Wilkins-A11y", company="Wilkins Optics A11y",
                         email="maurice@wilkins-a11y.example", lead_source="Referral", owner_id=sales.id,
                         status="new")
            session.add(other)
            session.flush()
            session.add(Note(body="Met at the optics fair.", parent_type="lead", parent_id=other.id,
                             author_id=sales.id))
            session.commit()
            apply(session, sales, other.id, ConversionOptions.from_dict({
                "deal": {"stage": "Qualification", "amount": "12000.00"},
                "task": {"subject": "Call Maurice back"}}))
        session.commit()
        session.expire_all()
        other = session.get(Lead, other.id)
        contact = session.scalar(select(Contact).where(Contact.email == "maurice@wilkins-a11y.example"))
        account = session.get(Account, contact.account_id)
        deal = session.scalar(select(Deal).where(Deal.contact_id == contact.id))
        won = session.scalar(select(Deal).where(Deal.name == "Wilkins expansion A11y"))
        if won is None:
            pipeline = session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))
            won = Deal(name="Wilkins expansion A11y", account_id=account.id, contact_id=contact.id,
                       pipeline_id=pipeline.id if pipeline else None, stage="Won", amount=48000,
                       owner_id=sales.id)
            session.add(won)
            session.add(Note(body="Key account: quarterly review.", parent_type="account",
                             parent_id=account.id, author_id=sales.id))
            session.add(Task(subject="Quarterly review", kind="meeting", parent_type="account",
                             parent_id=account.id, owner_id=sales.id,
                             due_date=date.today() + timedelta(days=10)))
            session.commit()
        ids = {"lead": lead.id, "converted": other.id, "conversion": other.conversion_id,
               "account": account.id, "contact": contact.id, "deal": deal.id, "won": won.id}
        db.session.remove()
    return ids


# --- screens ------------------------------------------------------------------------------------

def wait_panel(page: Page) -> None:
    expect(page.locator(".activity-panel")).to_be_visible()


def lead_form_errors(page: Page) -> None:
    page.get_by_label("Last name").fill("")
    page.get_by_label("E-mail", exact=True).fill("not@@an-email")
    page.get_by_role("button", name="Create lead").click()
    expect(page.locator(".form-summary")).to_be_visible()


def open_modal(page: Page) -> None:
    page.get_by_role("link", name="Convert", exact=True).click()
    expect(page.locator("dialog#modal")).to_be_visible()
    page.wait_for_load_state("networkidle")


SCREENS = {
    "leads list": ("/leads/", None),
    "leads list, no match": ("/leads/?q=zzzz-no-such-lead", None),
    "board": ("/leads/board", None),
    "lead page": ("/leads/{lead}", None),
    "converted lead page": ("/leads/{converted}", None),
    "lead new form": ("/leads/new", None),
    "lead new form with errors": ("/leads/new", lead_form_errors),
    "lead edit form": ("/leads/{lead}/edit", None),
    "accounts list": ("/accounts/", None),
    "account page": ("/accounts/{account}", wait_panel),
    "account form": ("/accounts/new", None),
    "contacts list": ("/contacts/", None),
    "contact page": ("/contacts/{contact}", wait_panel),
    "contact form": ("/contacts/new", None),
    "deals list": ("/deals/", None),
    "deal page": ("/deals/{deal}", wait_panel),
    "won deal page": ("/deals/{won}", wait_panel),
    "deal form": ("/deals/new", None),
    "profile": ("/profile/", None),
    "conversion record page": ("/conversions/{conversion}", None),
    "conversion modal": ("/leads/{lead}", open_modal),
}


def test_login_page_has_no_axe_violation(page, live_server):
    page.goto(f"{live_server}/login")
    assert_accessible(page, "login")


@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_has_no_axe_violation(login, page, live_server, records, screen):
    path, action = SCREENS[screen]
    login("sales@example.com")
    response = page.goto(live_server + path.format(**records))
    assert response.status == 200, f"{screen}: {path.format(**records)} answered {response.status}"
    page.wait_for_load_state("networkidle")
    if action:
        action(page)
    assert_accessible(page, screen)
    # Record pages: the Timeline tab too.
    tab = page.locator("#tab-timeline")
    if screen.endswith("page") and tab.count() and not page.locator("dialog#modal[open]").count():
        tab.click()
        page.wait_for_load_state("networkidle")
        assert_accessible(page, f"{screen}, timeline tab")


def test_error_page_has_no_axe_violation(login, page, live_server):
    login("sales@example.com")
    response = page.goto(f"{live_server}/leads/99999999")
    assert response.status == 404
    assert_accessible(page, "not found page")


# --- beyond axe ---------------------------------------------------------------------------------

def outline_width(page: Page, selector: str) -> float:
    return page.evaluate(
        "(s) => parseFloat(getComputedStyle(document.querySelector(s)).outlineWidth) || 0", selector)


def test_fields_checkboxes_and_radios_keep_a_visible_focus_ring(login, page, live_server):
    login("sales@example.com")
    page.goto(f"{live_server}/leads/new")
    page.get_by_label("First name").focus()
    page.keyboard.press("Tab")  # keyboard focus: :focus-visible
    assert outline_width(page, "#last_name") >= 2
    page.locator("#email_opt_out").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert outline_width(page, "#email_opt_out") >= 2


def test_board_has_one_tab_stop_per_column_and_arrows_move_between_cards(login, page, live_server, records):
    login("sales@example.com")
    page.goto(f"{live_server}/leads/board")
    columns = page.locator("#board .board-cards")
    expect(columns.first).to_be_visible()
    for i in range(columns.count()):
        stops = columns.nth(i).locator(':scope > .board-card[tabindex="0"]')
        expect(stops).to_have_count(1 if columns.nth(i).locator(":scope > .board-card").count() else 0)
    new = page.locator('#board .board-cards[data-status="new"]')
    first, second = new.locator(":scope > .board-card").nth(0), new.locator(":scope > .board-card").nth(1)
    first.focus()
    page.keyboard.press("ArrowDown")
    expect(second).to_be_focused()
    # The tab stop follows: leaving the column and coming back lands on the same card.
    expect(second).to_have_attribute("tabindex", "0")
    expect(first).to_have_attribute("tabindex", "-1")
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    expect(second).to_be_focused()
    page.keyboard.press("Home")
    expect(first).to_be_focused()


def test_live_search_count_is_announced_outside_the_results(login, page, live_server, records):
    login("sales@example.com")
    page.goto(f"{live_server}/leads/")
    status = page.locator("#results-status")
    expect(status).to_have_attribute("role", "status")
    assert page.locator("#lead-results #results-status").count() == 0
    expect(page.locator("#lead-results [data-result-summary]")).to_contain_text(re.compile(r"\d+ leads?"))
    page.get_by_role("searchbox", name="Search").fill("Franklin-A11y")
    expect(status).to_have_text(re.compile(r"^1 lead match these filters"))
    page.get_by_role("searchbox", name="Search").fill("zzzz-no-such-lead")
    expect(status).to_have_text("No lead matches these filters.")
    page.goto(f"{live_server}/accounts/")
    page.get_by_role("searchbox", name="Search").fill("Wilkins Optics")
    expect(page.locator("#results-status")).to_have_text("1 account shown.")


def test_favicon_is_served_and_linked(page, live_server):
    response = page.request.get(f"{live_server}/favicon.ico")
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(f"{live_server}/login")
    page.wait_for_load_state("networkidle")
    assert page.locator('link[rel="icon"]').get_attribute("href").endswith("favicon.svg")
    assert failed == []
