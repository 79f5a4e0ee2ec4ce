"""The lead page, the lead create / edit forms, and the page's small forms (issue 3; C1.4, C9.5)."""

from __future__ import annotations

from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, csrf_token_from, db_rows
from webapp.models import (
    Address,
    Campaign,
    CampaignMember,
    Conversion,
    CustomField,
    Lead,
    LineItem,
    Product,
    TimelineEvent,
    utcnow,
)
from webapp.services.custom_values import get_custom
from webapp.services.tags import get_tags

HX = {"HX-Request": "true"}


@pytest.fixture
def own_lead(make_lead, users):
    """A lead of the sales user (who reports to the manager)."""
    return make_lead(owner_id=users["sales"].id, tags=["vip"])


@pytest.fixture
def other_lead(make_lead, users):
    """A lead of another sales user, outside the manager's team."""
    return make_lead(owner_id=users["other_sales"].id, last_name="Other", email="o@example.com")


def lead_data(**overrides) -> dict:
    data = {"first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Engines",
            "email": "ada@example.com", "status": "new", "currency": "EUR", "tags": "vip, fair"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- Rights, every route, exact statuses ------------------------------------------------------

ROLE_STATUS = [("admin", 200), ("manager", 200), ("sales", 200), ("viewer", 200), ("anonymous", 302)]


@pytest.mark.parametrize("role,status", ROLE_STATUS)
def test_show_own_lead(as_user, own_lead, role, status):
    response = as_user(role).get(f"/leads/{own_lead.id}")
    assert response.status_code == status


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 403), ("sales", 403),
                                         ("viewer", 200), ("anonymous", 302)])
def test_show_someone_elses_lead(as_user, other_lead, role, status):
    assert as_user(role).get(f"/leads/{other_lead.id}").status_code == status


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 403), ("anonymous", 302)])
def test_new_form(as_user, role, status):
    assert as_user(role).get("/leads/new").status_code == status


@pytest.mark.parametrize("role,status", [("admin", 303), ("manager", 303), ("sales", 303),
                                         ("viewer", 403), ("anonymous", 302)])
def test_create(as_user, db, role, status):
    before = count(db, Lead)
    response = as_user(role).post("/leads/", data=lead_data())
    assert response.status_code == status
    assert count(db, Lead) == before + (1 if status == 303 else 0)


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 403), ("anonymous", 302)])
def test_edit_form(as_user, own_lead, role, status):
    assert as_user(role).get(f"/leads/{own_lead.id}/edit").status_code == status


@pytest.mark.parametrize("role,status", [("admin", 303), ("manager", 303), ("sales", 303),
                                         ("viewer", 403), ("anonymous", 302)])
def test_update(as_user, db, own_lead, role, status):
    response = as_user(role).post(f"/leads/{own_lead.id}", data=lead_data(first_name="Changed"))
    assert response.status_code == status
    db.session.expire_all()
    assert (db.session.get(Lead, own_lead.id).first_name == "Changed") == (status == 303)


@pytest.mark.parametrize("role,status", [("admin", 303), ("manager", 403), ("sales", 403),
                                         ("viewer", 403), ("anonymous", 302)])
def test_update_someone_elses_lead(as_user, other_lead, role, status):
    assert as_user(role).post(f"/leads/{other_lead.id}", data=lead_data()).status_code == status


@pytest.mark.parametrize("url", ["/leads/9999", "/leads/9999/edit"])
def test_unknown_lead_is_404(as_user, url):
    assert as_user("admin").get(url).status_code == 404


def test_update_unknown_lead_is_404(as_user, db, make_lead):
    make_lead()
    before = db_rows(db)
    assert as_user("admin").post("/leads/9999", data=lead_data()).status_code == 404
    assert_unchanged(db, before)


# --- htmx fragments ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/leads/{id}", "/leads/new", "/leads/{id}/edit"])
def test_htmx_gets_a_fragment(as_user, own_lead, url):
    response = as_user("sales").get(url.format(id=own_lead.id), headers=HX)
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_create_answers_hx_redirect(as_user, db):
    response = as_user("sales").post("/leads/", data=lead_data(), headers=HX)
    assert response.status_code == 204
    lead = db.session.scalar(select(Lead))
    assert response.headers["HX-Redirect"].endswith(f"/leads/{lead.id}")


def test_htmx_form_error_is_the_form_fragment(as_user, db):
    before = db_rows(db)
    response = as_user("sales").post("/leads/", data=lead_data(email="nope"), headers=HX)
    assert response.status_code == 422
    assert_unchanged(db, before)
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="lead-form"' in html


