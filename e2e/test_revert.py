"""e2e (C9.1): convert a lead, open its conversion, preview the revert, revert, and find the lead
back on the board with its notes; the blockers and the choice to keep them, in French."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect
from sqlalchemy import select

from e2e.conftest import PASSWORD, screenshot
from e2e.test_convert import SHOTS, ConvertModal, conversion_of, seed  # noqa: F401  (fixture)
from webapp.conversion.executor import apply
from webapp.conversion.options import ConversionOptions
from webapp.models import Conversion, Deal, Lead, Note, User


def _shot(page, name: str, locator=None) -> None:
    """/tmp/shots/revert_<name>.png for a person to look at (and test-results/screenshots)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    (locator or page).screenshot(path=str(SHOTS / f"revert_{name}.png"))
    screenshot(page, f"revert_{name}")


def test_convert_preview_the_revert_revert_and_find_the_lead_on_the_board(login, live_server, seed, app_db):  # noqa: F811
    lead_id = seed(last_name=f"Revert{uuid.uuid4().hex[:6]}")
    lead = app_db.session.get(Lead, lead_id)
    name, last = lead.display_name, lead.last_name
    note_body = app_db.session.scalar(select(Note.body).where(Note.parent_type == "lead", Note.parent_id == lead_id))
    page = login("sales@example.com")

    # Convert, with a deal: the note goes to the deal, copies to the account and the contact.
    modal = ConvertModal(page).open_from_lead(live_server, lead_id)
    modal.dialog.get_by_label("Create a deal").check()
    modal.dialog.get_by_label("Stage").select_option("Proposal")
    modal.submit()
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead_id)
    assert conversion is not None and conversion.deal_id is not None
    deal_id = conversion.deal_id

    # Open its conversion from the lead, then the revert's preview.
    page.goto(f"{live_server}/leads/{lead_id}")
    page.get_by_role("link", name="View the conversion").click()
    page.wait_for_url(f"{live_server}/conversions/{conversion.id}")
    page.get_by_role("link", name="Revert…").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name=f"Revert the conversion of {name}")).to_be_visible()
    expect(dialog).to_contain_text("The lead comes back")
    expect(dialog).to_contain_text("1 note, from the deal")
    expect(dialog).to_contain_text("Copies the conversion made, removed: 2 notes.")
    expect(dialog).to_contain_text("created by the conversion and untouched since: deleted.")
    expect(dialog.locator(".revert-blockers")).to_have_count(0)
    _shot(page, "en_preview", dialog)
    # "Keep the conversion" (cancel) closes it, nothing reverted; it opens again.
    dialog.get_by_role("button", name="Keep the conversion").click()
    expect(dialog).to_be_hidden()
    app_db.session.expire_all()
    assert app_db.session.get(Conversion, conversion.id).reverted_at is None
    page.get_by_role("link", name="Revert…").click()
    expect(dialog).to_be_visible()

    dialog.get_by_role("button", name="Revert the conversion").click()
    page.wait_for_url(f"{live_server}/leads/{lead_id}")
    expect(page.locator(".flash-success")).to_contain_text(f"Conversion reverted: the lead “{name}” is back")
    expect(page.locator(".converted-banner")).to_have_count(0)
    expect(page.get_by_role("link", name="Convert", exact=True)).to_be_visible()
    expect(page.get_by_text(note_body).first).to_be_visible()
    _shot(page, "en_lead_back")
    app_db.session.expire_all()
    stored = app_db.session.get(Lead, lead_id)
    assert not stored.converted and stored.status == "new"
    assert app_db.session.get(Deal, deal_id) is None  # created, untouched: deleted

    # The board: back in its column, and its card opens the lead with its note.
    page.goto(f"{live_server}/leads/board?q={last}")
    card = page.locator('ul.board-cards[data-status="new"]').get_by_text(name)
    expect(card).to_be_visible()
    _shot(page, "en_board")
    card.click()
    page.wait_for_url(re.compile(rf"/leads/{lead_id}$"))
    expect(page.get_by_text(note_body).first).to_be_visible()

    # The conversion record says it was reverted, and what the revert did.
    page.goto(f"{live_server}/conversions/{conversion.id}")
    expect(page.locator("h1")).to_contain_text("Reverted")
    expect(page.get_by_role("heading", name="What the revert did")).to_be_visible()
    expect(page.get_by_role("link", name="Revert…")).to_have_count(0)
    _shot(page, "en_record")


def _french_user(app_db) -> User:
    email = "revert-fr@example.com"
    user = app_db.session.scalar(select(User).where(User.email == email))
    if user is None:
        from webapp.services.users import create_user

        user = create_user(email, PASSWORD, "sales", "Rémi Annule")
        user.language = "fr"
        app_db.session.commit()
    return user


def test_blockers_named_in_french_then_kept(login, live_server, seed, app_db):  # noqa: F811
    user = _french_user(app_db)
    lead_id = seed(owner_id=user.id, last_name=f"Annule{uuid.uuid4().hex[:6]}")
    session = app_db.session
    conversion = apply(session, user, lead_id, ConversionOptions.from_dict(
        {"deal": {"stage": "Qualification"}, "account": {"action": "create"}, "contact": {"action": "create"}}))
    session.commit()
    # Since the conversion: a second deal for the contact it created.
    session.add(Deal(name="Deuxième affaire", contact_id=conversion.contact_id, stage="Qualification",
                     owner_id=user.id))
    session.commit()
    conversion_id, contact_id = conversion.id, conversion.contact_id

    page = login(user.email)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.goto(f"{live_server}/leads/{lead_id}")
    page.locator(f'a[hx-get="/conversions/{conversion_id}/revert"]').click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    blockers = dialog.locator(".revert-blockers")
    expect(blockers).to_contain_text("Deuxième affaire")
    _shot(page, "fr_preview", dialog)
    dialog.locator('button[type="submit"]').click()
    page.wait_for_url(f"{live_server}/leads/{lead_id}")
    _shot(page, "fr_lead_back")
    session.expire_all()
    assert not session.get(Lead, lead_id).converted
    assert session.get(Conversion, conversion_id).revert_report["keep_changed"] is True
    assert session.get(Deal, session.scalar(select(Deal.id).where(Deal.contact_id == contact_id))) is not None
    page.goto(f"{live_server}/conversions/{conversion_id}")
    _shot(page, "fr_record")
