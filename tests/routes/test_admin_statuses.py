"""The lead statuses page (admin.statuses, issue 10 item 4): the ordered table, inline rename,
category, move up / down, the add form and the delete step with the move of its leads; the
refusals next to their field (422) or above the table (409), nothing written; and the board's
columns and the list's status filter in the order set here."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from webapp.models import AuditEntry, AutomationRule, Lead, LeadStatus

HX = {"HX-Request": "true"}
URL = "/admin/statuses"


def keys(db) -> list[str]:
    from webapp.services.statuses import ordered

    return [s.key for s in ordered(db.session)]


def rows(html: str) -> list[str]:
    return re.findall(r'<tr id="status-([a-z0-9_]+)"', html)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def admin(as_user):
    return as_user("admin")


# --- the page ------------------------------------------------------------------------------------

def test_the_page_lists_the_statuses_in_order_with_their_category_and_leads(admin, make_lead):
    make_lead(status="contacted")
    make_lead(status="contacted")
    page = admin.get(URL).get_data(as_text=True)
    assert "<h1>Lead statuses</h1>" in page and 'aria-current="page"' in page
    assert rows(page) == ["new", "contacted", "qualified", "disqualified", "converted"]
    assert page.count('class="badge badge-open"') == 3 and 'class="badge badge-closed"' in page
    assert 'class="badge badge-converted"' in page and "Set by conversions" in page
    row = page.split('id="status-contacted"')[1].split("</tr>")[0]
    assert '<td class="num">2</td>' in row  # its leads
    converted = page.split('id="status-converted"')[1].split("</tr>")[0]
    assert "/delete" not in converted and 'name="direction"' not in converted
    # Keyboard: real buttons with names, the ends of a block say they cannot move.
    assert 'id="up-new"' in page and 'aria-label="Move “New” up"' in page
    assert re.search(r'id="up-new"[^>]*aria-disabled="true"', page.replace("\n", " "))
    assert re.search(r'id="down-qualified"[^>]*aria-disabled="true"', page.replace("\n", " "))
    fragment = admin.get(URL, headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and rows(fragment) == rows(page)


def test_the_page_shows_the_label_as_the_reader_sees_it(admin, users, db):
    users["admin"].language = "fr"
    db.session.commit()
    page = admin.get(URL).get_data(as_text=True)
    # The stored (English) label is what the input edits; the hint says how the board shows it.
    row = page.split('id="status-new"')[1].split("</tr>")[0]
    assert 'value="New"' in row and "“Nouvelle”" in row


# --- add ---------------------------------------------------------------------------------------

def test_add_a_status_with_htmx(admin, db):
    response = admin.post(URL, data={"add-label": "Nurturing", "add-category": "open", "add-key": ""}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert rows(html) == ["new", "contacted", "qualified", "nurturing", "disqualified", "converted"]
    assert 'hx-swap-oob="innerHTML"' in html and "Status “Nurturing” added (key nurturing)." in html
    assert 'id="add-label"' in html and 'value="Nurturing"' not in html.split('id="add-status-title"')[1]
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.key == "nurturing")).one()
    assert entry.area == "lead_status" and entry.action == "created"


def test_add_a_closed_status_with_its_key_without_javascript(admin, db):
    response = admin.post(URL, data={"add-label": "Perdu", "add-category": "closed", "add-key": "lost"})
    assert response.status_code == 303 and response.headers["Location"].endswith(URL)
    page = admin.get(URL).get_data(as_text=True)
    assert "Status “Perdu” added (key lost)." in page
    assert keys(db) == ["new", "contacted", "qualified", "disqualified", "lost", "converted"]


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"add-label": ""}, "add-label", "Label is required."),
    ({"add-label": "x" * 81}, "add-label", "Label is at most 80 characters."),
    ({"add-label": "New"}, "add-label", "Label is already the label of another status."),
    ({"add-label": "Bad\x00"}, "add-label", "Label must not contain NUL characters."),
    ({"add-label": "Fine", "add-key": "new"}, "add-key", "is already the key of another status"),
    ({"add-label": "Fine", "add-key": "Has Space"}, "add-key", "must start with a letter a–z"),
    ({"add-label": "Fine", "add-key": "all"}, "add-key", "is reserved"),
    ({"add-label": "Fine", "add-category": "converted"}, "add-category", "must be one of: Open, Closed"),
    ({"add-label": "y" * 100_000}, "add-label", "at most 80 characters"),
])
def test_bad_input_is_a_422_next_to_the_field_and_nothing_is_written(admin, db, data, field, message):
    before = count(db, LeadStatus), count(db, AuditEntry)
    response = admin.post(URL, data=data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html[-800:]
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    assert error and message in error.group(1), html[-1500:]
    assert (count(db, LeadStatus), count(db, AuditEntry)) == before
    assert admin.post(URL, data=data).status_code == 422  # without htmx: the whole page, same answer


# --- rename, category, move --------------------------------------------------------------------

def test_inline_rename(admin, db):
    response = admin.post(f"{URL}/contacted/label", data={"label": "Reached"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "“Contacted” renamed “Reached”." in html
    assert 'id="label-contacted"' in html and 'value="Reached"' in html
    status = db.session.get(LeadStatus, "contacted")
    assert (status.key, status.label) == ("contacted", "Reached")
    # Without JavaScript: back to the page.
    assert admin.post(f"{URL}/contacted/label", data={"label": "Called"}).status_code == 303


def test_a_bad_rename_shows_on_its_row_with_what_was_typed(admin, db):
    response = admin.post(f"{URL}/contacted/label", data={"label": "Qualified"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    row = html.split('id="status-contacted"')[1].split("</tr>")[0]
    assert 'value="Qualified"' in row and 'aria-invalid="true"' in row
    assert 'id="label-contacted-error"' in row and "is already the label of another status" in row
    assert db.session.get(LeadStatus, "contacted").label == "Contacted"
    response = admin.post(f"{URL}/contacted/label", data={"label": "   "}, headers=HX)
    assert response.status_code == 422 and "is required" in response.get_data(as_text=True)


def test_set_the_category(admin, db):
    response = admin.post(f"{URL}/contacted/category", data={"category": "closed"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "is now a closed status" in html
    assert rows(html) == ["new", "qualified", "contacted", "disqualified", "converted"]
    assert db.session.get(LeadStatus, "contacted").category == "closed"
    response = admin.post(f"{URL}/contacted/category", data={"category": "converted"}, headers=HX)
    assert response.status_code == 422 and db.session.get(LeadStatus, "contacted").category == "closed"


def test_the_last_open_status_cannot_be_closed(admin, db):
    for key in ("contacted", "qualified"):
        admin.post(f"{URL}/{key}/category", data={"category": "closed"}, headers=HX)
    response = admin.post(f"{URL}/new/category", data={"category": "closed"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and 'role="alert"' in html and "is the last open status" in html
    assert db.session.get(LeadStatus, "new").category == "open"


def test_move_up_and_down(admin, db):
    response = admin.post(f"{URL}/qualified/move", data={"direction": "up"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "“Qualified” moved to place 2." in html
    assert rows(html) == ["new", "qualified", "contacted", "disqualified", "converted"]
    # The moved button keeps its id, so htmx gives the focus back to it after the swap.
    assert 'id="up-qualified"' in html
    html = admin.post(f"{URL}/new/move", data={"direction": "up"}, headers=HX).get_data(as_text=True)
    assert "“New” is first of its category already." in html
    assert admin.post(f"{URL}/qualified/move", data={"direction": "down"}).status_code == 303
    assert keys(db) == ["new", "contacted", "qualified", "disqualified", "converted"]
    assert admin.post(f"{URL}/converted/move", data={"direction": "up"}, headers=HX).status_code == 409
    assert admin.post(f"{URL}/new/move", data={"direction": "left"}, headers=HX).status_code == 422


def test_unknown_statuses_are_404(admin):
    for url in (f"{URL}/nope/label", f"{URL}/nope/move", f"{URL}/nope/category", f"{URL}/nope/delete"):
        assert admin.post(url, data={}).status_code == 404, url
    assert admin.get(f"{URL}/nope/delete").status_code == 404


# --- delete --------------------------------------------------------------------------------------

def test_delete_an_unused_status(admin, db):
    admin.post(URL, data={"add-label": "Temp"})
    page = admin.get(f"{URL}/temp/delete").get_data(as_text=True)
    assert "No lead has the status “Temp”." in page and 'name="move_to"' not in page
    response = admin.post(f"{URL}/temp/delete", data={})
    assert response.status_code == 303
    assert "Status “Temp” deleted." in admin.get(URL).get_data(as_text=True)
    assert db.session.get(LeadStatus, "temp") is None


def test_delete_with_leads_asks_where_they_go_and_moves_them_in_one_step(admin, db, make_lead):
    leads = [make_lead(status="contacted").id for _ in range(2)]
    page = admin.get(f"{URL}/contacted/delete").get_data(as_text=True)
    assert "2 leads have the status “Contacted”." in page and 'name="move_to"' in page
    assert "Delete and move its 2 leads" in page and "Automation rules do not run" in page
    options = re.findall(r'<option value="([a-z_]*)"', page)
    assert options == ["", "new", "qualified", "disqualified"]  # not itself, not converted
    # Without a target: refused, nothing deleted.
    response = admin.post(f"{URL}/contacted/delete", data={"move_to": ""})
    assert response.status_code == 409 and "Leads with the status “Contacted”: 2." in response.get_data(as_text=True)
    response = admin.post(f"{URL}/contacted/delete", data={"move_to": "converted"})
    assert response.status_code == 422 and 'id="move_to-error"' in response.get_data(as_text=True)
    assert db.session.get(LeadStatus, "contacted") is not None
    response = admin.post(f"{URL}/contacted/delete", data={"move_to": "disqualified"})
    assert response.status_code == 303
    page = admin.get(URL).get_data(as_text=True)
    assert "Status “Contacted” deleted; its 2 leads moved to “Disqualified”." in page
    assert {db.session.get(Lead, i).status for i in leads} == {"disqualified"}
    assert rows(page) == ["new", "qualified", "disqualified", "converted"]


def test_a_status_with_rules_or_the_system_one_is_not_deletable(admin, db):
    db.session.add(AutomationRule(name="Convert the qualified", on_status="qualified", options={}))
    db.session.commit()
    page = admin.get(f"{URL}/qualified/delete").get_data(as_text=True)
    assert "Automation rules fire when a lead enters “Qualified”" in page and "<form" not in page.split(
        'class="card status-delete"')[1]
    assert admin.post(f"{URL}/qualified/delete", data={"move_to": "new"}).status_code == 409
    page = admin.get(f"{URL}/converted/delete").get_data(as_text=True)
    assert "managed by the system" in page
    assert admin.post(f"{URL}/converted/delete", data={"move_to": "new"}).status_code == 409
    assert keys(db) == ["new", "contacted", "qualified", "disqualified", "converted"]


@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_other_roles_change_nothing(as_user, db, role):
    client = as_user(role)
    for url, data in [(URL, {"add-label": "X"}), (f"{URL}/new/label", {"label": "X"}),
                      (f"{URL}/new/category", {"category": "closed"}), (f"{URL}/new/move", {"direction": "down"}),
                      (f"{URL}/new/delete", {"move_to": "contacted"})]:
        assert client.post(url, data=data).status_code == 403
    assert keys(db) == ["new", "contacted", "qualified", "disqualified", "converted"]
    assert count(db, AuditEntry) == 0


# --- the board and the filters follow the order ------------------------------------------------

def board_columns(html: str) -> list[str]:
    return re.findall(r'<ul class="board-cards" role="list" data-status="([a-z0-9_]+)"', html)


def filter_options(html: str) -> list[str]:
    select_ = re.search(r'<select[^>]*name="status"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option[^>]*value="([a-z0-9_]+)"', select_)


def test_the_board_and_the_list_filter_follow_the_order(admin, as_user, db, make_lead, users):
    admin.post(URL, data={"add-label": "Nurturing"})
    admin.post(URL, data={"add-label": "Lost", "add-category": "closed"})
    admin.post(f"{URL}/nurturing/move", data={"direction": "up"})
    admin.post(f"{URL}/nurturing/move", data={"direction": "up"})
    admin.post(f"{URL}/lost/move", data={"direction": "up"})
    expected = ["new", "nurturing", "contacted", "qualified", "lost", "disqualified"]
    make_lead(status="nurturing", owner_id=users["sales"].id, last_name="Nurtured")
    sales = as_user("sales")
    board = sales.get("/leads/board").get_data(as_text=True)
    assert board_columns(board) == [*expected, "converted"]  # the conversion's drop column, last
    assert "Nurtured" in board.split('data-status="nurturing"')[1].split("</ul>")[0]
    assert filter_options(sales.get("/leads/").get_data(as_text=True)) == ["all", *expected]
    # The lead form offers them in that order too, and the list filter finds the new status's leads.
    assert "Nurtured" in sales.get("/leads/?status=nurturing").get_data(as_text=True)
    # A closed status leaves the board's open columns for the closed ones (C9.2).
    admin = as_user("admin")
    admin.post(f"{URL}/nurturing/category", data={"category": "closed"})
    board = as_user("sales").get("/leads/board").get_data(as_text=True)
    assert board_columns(board) == ["new", "contacted", "qualified", "nurturing", "lost", "disqualified", "converted"]
    assert 'class="board-column is-closed" aria-labelledby="col-nurturing"' in board