# --- Create / update behaviour ----------------------------------------------------------------

def test_create_stores_every_field_and_records_the_event(as_user, db, users):
    data = lead_data(salutation="Dr.", title="Countess", phone="+33 1 23 45 67 89", mobile="06 12 34 56 78",
                     fax="+33 1 23 45 67 80", website="analytical.example", skype="ada.l", linkedin="in/ada",
                     twitter="@ada", facebook="ada.fb", industry="Computing", annual_revenue="1250.5",
                     employees="12", lead_source="Referral", rating="Hot", email_opt_out="y",
                     description="First programmer", street="1 Rue", city="Paris", state="IDF",
                     postal_code="75001", country="France", currency="USD", status="contacted")
    response = as_user("sales").post("/leads/", data=data)
    assert response.status_code == 303
    lead = db.session.scalar(select(Lead))
    assert response.headers["Location"].endswith(f"/leads/{lead.id}")
    assert (lead.salutation, lead.title, lead.website) == ("Dr.", "Countess", "https://analytical.example")
    assert lead.annual_revenue == Decimal("1250.50") and lead.employees == 12
    assert lead.email_opt_out is True and lead.currency == "USD" and lead.status == "contacted"
    assert lead.owner_id == users["sales"].id and lead.team_id == users["sales"].team_id
    assert sorted(get_tags(db.session, "lead", lead.id)) == ["fair", "vip"]
    event = db.session.scalar(select(TimelineEvent).where(TimelineEvent.parent_id == lead.id))
    assert event.message == "Lead created" and event.actor_id == users["sales"].id


def test_company_only_lead_is_allowed(as_user, db):
    response = as_user("sales").post("/leads/", data=lead_data(first_name=None, last_name=None, email=None))
    assert response.status_code == 303
    assert db.session.scalar(select(Lead)).display_name == "Analytical Engines"


def test_update_status_goes_through_change_status(as_user, db, own_lead):
    response = as_user("sales").post(f"/leads/{own_lead.id}", data=lead_data(status="qualified"))
    assert response.status_code == 303
    messages = list(db.session.scalars(select(TimelineEvent.message).where(TimelineEvent.parent_id == own_lead.id)))
    assert "Status changed from New to Qualified" in messages


def test_update_replaces_tags_and_shows_them(as_user, db, own_lead):
    client = as_user("sales")
    client.post(f"/leads/{own_lead.id}", data=lead_data(tags="hot lead"))
    assert get_tags(db.session, "lead", own_lead.id) == ["hot lead"]
    assert "hot lead" in client.get(f"/leads/{own_lead.id}").get_data(as_text=True)


def test_sales_owner_defaults_to_self_and_cannot_be_someone_else(as_user, db, users):
    client = as_user("sales")
    html = client.get("/leads/new").get_data(as_text=True)
    assert f'value="{users["sales"].id}" selected' in html or f'selected value="{users["sales"].id}"' in html
    assert users["other_sales"].display_name not in html
    response = client.post("/leads/", data=lead_data(owner_id=str(users["other_sales"].id)))
    assert response.status_code == 422
    assert "Owner must be yourself: your role assigns records only to you." in response.get_data(as_text=True)
    assert count(db, Lead) == 0


def test_manager_may_assign_to_a_report(as_user, db, users):
    response = as_user("manager").post("/leads/", data=lead_data(owner_id=str(users["sales"].id)))
    assert response.status_code == 303
    assert db.session.scalar(select(Lead)).owner_id == users["sales"].id


# --- Bad input: 422, the message next to the field, nothing written ---------------------------

