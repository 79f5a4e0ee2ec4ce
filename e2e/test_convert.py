"""e2e: the conversion modal (C8.1) and its live preview (C8.7), by mouse and by keyboard only;
outcomes checked in the database the live server writes to."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from e2e.conftest import screenshot
from webapp.models import Contact, Conversion, CustomField, Deal, Lead, Note, User
from webapp.services.custom_values import get_custom

SHOTS = Path("/tmp/shots")  # screenshots a person looks at (also under test-results/)


class ConvertModal:
    """The page object of the conversion modal."""

    def __init__(self, page: Page):
        self.page = page
        self.dialog = page.locator("dialog#modal")
        self.preview = page.locator("#convert-preview")

    def open_from_lead(self, base: str, lead_id: int) -> ConvertModal:
        self.page.goto(f"{base}/leads/{lead_id}")
        self.page.get_by_role("link", name="Convert", exact=True).click()
        expect(self.dialog).to_be_visible()
        expect(self.dialog.get_by_role("heading", name=re.compile("^Convert "))).to_be_visible()
        return self

    def submit(self) -> None:
        self.dialog.get_by_role("button", name="Convert lead").click()

    def section(self, entity: str):
        return self.preview.locator(f".pv-{entity}")

    def shot(self, name: str, locator=None) -> None:
        """A screenshot for a person to look at, under /tmp/shots/ (and test-results)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        (locator or self.dialog).screenshot(path=str(SHOTS / f"{name}.png"))
        screenshot(self.page, name)


@pytest.fixture
def seed(app_db):
    """seed(**lead fields) -> lead id: a lead of the sales user with a note, unique names."""
    session = app_db.session

    def make(with_note: bool = True, **kw) -> int:
        tag = uuid.uuid4().hex[:6]
        sales = session.scalar(select(User).where(User.email == "sales@example.com"))
        values = {"first_name": "Nora", "last_name": f"Vance{tag}", "company": f"Vance Robotics {tag}",
                  "email": f"nora.{tag}@vance.example", "phone": "+33 1 23 45 67 89", "industry": "Robotics",
                  "lead_source": "Trade fair", "owner_id": sales.id, **kw}
        lead = Lead(**values)
        session.add(lead)
        session.flush()
        if with_note:
            session.add(Note(body=f"Met Nora at the fair {tag}", parent_type="lead", parent_id=lead.id,
                             author_id=sales.id))
        session.commit()
        return lead.id

    return make


def conversion_of(app_db, lead_id: int) -> Conversion | None:
    app_db.session.expire_all()
    return app_db.session.scalar(select(Conversion).where(Conversion.lead_id == lead_id))


def test_convert_without_deal_then_lead_leaves_the_list(login, live_server, seed, app_db):
    lead_id = seed()
    lead = app_db.session.get(Lead, lead_id)
    name, note_body = lead.display_name, f"Met Nora at the fair {lead.last_name[5:]}"
    page = login("sales@example.com")
    modal = ConvertModal(page).open_from_lead(live_server, lead_id)
    # Escape closes the dialog natively; it opens again from the button.
    page.keyboard.press("Escape")
    expect(modal.dialog).to_be_hidden()
    page.get_by_role("link", name="Convert", exact=True).click()
    expect(modal.dialog).to_be_visible()
    expect(modal.dialog.get_by_label("Company name")).to_have_value(lead.company)
    expect(modal.dialog.get_by_label("Create a deal")).not_to_be_checked()
    expect(modal.preview).to_contain_text("Will create")
    expect(modal.preview).to_contain_text("1 note")
    screenshot(page, "convert-modal")
    modal.submit()
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead_id)
    assert conversion is not None and conversion.deal_id is None
    assert (conversion.account_action, conversion.contact_action) == ("created", "created")
    assert page.url.endswith(f"/contacts/{conversion.contact_id}")
    flash = page.locator(".convert-flash")
    expect(flash).to_contain_text(f"Lead “{name}” converted.")
    expect(flash.get_by_role("link", name=lead.company)).to_be_visible()
    # The contact's page shows the moved note and the link back to the lead.
    expect(page.get_by_text(note_body).first).to_be_visible()
    expect(page.locator(f'a[href="/leads/{lead_id}"]').first).to_be_attached()
    note = app_db.session.scalar(select(Note).where(Note.body == note_body, Note.copy_of_id.is_(None)))
    assert (note.parent_type, note.parent_id) == ("contact", conversion.contact_id)
    screenshot(page, "after-convert")
    # C1.4: gone from the default lead list.
    page.goto(f"{live_server}/leads/")
    expect(page.locator("#lead-rows, .empty-state").first).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(lead.last_name))).to_have_count(0)


