"""e2e (issue 9, C8.2, C8.6): select several cards on the board (checkbox, x) and drop one of them
on "Converted": the bulk panel opens for all of them and its job converts them (the `worker`
fixture of e2e/conftest.py); the same by keyboard; a card moved into a status whose automation
rule converts it leaves the board. Leads have name prefixes of their own (the e2e DB is shared)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from e2e.conftest import PASSWORD, screenshot
from webapp.models import Lead, User
from webapp.services.automation import create_rule, delete_rule

SHOTS = Path("/tmp/shots")


def _leads(app_db, prefix: str, n: int, status: str = "new", owner: str = "sales@example.com") -> list[int]:
    owner_id = app_db.session.scalar(select(User.id).where(User.email == owner))
    rows = [Lead(first_name=f"{prefix}{i:02d}", last_name="Zed", company=f"{prefix} Co {i}", status=status,
                 email=f"{prefix.lower()}{i}@e2e.example", owner_id=owner_id) for i in range(n)]
    app_db.session.add_all(rows)
    app_db.session.commit()
    return [r.id for r in rows]


def _converted(app_db, ids) -> set[int]:
    app_db.session.expire_all()
    return set(app_db.session.scalars(select(Lead.id).where(Lead.id.in_(ids), Lead.converted.is_(True))))


def card(page, name: str):
    return page.locator("#board").get_by_role("listitem", name=re.compile(f"^{re.escape(name)}"))


def drag(page, item, target) -> None:
    """A mouse drag as a person does it (SortableJS's pointer fallback wants moves in steps)."""
    target.scroll_into_view_if_needed()
    box, drop = item.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 8)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 10, box["y"] + box["height"] - 18, steps=5)
    page.mouse.move(drop["x"] + drop["width"] / 2, drop["y"] + 40, steps=25)
    page.mouse.up()


def _start_and_wait(page, app_db, ids) -> None:
    page.get_by_role("button", name="Start the conversion").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#job-progress")).to_have_attribute("data-status", "done", timeout=15000)
    expect(page.locator("#job-progress [data-count=converted]")).to_have_text(str(len(ids)))
    assert _converted(app_db, ids) == set(ids)


def test_drag_two_selected_cards_onto_converted(page, live_server, login, app_db, worker):
    ids = _leads(app_db, "Bbmouse", 3)
    login()
    page.goto(f"{live_server}/leads/board?q=Bbmouse")
    bar = page.locator("#board-selection")
    expect(card(page, "Bbmouse00 Zed")).to_be_visible()
    expect(bar).to_be_hidden()
    # The checkbox selects; it does not open the lead (the card's click does).
    page.get_by_role("checkbox", name="Select Bbmouse00 Zed").click()
    page.get_by_role("checkbox", name="Select Bbmouse01 Zed").click()
    expect(bar).to_be_visible()
    expect(bar.locator("[data-selection-count]")).to_have_text("2 leads selected")
    expect(card(page, "Bbmouse01 Zed")).to_have_class(re.compile(r"\bis-selected\b"))
    assert page.url == f"{live_server}/leads/board?q=Bbmouse"
    page.get_by_role("checkbox", name="Select Bbmouse01 Zed").click()  # unselect, then again
    expect(bar.locator("[data-selection-count]")).to_have_text("1 lead selected")
    page.get_by_role("checkbox", name="Select Bbmouse01 Zed").click()

    converted = page.locator("ul.board-cards[data-convert]")
    with page.expect_response(re.compile(r"/leads/bulk-convert$")) as opened:
        drag(page, card(page, "Bbmouse01 Zed"), converted)
    assert opened.value.status == 200
    expect(page.locator("dialog#modal")).to_be_visible()
    expect(page.locator("#modal-title")).to_have_text("Convert 2 leads")
    expect(page.locator("#bulk-summary [data-count=total]")).to_have_text("2")
    # The dragged card went back to its column; nothing is converted until the job runs.
    new_column = page.locator('ul.board-cards[data-status="new"]')
    expect(new_column.get_by_role("listitem", name=re.compile("^Bbmouse01 Zed"))).to_have_count(1)
    assert _converted(app_db, ids) == set()
    screenshot(page, "board-bulk-panel")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "board_bulk_panel_en.png"))
    _start_and_wait(page, app_db, ids[:2])
    assert _converted(app_db, ids) == set(ids[:2])  # not the third


