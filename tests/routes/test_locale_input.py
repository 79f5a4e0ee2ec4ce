"""Numbers typed the reader's way (issue 8): the HTML forms read the locale's decimal comma
("12,5", "12 000,50" in French; "12.5" always), the JSON API keeps strict numbers, and the
conversion modal shows money and dates in the reader's format."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import func, select

from tests.routes.test_conversions import DEAL, HX, modal_values
from tests.routes.test_leads_detail import lead_data
from webapp.models import Conversion, Deal, Lead, LineItem, Pipeline, Product

FR = {"Accept-Language": "fr"}
EN = {"Accept-Language": "en"}


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def field_error(html: str, field: str) -> str:
    match = re.search(rf'id="{field}-error"[^>]*>(.*?)</div>', html, re.S)
    assert match, html[-2000:]
    return " ".join(unescape(re.sub(r"<[^>]+>", "", match.group(1))).split())


@pytest.fixture
def pipeline(db):
    return db.session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))


# --- The lead form ----------------------------------------------------------------------------

@pytest.mark.parametrize("typed, saved", [
    ("12,5", Decimal("12.50")),
    ("12 000,50", Decimal("12000.50")),
    ("12\u202f000,50", Decimal("12000.50")),   # the group separator Babel writes in French
    ("12\xa0000,50", Decimal("12000.50")),
    ("12.5", Decimal("12.50")),                 # a point is always a decimal point
    ("12000", Decimal("12000.00")),
])
def test_french_lead_form_reads_the_decimal_comma(as_user, db, typed, saved):
    response = as_user("sales").post("/leads/", data=lead_data(annual_revenue=typed, employees="1 200"),
                                     headers=FR)
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    lead = db.session.scalar(select(Lead))
    assert lead.annual_revenue == saved and lead.employees == 1200


@pytest.mark.parametrize("typed", ["12,5", "12 000,50"])
def test_english_lead_form_refuses_the_decimal_comma(as_user, db, typed):
    response = as_user("sales").post("/leads/", data=lead_data(annual_revenue=typed), headers=EN)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "annual_revenue") == \
        'Annual revenue must be a decimal amount, e.g. "1250.00".'
    assert count(db, Lead) == 0


@pytest.mark.parametrize("typed", ["12,5,0", "1,250.00", "12,5 €", "abc"])
def test_french_lead_form_refuses_what_is_not_a_number(as_user, db, typed):
    response = as_user("sales").post("/leads/", data=lead_data(annual_revenue=typed), headers=FR)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "annual_revenue")
    assert count(db, Lead) == 0


def test_french_lead_edit_reads_the_decimal_comma(as_user, db, make_lead, users):
    lead = make_lead(owner_id=users["sales"].id)
    response = as_user("sales").post(f"/leads/{lead.id}", data=lead_data(annual_revenue="1 250,75"), headers=FR)
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    db.session.refresh(lead)
    assert lead.annual_revenue == Decimal("1250.75")


def test_french_product_line_reads_the_decimal_comma(as_user, db, make_lead, users):
    lead = make_lead(owner_id=users["sales"].id)
    product = Product(sku="P1", name="Licence", unit_price=Decimal("100"), currency="EUR")
    db.session.add(product)
    db.session.commit()
    response = as_user("sales").post(f"/leads/{lead.id}/line-items", headers=FR,
                                     data={"product_id": str(product.id), "quantity": "2",
                                           "unit_price": "1 250,50"})
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    line = db.session.scalar(select(LineItem))
    assert line.unit_price == Decimal("1250.50")


def test_product_choices_show_the_price_the_readers_way(as_user, db, make_lead, users):
    lead = make_lead(owner_id=users["sales"].id)
    db.session.add(Product(sku="P1", name="Licence", unit_price=Decimal("1250"), currency="EUR"))
    db.session.commit()
    client = as_user("sales")
    assert "Licence — €1,250.00" in client.get(f"/leads/{lead.id}", headers=EN).get_data(as_text=True)
    assert "Licence — 1\u202f250,00\xa0€" in client.get(f"/leads/{lead.id}", headers=FR).get_data(as_text=True)


# --- The deal form ----------------------------------------------------------------------------

def _deal(pipeline, **kw) -> dict:
    return {"name": "New deal", "pipeline_id": pipeline.id, "stage": "Qualification", "currency": "EUR", **kw}


@pytest.mark.parametrize("typed, saved", [("12,5", Decimal("12.50")), ("12 000,50", Decimal("12000.50")),
                                          ("12.5", Decimal("12.50"))])
def test_french_deal_form_reads_the_decimal_comma(as_user, db, pipeline, typed, saved):
    response = as_user("sales").post("/deals/", data=_deal(pipeline, amount=typed), headers=FR)
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    assert db.session.scalar(select(Deal)).amount == saved


def test_english_deal_form_refuses_the_decimal_comma(as_user, db, pipeline):
    response = as_user("sales").post("/deals/", data=_deal(pipeline, amount="12,5"), headers=EN)
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "amount") == \
        'Amount must be a decimal amount, e.g. "1250.00".'
    assert count(db, Deal) == 0


# --- The JSON API keeps strict numbers --------------------------------------------------------

def test_api_does_not_read_the_decimal_comma(client, db, users, api_headers):
    headers = {**api_headers(users["sales"]), **FR}
    response = client.post("/api/v1/leads", json={"last_name": "Stone", "annual_revenue": "12,5"}, headers=headers)
    assert response.status_code == 422
    assert "annual_revenue" in response.get_json()["errors"]
    assert count(db, Lead) == 0


# --- The conversion modal ---------------------------------------------------------------------

@pytest.fixture
def lead(make_lead, users):
    return make_lead(owner_id=users["sales"].id)


def test_french_conversion_reads_the_deal_amount(as_user, db, lead):
    client = as_user("sales")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    data = modal_values(client, lead.id, **{**DEAL, "deal_amount": "12 000,50"})
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    assert response.status_code == 204, response.get_data(as_text=True)[-3000:]
    deal = db.session.get(Deal, db.session.scalar(select(Conversion)).deal_id)
    assert deal.amount == Decimal("12000.50")


def test_english_conversion_refuses_the_decimal_comma(as_user, db, lead):
    client = as_user("sales")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    data = modal_values(client, lead.id, **{**DEAL, "deal_amount": "12,5"})
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    assert response.status_code == 422
    assert "Must be a decimal amount" in response.get_data(as_text=True)
    assert count(db, Conversion) == 0 and count(db, Deal) == 0


def test_conversion_preview_shows_money_and_dates_the_readers_way(as_user, lead):
    client = as_user("sales")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "fr"
    data = modal_values(client, lead.id, **{**DEAL, "deal_amount": "1 250,00"})
    html = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX).get_data(as_text=True)
    assert "1\u202f250,00\xa0€" in html and "31 déc. 2026" in html
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    data = modal_values(client, lead.id, **DEAL)
    html = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX).get_data(as_text=True)
    assert "€1,250.00" in html and "Dec 31, 2026" in html