def test_convert_with_a_deal(login, live_server, seed, app_db):
    lead_id = seed(with_note=False)
    page = login("sales@example.com")
    modal = ConvertModal(page).open_from_lead(live_server, lead_id)
    deal_box = modal.dialog.get_by_label("Create a deal")
    expect(modal.dialog.get_by_label("Amount")).to_be_hidden()
    deal_box.check()
    expect(modal.dialog.get_by_label("Amount")).to_be_visible()
    modal.dialog.get_by_label("Stage").select_option("Proposal")
    modal.dialog.get_by_label("Amount").fill("4200.50")
    modal.dialog.get_by_label("Closing date").fill("2026-12-31")
    expect(modal.preview).to_contain_text("€4,200.50")
    expect(modal.preview.locator(".pv-deal")).to_contain_text("Will create")
    modal.submit()
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead_id)
    deal = app_db.session.get(Deal, conversion.deal_id)
    assert (deal.stage, str(deal.amount), deal.closing_date.isoformat()) == ("Proposal", "4200.50", "2026-12-31")
    assert deal.contact_id == conversion.contact_id and deal.account_id == conversion.account_id
    expect(page.locator(f'.convert-flash a[href="/deals/{deal.id}"]')).to_have_text(deal.name)


def test_pick_the_existing_contact_and_preview_the_merge(login, live_server, seed, app_db):
    lead_id = seed()
    lead = app_db.session.get(Lead, lead_id)
    sales = app_db.session.scalar(select(User).where(User.email == "sales@example.com"))
    existing = Contact(first_name="Nora", last_name=lead.last_name, email=lead.email.upper(), owner_id=sales.id)
    app_db.session.add(existing)
    app_db.session.commit()
    existing_id = existing.id
    page = login("sales@example.com")
    modal = ConvertModal(page).open_from_lead(live_server, lead_id)
    offered = modal.dialog.get_by_label(re.compile(r"Add to existing Nora .* matched on e-mail"))
    expect(offered).to_be_checked()
    expect(modal.preview).to_contain_text(f"Will merge into Nora {lead.last_name}")
    fills = modal.preview.locator(".pv-contact .pv-fills")
    expect(fills).to_contain_text("Phone")
    expect(fills).to_contain_text("01 23 45 67 89")
    # The preview follows the form: a job title typed now is a value that fills an empty field.
    modal.dialog.get_by_label("Job title").fill("Head of R&D")
    expect(fills).to_contain_text("Head of R&D")
    screenshot(page, "convert-preview-merge")
    modal.submit()
    page.wait_for_url(f"{live_server}/contacts/{existing_id}")
    conversion = conversion_of(app_db, lead_id)
    assert (conversion.contact_id, conversion.contact_action) == (existing_id, "merged")
    page.locator(".convert-flash").get_by_role("link", name="See the conversion").click()
    page.wait_for_url(f"{live_server}/conversions/{conversion.id}")
    expect(page.get_by_role("row", name=re.compile("Contact · Phone"))).to_contain_text("01 23 45 67 89")
    screenshot(page, "conversion-record")
    contact = app_db.session.get(Contact, existing_id)
    assert (contact.phone, contact.title, contact.lead_source) == ("+33 1 23 45 67 89", "Head of R&D", "Trade fair")
    assert conversion.previous_values["contact"]["phone"] is None


@pytest.fixture
def required_badge(app_db):
    """A required custom field on contacts, removed afterwards (the server's database is shared)."""
    field = CustomField(entity="contact", key="badge", label="Badge number", type="text", required=True)
    app_db.session.add(field)
    app_db.session.commit()
    yield field
    app_db.session.execute(delete(CustomField).where(CustomField.key == "badge"))
    app_db.session.commit()


def test_fill_a_missing_required_field_in_the_modal(login, live_server, seed, app_db, required_badge):
    lead_id = seed(with_note=False)
    page = login("sales@example.com")
    modal = ConvertModal(page).open_from_lead(live_server, lead_id)
    expect(modal.preview).to_contain_text("Still required before converting")
    modal.submit()
    badge = modal.dialog.get_by_label("Badge number")
    expect(modal.dialog.locator("#contact_custom_badge-error")).to_have_text("This field is required.")
    expect(badge).to_be_focused()
    assert conversion_of(app_db, lead_id) is None
    badge.fill("B-042")
    expect(modal.preview).not_to_contain_text("Still required")
    modal.submit()
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead_id)
    assert get_custom(app_db.session, "contact", conversion.contact_id) == {"badge": "B-042"}


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_convert_with_the_keyboard_only(login, live_server, seed, app_db):
    lead_id = seed(with_note=False)
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/{lead_id}")
    tab_to(page, f'a[href="/leads/{lead_id}/convert"]')
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#account_choice-0")).to_be_focused()
    tab_to(page, "#create_deal")
    page.keyboard.press("Space")
    expect(dialog.get_by_label("Create a deal")).to_be_checked()
    tab_to(page, "#deal_stage")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(dialog.get_by_label("Stage")).to_have_value("Qualification")
    tab_to(page, "#deal_amount")
    page.keyboard.type("990")
    page.keyboard.press("Enter")  # Enter in a field submits the form
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead_id)
    deal = app_db.session.get(Deal, conversion.deal_id)
    assert (deal.stage, str(deal.amount)) == ("Qualification", "990.00")