BAD_INPUT = [
    ({"email": "not-an-email"}, "email", "E-mail is not a valid e-mail address"),
    ({"first_name": "x" * 101}, "first_name", "First name is at most 100 characters."),
    ({"company": "c" * 256}, "company", "Company is at most 255 characters."),
    ({"annual_revenue": "abc"}, "annual_revenue", 'Annual revenue must be a decimal amount, e.g. "1250.00".'),
    ({"annual_revenue": "NaN"}, "annual_revenue", "Annual revenue must be a decimal amount"),
    ({"annual_revenue": "sNaN"}, "annual_revenue", "Annual revenue must be a decimal amount"),
    ({"annual_revenue": "-5"}, "annual_revenue", "Annual revenue must be zero or more."),
    ({"annual_revenue": "1e20"}, "annual_revenue", "Annual revenue must be a decimal amount"),
    ({"employees": "-3"}, "employees", "Employees must be a whole number between 0 and 2147483647."),
    ({"employees": "many"}, "employees", "Employees must be a whole number."),
    ({"employees": "99999999999"}, "employees", "Employees must be a whole number between 0 and 2147483647."),
    ({"owner_id": "9999"}, "owner_id", "Owner is not an active user (id 9999)."),
    ({"owner_id": "abc"}, "owner_id", "Owner must be a whole number."),
    ({"team_id": "9999"}, "team_id", "Team is not a known team (id 9999)."),
    ({"status": "bogus"}, "status", "Status must be one of: New, Contacted"),
    ({"status": "converted"}, "status", "Status a lead becomes converted only through a lead conversion."),
    ({"currency": "EURO"}, "currency", "Currency is at most 3 characters."),
    ({"currency": "EU1"}, "currency", "Currency must be an ISO 4217 code"),
    ({"salutation": "x" * 21}, "salutation", "Salutation is at most 20 characters."),
    ({"phone": "12"}, "phone", "Phone has the wrong number of digits for a phone number."),
    ({"website": "http://"}, "website", "Website is not a valid web address."),
    ({"tags": "t" * 61}, "tags", "Tags has a tag longer than 60 characters."),
    ({"last_name": "", "company": ""}, "last_name", "Last name is required when company is empty."),
]


@pytest.mark.parametrize("override,field,message", BAD_INPUT)
def test_create_bad_input_is_422_next_to_the_field(as_user, db, override, field, message):
    response = as_user("admin").post("/leads/", data=lead_data(**override))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # The message sits in the field's own error element, referenced by the input.
    assert f'id="{field}-error"' in html
    error = unescape(html.split(f'id="{field}-error"', 1)[1].split("</div>", 1)[0])
    assert message in error
    assert 'aria-invalid="true"' in html
    assert count(db, Lead) == 0


