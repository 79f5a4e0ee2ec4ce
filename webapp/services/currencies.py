"""Currencies (issue 10 item 8, C5.3): the company currency and the dated exchange rates.

A rate says how many units of the company currency one unit of a currency is worth, from its
`valid_from` day until the next rate of that currency (`rate_on`: the latest valid_from on or
before the day). The company currency is the `is_base` row of currency_rates; every currency
the CRM offers has a row there, whose `rate` is kept equal to the rate in force today (0 when
none applies) for the readers that take no day (conversion/values.py reads it).

Writes are administrators' only, one service call per change, audited (area "currency") in the
caller's transaction; values go through the field layer (webapp/fields.py: the Numeric(18, 8)
rate, the ISO code, the date). Codes are those of ISO 4217 in use today, as Babel's CLDR data
lists the legal tender of every territory (plus any code this CRM already holds).

Changing the company currency: the rates are quoted in the old one, so they cannot stay. While
rates exist the change is refused (409, saying how many) unless the caller confirms their
deletion (`delete_rates`): then they are all deleted in the same transaction (each deletion
audited) and the administrator enters the new rates; records keep their amounts and currencies.

Flask-free (the conversion core may import it): the reader's locale is a parameter.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from typing import NamedTuple

from babel import Locale, UnknownLocaleError
from babel import numbers as babel_numbers
from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from .. import permissions
from ..errors import N_, Conflict, Forbidden, Invalid, NotFound, Problem, Text
from ..fields import INT_MAX, FieldError, model_specs, parse_bool
from ..models import CurrencyRate
from ..models.catalog import ExchangeRate
from ..normalize import text_problem
from . import audit

AREA = "currency"
COMPANY_KEY = "company_currency"
DEFAULT_CURRENCY = "EUR"  # what conversion/values.py assumes when no currency is the base
CENT = Decimal("0.01")
RATE_FIELDS = ("currency", "rate", "valid_from")

ADMIN_ONLY = N_("Your role lacks the “Administration” permission, which currencies and exchange rates need.")
RATE_IS_ONE = N_("is the company currency: its rate is always 1")
RATE_TAKEN = N_("already has a rate of {currency} from this day: edit that one")
RATES_EXIST = N_("cannot change while exchange rates are quoted in {currency} ({count}): confirm their deletion")
RATES_EXIST_MESSAGE = N_("The exchange rates are quoted in {currency} ({count}): changing the company currency "
                         "deletes them. Confirm their deletion, then enter the new rates.")


class RateInForce(NamedTuple):
    """A currency with the rate in force on a day (0 when none applies): the shape
    conversion/values.py reads (code, rate, is_base)."""

    code: str
    rate: Decimal
    is_base: bool
    valid_from: date | None = None


@dataclass(frozen=True)
class Rate:
    """The rate applying to `currency` on a day: `valid_from` is the day it applies from (None
    for the company currency, whose rate is always 1); `id` the ExchangeRate."""

    currency: str
    rate: Decimal
    valid_from: date | None = None
    id: int | None = None


@dataclass(frozen=True)
class Converted:
    """`amount` of `source` in the company currency `currency` (rounded to the cent, half up)."""

    source: str
    source_amount: Decimal
    currency: str
    amount: Decimal
    rate: Decimal
    valid_from: date | None


# ---------------------------------------------------------------- ISO 4217 codes and their names


@lru_cache(maxsize=1)
def iso_codes() -> frozenset[str]:
    """The ISO 4217 codes in use today: the legal tender of every territory in Babel's CLDR
    data (no hand-written list; funds, metals and withdrawn currencies are left out)."""
    today = date.today()
    codes: set[str] = set()
    for territory in Locale("en").territories:
        codes.update(babel_numbers.get_territory_currencies(territory, today, tender=True))
    return frozenset(c for c in codes if len(c) == 3 and c.isascii() and c.isupper())


def accepted_codes(session) -> frozenset[str]:
    """The codes a rate or the company currency may use: ISO 4217 in use, plus this CRM's own."""
    return iso_codes() | set(configured_currencies(session))