def _check_the_deal_conversion(page: Page, app_db, lead_id: int, live_server: str) -> None:
    """Landed on the contact; the record page shows formatted values; the database holds the deal."""
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead_id)
    deal = app_db.session.get(Deal, conversion.deal_id)
    assert (deal.stage, str(deal.amount), deal.closing_date.isoformat()) == ("Proposal", "12000.00", "2026-12-15")
    assert (deal.contact_id, deal.account_id) == (conversion.contact_id, conversion.account_id)
    assert app_db.session.get(Lead, lead_id).converted
    page.locator(".convert-flash").get_by_role("link", name="See the conversion").click()
    page.wait_for_url(f"{live_server}/conversions/{conversion.id}")
    record = page.locator(".conversion-record")
    expect(record).to_contain_text("€12,000.00")
    expect(record).to_contain_text("Dec 15, 2026")
    expect(record).to_contain_text("moved from the lead to the deal")
    expect(record.get_by_role("link", name=deal.name).first).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "conversion-record-deal.png"), full_page=True)


def test_whole_modal_flow_with_a_deal_by_mouse(login, live_server, seed, app_db):
    """Issue 7: ticking the deal keeps the preview and flags the stage in place; choosing one
    clears it; values are shown for people; closing with changes asks first."""
    lead_id = seed()
    page = login("sales@example.com")
    modal = ConvertModal(page).open_from_lead(live_server, lead_id)
    expect(modal.dialog.get_by_role("button", name="Close")).to_be_visible()
    modal.shot("modal-opened")
    modal.dialog.get_by_label("Create a deal").check()
    stage_error = modal.dialog.locator("#deal_stage-error")
    expect(stage_error).to_have_text("This field is required.")
    expect(modal.dialog.get_by_label("Stage")).to_have_attribute("aria-invalid", "true")
    # The preview is kept, the stage flagged in the deal's own section; nothing is an alert.
    expect(modal.section("account")).to_contain_text("Will create")
    expect(modal.section("deal")).to_contain_text("Stage: This field is required.")
    expect(modal.preview).not_to_contain_text("Some options are not valid")
    expect(modal.dialog.locator("#convert-preview [role=alert]")).to_have_count(0)
    expect(page.locator("#preview-status")).to_contain_text("1 field needs attention")
    modal.shot("modal-stage-flagged")
    modal.dialog.get_by_label("Stage").select_option("Proposal")
    expect(stage_error).to_have_count(0)  # no stale "This field is required" under the stage
    expect(modal.section("deal")).not_to_contain_text("required")
    modal.dialog.get_by_label("Amount").fill("12000")
    modal.dialog.get_by_label("Closing date").fill("2026-12-15")
    expect(modal.section("deal")).to_contain_text("€12,000.00")
    expect(modal.section("deal")).to_contain_text("Dec 15, 2026")
    expect(modal.section("deal")).to_contain_text("Deal name")
    modal.shot("modal-preview-deal", modal.dialog.locator(".convert-preview-pane"))
    # Esc with changes: the dialog stays and asks; Esc again (or Keep editing) goes back.
    page.keyboard.press("Escape")
    expect(modal.dialog).to_be_visible()
    confirm = modal.dialog.get_by_role("alertdialog", name="Discard your changes?")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("button", name="Keep editing")).to_be_focused()
    modal.shot("modal-confirm-discard")
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(modal.dialog).to_be_visible()
    modal.dialog.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Keep editing").click()
    expect(modal.dialog.get_by_label("Amount")).to_have_value("12000")
    modal.submit()
    _check_the_deal_conversion(page, app_db, lead_id, live_server)


