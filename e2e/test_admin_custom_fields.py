"""e2e (issue 10 item 2): an administrator creates a custom field on leads with its contact counterpart
in one step (it is mapped), fills it on a lead, converts the lead and sees the value on the contact;
the page's type-dependent inputs, move and delete-with-confirmation by keyboard; screenshots in
English and French (/tmp/shots/admin_custom_fields_*.png)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from e2e.conftest import screenshot
from e2e.test_convert import ConvertModal, conversion_of
from webapp.conversion.mapping import load_mapping
from webapp.models import CustomField, Lead, User
from webapp.services import custom_fields as svc
from webapp.services.custom_values import get_custom

SHOTS = Path("/tmp/shots")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin_custom_fields_{name}.png"), full_page=True)
    screenshot(page, f"admin_custom_fields_{name}")


@pytest.fixture
def tag(app_db):
    """A unique suffix; the fields made with it are deleted afterwards (the e2e database is shared,
    and every lead and contact form shows the custom fields)."""
    value = uuid.uuid4().hex[:6]
    yield value
    session = app_db.session
    session.expire_all()
    admin = session.scalar(select(User).where(User.email == "admin@example.com"))
    for field in session.scalars(select(CustomField).where(CustomField.key.like(f"%{value}%"))).all():
        svc.delete_field(session, admin, field, confirm=True)
    session.commit()


def test_create_a_lead_field_with_its_contact_counterpart_convert_and_see_the_value(login, live_server, app_db, tag):
    label, key = f"Badge {tag}", f"badge_{tag}"
    page = login("admin@example.com")
    page.goto(f"{live_server}/admin/custom-fields")
    expect(page.get_by_role("heading", name="Custom fields", exact=True)).to_be_visible()
    form = page.locator("form.cf-form")
    kind = form.get_by_label("Type")
    # Type-dependent inputs: a length for text, options for a picklist.
    expect(form.get_by_label("Length (characters)")).to_be_visible()
    expect(form.get_by_label("Options")).to_be_hidden()
    kind.select_option("picklist")
    expect(form.get_by_label("Options")).to_be_visible()
    expect(form.get_by_label("Length (characters)")).to_be_hidden()
    kind.select_option("number")
    expect(form.get_by_label("Options")).to_be_hidden()
    expect(form.get_by_label("Length (characters)")).to_be_hidden()
    kind.select_option("text")
    form.get_by_label("Label").fill(label)
    form.get_by_label("Key (optional)").fill(key)
    form.get_by_label("Length (characters)").fill("40")
    form.get_by_label("Also create it on contacts and map it").check()
    shot(page, "create_en")
    form.get_by_role("button", name="Create field").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Field “{label}” created on leads, and on contacts")
    row = page.locator("tr", has_text=label)
    expect(row).to_contain_text("Mapped to contacts")
    expect(row).to_contain_text("40 characters")
    shot(page, "list_en")
    # Both fields exist, and the mapping pairs them.
    app_db.session.expire_all()
    made = {f.entity: f for f in app_db.session.scalars(select(CustomField).where(CustomField.key == key))}
    assert set(made) == {"lead", "contact"} and made["contact"].length == 40
    assert load_mapping(app_db.session)["contact"][f"custom.{key}"] == f"custom.{key}"
    # The contacts tab lists the counterpart.
    page.locator("#cf-tab-contact").click()
    expect(page.locator("tr", has_text=label)).to_be_visible()
    expect(page).to_have_url(re.compile(r"entity=contact"))

    # A lead with a value of the field, typed in the lead's form.
    admin = app_db.session.scalar(select(User).where(User.email == "admin@example.com"))
    lead = Lead(first_name="Iris", last_name=f"Badger{tag}", company=f"Badger Works {tag}",
                email=f"iris.{tag}@badger.example", owner_id=admin.id)
    app_db.session.add(lead)
    app_db.session.commit()
    page.goto(f"{live_server}/leads/{lead.id}/edit")
    page.get_by_label(label).fill(f"B-{tag}")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text(f"B-{tag}").first).to_be_visible()
    # Convert: the value lands on the new contact.
    modal = ConvertModal(page).open_from_lead(live_server, lead.id)
    modal.submit()
    page.wait_for_url(re.compile(r"/contacts/\d+$"))
    conversion = conversion_of(app_db, lead.id)
    assert get_custom(app_db.session, "contact", conversion.contact_id) == {key: f"B-{tag}"}
    expect(page.get_by_text(label).first).to_be_visible()
    expect(page.get_by_text(f"B-{tag}").first).to_be_visible()
    shot(page, "contact_en")


def test_edit_move_and_delete_by_keyboard_and_in_french(login, live_server, app_db, tag):
    admin = app_db.session.scalar(select(User).where(User.email == "admin@example.com"))
    for label in ("Alpha", "Beta"):
        svc.create(app_db.session, admin, {"entity": "deal", "key": f"{label.lower()}_{tag}",
                                            "label": f"{label} {tag}", "type": "picklist",
                                            "options": ["Gold", "Silver"]})
    app_db.session.commit()
    page = login("admin@example.com")
    page.goto(f"{live_server}/admin/custom-fields?entity=deal")
    beta = app_db.session.scalar(select(CustomField).where(CustomField.key == f"beta_{tag}"))
    up = page.locator(f"#cf-up-{beta.id}")
    up.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash-success")).to_contain_text(f"“Beta {tag}” is now at place")
    expect(page.locator(f"#cf-up-{beta.id}")).to_be_focused()
    labels = page.locator("tbody th.cf-label").all_inner_texts()
    assert labels.index(f"Beta {tag}") < labels.index(f"Alpha {tag}")
    # Edit: removing an option is fine while no deal holds it.
    page.locator("tr", has_text=f"Beta {tag}").get_by_role("link", name="Edit").click()
    page.get_by_label("Options").fill("Gold\nPlatinum")
    page.get_by_label("Required").check()
    shot(page, "edit_en")
    page.get_by_role("button", name="Save field").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Field “Beta {tag}” saved.")
    expect(page.locator("tr", has_text=f"Beta {tag}")).to_contain_text("Required")
    # Delete: the step says what it holds, then confirms.
    page.locator("tr", has_text=f"Alpha {tag}").get_by_role("link", name="Delete").click()
    expect(page.get_by_text("No record holds a value of this field.")).to_be_visible()
    shot(page, "delete_en")
    page.get_by_role("button", name="Delete the field").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Field “Alpha {tag}” deleted.")
    expect(page.locator("tr", has_text=f"Alpha {tag}")).to_have_count(0)
    # Deal fields required by this test would stop other tests' deals: not required any more.
    svc.update_field(app_db.session, admin, app_db.session.get(CustomField, beta.id), {"required": False})
    app_db.session.commit()
    # In French (the admin's switch; back to English after).
    page.get_by_role("button", name="FR").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    try:
        page.goto(f"{live_server}/admin/custom-fields")
        expect(page.get_by_role("heading", name="Champs personnalisés", exact=True)).to_be_visible()
        shot(page, "list_fr")
        page.goto(f"{live_server}/admin/custom-fields/{beta.id}/edit")
        shot(page, "edit_fr")
        page.goto(f"{live_server}/admin/custom-fields/{beta.id}/delete")
        shot(page, "delete_fr")
    finally:
        page.get_by_role("button", name="EN").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
