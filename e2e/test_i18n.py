"""e2e (issue 8): switch to French from the top bar, convert a lead with a deal typed the
French way (decimal comma), see the preview and the record in French formats."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from e2e.conftest import PASSWORD, screenshot
from e2e.test_convert import SHOTS, ConvertModal, conversion_of, seed  # noqa: F401  (fixture)
from webapp.models import Deal, Lead, User


def _french_user(app_db) -> str:
    """A sales rep of their own (the switch writes the profile: other tests stay in English)."""
    email = "francoise@example.com"
    if app_db.session.scalar(select(User).where(User.email == email)) is None:
        from webapp.services.users import create_user

        create_user(email, PASSWORD, "sales", "Françoise Vendeuse")
        app_db.session.commit()
    return email


def test_switch_to_french_and_convert_with_french_formats(login, live_server, seed, app_db):  # noqa: F811
    email = _french_user(app_db)
    owner = app_db.session.scalar(select(User).where(User.email == email))
    lead_id = seed(owner_id=owner.id)
    page = login(email)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="FR").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("navigation", name=re.compile("."))).to_contain_text("Pistes")
    modal = ConvertModal(page)
    page.goto(f"{live_server}/leads/{lead_id}")
    page.get_by_role("link", name="Convertir", exact=True).click()
    expect(modal.dialog).to_be_visible()
    modal.dialog.get_by_label("Créer une affaire").check()
    modal.dialog.get_by_label("Étape").select_option("Proposal")
    modal.dialog.get_by_label("Montant").fill("12 000,50")
    modal.dialog.get_by_label("Date de clôture").fill("2026-12-15")
    expect(modal.section("deal")).to_contain_text(re.compile(r"12\s000,50\s€"))
    expect(modal.section("deal")).to_contain_text("15 déc. 2026")
    modal.shot("fr-modal-preview-deal", modal.dialog.locator(".convert-preview-pane"))
    modal.shot("fr-modal")
    modal.dialog.get_by_role("button", name="Convertir la piste").click()
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead_id)
    deal = app_db.session.get(Deal, conversion.deal_id)
    assert (str(deal.amount), deal.closing_date.isoformat()) == ("12000.50", "2026-12-15")
    assert app_db.session.get(Lead, lead_id).converted
    page.goto(f"{live_server}/conversions/{conversion.id}")
    record = page.locator(".conversion-record")
    expect(record).to_contain_text(re.compile(r"12\s000,50\s€"))
    expect(record).to_contain_text("15 déc. 2026")
    SHOTS.mkdir(parents=True, exist_ok=True)
    screenshot(page, "fr-conversion-record")
    # Back to English: the switcher names each language in its own tongue.
    page.get_by_role("button", name="EN").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
