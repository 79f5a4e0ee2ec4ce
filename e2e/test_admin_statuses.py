"""e2e (issue 10): an administrator adds a lead status and sees it on the board — by keyboard:
add, move it up, rename it inline, close it; the board's columns follow; then delete it with
the move of its lead. Screenshots in English and French (/tmp/shots/admin_statuses_*.png), and
axe on the page. The e2e database is shared: the status and the lead made here have names no
other test uses, and are gone (status) or removed (lead) at the end; the admin is back in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from e2e.test_a11y import axe_violations, readable
from webapp.models import Lead, LeadStatus, TimelineEvent, User

SHOTS = Path("/tmp/shots")
LABEL = "Zorblax nurturing"
KEY = "zorblax_nurturing"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # The pages' Content-Security-Policy forbids injected scripts: let axe in (this module only).
    return {**browser_context_args, "bypass_csp": True}


@pytest.fixture
def cleanup(app_db):
    yield
    session = app_db.session
    session.expire_all()
    session.execute(delete(TimelineEvent).where(TimelineEvent.parent_type == "lead", TimelineEvent.parent_id.in_(
        select(Lead.id).where(Lead.last_name == "Zorblax-Martin"))))
    session.execute(delete(Lead).where(Lead.last_name == "Zorblax-Martin"))
    for key in (KEY,):
        status = session.get(LeadStatus, key)
        if status is not None:
            session.delete(status)
    session.query(User).filter(User.email == "admin@example.com").update({"language": None})
    session.commit()


def settled(page) -> None:
    """Wait until htmx has finished the swap (its new forms are wired once it settles)."""
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def board_columns(page) -> list[str]:
    return page.locator("ul.board-cards[data-status]").evaluate_all("els => els.map(e => e.dataset.status)")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar over the page otherwise
    page.screenshot(path=str(SHOTS / f"admin_statuses_{name}.png"), full_page=True)


def test_add_a_status_and_see_it_on_the_board(page, live_server, login, app_db, cleanup):
    login("admin@example.com")
    page.goto(f"{live_server}/admin/")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Lead statuses").click()
    page.get_by_role("heading", name="Lead statuses", level=1).wait_for()
    before = board_columns_of(page, live_server)
    page.goto(f"{live_server}/admin/statuses")
    assert not (v := axe_violations(page)), readable("lead statuses", v)

    # Add by keyboard: type the label, Enter submits; the panel is swapped, the flash says so.
    page.get_by_role("textbox", name="Label", exact=True).fill(LABEL)
    page.get_by_role("textbox", name="Label", exact=True).press("Enter")
    expect(page.get_by_role("status").filter(has_text=f"Status “{LABEL}” added (key {KEY}).")).to_be_visible()
    row = page.locator(f"#status-{KEY}")
    expect(row).to_be_visible()
    settled(page)
    keys = page.locator("tr.status-row").evaluate_all("els => els.map(e => e.id.slice(7))")
    assert keys.index(KEY) == keys.index("disqualified") - 1  # the end of the open block

    # Move it up by keyboard: the focus stays on its button after the swap.
    up = page.locator(f"#up-{KEY}")
    up.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text=f"“{LABEL}” moved to place")).to_be_visible()
    expect(page.locator(f"#up-{KEY}")).to_be_focused()
    settled(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text=f"“{LABEL}” moved to place 2.")).to_be_visible()
    expect(page.locator(f"#up-{KEY}")).to_be_focused()
    settled(page)
    keys = page.locator("tr.status-row").evaluate_all("els => els.map(e => e.id.slice(7))")
    assert keys.index(KEY) == keys.index("disqualified") - 3

    # Rename inline: its key stays.
    field = page.get_by_label(f"Label of “{LABEL}”")
    field.fill(f"{LABEL} 2")
    field.press("Enter")
    expect(page.get_by_role("status").filter(has_text=f"renamed “{LABEL} 2”")).to_be_visible()
    expect(page.locator(f"#label-{KEY}")).to_have_value(f"{LABEL} 2")
    settled(page)
    assert not (v := axe_violations(page)), readable("lead statuses after changes", v)
    shot(page, "en")

    # The board: a column for it, two places before the last open one, with its lead's card.
    session = app_db.session
    admin = session.scalar(select(User).where(User.email == "admin@example.com"))
    session.add(Lead(first_name="Zed", last_name="Zorblax-Martin", company="Zorblax SARL", status=KEY,
                     owner_id=admin.id))
    session.commit()
    page.goto(f"{live_server}/leads/board")
    column = page.locator(f"section.board-column[aria-labelledby='col-{KEY}']")
    expect(column.get_by_role("heading", name=f"{LABEL} 2")).to_be_visible()
    expect(column.get_by_text("Zed Zorblax-Martin")).to_be_visible()
    columns = board_columns(page)
    open_ones = [k for k in before if k not in ("disqualified", "converted")]
    assert columns.index(KEY) == len(open_ones) - 2
    shot(page, "board_en")

    # Closed: the column moves among the closed ones (C9.2).
    page.goto(f"{live_server}/admin/statuses")
    page.get_by_label(f"Category of “{LABEL} 2”").select_option("closed")
    expect(page.get_by_role("status").filter(has_text="is now a closed status")).to_be_visible()
    page.goto(f"{live_server}/leads/board")
    columns = board_columns(page)
    assert columns.index(KEY) == columns.index("disqualified") - 1
    expect(page.locator(f"section.board-column.is-closed[aria-labelledby='col-{KEY}']")).to_be_visible()

    # French: the same page for a French administrator.
    page.goto(f"{live_server}/admin/statuses")
    page.get_by_role("button", name="FR", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    shot(page, "fr")

    # Delete it: its lead must move in the same step (French page, keyboard).
    page.locator(f"#status-{KEY}").get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/admin/statuses/{KEY}/delete$"))
    assert not (v := axe_violations(page)), readable("delete a status", v)
    shot(page, "delete_fr")
    page.locator("#move_to").select_option("disqualified")
    page.locator("form button[type=submit].btn-danger").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/admin/statuses")
    assert page.locator(f"#status-{KEY}").count() == 0
    session.expire_all()
    lead = session.scalar(select(Lead).where(Lead.last_name == "Zorblax-Martin"))
    assert lead.status == "disqualified" and session.get(LeadStatus, KEY) is None
    page.get_by_role("button", name="EN", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def board_columns_of(page, live_server) -> list[str]:
    page.goto(f"{live_server}/leads/board")
    return board_columns(page)
