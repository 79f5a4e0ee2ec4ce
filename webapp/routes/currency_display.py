"""An amount in the company currency, for people (issue 10 item 8): the line under a deal's
amount on the deal form and in the conversion preview — "≈ €1,086.96 at the rate of Nov 1,
2026 (1 USD = 0.92 EUR)", or that no rate applies (never a made-up rate).

`converted_amount(amount, currency)` is a template global (registered by the deals blueprint):
None when there is nothing to say (no amount, or the amount is in the company currency)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel import numbers as babel_numbers
from flask_babel import get_locale
from flask_babel import gettext as _

from ..extensions import db
from ..fields import CURRENCY_RE, FieldError, model_specs
from ..i18n import fmt_date, fmt_money, parse_locale_decimal
from ..models import Deal
from ..services import currencies


@dataclass(frozen=True)
class ConvertedLine:
    text: str
    ok: bool  # False: no rate applies (the line says so)


def rate_words(rate: Decimal) -> str:
    """A rate in the reader's format, all its decimals and no more ("0.92", "0,92")."""
    return babel_numbers.format_decimal(Decimal(rate).normalize(), locale=get_locale(), decimal_quantization=False)


def converted_amount(amount, currency: str | None, day: date | None = None) -> ConvertedLine | None:
    """What to say of `amount` `currency` in the company currency on `day` (today)."""
    if isinstance(amount, str):
        amount = typed_amount(amount)
    if (amount is None or not isinstance(amount, Decimal | int) or not isinstance(currency, str)
            or not CURRENCY_RE.fullmatch(currency)):
        return None
    base = currencies.company_currency(db.session)
    if currency == base:
        return None
    day = day or date.today()
    result = currencies.convert(db.session, amount, currency, day)
    if result is None:
        return ConvertedLine(_("No exchange rate from %(currency)s to %(base)s applies on %(day)s: "
                               "the amount cannot be converted.", currency=currency, base=base,
                               day=fmt_date(day)), False)
    return ConvertedLine(_("≈ %(amount)s at the rate of %(day)s (1 %(currency)s = %(rate)s %(base)s)",
                           amount=fmt_money(result.amount, base), day=fmt_date(result.valid_from),
                           currency=currency, rate=rate_words(result.rate), base=base), True)


def typed_amount(raw: str | None) -> Decimal | None:
    """The amount a person is typing on a form (the reader's format), or None while it is not
    one (the form's own save says why)."""
    if not raw or not isinstance(raw, str):
        return None
    try:
        return model_specs(Deal)["amount"].parse(parse_locale_decimal(raw))
    except FieldError:
        return None
