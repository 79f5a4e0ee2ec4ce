"""e2e: create a lead through the form (with a refused e-mail first), then work on its page:
a note, a task, a file uploaded and downloaded, a typed address, a product; checked in the database."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select

from e2e.conftest import screenshot
from webapp.models import Address, Attachment, Campaign, Lead, LineItem, Note, Product, Task


def _catalog(app_db):
    if app_db.session.scalar(select(Product).where(Product.name == "CRM seat")) is None:
        app_db.session.add_all([Product(name="CRM seat", sku="SEAT-1", unit_price=Decimal("49.00")),
                                Campaign(name="Spring trade fair")])
        app_db.session.commit()


def test_create_lead_then_notes_tasks_and_files(login, live_server, app_db):
    _catalog(app_db)
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/new")

    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Company").fill("Navy Computing Lab")
    page.get_by_label("Job title").fill("Rear Admiral")
    page.get_by_label("E-mail", exact=True).fill("grace@@navy")
    page.get_by_label("Phone", exact=True).fill("+1 202 555 0142")
    page.get_by_label("Annual revenue").fill("2500000")
    page.get_by_label("Tags").fill("vip, conference")
    page.get_by_role("button", name="Create lead").click()

    # The error sits next to the e-mail field; the first invalid field has the focus.
    error = page.locator("#email-error")
    expect(error).to_contain_text("valid e-mail address")
    expect(page.get_by_label("E-mail", exact=True)).to_be_focused()
    expect(page.get_by_text("1 field needs attention.")).to_be_visible()
    screenshot(page, "lead-form-error")

    page.get_by_label("E-mail", exact=True).fill("grace@navy.example")
    page.get_by_role("button", name="Create lead").click()
    page.wait_for_url(re.compile(r".*/leads/\d+$"))
    expect(page.get_by_role("heading", name=re.compile("Grace Hopper"))).to_be_visible()
    lead_id = int(page.url.rsplit("/", 1)[1])

    # A note and a task, by keyboard-friendly labelled fields.
    page.get_by_label("Add a note").fill("Met at the fair — wants a demo in <b>May</b>.")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator(".note-body")).to_have_text("Met at the fair — wants a demo in <b>May</b>.")

    page.get_by_label("Subject").fill("Send the demo invitation")
    page.get_by_label("Activity type").select_option("call")
    page.get_by_label("Due").fill("2031-05-02")
    page.get_by_role("button", name="Add task").click()
    expect(page.locator(".task-subject", has_text="Send the demo invitation")).to_be_visible()

    # A file: upload, then download it back.
    page.get_by_label("Attach a file").set_input_files(
        {"name": "brief.txt", "mimeType": "text/plain", "buffer": b"Demo brief for Grace"})
    page.get_by_role("button", name="Upload").click()
    link = page.get_by_role("link", name="brief.txt")
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "brief.txt"
    assert Path(download.path()).read_bytes() == b"Demo brief for Grace"

    # A typed address and a product line.
    page.get_by_text("Add an address").click()
    page.locator("#lead-addresses").get_by_label("Type").select_option("delivery")
    page.locator("#lead-addresses").get_by_label("Street").fill("1 Pentagon Way")
    page.locator("#lead-addresses").get_by_label("City").fill("Arlington")
    page.get_by_role("button", name="Add address").click()
    expect(page.locator("#lead-addresses")).to_contain_text("1 Pentagon Way")
    page.get_by_text("Add a product").click()
    page.locator("#lead-line_items").get_by_label("Quantity").fill("3")
    page.get_by_role("button", name="Add product").click()
    expect(page.locator("#lead-line_items")).to_contain_text("147.00")
    page.get_by_label("Add to campaign").select_option(label="Spring trade fair")
    page.locator("#lead-campaigns").get_by_role("button", name="Add").click()
    expect(page.locator("#lead-campaigns .chip")).to_contain_text("Spring trade fair")

    # Tabs by keyboard: the timeline shows what happened, newest first.
    page.get_by_role("tab", name="Activities").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Timeline")).to_be_focused()
    timeline = page.locator("#pane-timeline")
    expect(timeline).to_be_visible()
    expect(timeline).to_contain_text("Lead created")
    expect(timeline).to_contain_text("Send the demo invitation")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#pane-activity")).to_be_visible()
    page.reload()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "lead-detail")

    app_db.session.expire_all()
    lead = app_db.session.get(Lead, lead_id)
    assert (lead.email, lead.annual_revenue, lead.owner.email) == (
        "grace@navy.example", Decimal("2500000.00"), "sales@example.com")
    note = app_db.session.scalar(select(Note).where(Note.parent_id == lead_id, Note.parent_type == "lead"))
    assert note.body == "Met at the fair — wants a demo in <b>May</b>."
    task = app_db.session.scalar(select(Task).where(Task.parent_id == lead_id, Task.parent_type == "lead"))
    assert (task.subject, task.kind, str(task.due_date)) == ("Send the demo invitation", "call", "2031-05-02")
    attachment = app_db.session.scalar(select(Attachment).where(Attachment.parent_id == lead_id))
    assert (attachment.filename, attachment.size) == ("brief.txt", 20)
    assert app_db.session.scalar(select(Address.city).where(Address.parent_id == lead_id)) == "Arlington"
    assert app_db.session.scalar(select(LineItem.quantity).where(LineItem.parent_id == lead_id)) == 3


def test_complete_task_by_keyboard(login, live_server, app_db):
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/new")
    page.get_by_label("Company").fill("Keyboard Works")
    page.get_by_role("button", name="Create lead").click()
    page.wait_for_url(re.compile(r".*/leads/\d+$"))
    page.get_by_label("Subject").fill("Follow up")
    page.get_by_label("Subject").press("Enter")
    button = page.get_by_role("button", name="Mark “Follow up” done")
    expect(button).to_be_visible()
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Past activities (1)")).to_be_visible()
    lead_id = int(page.url.rsplit("/", 1)[1])
    app_db.session.expire_all()
    assert app_db.session.scalar(select(Task.status).where(Task.parent_id == lead_id)) == "done"

    # The same lead, found by live search (the rows swap without a page load)...
    page.goto(f"{live_server}/leads/")
    page.evaluate("window.__stillHere = true")
    page.get_by_role("searchbox", name="Search").fill("navy comp")
    expect(page.locator("#lead-rows tr[data-href]")).to_have_count(1)
    expect(page.locator("#lead-rows")).to_contain_text("Navy Computing Lab")
    assert page.evaluate("window.__stillHere") is True

    # ...and moved on the board by keyboard, New -> Qualified (mouse drag: test_leads_list_board,
    # whose column counts for "contacted" this must leave alone: the e2e database is shared).
    page.goto(f"{live_server}/leads/board")
    card = page.locator(f'ul.board-cards[data-status="new"] [data-href="/leads/{lead_id}"]')
    card.focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    with page.expect_response(re.compile(r"/leads/\d+/status$")) as moved:
        page.keyboard.press("Space")
    assert moved.value.status == 200
    app_db.session.expire_all()
    assert app_db.session.get(Lead, lead_id).status == "qualified"