def test_whole_modal_flow_with_a_deal_by_keyboard_only(login, live_server, seed, app_db):
    lead_id = seed()
    page = login("sales@example.com")
    page.goto(f"{live_server}/leads/{lead_id}")
    tab_to(page, f'a[href="/leads/{lead_id}/convert"]')
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    tab_to(page, "#create_deal")
    page.keyboard.press("Space")
    expect(dialog.locator("#deal_stage-error")).to_have_text("This field is required.")
    expect(dialog.locator("#convert-preview .pv-account")).to_contain_text("Will create")
    # The close button is reachable; with changes it asks, and Enter on "Keep editing" goes back.
    tab_to(page, ".convert-close")
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Keep editing")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog.locator("#convert-confirm")).to_be_hidden()
    tab_to(page, "#deal_stage")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(dialog.get_by_label("Stage")).to_have_value("Proposal")
    expect(dialog.locator("#deal_stage-error")).to_have_count(0)
    tab_to(page, "#deal_amount")
    page.keyboard.type("12000")
    tab_to(page, "#deal_closing_date")
    page.keyboard.type("12152026")  # the date input's segments, month first in en-US
    expect(dialog.get_by_label("Closing date")).to_have_value("2026-12-15")
    preview = dialog.locator("#convert-preview .pv-deal")
    expect(preview).to_contain_text("€12,000.00")
    expect(preview).to_contain_text("Dec 15, 2026")
    tab_to(page, "#deal_amount")
    page.keyboard.press("Enter")  # Enter in a field submits the form
    _check_the_deal_conversion(page, app_db, lead_id, live_server)


def test_discarding_changes_by_keyboard_converts_nothing(login, live_server, seed, app_db):
    lead_id = seed(with_note=False)
    page = login("sales@example.com")
    modal = ConvertModal(page).open_from_lead(live_server, lead_id)
    modal.dialog.get_by_label("Job title").fill("Head of R&D")
    page.keyboard.press("Escape")
    confirm = modal.dialog.get_by_role("alertdialog", name="Discard your changes?")
    expect(confirm).to_be_visible()
    page.keyboard.press("Tab")
    expect(confirm.get_by_role("button", name="Discard changes")).to_be_focused()
    page.keyboard.press("Enter")
    expect(modal.dialog).to_be_hidden()
    assert conversion_of(app_db, lead_id) is None
    # Opened again, the modal starts from the lead's values.
    page.get_by_role("link", name="Convert", exact=True).click()
    expect(modal.dialog.get_by_label("Job title")).to_have_value("")


def test_matches_say_the_same_rule_everywhere_and_typing_raises_no_alert(login, live_server, seed, app_db):
    """The radio, the preview and the record say why a record was matched in the same words;
    a bad e-mail is flagged once the field is left, never while typing, and never as an alert."""
    from webapp.models import Account

    lead_id = seed()
    lead = app_db.session.get(Lead, lead_id)
    sales = app_db.session.scalar(select(User).where(User.email == "sales@example.com"))
    account = Account(name=lead.company, owner_id=sales.id)
    app_db.session.add(account)
    app_db.session.flush()
    app_db.session.add(Contact(first_name="Nora", last_name=lead.last_name, email=lead.email,
                               account_id=account.id, owner_id=sales.id))
    app_db.session.commit()
    page = login("sales@example.com")
    modal = ConvertModal(page).open_from_lead(live_server, lead_id)
    expect(modal.dialog.get_by_label(f"Add to existing {lead.company} — the account of the matched contact")
           ).to_be_checked()
    expect(modal.dialog.get_by_label(re.compile(r"Add to existing Nora .* — matched on e-mail"))).to_be_checked()
    expect(modal.section("account")).to_contain_text("the account of the matched contact")
    expect(modal.section("contact")).to_contain_text("matched on e-mail")
    # Typing a bad e-mail (an edited contact field): no error under it while the field has the focus.
    email = modal.dialog.locator("#contact_email")
    email.fill("")
    email.press_sequentially("nora@", delay=30)
    expect(modal.section("contact")).to_contain_text("E-mail")  # the preview flags it in its section
    expect(modal.dialog.locator("#contact_email-error")).to_have_count(0)
    expect(modal.dialog.locator("[role=alert]")).to_have_count(0)
    page.keyboard.press("Tab")
    expect(modal.dialog.locator("#contact_email-error")).to_be_visible()
    expect(email).to_have_attribute("aria-invalid", "true")
    modal.shot("modal-bad-email")
    email.fill(lead.email)
    expect(modal.dialog.locator("#contact_email-error")).to_have_count(0)
    modal.submit()
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead_id)
    assert (conversion.account_reason, conversion.contact_reason) == ("contact_account", "email")
    page.goto(f"{live_server}/conversions/{conversion.id}")
    record = page.locator(".conversion-record")
    expect(record.get_by_role("row", name=re.compile(r"^Account (Merged|Linked)"))).to_contain_text("the account of the matched contact")
    expect(record.get_by_role("row", name=re.compile(r"^Contact Merged"))).to_contain_text("matched on e-mail")
    expect(record).not_to_contain_text("your choice")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "conversion-record-matched.png"), full_page=True)
