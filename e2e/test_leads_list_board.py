"""e2e: find a lead by live search and open it by keyboard; move board cards by mouse and keys."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from e2e.conftest import screenshot
from webapp.models import Lead, User
from webapp.services.tags import set_tags

PEOPLE = [
    ("Marie", "Quokka-Curie", "Quokka Labs", "new", ["VIP"]),
    ("Mateo", "Quokka-Ruiz", "Quokka Travel", "new", []),
    ("Ada", "Lovelace", "Analytical Engines", "new", ["Engine", "Q3"]),
    ("Grace", "Hopper", "Cobol Systems", "new", []),
    ("Alan", "Turing", "Bletchley Partners", "contacted", ["Referral"]),
    ("Hedy", "Lamarr", "Frequency Hop", "contacted", []),
    ("Katherine", "Johnson", "Orbit Maths", "qualified", ["Hot"]),
    ("Linus", "Torvalds", None, "disqualified", []),
]


@pytest.fixture
def seeded(app_db):
    """Leads owned by the sales user, created through the models like the app does."""
    session = app_db.session
    sales = session.scalar(select(User).where(User.email == "sales@example.com"))
    made = {}
    for first, last, company, status, tags in PEOPLE:
        lead = session.scalar(select(Lead).where(Lead.first_name == first, Lead.last_name == last))
        if lead is None:
            lead = Lead(first_name=first, last_name=last, company=company, status=status,
                        email=f"{first.lower()}@{(company or 'mail').split()[0].lower()}.example",
                        phone="+33 1 23 45 67 89", lead_source="Web", owner_id=sales.id)
            session.add(lead)
            session.flush()
            set_tags(session, "lead", lead.id, tags)
        else:
            lead.status = status
        made[first] = lead.id
    session.commit()
    return made


def status_of(app_db, lead_id: int) -> str:
    app_db.session.expire_all()
    return app_db.session.get(Lead, lead_id).status


def test_live_search_then_open_a_lead_by_keyboard(login, live_server, seeded):
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/")
    expect(page.get_by_role("row", name=re.compile("Ada Lovelace"))).to_be_visible()
    screenshot(page, "leads-list")
    # A marker on window survives an htmx swap but not a page load.
    page.evaluate("window.__stillHere = true")
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name="Search")).to_be_focused()
    page.keyboard.type("quokka")
    expect(page.locator("#lead-rows tr[data-href]")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"/leads/\?.*q=quokka"))
    assert page.evaluate("window.__stillHere") is True
    screenshot(page, "leads-list-search")
    page.keyboard.press("ArrowDown")
    first = page.locator("#lead-rows tr[data-href]").first
    expect(first).to_be_focused()
    page.keyboard.press("j")
    second = page.locator("#lead-rows tr[data-href]").nth(1)
    expect(second).to_be_focused()
    target = second.get_attribute("data-href")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}{target}")
    assert target in {f"/leads/{seeded['Marie']}", f"/leads/{seeded['Mateo']}"}


def test_list_filters_swap_the_rows_and_follow_the_url(login, live_server, seeded):
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/")
    page.evaluate("window.__stillHere = true")
    page.get_by_label("Status").select_option("contacted")
    expect(page).to_have_url(re.compile(r"status=contacted"))
    expect(page.get_by_role("row", name=re.compile("Grace Hopper"))).to_have_count(0)
    expect(page.get_by_role("row", name=re.compile("Alan Turing"))).to_be_visible()
    expect(page.locator("#lead-rows .badge").filter(has_not_text="Contacted")).to_have_count(0)
    page.get_by_label("Status").select_option("disqualified")
    expect(page.get_by_role("row", name=re.compile("Linus Torvalds"))).to_be_visible()
    assert page.evaluate("window.__stillHere") is True


def test_list_empty_search_says_so(login, live_server, seeded):
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/")
    page.get_by_role("searchbox", name="Search").fill("zzzz-no-such-lead")
    expect(page.get_by_text("No lead matches these filters.")).to_be_visible()


def test_board_move_by_mouse_and_by_keyboard(login, live_server, seeded, app_db):
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/board")
    new_column = page.locator('ul.board-cards[data-status="new"]')
    contacted = page.locator('ul.board-cards[data-status="contacted"]')
    ada = page.get_by_role("listitem", name=re.compile("^Ada Lovelace"))
    expect(ada).to_be_visible()
    screenshot(page, "board")
    # Other e2e tests share this database (the sales user's leads): count from what is there.
    before = int(page.locator('[data-count-for="contacted"]').inner_text().replace("\u202f", "").replace(",", ""))

    # Mouse: drag Ada from New onto Contacted (SortableJS pointer fallback: move in steps).
    box, drop = ada.bounding_box(), contacted.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 10, box["y"] + 10, steps=5)
    with page.expect_response(re.compile(r"/leads/\d+/status$")) as moved:
        page.mouse.move(drop["x"] + drop["width"] / 2, drop["y"] + 40, steps=25)
        page.mouse.up()
    assert moved.value.status == 200
    expect(contacted.get_by_role("listitem", name=re.compile("^Ada Lovelace"))).to_be_visible()
    expect(page.locator('[data-count-for="contacted"]')).to_have_text(str(before + 1))
    assert status_of(app_db, seeded["Ada"]) == "contacted"
    assert page.url == f"{live_server}/leads/board"  # the drop did not open the lead

    # Keyboard: Grace from New to Qualified: Space, Right, Right, Space.
    grace = new_column.get_by_role("listitem", name=re.compile("^Grace Hopper"))
    grace.focus()
    page.keyboard.press("Space")
    expect(page.locator("#board-live")).to_contain_text("Picked up Grace Hopper")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#board-live")).to_contain_text("Over Qualified")
    with page.expect_response(re.compile(r"/leads/\d+/status$")) as moved:
        page.keyboard.press("Space")
    assert moved.value.status == 200
    expect(page.locator("#board-live")).to_contain_text("Grace Hopper moved to Qualified.")
    expect(page.locator('ul.board-cards[data-status="qualified"]')
           .get_by_role("listitem", name=re.compile("^Grace Hopper"))).to_be_focused()
    assert status_of(app_db, seeded["Grace"]) == "qualified"

    # Escape cancels: nothing is sent, the card stays.
    page.keyboard.press("Space")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Escape")
    expect(page.locator("#board-live")).to_contain_text("Move cancelled")
    assert status_of(app_db, seeded["Grace"]) == "qualified"
    screenshot(page, "board-after-moves")


def test_board_refusal_puts_the_card_back(login, live_server, seeded, app_db):
    """A lead converted by someone else meanwhile: the move is refused (409, C1.4), the card returns."""
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/board")
    hedy = page.get_by_role("listitem", name=re.compile("^Hedy Lamarr"))
    expect(hedy).to_be_visible()
    lead = app_db.session.get(Lead, seeded["Hedy"])
    lead.converted = True
    app_db.session.commit()
    try:
        hedy.focus()
        page.keyboard.press("Space")
        page.keyboard.press("ArrowRight")
        with page.expect_response(re.compile(r"/leads/\d+/status$")) as moved:
            page.keyboard.press("Space")
        assert moved.value.status == 409
        expect(page.get_by_role("alert")).to_contain_text("converted")
        expect(page.locator('ul.board-cards[data-status="contacted"]')
               .get_by_role("listitem", name=re.compile("^Hedy Lamarr"))).to_be_visible()
        screenshot(page, "board-refused")
    finally:
        lead.converted = False
        app_db.session.commit()


def test_board_drop_on_converted_opens_the_conversion_modal(login, live_server, seeded, app_db):
    """C8.2: a card dropped on "Converted" (mouse or keyboard) opens its conversion modal and
    goes back to its column: nothing is converted until the modal's Convert."""
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/board")
    converted = page.locator("ul.board-cards[data-convert]")
    expect(converted).to_contain_text("Drop a lead here to convert it")
    katherine = page.get_by_role("listitem", name=re.compile("^Katherine Johnson"))
    converted.scroll_into_view_if_needed()
    box, drop = katherine.bounding_box(), converted.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 10, box["y"] + 10, steps=5)
    with page.expect_response(re.compile(rf"/leads/{seeded['Katherine']}/convert$")) as opened:
        page.mouse.move(drop["x"] + drop["width"] / 2, drop["y"] + 40, steps=25)
        page.mouse.up()
    assert opened.value.status == 200
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", level=2).first).to_contain_text("Katherine Johnson")
    expect(page.locator('ul.board-cards[data-status="qualified"]')
           .get_by_role("listitem", name=re.compile("^Katherine Johnson"))).to_have_count(1)
    assert status_of(app_db, seeded["Katherine"]) == "qualified"
    screenshot(page, "board-drop-converted")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Keyboard: Mateo picked up in New, carried right to the last column, dropped.
    mateo = page.get_by_role("listitem", name=re.compile("^Mateo Quokka-Ruiz"))
    mateo.focus()
    page.keyboard.press("Space")
    columns = page.locator("#board ul.board-cards").count()
    for _ in range(columns - 1):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#board-live")).to_contain_text("Over Converted")
    with page.expect_response(re.compile(rf"/leads/{seeded['Mateo']}/convert$")):
        page.keyboard.press("Space")
    expect(dialog).to_be_visible()
    expect(page.locator("#board-live")).to_contain_text("Converting Mateo Quokka-Ruiz")
    assert status_of(app_db, seeded["Mateo"]) == "new"
    expect(page.locator('ul.board-cards[data-status="new"]')
           .get_by_role("listitem", name=re.compile("^Mateo Quokka-Ruiz"))).to_have_count(1)
