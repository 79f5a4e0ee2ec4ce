"""services.currencies (issue 10 item 8, C5.3): ISO codes from Babel, rate_on and its
boundaries, convert, the rates in force, the writes (validation through the field layer, the
audit, currency_rates kept in step) and what changing the company currency does to the rates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from tests.conftest import assert_unchanged, db_rows
from webapp import entities
from webapp.conversion.executor import apply
from webapp.conversion.options import ConversionOptions
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.models import AuditEntry, CurrencyRate, Deal
from webapp.models.catalog import ExchangeRate
from webapp.services import currencies as svc

TODAY = date.today()


@pytest.fixture(autouse=True)
def _no_dated_rates(db):
    """Start without dated rates, whether or not the reference data dates its seeded rates
    (services.currencies.ensure_dated_rates)."""
    db.session.execute(delete(ExchangeRate))
    db.session.commit()


@pytest.fixture
def admin(users):
    return users["admin"]


@pytest.fixture
def add(db, admin):
    """add(currency, rate, valid_from) -> ExchangeRate, committed."""

    def run(currency, rate, valid_from):
        row = svc.add_rate(db.session, admin, {"currency": currency, "rate": rate, "valid_from": valid_from})
        db.session.commit()
        return row

    return run


def codes_of(errors) -> dict[str, list[str]]:
    return {k: [getattr(p, "code", p) for p in v] for k, v in errors.items()}


def audit_rows(db):
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.area == "currency").order_by(AuditEntry.id)))


def rate_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(ExchangeRate))


# ---------------------------------------------------------------- codes and names


def test_iso_codes_come_from_babel_and_leave_out_metals_funds_and_withdrawn_currencies():
    codes = svc.iso_codes()
    assert {"EUR", "USD", "GBP", "CHF", "JPY", "XOF"} <= codes
    assert not {"XAU", "XXX", "FRF", "DEM", "USN"} & codes
    assert all(len(c) == 3 and c.isupper() for c in codes) and len(codes) > 100


def test_currency_names_in_the_readers_language_sorted_by_name():
    assert svc.currency_name("USD", "en") == "US Dollar"
    assert svc.currency_name("USD", "fr") == "dollar des États-Unis"
    assert svc.currency_name("QQQ", "fr") == "QQQ"
    choices = svc.currency_choices({"USD", "EUR", "CHF"}, "fr")
    assert choices == [("USD", "dollar des États-Unis (USD)"), ("EUR", "euro (EUR)"), ("CHF", "franc suisse (CHF)")]


# ---------------------------------------------------------------- rate_on, convert, rates_on


@pytest.fixture
def usd(add):
    """USD: 0.90 from 2026-01-01, 0.92 from 2026-11-01."""
    return add("USD", "0.90", "2026-01-01"), add("USD", "0.92", "2026-11-01")


@pytest.mark.parametrize(("day", "expect"), [
    (date(2025, 12, 31), None),                 # before the first rate: none applies
    (date(2026, 1, 1), Decimal("0.90")),        # from its first day
    (date(2026, 10, 31), Decimal("0.90")),      # up to the day before the next rate
    (date(2026, 11, 1), Decimal("0.92")),       # the next rate from its own day
    (date(2031, 6, 1), Decimal("0.92")),        # and after, until a later one
])
def test_rate_on_is_the_latest_valid_from_on_or_before_the_day(db, usd, day, expect):
    rate = svc.rate_on(db.session, "USD", day)
    assert (rate.rate if rate else None) == expect
    if rate:
        assert rate.valid_from == (date(2026, 1, 1) if expect == Decimal("0.90") else date(2026, 11, 1))


def test_rate_on_the_company_currency_is_one_and_an_unknown_currency_has_none(db, usd):
    assert svc.rate_on(db.session, "EUR", date(1999, 1, 1)).rate == 1
    assert svc.rate_on(db.session, "JPY", TODAY) is None
    # GBP has a currency_rates row (reference data) but no dated rate: none applies.
    assert svc.rate_on(db.session, "GBP", TODAY) is None


def test_convert_multiplies_by_the_rate_of_the_day_to_the_cent_half_up(db, usd, add):
    c = svc.convert(db.session, Decimal("1000"), "USD", date(2026, 11, 1))
    assert (c.amount, c.currency, c.rate, c.valid_from, c.source) == (
        Decimal("920.00"), "EUR", Decimal("0.92"), date(2026, 11, 1), "USD")
    assert svc.convert(db.session, "1000.00", "USD", date(2026, 6, 1)).amount == Decimal("900.00")
    add("CHF", "1.05", "2026-01-01")
    assert svc.convert(db.session, Decimal("0.10"), "CHF", TODAY).amount == Decimal("0.11")  # 0.105 -> 0.11
    assert svc.convert(db.session, Decimal("99999999999999.99"), "USD", TODAY).amount == Decimal("91999999999999.99")
    assert svc.convert(db.session, Decimal("12.34"), "EUR", TODAY).amount == Decimal("12.34")
    for amount, currency, day in [(Decimal("1"), "USD", date(2025, 1, 1)), (None, "USD", TODAY),
                                  (Decimal("1"), None, TODAY), ("abc", "USD", TODAY), ("NaN", "USD", TODAY),
                                  (Decimal("1"), "JPY", TODAY)]:
        assert svc.convert(db.session, amount, currency, day) is None


def test_rates_on_gives_every_currency_its_rate_in_force_in_one_query(db, usd, add):
    add("GBP", "1.17", (TODAY + timedelta(days=1)).isoformat())  # scheduled: not in force today
    rates = svc.rates_on(db.session, TODAY)
    assert set(rates) == {"EUR", "USD", "GBP", "CHF"}
    assert rates["EUR"] == svc.RateInForce("EUR", Decimal(1), True)
    assert (rates["USD"].rate, rates["USD"].valid_from, rates["USD"].is_base) == (Decimal("0.92"), date(2026, 11, 1), False)
    assert rates["GBP"].rate == 0 and rates["CHF"].rate == 0  # no rate applies: 0, as conversion/values.py reads it
    assert svc.rates_on(db.session, TODAY + timedelta(days=1))["GBP"].rate == Decimal("1.17")
    assert svc.rates_on(db.session, date(2026, 5, 1))["USD"].rate == Decimal("0.90")


# ---------------------------------------------------------------- writes


def test_adding_a_rate_audits_it_and_keeps_currency_rates_in_step(db, admin, add):
    rate = add("USD", "0.93", "2026-01-01")
    assert (rate.currency, rate.rate, rate.valid_from) == ("USD", Decimal("0.93000000"), date(2026, 1, 1))
    assert db.session.get(CurrencyRate, "USD").rate == Decimal("0.93")  # in force today
    [entry] = audit_rows(db)
    assert (entry.action, entry.key, entry.actor_id) == ("created", "USD 2026-01-01", admin.id)
    assert entry.after == {"id": rate.id, "currency": "USD", "rate": "0.93000000", "valid_from": "2026-01-01"}
    add("USD", "0.95", (TODAY + timedelta(days=3)).isoformat())  # scheduled: today's rate unchanged
    assert db.session.get(CurrencyRate, "USD").rate == Decimal("0.93")


def test_a_rate_of_a_new_currency_makes_it_a_currency_of_the_crm(db, add):
    assert "JPY" not in entities.currencies(db.session)
    add("JPY", "0.0061", "2026-01-01")
    assert "JPY" in entities.currencies(db.session)
    row = db.session.get(CurrencyRate, "JPY")
    assert (row.rate, row.is_base) == (Decimal("0.0061"), False)


BAD_RATES = [
    ({"rate": "0.9", "valid_from": "2026-01-01"}, {"currency": ["required"]}),
    ({"currency": "usd", "rate": "0.9", "valid_from": "2026-01-01"}, {"currency": ["bad_currency"]}),
    ({"currency": "XYZ", "rate": "0.9", "valid_from": "2026-01-01"}, {"currency": ["bad_currency"]}),
    ({"currency": "XAU", "rate": "0.9", "valid_from": "2026-01-01"}, {"currency": ["bad_currency"]}),
    ({"currency": "US\x00", "rate": "0.9", "valid_from": "2026-01-01"}, {"currency": ["nul"]}),
    ({"currency": "EUR", "rate": "1", "valid_from": "2026-01-01"}, {"currency": ["company_currency"]}),
    ({"currency": "USD", "valid_from": "2026-01-01"}, {"rate": ["required"]}),
    ({"currency": "USD", "rate": "0", "valid_from": "2026-01-01"}, {"rate": ["quantity_positive"]}),
    ({"currency": "USD", "rate": "-1", "valid_from": "2026-01-01"}, {"rate": ["money_negative"]}),
    ({"currency": "USD", "rate": "0.123456789", "valid_from": "2026-01-01"}, {"rate": ["too_many_decimals"]}),
    ({"currency": "USD", "rate": "10000000000", "valid_from": "2026-01-01"}, {"rate": ["money_max"]}),
    ({"currency": "USD", "rate": "1e3", "valid_from": "2026-01-01"}, {"rate": ["not_money"]}),
    ({"currency": "USD", "rate": "9" * 5000, "valid_from": "2026-01-01"}, {"rate": ["money_max"]}),
    ({"currency": "USD", "rate": "0.9"}, {"valid_from": ["required"]}),
    ({"currency": "USD", "rate": "0.9", "valid_from": "2026-13-01"}, {"valid_from": ["not_date"]}),
    ({"currency": "USD", "rate": "0.9", "valid_from": "01/02/2026"}, {"valid_from": ["not_date"]}),
    ({"currency": "USD", "rate": "0.9", "valid_from": 20260101}, {"valid_from": ["not_date"]}),
    ({"currency": "USD", "rate": "0.9", "valid_from": "2026-01-01", "id": 3}, {"id": ["read_only"]}),
    ({"currency": "USD", "rate": "0.9", "valid_from": "2026-01-01", "note": "x"}, {"note": ["unknown_field"]}),
    ({}, {"currency": ["required"], "rate": ["required"], "valid_from": ["required"]}),
]


@pytest.mark.parametrize(("data", "expect"), BAD_RATES, ids=[str(i) for i in range(len(BAD_RATES))])
def test_a_bad_rate_is_refused_per_field_and_nothing_is_written(db, admin, data, expect):
    before = db_rows(db)
    with pytest.raises(Invalid) as e:
        svc.add_rate(db.session, admin, data)
    db.session.rollback()
    assert codes_of(e.value.errors) == expect
    assert_unchanged(db, before)


def test_json_numbers_are_rates_too_and_a_body_must_be_an_object(db, admin):
    assert svc.add_rate(db.session, admin, {"currency": "USD", "rate": 2, "valid_from": "2026-01-01"}).rate == 2
    assert svc.add_rate(db.session, admin, {"currency": "GBP", "rate": Decimal("1.17"),
                                            "valid_from": "2026-01-01"}).rate == Decimal("1.17")
    with pytest.raises(Invalid) as e:
        svc.add_rate(db.session, admin, ["USD"])
    assert codes_of(e.value.errors) == {"body": ["not_object"]}


def test_one_rate_per_currency_and_day(db, admin, add):
    first = add("USD", "0.9", "2026-01-01")
    with pytest.raises(Invalid) as e:
        svc.add_rate(db.session, admin, {"currency": "USD", "rate": "0.91", "valid_from": "2026-01-01"})
    assert codes_of(e.value.errors) == {"valid_from": ["rate_taken"]}
    db.session.rollback()
    add("GBP", "1.17", "2026-01-01")  # another currency, same day: fine
    second = add("USD", "0.92", "2026-02-01")
    with pytest.raises(Invalid) as e:
        svc.update_rate(db.session, admin, second, {"valid_from": "2026-01-01"})
    assert codes_of(e.value.errors) == {"valid_from": ["rate_taken"]}
    db.session.rollback()
    svc.update_rate(db.session, admin, first, {"valid_from": "2026-01-01", "rate": "0.89"})  # itself: fine
    db.session.commit()


def test_a_rate_taken_at_the_same_moment_is_a_field_error_not_a_500(db, admin, add, monkeypatch):
    add("USD", "0.9", "2026-01-01")
    monkeypatch.setattr(svc, "_clean_rate", lambda session, data, current, strict: {
        "currency": "USD", "rate": Decimal("0.91"), "valid_from": date(2026, 1, 1)})
    with pytest.raises(Invalid) as e:
        svc.add_rate(db.session, admin, {})
    assert codes_of(e.value.errors) == {"valid_from": ["rate_taken"]}
    db.session.rollback()
    assert rate_count(db) == 1


def test_editing_a_rate_audits_what_changed_and_refreshes_both_currencies(db, admin, add):
    rate = add("USD", "0.9", "2026-01-01")
    svc.update_rate(db.session, admin, rate, {"currency": "CHF", "rate": "1.05"})
    db.session.commit()
    assert (rate.currency, rate.rate) == ("CHF", Decimal("1.05"))
    assert db.session.get(CurrencyRate, "USD").rate == 0 and db.session.get(CurrencyRate, "CHF").rate == Decimal("1.05")
    entry = audit_rows(db)[-1]
    assert (entry.action, entry.key) == ("updated", "CHF 2026-01-01")
    assert (entry.before, entry.after) == ({"currency": "USD", "rate": "0.90000000"},
                                           {"currency": "CHF", "rate": "1.05000000"})
    svc.update_rate(db.session, admin, rate, {"rate": "1.05"})  # nothing changed: nothing recorded
    db.session.commit()
    assert len(audit_rows(db)) == 2
    with pytest.raises(Invalid) as e:
        svc.update_rate(db.session, admin, rate, {"currency": "EUR"})
    assert codes_of(e.value.errors) == {"currency": ["company_currency"]}


def test_deleting_a_rate_lets_the_previous_one_apply_again(db, admin, usd):
    old, new = usd
    assert db.session.get(CurrencyRate, "USD").rate == Decimal("0.92")
    svc.delete_rate(db.session, admin, new)
    db.session.commit()
    assert svc.rate_on(db.session, "USD", TODAY).rate == Decimal("0.90")
    assert db.session.get(CurrencyRate, "USD").rate == Decimal("0.90")
    entry = audit_rows(db)[-1]
    assert (entry.action, entry.key, entry.before["rate"]) == ("deleted", "USD 2026-11-01", "0.92000000")
    svc.delete_rate(db.session, admin, old)
    db.session.commit()
    assert db.session.get(CurrencyRate, "USD").rate == 0  # no rate applies: the conversion says so
    assert "USD" in entities.currencies(db.session)  # records in USD stay valid


def test_every_write_is_for_administrators(db, users, usd):
    calls = (lambda a: svc.add_rate(db.session, a, {"currency": "USD", "rate": "1", "valid_from": "2027-01-01"}),
             lambda a: svc.update_rate(db.session, a, usd[0], {"rate": "1"}),
             lambda a: svc.delete_rate(db.session, a, usd[0]),
             lambda a: svc.get_rate(db.session, a, usd[0].id),
             lambda a: svc.set_company_currency(db.session, a, {"currency": "USD"}))
    for role in ("manager", "sales", "viewer"):
        for call in calls:
            with pytest.raises(Forbidden):
                call(users[role])
    assert svc.find_rate(db.session, usd[0].id) is usd[0]
    for bad in (0, -1, 2**31, True, "1", usd[1].id + 1):
        with pytest.raises(NotFound):
            svc.find_rate(db.session, bad)


# ---------------------------------------------------------------- the company currency


def test_changing_the_company_currency_without_rates(db, admin):
    assert svc.company_currency(db.session) == "EUR"
    assert svc.set_company_currency(db.session, admin, {"currency": "USD"}) == "USD"
    db.session.commit()
    assert svc.company_currency(db.session) == "USD"
    assert db.session.get(CurrencyRate, "USD").rate == 1 and db.session.get(CurrencyRate, "EUR").rate == 0
    assert [(e.key, e.action, e.before, e.after) for e in audit_rows(db)] == [
        ("company_currency", "updated", {"currency": "EUR"}, {"currency": "USD"})]
    # A currency the CRM did not offer yet becomes one of its currencies.
    svc.set_company_currency(db.session, admin, {"currency": "JPY"})
    db.session.commit()
    assert svc.company_currency(db.session) == "JPY" and "JPY" in entities.currencies(db.session)
    # The same currency again: nothing changes, nothing is recorded.
    svc.set_company_currency(db.session, admin, {"currency": "JPY", "delete_rates": True})
    assert len(audit_rows(db)) == 2


def test_changing_it_while_rates_exist_is_refused_unless_their_deletion_is_confirmed(db, admin, usd, add):
    add("GBP", "1.17", "2026-01-01")
    before = db_rows(db)
    with pytest.raises(Conflict) as e:
        svc.set_company_currency(db.session, admin, {"currency": "USD"})
    db.session.rollback()
    assert e.value.code == "rates_exist" and e.value.extra() == {"rates": 3}
    assert codes_of(e.value.errors) == {"currency": ["rates_exist"]} and "(3)" in str(e.value.errors["currency"][0])
    with pytest.raises(Conflict):
        svc.set_company_currency(db.session, admin, {"currency": "USD", "delete_rates": False})
    db.session.rollback()
    assert_unchanged(db, before)
    svc.set_company_currency(db.session, admin, {"currency": "USD", "delete_rates": True})
    db.session.commit()
    assert rate_count(db) == 0 and svc.company_currency(db.session) == "USD"
    entries = audit_rows(db)[-4:]
    assert [(e.action, e.key) for e in entries] == [("deleted", "USD 2026-01-01"), ("deleted", "GBP 2026-01-01"),
                                                    ("deleted", "USD 2026-11-01"),
                                                    ("updated", "company_currency")]
    assert svc.rate_on(db.session, "EUR", TODAY) is None  # the old company currency needs a rate now
    assert svc.rate_on(db.session, "USD", TODAY).rate == 1


@pytest.mark.parametrize(("data", "expect"), [
    ({"currency": "XYZ"}, {"currency": ["bad_currency"]}),
    ({"currency": None}, {"currency": ["required"]}),
    ({}, {"currency": ["required"]}),
    ({"currency": "USD", "delete_rates": "yes"}, {"delete_rates": ["not_bool"]}),
    ({"currency": "USD", "delete_rates": None}, {"delete_rates": ["not_bool"]}),
    ({"currency": "USD", "rates": []}, {"rates": ["unknown_field"]}),
])
def test_a_bad_company_currency_is_refused(db, admin, data, expect):
    before = db_rows(db)
    with pytest.raises(Invalid) as e:
        svc.set_company_currency(db.session, admin, data)
    db.session.rollback()
    assert codes_of(e.value.errors) == expect
    assert_unchanged(db, before)


def test_forms_send_text_for_the_confirmation(db, admin, usd):
    svc.set_company_currency(db.session, admin, {"currency": "USD", "delete_rates": "on"}, strict=False)
    assert svc.company_currency(db.session) == "USD" and rate_count(db) == 0


# ---------------------------------------------------------------- C5.3 in the conversion


def test_the_conversion_converts_a_base_amount_with_the_rate_entered_here(db, admin, make_lead, users, add):
    """C5.3: an amount without a currency is base money, converted into the lead's currency
    with the configured rate — the one entered on the currencies page."""
    add("USD", "0.80", "2026-01-01")
    sales = users["sales"]
    lead = make_lead(owner_id=sales.id, currency="USD")
    c = apply(db.session, sales, lead.id, ConversionOptions.from_dict({"deal": {"stage": "Qualification", "amount": "920.00"}}))
    db.session.commit()
    deal = db.session.get(Deal, c.deal_id)
    assert (deal.currency, deal.amount) == ("USD", Decimal("1150.00"))  # 920 / 0.80


def test_ensure_dated_rates_gives_the_reference_rates_a_date_once(db):
    assert rate_count(db) == 0  # the reference data sets undated rates (webapp/reference.py)
    assert svc.ensure_dated_rates(db.session, date(2026, 1, 1)) == 3
    db.session.commit()
    assert svc.rate_on(db.session, "USD", TODAY).rate == Decimal("0.92")
    assert svc.rate_on(db.session, "GBP", date(2025, 12, 31)) is None
    assert svc.ensure_dated_rates(db.session) == 0