@pytest.mark.parametrize("override,field,message", BAD_INPUT[:4])
def test_update_bad_input_changes_nothing(as_user, db, own_lead, override, field, message):
    response = as_user("sales").post(f"/leads/{own_lead.id}", data=lead_data(**override))
    assert response.status_code == 422
    assert message in unescape(response.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(Lead, own_lead.id).first_name == "Charles"


TEXT_FIELDS = ["first_name", "last_name", "company", "title", "skype", "linkedin", "twitter",
               "facebook", "industry", "lead_source", "description", "street", "city", "state",
               "postal_code", "country"]


def test_markup_in_every_text_field_is_stored_and_escaped(as_user, db):
    payload = "<script>alert(1)</script>"
    client = as_user("admin")
    response = client.post("/leads/", data=lead_data(tags=payload[:40], **{f: payload for f in TEXT_FIELDS}))
    assert response.status_code == 303
    lead = db.session.scalar(select(Lead))
    assert all(getattr(lead, f) == payload for f in TEXT_FIELDS)
    for url in (f"/leads/{lead.id}", f"/leads/{lead.id}/edit"):
        html = client.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html


# --- Custom fields of leads ------------------------------------------------------------------

@pytest.fixture
def lead_customs(db):
    db.session.add_all([
        CustomField(entity="lead", key="vat", label="VAT number", type="text", length=20, required=True),
        CustomField(entity="lead", key="seats", label="Seats", type="number"),
        CustomField(entity="lead", key="size", label="Size", type="picklist", options=["S", "M", "L"]),
        CustomField(entity="lead", key="since", label="Customer since", type="date"),
        CustomField(entity="lead", key="partner", label="Partner", type="checkbox"),
    ])
    db.session.commit()


def test_custom_fields_are_rendered_and_stored(as_user, db, lead_customs):
    client = as_user("sales")
    html = client.get("/leads/new").get_data(as_text=True)
    assert 'name="cf_vat"' in html and 'type="date"' in html and "Customer since" in html
    response = client.post("/leads/", data=lead_data(cf_vat="FR123", cf_seats="12", cf_size="M",
                                                     cf_since="2024-02-29", cf_partner="y"))
    assert response.status_code == 303
    lead = db.session.scalar(select(Lead))
    assert get_custom(db.session, "lead", lead.id) == {
        "vat": "FR123", "seats": 12, "size": "M", "since": "2024-02-29", "partner": True}
    edit = client.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    assert 'value="FR123"' in edit and 'value="2024-02-29"' in edit


@pytest.mark.parametrize("override,field,message", [
    ({"cf_vat": ""}, "cf_vat", "is required."),
    ({"cf_vat": "x" * 21}, "cf_vat", "is at most 20 characters."),
    ({"cf_seats": "abc"}, "cf_seats", "must be a whole number."),
    ({"cf_seats": "1.5"}, "cf_seats", "must be a whole number."),
    ({"cf_size": "XL"}, "cf_size", "must be one of: S, M, L."),
    ({"cf_since": "2024-02-30"}, "cf_since", "must be a date (YYYY-MM-DD)."),
])
def test_bad_custom_values_are_422(as_user, db, lead_customs, override, field, message):
    response = as_user("sales").post("/leads/", data=lead_data(**{"cf_vat": "FR1", **override}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html.split(f'id="{field}-error"', 1)[1].split("</div>", 1)[0]
    assert count(db, Lead) == 0


# --- Converted leads are read-only (C1.4) -----------------------------------------------------

@pytest.fixture
def converted_lead(db, make_lead, make_account, users):
    account = make_account(name="Zylker Inc.")
    lead = make_lead(owner_id=users["sales"].id, converted=True, status="converted", converted_at=utcnow())
    conv = Conversion(lead_id=lead.id, created_by=users["sales"].id, account_id=account.id, account_action="created")
    db.session.add(conv)
    db.session.flush()
    lead.conversion_id = conv.id
    db.session.commit()
    return lead


def test_converted_lead_edit_is_409_with_a_clear_message(as_user, converted_lead):
    response = as_user("sales").get(f"/leads/{converted_lead.id}/edit")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "This lead was converted on" in html and "it is read-only" in html
    assert "Zylker Inc." in html  # what it produced, linked


def test_converted_lead_update_is_409_and_changes_nothing(as_user, db, converted_lead):
    response = as_user("admin").post(f"/leads/{converted_lead.id}", data=lead_data(first_name="X"))
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Lead, converted_lead.id).first_name == "Charles"


def test_converted_lead_page_is_read_only(as_user, converted_lead):
    html = as_user("admin").get(f"/leads/{converted_lead.id}").get_data(as_text=True)
    assert "Converted lead" in html and "read-only" in html
    assert f"/leads/{converted_lead.id}/edit" not in html
    assert "Add task" not in html and "Save note" not in html and "Add an address" not in html


def test_converted_lead_small_forms_are_409(as_user, db, converted_lead):
    response = as_user("admin").post(f"/leads/{converted_lead.id}/addresses", data={"type": "billing", "city": "Lyon"})
    assert response.status_code == 409
    assert count(db, Address) == 0


# --- The page: header, sections, block for the conversion engineer ---------------------------

def test_page_shows_header_sections_and_tabs(as_user, db, own_lead, users):
    html = as_user("manager").get(f"/leads/{own_lead.id}").get_data(as_text=True)
    assert "Charles Stone" in html and "Zylker Inc." in html and "badge-open" in html
    assert users["sales"].display_name in html and "vip" in html
    for title in ("Contact details", "Company", "Address", "Addresses", "Products", "Campaigns",
                  "Activities", "Timeline", "Tasks", "Notes", "Files"):
        assert title in html
    assert f'href="/leads/{own_lead.id}/edit"' in html


def test_viewer_sees_no_edit_button(as_user, own_lead):
    html = as_user("viewer").get(f"/leads/{own_lead.id}").get_data(as_text=True)
    assert f"/leads/{own_lead.id}/edit" not in html and "Add an address" not in html


# --- Typed addresses (C9.5), campaigns, products ---------------------------------------------

def test_add_and_remove_address(as_user, db, own_lead):
    client = as_user("sales")
    response = client.post(f"/leads/{own_lead.id}/addresses", headers=HX,
                           data={"type": "delivery", "street": "2 Quai", "city": "Lyon"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Delivery" in html and "2 Quai" in html
    address = db.session.scalar(select(Address))
    assert (address.parent_type, address.parent_id, address.type) == ("lead", own_lead.id, "delivery")
    response = client.post(f"/leads/{own_lead.id}/addresses/{address.id}/delete")
    assert response.status_code == 303
    assert count(db, Address) == 0


@pytest.mark.parametrize("data,message", [
    ({"type": "home", "city": "Lyon"}, "Type must be one of: Billing, Delivery, Default."),
    ({"type": "billing"}, "Street is empty: fill at least one line of the address."),
    ({"type": "billing", "city": "x" * 101}, "City is at most 100 characters."),
])
def test_bad_address_is_422(as_user, db, own_lead, data, message):
    response = as_user("sales").post(f"/leads/{own_lead.id}/addresses", data=data, headers=HX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(db, Address) == 0


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 403), ("anonymous", 302)])
def test_add_address_rights(as_user, own_lead, role, status):
    response = as_user(role).post(f"/leads/{own_lead.id}/addresses", headers=HX, data={"type": "billing", "city": "Lyon"})
    assert response.status_code == status


def test_remove_someone_elses_address_is_404(as_user, db, own_lead, other_lead):
    address = Address(parent_type="lead", parent_id=other_lead.id, city="Nice")
    db.session.add(address)
    db.session.commit()
    assert as_user("sales").post(f"/leads/{own_lead.id}/addresses/{address.id}/delete").status_code == 404
    assert count(db, Address) == 1


def test_add_to_campaign(as_user, db, own_lead):
    campaign = Campaign(name="Spring <fair>")
    db.session.add(campaign)
    db.session.commit()
    client = as_user("sales")
    response = client.post(f"/leads/{own_lead.id}/campaigns", data={"campaign_id": campaign.id}, headers=HX)
    assert response.status_code == 200
    assert "Spring &lt;fair&gt;" in response.get_data(as_text=True)
    again = client.post(f"/leads/{own_lead.id}/campaigns", data={"campaign_id": campaign.id}, headers=HX)
    assert again.status_code == 422 and "Campaign already has this lead." in again.get_data(as_text=True)
    bad = client.post(f"/leads/{own_lead.id}/campaigns", data={"campaign_id": 999}, headers=HX)
    assert bad.status_code == 422 and "Campaign must be chosen from the list." in bad.get_data(as_text=True)
    assert count(db, CampaignMember) == 1
    member = db.session.scalar(select(CampaignMember))
    assert client.post(f"/leads/{own_lead.id}/campaigns/{member.id}/delete", headers=HX).status_code == 200
    assert count(db, CampaignMember) == 0


def test_add_line_item_with_product_price_and_total(as_user, db, own_lead):
    product = Product(name="Widget", unit_price=Decimal("19.90"))
    db.session.add(product)
    db.session.commit()
    client = as_user("sales")
    response = client.post(f"/leads/{own_lead.id}/line-items", data={"product_id": product.id, "quantity": "3"}, headers=HX)
    assert response.status_code == 200
    assert "59.70" in response.get_data(as_text=True)
    line = db.session.scalar(select(LineItem))
    assert (line.unit_price, line.quantity, line.parent_id) == (Decimal("19.90"), Decimal("3"), own_lead.id)
    for data, message in (({"product_id": product.id, "quantity": "0"}, "Quantity must be more than 0."),
                          ({"product_id": 999, "quantity": "1"}, "Product must be chosen from the list."),
                          ({"product_id": product.id, "quantity": "x"}, "Quantity must be a decimal amount"),
                          ({"product_id": product.id, "quantity": "1", "unit_price": "-1"}, "Unit price must be zero or more.")):
        bad = client.post(f"/leads/{own_lead.id}/line-items", data=data, headers=HX)
        assert bad.status_code == 422 and message in bad.get_data(as_text=True)
    assert count(db, LineItem) == 1
    assert client.post(f"/leads/{own_lead.id}/line-items/{line.id}/delete", headers=HX).status_code == 200
    assert count(db, LineItem) == 0


# --- CSRF on every POST -----------------------------------------------------------------------

@pytest.mark.csrf
@pytest.mark.parametrize("path,data", [
    ("/leads/", lead_data()),
    ("/leads/{id}", lead_data()),
    ("/leads/{id}/addresses", {"type": "billing", "city": "Lyon"}),
    ("/leads/{id}/campaigns", {"campaign_id": "1"}),
    ("/leads/{id}/line-items", {"product_id": "1", "quantity": "1"}),
])
def test_posts_without_csrf_token_are_refused(as_user, db, own_lead, path, data):
    before = count(db, Lead), count(db, Address)
    response = as_user("admin").post(path.format(id=own_lead.id), data=data)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert (count(db, Lead), count(db, Address)) == before


@pytest.mark.csrf
def test_create_with_csrf_token(as_user, db):
    client = as_user("sales")
    token = csrf_token_from(client.get("/leads/new").get_data(as_text=True))
    response = client.post("/leads/", data={**lead_data(), "csrf_token": token})
    assert response.status_code == 303


@pytest.mark.csrf
def test_htmx_post_with_csrf_header(as_user, db, own_lead):
    client = as_user("sales")
    token = csrf_token_from(client.get(f"/leads/{own_lead.id}").get_data(as_text=True))
    response = client.post(f"/leads/{own_lead.id}/addresses", data={"type": "billing", "city": "Lyon"},
                           headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 200

