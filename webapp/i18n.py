"""Languages, time zones and locale formats (Flask-Babel).

The language of a request: the signed-in user's (or the API token owner's) profile; until
set, the browser's Accept-Language among LANGUAGES; else English. The time zone: the
profile's, else DEFAULT_TIMEZONE. Templates format values with the filters registered here
(`date`, `datetime`, `number`, `money`, `phone`); `<html lang>` is `current_locale()`.

Catalogues: webapp/translations/<lang>/LC_MESSAGES/messages.po, extracted with
`make messages` (babel.cfg) and compiled to .mo at set-up (never committed).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import numbers as babel_numbers
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, format_date, format_datetime, format_decimal, get_locale, gettext
from flask_babel import lazy_gettext as _l  # noqa: F401  (re-exported for modules' labels)

from .errors import Text
from .models.users import LANGUAGES

DEFAULT_LANGUAGE = "en"

babel = Babel()


def _request_user():
    """The user a request acts for: the API token's owner, else the session's (or None)."""
    user = g.get("api_user")
    if user is not None:
        return user
    from flask_login import current_user

    return current_user if getattr(current_user, "is_authenticated", False) else None


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT_LANGUAGE
    user = _request_user()
    if user is not None and user.language in LANGUAGES:
        return user.language
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)


def select_timezone() -> str | None:
    if not has_request_context():
        return None
    user = _request_user()
    return user.timezone if user is not None and user.timezone else None


def translate(value):
    """A sentence in the reader's language: a Text (an error, a Problem) from its template and
    params; a plain string through the catalogue (unchanged when it has no entry)."""
    if isinstance(value, Text):
        return value.translate(gettext, _param)
    if isinstance(value, str) and value:
        return gettext(value)
    return value


def _param(value):
    """A sentence's param in the reader's words: a date (or a datetime, in their time zone) in
    their format; anything else as it is."""
    return fmt_date(value) if isinstance(value, date) else value


def current_locale() -> str:
    return str(get_locale() or DEFAULT_LANGUAGE)


def parse_locale_decimal(raw: str) -> str:
    """A number typed the current locale's way as a plain "12000.5": "12,5" and "12 000,50"
    in French, "12,000.50" in English. A point is always a decimal separator ("12.5" in French
    too). Anything else comes back unchanged, for the field layer to refuse with its reason
    ("12,5" in English is ambiguous: refused)."""
    locale = get_locale() if has_request_context() else None
    if locale is None or not raw.strip():
        return raw
    decimal_signs = {babel_numbers.get_decimal_symbol(locale), "."}
    groups = {babel_numbers.get_group_symbol(locale), " ", "\xa0", "\u202f"} - decimal_signs
    group, point = "".join(map(re.escape, sorted(groups))), "".join(map(re.escape, sorted(decimal_signs)))
    match = re.fullmatch(rf"([+-]?)(\d{{1,3}}(?:[{group}]\d{{3}})+|\d+)(?:[{point}](\d+))?", raw.strip())
    if match is None:
        return raw
    sign, whole, fraction = match.groups()
    return sign + re.sub(rf"[{group}]", "", whole) + (f".{fraction}" if fraction else "")


# --- template filters -----------------------------------------------------------------

def fmt_date(value: date | datetime | None, format: str = "medium") -> str:
    """A date ("1 déc. 2026" / "Dec 1, 2026"); a datetime is first moved to the user's time
    zone (23:30 UTC is the next day in Paris)."""
    if value is None:
        return ""
    return format_date(value, format)


def fmt_datetime(value: datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    return format_datetime(value, format)


def fmt_number(value, digits: int | None = None) -> str:
    if value is None or value == "":
        return ""
    if digits is not None:
        return babel_numbers.format_decimal(Decimal(str(value)), format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                                            locale=get_locale())
    return format_decimal(value)


def fmt_money(value, currency: str | None = None) -> str:
    if value is None or value == "":
        return ""
    if not currency:
        return fmt_number(value, 2)
    return babel_numbers.format_currency(Decimal(str(value)), currency, locale=get_locale())


def fmt_phone(value: str | None) -> str:
    """An E.164 number in the national format of its own country (+33 1 23 45 67 89 in
    France stays readable by a French user as 01 23 45 67 89; a foreign one keeps its
    international format)."""
    if not value:
        return ""
    from . import normalize

    return _phone_display(value, normalize.DEFAULT_REGION)


@lru_cache(maxsize=4096)
def _phone_display(value: str, region: str) -> str:
    # Parsing is ~20 us a number and a list page shows 50: remembered (a pure function).
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_possible_number(number):
        return value
    style = (phonenumbers.PhoneNumberFormat.NATIONAL if phonenumbers.region_code_for_number(number) == region
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, style)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config.get("DEFAULT_TIMEZONE", "Europe/Paris"))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters.update(date=fmt_date, datetime=fmt_datetime, number=fmt_number,
                                 money=fmt_money, phone=fmt_phone)
    app.jinja_env.filters["t"] = translate
    app.jinja_env.filters["t_pair"] = lambda value: (value, translate(value))  # (stored, shown)
    app.jinja_env.globals.update(current_locale=current_locale, LANGUAGES=LANGUAGES)
