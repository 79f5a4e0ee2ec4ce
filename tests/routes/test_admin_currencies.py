"""/admin/currencies (issue 10 item 8): the company currency and the exchange rates (htmx add /
edit / delete, 422 next to the field, 409 for a change while rates exist, keyset pages), the
deal form's amount in the company currency and the conversion preview's (C5.3)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import delete, func, select

from tests.conftest import assert_unchanged, csrf_token_from, db_rows
from tests.routes.test_conversions import modal_values
from webapp.models import AuditEntry
from webapp.models.catalog import ExchangeRate
from webapp.services import currencies as svc

HX = {"HX-Request": "true"}
URL = "/admin/currencies"
TODAY = date.today()


@pytest.fixture(autouse=True)
def _no_dated_rates(db):
    """Start without dated rates, whether or not the reference data dates its seeded rates
    (services.currencies.ensure_dated_rates)."""
    db.session.execute(delete(ExchangeRate))
    db.session.commit()


def rates(db) -> list[tuple]:
    return [(r.currency, str(r.rate.normalize()), r.valid_from.isoformat())
            for r in db.session.scalars(select(ExchangeRate).order_by(ExchangeRate.id))]


def errors_in(html: str) -> dict[str, str]:
    """{input id: its error sentence} of a rendered form."""
    return {k: unescape(v) for k, v in re.findall(r'id="([\w-]+)-error" role="alert">([^<]*)<', html)}


@pytest.fixture
def add(db, users):
    def run(currency, rate, valid_from):
        row = svc.add_rate(db.session, users["admin"], {"currency": currency, "rate": rate, "valid_from": valid_from})
        db.session.commit()
        return row

    return run


@pytest.fixture
def french(db, users):
    users["admin"].language = "fr"
    users["sales"].language = "fr"
    db.session.commit()


# ---------------------------------------------------------------- the page


def test_the_page_shows_the_company_currency_and_the_rates(as_user, add):
    add("USD", "0.9", "2026-01-01")
    add("USD", "0.92", "2026-11-01")
    add("GBP", "1.17", (TODAY + timedelta(days=10)).isoformat())
    html = as_user("admin").get(URL).get_data(as_text=True)
    assert "<h1>Currencies</h1>" in html and 'aria-current="page"' in html
    assert '<option selected value="EUR">Euro (EUR)</option>' in html and "US Dollar (USD)" in html
    table = html[html.index("<tbody>"):]
    # The latest valid_from first; the rate applying today, the scheduled one, the replaced one.
    assert table.index("GBP") < table.index("Nov 1, 2026") < table.index("Jan 1, 2026")
    assert "In force" in table and "Scheduled" in table and "Replaced" in table
    assert ">0.92 <span" in table and "Rate (in EUR for 1 unit)" in html
    # The add form offers every ISO currency but the company one, this CRM's first.
    add_form = html[html.index('id="new-currency"'):]
    add_form = add_form[:add_form.index("</select>")]
    assert add_form.index("Currencies of this CRM") < add_form.index("US Dollar (USD)") < add_form.index("Other ISO")
    assert 'value="EUR"' not in add_form and 'value="JPY"' in add_form and 'value="XAU"' not in add_form


def test_the_page_in_french_names_currencies_in_french(as_user, add, french):
    """Currency names (Babel), numbers and dates in French. (The page's own sentences are in
    /work/i18n/fr_currencies.po until the catalogue is merged.)"""
    add("USD", "0.92", "2026-11-01")
    html = as_user("admin").get(URL).get_data(as_text=True)
    assert '<html lang="fr">' in html and "<h1>Devises</h1>" in html
    assert '<option selected value="EUR">euro (EUR)</option>' in html and "dollar des États-Unis (USD)" in html
    assert ">0,92 <span" in html and "1 nov. 2026" in html


def test_an_empty_list_says_so(as_user):
    html = as_user("admin").get(URL).get_data(as_text=True)
    assert "No exchange rate yet" in html and "<table" not in html


# ---------------------------------------------------------------- adding, editing, deleting


def test_adding_a_rate_returns_the_section_with_it(as_user, db):
    response = as_user("admin").post(f"{URL}/rates", headers=HX, data={
        "new-currency": "USD", "new-rate": "0.92", "new-valid_from": "2026-11-01"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and 'id="currency-rates"' in html
    assert response.headers["HX-Retarget"] == "#currency-rates" and response.headers["HX-Reswap"] == "outerHTML"
    assert "Rate of USD from Nov 1, 2026 added." in html and "In force" in html
    # The company section comes along (out of band): it now asks to confirm the rate's deletion.
    assert 'id="company-settings" class="card currency-company" aria-labelledby="company-currency-title" ' \
           'hx-swap-oob="true"' in html and "Delete the 1 exchange rate, quoted in EUR, with the change" in html
    assert rates(db) == [("USD", "0.92", "2026-11-01")]
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.area, entry.action, entry.key) == ("currency", "created", "USD 2026-11-01")
    # The add form is empty again.
    assert re.search(r'name="new-rate"[^>]*value=""', html)


@pytest.mark.parametrize(("data", "field", "sentence"), [
    ({"new-currency": "USD", "new-rate": "0", "new-valid_from": "2026-11-01"}, "new-rate", "Rate must be more than 0."),
    ({"new-currency": "USD", "new-rate": "abc", "new-valid_from": "2026-11-01"}, "new-rate",
     'Rate must be a decimal amount, e.g. "1250.00".'),
    ({"new-currency": "USD", "new-rate": "0.123456789", "new-valid_from": "2026-11-01"}, "new-rate",
     "Rate must have at most 8 decimals."),
    ({"new-currency": "USD", "new-rate": "9" * 100_000, "new-valid_from": "2026-11-01"}, "new-rate",
     "Rate must be at most 9999999999.99999999."),
    ({"new-currency": "USD", "new-rate": "1", "new-valid_from": "tomorrow"}, "new-valid_from",
     "Valid from must be a date (YYYY-MM-DD)."),
    ({"new-currency": "USD", "new-rate": "1", "new-valid_from": ""}, "new-valid_from", "Valid from is required."),
    ({"new-currency": "EUR", "new-rate": "1", "new-valid_from": "2026-11-01"}, "new-currency",
     "Currency is the company currency: its rate is always 1."),
    ({"new-currency": "XYZ", "new-rate": "1", "new-valid_from": "2026-11-01"}, "new-currency",
     "Currency must be an ISO 4217 code of 3 capital letters, e.g. EUR."),
    ({"new-currency": "U\x00D", "new-rate": "1\x00", "new-valid_from": "2026-11-01"}, "new-currency",
     "Currency must not contain NUL characters."),
])
def test_a_bad_rate_is_a_422_next_to_its_field_and_nothing_is_written(as_user, db, data, field, sentence):
    client = as_user("admin")
    before = db_rows(db)
    response = client.post(f"{URL}/rates", headers=HX, data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="currency-rates"' in html and "<html" not in html
    assert errors_in(html)[field] == sentence
    assert re.search(rf'<(input|select) aria-describedby="{field}-error" aria-invalid="true" id="{field}"', html)
    assert_unchanged(db, before)


def test_a_second_rate_on_the_same_day_is_refused_next_to_the_date(as_user, add):
    add("USD", "0.92", "2026-11-01")
    html = as_user("admin").post(f"{URL}/rates", headers=HX, data={
        "new-currency": "USD", "new-rate": "0.93", "new-valid_from": "2026-11-01"}).get_data(as_text=True)
    assert errors_in(html) == {"new-valid_from": "Valid from already has a rate of USD from this day: edit that one."}
    assert 'value="0.93"' in html  # what was typed stays


def test_french_decimals_are_read_the_french_way(as_user, db, french):
    response = as_user("admin").post(f"{URL}/rates", headers=HX, data={
        "new-currency": "CHF", "new-rate": "1,05", "new-valid_from": "2026-11-01"})
    assert response.status_code == 200 and "1 nov. 2026" in response.get_data(as_text=True)
    assert rates(db) == [("CHF", "1.05", "2026-11-01")]
    response = as_user("admin").post(f"{URL}/rates", headers=HX, data={
        "new-currency": "CHF", "new-rate": "1.000,5", "new-valid_from": "2026-12-01"})
    assert response.status_code == 422 and "new-rate" in errors_in(response.get_data(as_text=True))


def test_editing_a_rate_in_its_row(as_user, db, add):
    rate = add("USD", "0.9", "2026-01-01")
    client = as_user("admin")
    row = client.get(f"{URL}/rates/{rate.id}/edit", headers=HX).get_data(as_text=True)
    assert f'<tr id="rate-{rate.id}" class="rate-editing">' in row and "<html" not in row
    assert f'name="rate{rate.id}-rate"' in row and 'value="0.9"' in row and 'value="2026-01-01"' in row
    bad = client.post(f"{URL}/rates/{rate.id}", headers=HX, data={
        f"rate{rate.id}-currency": "USD", f"rate{rate.id}-rate": "-2", f"rate{rate.id}-valid_from": "2026-01-01"})
    assert bad.status_code == 422 and "rate-editing" in bad.get_data(as_text=True)
    assert errors_in(bad.get_data(as_text=True)) == {f"rate{rate.id}-rate": "Rate must be zero or more."}
    ok = client.post(f"{URL}/rates/{rate.id}", headers=HX, data={
        f"rate{rate.id}-currency": "USD", f"rate{rate.id}-rate": "0.95", f"rate{rate.id}-valid_from": "2026-02-01"})
    assert ok.status_code == 200 and ok.headers["HX-Retarget"] == "#currency-rates"
    assert "Rate of USD from Feb 1, 2026 saved." in ok.get_data(as_text=True)
    assert rates(db) == [("USD", "0.95", "2026-02-01")]
    # Cancel: the row as it is.
    cancel = client.get(f"{URL}/rates/{rate.id}", headers=HX).get_data(as_text=True)
    assert f'<tr id="rate-{rate.id}">' in cancel and "Feb 1, 2026" in cancel and "rate-editing" not in cancel


def test_deleting_a_rate(as_user, db, add):
    rate = add("USD", "0.9", "2026-01-01")
    response = as_user("admin").post(f"{URL}/rates/{rate.id}/delete", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Rate of USD from Jan 1, 2026 deleted." in html
    assert rates(db) == [] and "No exchange rate yet" in html
    assert db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == ["created", "deleted"]
    assert as_user("admin").post(f"{URL}/rates/{rate.id}/delete", headers=HX).status_code == 404


def test_without_javascript_the_forms_post_and_redirect(as_user, db, add):
    client = as_user("admin")
    response = client.post(f"{URL}/rates", data={"new-currency": "USD", "new-rate": "0.92", "new-valid_from": "2026-11-01"})
    assert response.status_code == 303 and response.headers["Location"].endswith(URL)
    assert "Rate of USD from Nov 1, 2026 added." in client.get(URL).get_data(as_text=True)
    bad = client.post(f"{URL}/rates", data={"new-currency": "USD", "new-rate": "x", "new-valid_from": "2026-11-02"})
    assert bad.status_code == 422 and "<html" in bad.get_data(as_text=True)
    rate = db.session.scalars(select(ExchangeRate)).one()
    page = client.get(f"{URL}/rates/{rate.id}/edit").get_data(as_text=True)
    assert "<html" in page and "Edit the rate of USD from Nov 1, 2026" in page
    assert client.get(f"{URL}/rates/{rate.id}").status_code == 303


def test_the_rates_page_by_page_latest_first(as_user, add):
    start = date(2024, 1, 1)
    for i in range(25):
        add("USD", f"0.{50 + i}", (start + timedelta(days=i)).isoformat())
    client = as_user("admin")
    page = client.get(URL).get_data(as_text=True)
    assert page.count('class="rate-actions"') == 20 and "Jan 25, 2024" in page and "Jan 5, 2024" not in page
    older = re.search(r'href="(/admin/currencies\?before=[^"]+)"', page).group(1)
    second = client.get(older, headers=HX).get_data(as_text=True)
    assert second.count('class="rate-actions"') == 5 and "Jan 5, 2024" in second and "Jan 6, 2024" not in second
    assert "Latest rates" in second and "Older rates" not in second
    # A cursor that was not made here is the first page.
    assert client.get(f"{URL}?before=garbage").get_data(as_text=True).count('class="rate-actions"') == 20
    assert client.get(f"{URL}?before=2024-02-30.3").status_code == 200


# ---------------------------------------------------------------- the company currency


def test_changing_the_company_currency(as_user, db):
    client = as_user("admin")
    response = client.post(f"{URL}/company", headers=HX, data={"company-currency": "CHF"})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == URL
    assert svc.company_currency(db.session) == "CHF"
    assert "The company currency is now Swiss Franc (CHF)." in client.get(URL).get_data(as_text=True)


def test_a_change_while_rates_exist_asks_to_confirm_their_deletion(as_user, db, add):
    add("USD", "0.92", "2026-11-01")
    client = as_user("admin")
    page = client.get(URL).get_data(as_text=True)
    assert "Delete the 1 exchange rate, quoted in EUR, with the change" in page
    before = db_rows(db)
    response = client.post(f"{URL}/company", headers=HX, data={"company-currency": "USD"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and 'id="company-settings"' in html and "<html" not in html
    assert errors_in(html) == {"company-currency": "Company currency cannot change while exchange rates are "
                                                   "quoted in EUR (1): confirm their deletion."}
    assert_unchanged(db, before)
    ok = client.post(f"{URL}/company", headers=HX, data={"company-currency": "USD", "company-delete_rates": "y"})
    assert ok.status_code == 204 and svc.company_currency(db.session) == "USD" and rates(db) == []


def test_a_bad_company_currency_is_a_422_next_to_the_select(as_user, db):
    before = db_rows(db)
    html = as_user("admin").post(f"{URL}/company", headers=HX, data={"company-currency": "ZZZ"}).get_data(as_text=True)
    assert errors_in(html) == {"company-currency": "Company currency must be an ISO 4217 code of 3 capital letters, "
                                                   "e.g. EUR."}
    assert_unchanged(db, before)


# ---------------------------------------------------------------- rights


@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_other_roles_change_nothing(as_user, db, add, role):
    rate = add("USD", "0.92", "2026-11-01")
    client = as_user(role)
    before = db_rows(db)
    for method, url, data in [("GET", URL, None), ("POST", f"{URL}/company", {"company-currency": "USD"}),
                              ("POST", f"{URL}/rates", {"new-currency": "GBP", "new-rate": "1", "new-valid_from": "2026-01-01"}),
                              ("GET", f"{URL}/rates/{rate.id}/edit", None),
                              ("POST", f"{URL}/rates/{rate.id}", {f"rate{rate.id}-rate": "2"}),
                              ("POST", f"{URL}/rates/{rate.id}/delete", None)]:
        assert client.open(url, method=method, data=data, headers=HX).status_code == 403, (method, url)
    assert_unchanged(db, before)


@pytest.mark.csrf
def test_a_post_without_its_token_is_refused(as_user, db):
    client = as_user("admin")
    assert client.post(f"{URL}/rates", data={"new-currency": "USD", "new-rate": "1",
                                              "new-valid_from": "2026-01-01"}).status_code == 400
    token = csrf_token_from(client.get(URL).get_data(as_text=True))
    response = client.post(f"{URL}/rates", headers={**HX, "X-CSRFToken": token},
                           data={"new-currency": "USD", "new-rate": "1", "new-valid_from": "2026-01-01"})
    assert response.status_code == 200
    assert db.session.scalar(select(func.count()).select_from(ExchangeRate)) == 1


# ---------------------------------------------------------------- the deal form and the preview


def test_the_deal_form_shows_the_amount_in_the_company_currency(as_user, make_deal, add, users):
    add("USD", "0.92", "2026-11-01")
    client = as_user("admin")
    deal = make_deal(amount=Decimal("1250.50"), currency="USD", owner_id=users["admin"].id)
    html = client.get(f"/deals/{deal.id}/edit").get_data(as_text=True)
    note = html[html.index('id="amount-converted"'):]
    assert "≈ €1,150.46 at the rate of Nov 1, 2026 (1 USD = 0.92 EUR)" in note[:400]
    assert 'hx-get="/deals/converted"' in html
    # In the company currency: nothing to convert.
    eur = make_deal(amount=Decimal("10"), currency="EUR", owner_id=users["admin"].id)
    html = client.get(f"/deals/{eur.id}/edit").get_data(as_text=True)
    assert "converted-amount" not in html


def test_without_a_rate_the_deal_form_says_so(as_user, make_deal, users):
    deal = make_deal(amount=Decimal("100"), currency="GBP", owner_id=users["admin"].id)
    html = as_user("admin").get(f"/deals/{deal.id}/edit").get_data(as_text=True)
    assert "No exchange rate from GBP to EUR applies on" in html and "the amount cannot be converted" in html
    assert "≈" not in html


def test_the_converted_line_follows_what_is_typed(as_user, add, french):
    add("USD", "0.92", "2026-11-01")
    client = as_user("sales")
    html = client.get("/deals/converted?amount=1 000,50&currency=USD").get_data(as_text=True)
    assert "≈ 920,46\xa0€" in html and "1 nov. 2026 (1 USD = 0,92 EUR)" in html
    for query in ("amount=&currency=USD", "amount=abc&currency=USD", "amount=5&currency=EUR",
                  "amount=5&currency=U%00D", "amount=5", "amount=%00&currency=USD", f"amount={'9' * 5000}&currency=USD"):
        response = client.get(f"/deals/converted?{query}")
        assert response.status_code == 200 and "converted-amount" not in response.get_data(as_text=True), query
    assert "JPY" in client.get("/deals/converted?amount=5&currency=JPY").get_data(as_text=True)
    assert as_user("anonymous").get("/deals/converted?amount=5&currency=USD").status_code == 302


def test_the_conversion_preview_shows_the_deal_amount_in_the_company_currency(as_user, make_lead, users, add):
    add("USD", "0.80", "2026-01-01")
    lead = make_lead(owner_id=users["sales"].id, currency="USD")
    client = as_user("sales")
    # The deal in the lead's currency (the modal names it): the amount as typed, shown in EUR too.
    data = modal_values(client, lead.id, create_deal="y", deal_stage="Qualification", deal_amount="920.00")
    assert data["deal_currency"] == "USD"
    html = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX).get_data(as_text=True)
    deal = html[html.index("pv-deal"):html.index("pv-task")]
    assert "$920.00" in deal and "≈ €736.00 at the rate of Jan 1, 2026 (1 USD = 0.8 EUR)" in deal
    # C5.3: no currency named, the amount is base money: 920 EUR -> 1150 USD, shown back in EUR.
    data["deal_currency"] = ""
    html = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX).get_data(as_text=True)
    deal = html[html.index("pv-deal"):html.index("pv-task")]
    assert "$1,150.00" in deal and "≈ €920.00 at the rate of Jan 1, 2026 (1 USD = 0.8 EUR)" in deal
    # A deal in the company currency: nothing more to say; a currency without a rate: said so.
    for currency, expect in (("EUR", None), ("GBP", "No exchange rate from GBP to EUR applies on")):
        data["deal_currency"] = currency
        html = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX).get_data(as_text=True)
        deal = html[html.index("pv-deal"):html.index("pv-task")]
        assert (expect in deal) if expect else "converted-amount" not in deal
