"""C9.1 in the interface: "Revert…" on the conversion record and on the converted lead, the preview
(an htmx fragment for the modal, a page otherwise), the choice, the revert and where it lands."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import assert_unchanged, db_rows
from webapp.conversion.executor import apply
from webapp.conversion.options import ConversionOptions
from webapp.models import Contact, Conversion, Deal, Lead, Note

HX = {"HX-Request": "true"}
DEAL = {"stage": "Qualification"}


@pytest.fixture
def converted(db, users, make_lead, make_note):
    """A lead of the sales rep with a note, converted with a deal (committed): the Conversion."""
    sales = users["sales"]
    lead = make_lead(owner_id=sales.id, team_id=sales.team_id, first_name="Ines", last_name="Revert",
                     company="Revert Foods", email="ines@revert.example")
    make_note(parent_id=lead.id, body="Met Ines at the fair", author_id=sales.id)
    conversion = apply(db.session, sales, lead.id, ConversionOptions.from_dict(
        {"deal": DEAL, "account": {"action": "create"}, "contact": {"action": "create"}}))
    db.session.commit()
    return conversion


def _revert_url(c) -> str:
    return f"/conversions/{c.id}/revert"


def test_button_on_the_conversion_page_and_the_lead_page(as_user, converted):
    client = as_user("sales")
    for url in (f"/conversions/{converted.id}", f"/leads/{converted.lead_id}"):
        html = client.get(url).get_data(as_text=True)
        assert f'hx-get="{_revert_url(converted)}"' in html and "Revert…" in html, url


@pytest.mark.parametrize("role", ["viewer", "other_sales"])
def test_no_button_without_the_right(role, as_user, converted):
    client = as_user(role)
    for url in (f"/conversions/{converted.id}", f"/leads/{converted.lead_id}"):
        response = client.get(url)
        assert "Revert…" not in response.get_data(as_text=True), (role, url, response.status_code)


def test_preview_is_a_fragment_for_htmx_and_a_page_otherwise(as_user, converted, db):
    client = as_user("sales")
    before = db_rows(db)
    fragment = client.get(_revert_url(converted), headers=HX)
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html
    assert 'id="revert-form"' in html and 'id="modal-title"' in html
    assert "The lead comes back" in html and "“Qualification”" not in html
    assert "Back to the lead" in html and "1 note, from the deal" in html
    assert "created by the conversion and untouched since: deleted." in html
    assert "Revert the conversion" in html and "Keep those records" not in html
    assert fragment.headers.get("Vary") and "HX-Request" in fragment.headers["Vary"]
    page = client.get(_revert_url(converted))
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)
    assert_unchanged(db, before)  # a preview writes nothing


def test_revert_redirects_to_the_lead_with_a_flash(as_user, converted, db):
    client = as_user("sales")
    response = client.post(_revert_url(converted), headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/leads/{converted.lead_id}"
    page = client.get(response.headers["HX-Redirect"]).get_data(as_text=True)
    assert "Conversion reverted" in page and "Ines Revert" in page
    db.session.expire_all()
    lead = db.session.get(Lead, converted.lead_id)
    assert not lead.converted and lead.status == "new"
    assert [n.body for n in db.session.scalars(select(Note).where(Note.parent_type == "lead",
                                                                  Note.parent_id == lead.id))] == \
        ["Met Ines at the fair"]
    assert db.session.get(Conversion, converted.id).reverted_at is not None
    board = client.get("/leads/board").get_data(as_text=True)
    assert "Ines Revert" in board
    record = client.get(f"/conversions/{converted.id}").get_data(as_text=True)
    assert "What the revert did" in record and "Revert…" not in record


def test_plain_post_redirects_303(as_user, converted):
    client = as_user("sales")
    response = client.post(_revert_url(converted))
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/leads/{converted.lead_id}")


def test_blockers_are_named_with_the_choice_to_keep(as_user, converted, db, users):
    contact_id = converted.contact_id
    db.session.add(Deal(name="Another deal", contact_id=converted.contact_id, stage="Qualification",
                        owner_id=users["sales"].id))
    db.session.commit()
    client = as_user("sales")
    html = client.get(_revert_url(converted), headers=HX).get_data(as_text=True)
    assert "What cannot be undone cleanly" in html
    assert "Kept: the contact “Ines Revert”, which got the deal “Another deal” since the conversion." in html
    assert "Keep those records and revert" in html and 'name="keep_changed" value="1"' in html
    # Posted without the choice (the preview was older than the change): 409, the blockers shown.
    before = db_rows(db)
    refused = client.post(_revert_url(converted), headers=HX)
    assert refused.status_code == 409 and "Something changed since the preview" in refused.get_data(as_text=True)
    assert_unchanged(db, before)
    done = client.post(_revert_url(converted), data={"keep_changed": "1"}, headers=HX)
    assert done.status_code == 204
    db.session.expire_all()
    assert db.session.get(Contact, contact_id) is not None  # kept, with its new deal
    assert not db.session.get(Lead, converted.lead_id).converted


def test_already_reverted_answers_409_in_the_modal(as_user, converted):
    client = as_user("sales")
    assert client.post(_revert_url(converted), headers=HX).status_code == 204
    for response in (client.get(_revert_url(converted), headers=HX), client.post(_revert_url(converted), headers=HX)):
        assert response.status_code == 409
        assert "already been reverted" in response.get_data(as_text=True)


@pytest.mark.parametrize("role,status", [("viewer", 403), ("other_sales", 403), ("anonymous", 302)])
def test_refused(role, status, as_user, converted, db):
    client = as_user(role)
    before = db_rows(db)
    assert client.get(_revert_url(converted), headers=HX).status_code in (status, 401)
    assert client.post(_revert_url(converted), headers=HX).status_code in (status, 401)
    assert_unchanged(db, before)


def test_unknown_conversion_is_404(as_user):
    assert as_user("sales").get("/conversions/999999/revert").status_code == 404


@pytest.mark.csrf
def test_the_form_carries_its_csrf_token(as_user, converted):
    client = as_user("sales")
    html = client.get(_revert_url(converted), headers=HX).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post(_revert_url(converted), headers=HX).status_code == 400
    assert client.post(_revert_url(converted), data={"csrf_token": token}, headers=HX).status_code == 204