def _locale(locale) -> Locale:
    try:
        return Locale.parse(str(locale or "en"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale("en")


def currency_name(code: str, locale=None) -> str:
    """The currency's name in `locale` ("US Dollar", "dollar des États-Unis"); a code CLDR does
    not know is its own name."""
    return babel_numbers.get_currency_name(code, locale=_locale(locale))


def _folded(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).casefold()


def currency_choices(codes, locale=None) -> list[tuple[str, str]]:
    """(code, "Name (CODE)") pairs in `locale`, by name as the reader reads it."""
    pairs = [(code, f"{currency_name(code, locale)} ({code})") for code in set(codes)]
    return sorted(pairs, key=lambda p: (_folded(p[1]), p[0]))


# ---------------------------------------------------------------- reads


def company_currency(session) -> str:
    """The company currency (the base of every rate)."""
    code = session.scalar(select(CurrencyRate.code).where(CurrencyRate.is_base.is_(True))
                          .order_by(CurrencyRate.code).limit(1))
    return code or DEFAULT_CURRENCY


def configured_currencies(session) -> list[str]:
    """The currencies this CRM offers on its records (the company currency among them)."""
    return list(session.scalars(select(CurrencyRate.code).order_by(CurrencyRate.code)))


def rate_on(session, currency: str, day: date) -> Rate | None:
    """The rate of `currency` applying on `day`: the one with the latest valid_from on or before
    it; the company currency is 1; None when no rate applies (none yet on that day, or none)."""
    if currency == company_currency(session):
        return Rate(currency, Decimal(1))
    row = session.execute(
        select(ExchangeRate.id, ExchangeRate.rate, ExchangeRate.valid_from)
        .where(ExchangeRate.currency == currency, ExchangeRate.valid_from <= day)
        .order_by(ExchangeRate.valid_from.desc()).limit(1)).first()
    if row is None:
        return None
    return Rate(currency, Decimal(row.rate), row.valid_from, row.id)


def _in_force(day: date):
    """(currency, valid_from) of the rate in force on `day`, per currency (a subquery)."""
    return (select(ExchangeRate.currency, func.max(ExchangeRate.valid_from).label("day"))
            .where(ExchangeRate.valid_from <= day).group_by(ExchangeRate.currency).subquery())


def rates_on(session, day: date) -> dict[str, RateInForce]:
    """Every currency of the CRM with its rate in force on `day`, in one query: {code:
    RateInForce} — the company currency at 1, a currency without a rate on that day at 0."""
    latest = _in_force(day)
    stmt = (select(CurrencyRate.code, CurrencyRate.is_base, ExchangeRate.rate, ExchangeRate.valid_from)
            .outerjoin(latest, latest.c.currency == CurrencyRate.code)
            .outerjoin(ExchangeRate, and_(ExchangeRate.currency == latest.c.currency,
                                          ExchangeRate.valid_from == latest.c.day))
            .order_by(CurrencyRate.code))
    out = {}
    for code, is_base, rate, valid_from in session.execute(stmt):
        if is_base:
            out[code] = RateInForce(code, Decimal(1), True)
        else:
            out[code] = RateInForce(code, Decimal(rate) if rate is not None else Decimal(0), False,
                                    valid_from if rate is not None else None)
    return out


def in_force_ids(session, day: date, currencies) -> set[int]:
    """The ids of the rates in force on `day` among `currencies` (the admin list marks them)."""
    currencies = set(currencies)
    if not currencies:
        return set()
    latest = _in_force(day)
    stmt = (select(ExchangeRate.id)
            .join(latest, and_(latest.c.currency == ExchangeRate.currency, latest.c.day == ExchangeRate.valid_from))
            .where(ExchangeRate.currency.in_(currencies)))
    return set(session.scalars(stmt))


def convert(session, amount, currency: str | None, day: date) -> Converted | None:
    """`amount` of `currency` in the company currency on `day` (amount × the rate applying that
    day, to the cent, half up); None when no rate applies or there is nothing to convert."""
    if amount in (None, "") or not currency:
        return None
    try:
        amount = Decimal(str(amount))
    except ArithmeticError:
        return None
    if not amount.is_finite():
        return None
    rate = rate_on(session, currency, day)
    if rate is None:
        return None
    with localcontext() as ctx:
        ctx.prec = 60  # Money (16, 2) × Numeric(18, 8): exact
        value = (amount * rate.rate).quantize(CENT, ROUND_HALF_UP)
    return Converted(currency, amount, company_currency(session), value, rate.rate, rate.valid_from)


def rates_statement(currency: str | None = None):
    """The rates as a statement (the API pages it by id), optionally of one currency."""
    stmt = select(ExchangeRate)
    if currency is not None:
        stmt = stmt.where(ExchangeRate.currency == currency)
    return stmt


def page_of_rates(session, before: tuple[date, int] | None = None, limit: int = 20):
    """(rates, cursor of the next page or None): the latest valid_from first (then the last
    entered), keyset on (valid_from, id)."""
    stmt = select(ExchangeRate).order_by(ExchangeRate.valid_from.desc(), ExchangeRate.id.desc())
    if before is not None:
        day, rate_id = before
        stmt = stmt.where((ExchangeRate.valid_from < day)
                          | and_(ExchangeRate.valid_from == day, ExchangeRate.id < rate_id))
    rows = list(session.scalars(stmt.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1].valid_from, rows[-1].id) if more else None)


def count_rates(session) -> int:
    return session.scalar(select(func.count()).select_from(ExchangeRate)) or 0


def require_admin(actor) -> None:
    """Raises Forbidden unless `actor` has the "admin" permission."""
    if not permissions.is_admin(actor):
        raise Forbidden(Text(ADMIN_ONLY))


def find_rate(session, rate_id) -> ExchangeRate:
    """One rate, for any reader; raises NotFound."""
    rate = (session.get(ExchangeRate, rate_id)
            if isinstance(rate_id, int) and not isinstance(rate_id, bool) and 0 < rate_id <= INT_MAX else None)
    if rate is None:
        raise NotFound(Text("There is no exchange rate with id {id}.", id=rate_id))
    return rate


def get_rate(session, actor, rate_id) -> ExchangeRate:
    """One rate, to change it; raises Forbidden, NotFound."""
    require_admin(actor)
    return find_rate(session, rate_id)


# ---------------------------------------------------------------- checking values


def _body(data, allowed: tuple[str, ...], errors: dict) -> dict:
    """`data` as a dict of known keys; unknown keys (and the read-only id) go into `errors`."""
    if not isinstance(data, dict):
        raise Invalid(errors={"body": [Problem("not_object")]})
    out = {}
    for key, raw in data.items():
        if key == "id":
            errors["id"] = [Problem("read_only")]
        elif key not in allowed:
            errors[key if isinstance(key, str) and text_problem(key) is None else "body"] = [Problem("unknown_field")]
        else:
            out[key] = raw
    return out


def _code(session, raw, strict: bool, errors: dict, key: str = "currency") -> str | None:
    """An ISO 4217 code in use (the field layer's currency rule, then Babel's list)."""
    try:
        value = model_specs(ExchangeRate)["currency"].parse(raw, strict=strict)
    except FieldError as e:
        errors[key] = [e.problem]
        return None
    if value is None:
        errors[key] = [Problem("required")]
        return None
    if value not in accepted_codes(session):
        errors[key] = [Problem("bad_currency")]
        return None
    return value


def _rate_value(raw, strict: bool, errors: dict) -> Decimal | None:
    """A rate: the column's decimal (Numeric(18, 8): at most 8 decimals), more than 0."""
    try:
        value = model_specs(ExchangeRate)["rate"].parse(raw, strict=strict)
    except FieldError as e:
        errors["rate"] = [e.problem]
        return None
    if value is None:
        errors["rate"] = [Problem("required")]
        return None
    if value <= 0:
        errors["rate"] = [Problem("quantity_positive")]
        return None
    return value


def _day(raw, strict: bool, errors: dict) -> date | None:
    try:
        value = model_specs(ExchangeRate)["valid_from"].parse(raw, strict=strict)
    except FieldError as e:
        errors["valid_from"] = [e.problem]
        return None
    if value is None:
        errors["valid_from"] = [Problem("required")]
    return value


def _clean_rate(session, data, current: ExchangeRate | None, strict: bool) -> dict:
    """The checked values of a rate body (all three required on create); raises Invalid with
    every problem at once."""
    errors: dict = {}
    body = _body(data, RATE_FIELDS, errors)
    values: dict = {}
    if "currency" in body or current is None:
        values["currency"] = _code(session, body.get("currency"), strict, errors)
    if "rate" in body or current is None:
        values["rate"] = _rate_value(body.get("rate"), strict, errors)
    if "valid_from" in body or current is None:
        values["valid_from"] = _day(body.get("valid_from"), strict, errors)
    currency = values.get("currency") or (current.currency if current is not None else None)
    day = values.get("valid_from") or (current.valid_from if current is not None else None)
    if values.get("currency") and values["currency"] == company_currency(session):
        errors["currency"] = [Problem("company_currency", RATE_IS_ONE)]
    elif currency and day and "currency" not in errors and "valid_from" not in errors:
        taken = select(ExchangeRate.id).where(ExchangeRate.currency == currency, ExchangeRate.valid_from == day)
        if current is not None:
            taken = taken.where(ExchangeRate.id != current.id)
        if session.scalar(taken.limit(1)) is not None:
            errors["valid_from"] = [Problem("rate_taken", RATE_TAKEN, currency=currency)]
    if errors:
        raise Invalid(errors=errors)
    return {k: v for k, v in values.items() if v is not None}


def _taken_error(currency: str) -> Invalid:
    return Invalid(errors={"valid_from": [Problem("rate_taken", RATE_TAKEN, currency=currency)]})


# ---------------------------------------------------------------- keeping currency_rates in step


def _refresh(session, codes, today: date | None = None) -> None:
    """currency_rates.rate of `codes` := the rate in force today (1 for the company currency,
    0 when none applies)."""
    today = today or date.today()
    session.flush()
    for code in set(codes):
        row = session.get(CurrencyRate, code)
        if row is None:
            continue
        if row.is_base:
            row.rate = Decimal(1)
        else:
            rate = rate_on(session, code, today)
            row.rate = rate.rate if rate is not None else Decimal(0)


def _ensure_currency(session, code: str) -> None:
    """The currency_rates row of `code` (the forms offer it from now on)."""
    if session.get(CurrencyRate, code) is None:
        session.add(CurrencyRate(code=code, rate=Decimal(0), is_base=False))


def ensure_dated_rates(session, day: date | None = None) -> int:
    """Give a date to the rates set before rates had one (a currency_rates row with a rate but
    no exchange_rates row: reference data, an older database): valid from `day` (today).
    Idempotent; returns how many rates it dated. For webapp/reference.py."""
    day = day or date.today()
    dated = set(session.scalars(select(ExchangeRate.currency).distinct()))
    added = 0
    for row in session.scalars(select(CurrencyRate).where(CurrencyRate.is_base.is_(False), CurrencyRate.rate > 0)):
        if row.code not in dated:
            session.add(ExchangeRate(currency=row.code, rate=row.rate, valid_from=day))
            added += 1
    if added:
        session.flush()
    return added


# ---------------------------------------------------------------- writes


def set_company_currency(session, actor, data, *, strict: bool = True) -> str:
    """Change the company currency: data {"currency": "USD", "delete_rates": true}. While rates
    exist (quoted in the old currency) it is refused (Conflict, with their count) unless
    `delete_rates` confirms their deletion. Raises Forbidden, Invalid, Conflict."""
    require_admin(actor)
    errors: dict = {}
    body = _body(data, ("currency", "delete_rates"), errors)
    code = _code(session, body.get("currency"), strict, errors)
    delete_rates = False
    if "delete_rates" in body:
        raw = body["delete_rates"]
        if strict and not isinstance(raw, bool):
            errors["delete_rates"] = [Problem("not_bool")]  # JSON: true or false
        else:
            try:
                delete_rates = parse_bool(raw)
            except FieldError as e:
                errors["delete_rates"] = [e.problem]
    if errors:
        raise Invalid(errors=errors)
    old = company_currency(session)
    if code == old:
        return code
    rates = list(session.scalars(select(ExchangeRate).order_by(ExchangeRate.valid_from, ExchangeRate.id)))
    if rates and not delete_rates:
        raise Conflict(Text(RATES_EXIST_MESSAGE, currency=old, count=len(rates)),
                       {"currency": [Problem("rates_exist", RATES_EXIST, currency=old, count=len(rates))]},
                       code="rates_exist", rates=len(rates))
    for rate in rates:
        audit.record(session, actor, AREA, f"{rate.currency} {rate.valid_from.isoformat()}", "deleted",
                     before=audit.snapshot(rate))
        session.delete(rate)
    session.flush()
    for row in session.scalars(select(CurrencyRate)):
        row.is_base = row.code == code
        row.rate = Decimal(1) if row.code == code else Decimal(0)
    if session.get(CurrencyRate, code) is None:
        session.add(CurrencyRate(code=code, rate=Decimal(1), is_base=True))
    session.flush()
    audit.record(session, actor, AREA, COMPANY_KEY, "updated", {"currency": old}, {"currency": code})
    return code


def add_rate(session, actor, data, *, strict: bool = True) -> ExchangeRate:
    """A new rate from {"currency", "rate", "valid_from"} (all required); raises Forbidden,
    Invalid (every problem at once; a rate of that currency from that day already exists)."""
    require_admin(actor)
    values = _clean_rate(session, data, None, strict)
    try:
        with session.begin_nested():
            _ensure_currency(session, values["currency"])
            rate = ExchangeRate(**values)
            session.add(rate)
            session.flush()
    except IntegrityError:  # the same currency and day saved at the same moment
        raise _taken_error(values["currency"]) from None
    _refresh(session, [rate.currency])
    audit.record(session, actor, AREA, f"{rate.currency} {rate.valid_from.isoformat()}", "created",
                 after=audit.snapshot(rate))
    return rate


def update_rate(session, actor, rate: ExchangeRate, data, *, strict: bool = True) -> ExchangeRate:
    """Change the fields given of a rate; raises Forbidden, Invalid."""
    require_admin(actor)
    values = _clean_rate(session, data, rate, strict)
    before = audit.snapshot(rate)
    old_currency = rate.currency
    try:
        with session.begin_nested():
            if "currency" in values:
                _ensure_currency(session, values["currency"])
            for key, value in values.items():
                setattr(rate, key, value)
            session.flush()
    except IntegrityError:
        session.refresh(rate)
        raise _taken_error(values.get("currency") or rate.currency) from None
    _refresh(session, {old_currency, rate.currency})
    audit.record(session, actor, AREA, f"{rate.currency} {rate.valid_from.isoformat()}", "updated",
                 before, audit.snapshot(rate))
    return rate


def delete_rate(session, actor, rate: ExchangeRate) -> None:
    """Delete a rate (the previous one of its currency applies again from its day); the
    currency stays offered on records. Raises Forbidden."""
    require_admin(actor)
    before = audit.snapshot(rate)
    currency = rate.currency
    session.delete(rate)
    session.flush()
    _refresh(session, [currency])
    audit.record(session, actor, AREA, f"{currency} {before['valid_from']}", "deleted", before=before)