def test_keyboard_select_two_and_drop_on_converted(page, live_server, login, app_db, worker):
    ids = _leads(app_db, "Bbkeys", 3)
    login()
    page.goto(f"{live_server}/leads/board?q=Bbkeys")
    bar = page.locator("#board-selection")
    count = bar.locator("[data-selection-count]")
    first = card(page, "Bbkeys02 Zed")  # newest first
    first.focus()
    page.keyboard.press("x")
    expect(page.locator("#board-live")).to_contain_text("Bbkeys02 Zed: selected")
    page.keyboard.press("ArrowDown")
    expect(card(page, "Bbkeys01 Zed")).to_be_focused()
    page.keyboard.press("x")
    expect(count).to_have_text("2 leads selected")
    expect(page.get_by_role("checkbox", name="Select Bbkeys01 Zed")).to_be_checked()

    # The selection outlives the filters' refresh of the columns.
    search = page.get_by_role("searchbox", name="Search")
    search.fill("Bbkeys02")
    expect(page.locator("#board .board-card")).to_have_count(1)
    expect(page.get_by_role("checkbox", name="Select Bbkeys02 Zed")).to_be_checked()
    expect(count).to_have_text("2 leads selected")
    search.fill("Bbkeys")
    expect(page.locator("#board .board-card")).to_have_count(3)
    expect(page.get_by_role("checkbox", name="Select Bbkeys01 Zed")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Select Bbkeys00 Zed")).not_to_be_checked()

    # A card that is not selected keeps its own conversion modal.
    columns = page.locator("#board ul.board-cards").count()
    card(page, "Bbkeys00 Zed").focus()
    page.keyboard.press("Space")
    for _ in range(columns - 1):
        page.keyboard.press("ArrowRight")
    with page.expect_response(re.compile(rf"/leads/{ids[0]}/convert$")):
        page.keyboard.press("Space")
    expect(page.locator("dialog#modal").get_by_role("heading", level=2).first).to_contain_text("Bbkeys00 Zed")
    page.keyboard.press("Escape")
    expect(page.locator("dialog#modal")).to_be_hidden()
    expect(count).to_have_text("2 leads selected")  # Escape closed the dialog only

    # A selected one: Space, ArrowRight to Converted, Space: the bulk panel for both.
    card(page, "Bbkeys01 Zed").focus()
    page.keyboard.press("Space")
    for _ in range(columns - 1):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#board-live")).to_contain_text("Over Converted")
    with page.expect_response(re.compile(r"/leads/bulk-convert$")):
        page.keyboard.press("Space")
    expect(page.locator("#modal-title")).to_have_text("Convert 2 leads")
    expect(page.locator("#board-live")).to_contain_text("Converting 2 leads")
    page.keyboard.press("Escape")
    expect(page.locator("dialog#modal")).to_be_hidden()

    # Escape with nothing picked up clears the selection.
    expect(card(page, "Bbkeys01 Zed")).to_be_focused()
    page.keyboard.press("Escape")
    expect(bar).to_be_hidden()
    expect(page.locator("#board-live")).to_contain_text("Selection cleared.")
    expect(page.locator("#board input.board-select:checked")).to_have_count(0)

    # Select again and convert through the bar's button.
    page.keyboard.press("x")
    card(page, "Bbkeys02 Zed").focus()
    page.keyboard.press("x")
    bar.get_by_role("button", name="Convert…").click()
    expect(page.locator("#modal-title")).to_have_text("Convert 2 leads")
    _start_and_wait(page, app_db, ids[1:])
    assert _converted(app_db, ids) == set(ids[1:])


@pytest.fixture
def rule(app_db):
    """A rule converting the leads of one company that enter "qualified" (the e2e DB is shared:
    its condition keeps it away from every other test's leads); deleted afterwards."""
    admin = app_db.session.scalar(select(User).where(User.email == "admin@example.com"))
    made = create_rule(app_db.session, admin, {
        "name": "Bbrule qualified", "on_status": "qualified",
        "conditions": [{"field": "company", "op": "equals", "value": "Bbrule Co 0"}]})
    app_db.session.commit()
    yield made
    app_db.session.rollback()
    delete_rule(app_db.session, admin, app_db.session.get(type(made), made.id))
    app_db.session.commit()


def test_a_rule_converts_a_lead_moved_on_the_board(page, live_server, login, app_db, rule):
    ids = _leads(app_db, "Bbrule", 2)  # Bbrule Co 0 matches the rule, Bbrule Co 1 does not
    login()
    page.goto(f"{live_server}/leads/board?q=Bbrule")
    qualified = page.locator('ul.board-cards[data-status="qualified"]')
    with page.expect_response(re.compile(rf"/leads/{ids[0]}/status$")) as moved:
        drag(page, card(page, "Bbrule00 Zed"), qualified)
    assert moved.value.status == 200 and moved.value.json()["converted"] is True
    message = "Bbrule00 Zed moved to Qualified and converted by the rule “Bbrule qualified”."
    expect(page.locator("#flashes")).to_contain_text(message)
    expect(page.locator("#board-live")).to_have_text(message)
    expect(card(page, "Bbrule00 Zed")).to_have_count(0)
    expect(page.locator('[data-count-for="qualified"]')).to_have_text("0")
    expect(page.locator('[data-count-for="new"]')).to_have_text("1")
    assert _converted(app_db, ids) == {ids[0]}

    # The other lead does not match: a plain move, the card stays in Qualified.
    with page.expect_response(re.compile(rf"/leads/{ids[1]}/status$")) as moved:
        drag(page, card(page, "Bbrule01 Zed"), qualified)
    assert moved.value.json()["converted"] is False
    expect(qualified.get_by_role("listitem", name=re.compile("^Bbrule01 Zed"))).to_be_visible()
    expect(page.locator("#board-live")).to_have_text("Bbrule01 Zed moved to Qualified.")
    assert _converted(app_db, ids) == {ids[0]}


# --- Screenshots: two selected cards and the bar, in English and in French --------------------

PEOPLE = [("Élodie", "Martin", "Martin & Fils", "new"), ("Hugo", "Bernard", "Atelier Bernard", "new"),
          ("Chloé", "Dubois", "Dubois Conseil", "new"), ("Lucas", "Moreau", "Moreau Transports", "contacted"),
          ("Inès", "Laurent", "Laurent Bio", "contacted"), ("Nathan", "Simon", None, "qualified"),
          ("Camille", "Michel", "Michel Design", "disqualified")]


@pytest.fixture
def showcase(app_db):
    """A rep of their own with a few leads, for screenshots that show only them (owner filter)."""
    from webapp.services.users import create_user

    session = app_db.session
    rep = session.scalar(select(User).where(User.email == "shots@example.com"))
    if rep is None:
        rep = create_user("shots@example.com", PASSWORD, "sales", "Sacha Shots")
        session.add_all([Lead(first_name=f, last_name=last, company=c, status=s, owner_id=rep.id,
                              email=f"{last.lower()}@shots.example") for f, last, c, s in PEOPLE])
        session.commit()
    return rep.id


@pytest.mark.parametrize("language", ["en", "fr"])
def test_screenshot_of_the_board_selection(page, live_server, login, app_db, showcase, language):
    SHOTS.mkdir(parents=True, exist_ok=True)
    login("admin@example.com")
    try:
        if language != "en":
            page.locator(f".lang-switch button[value={language}]").click()
            page.wait_for_load_state()
        page.goto(f"{live_server}/leads/board?owner={showcase}")
        expect(page.locator("html")).to_have_attribute("lang", language)
        page.locator("#board input.board-select").nth(0).click()
        page.locator("#board input.board-select").nth(2).click()
        expect(page.locator("#board-selection")).to_be_visible()
        card(page, "Hugo Bernard").focus()
        page.screenshot(path=str(SHOTS / f"board_{language}.png"))
        page.locator("#board-selection").screenshot(path=str(SHOTS / f"board_bar_{language}.png"))
    finally:
        app_db.session.query(User).filter(User.email == "admin@example.com").update({"language": None})
        app_db.session.commit()
