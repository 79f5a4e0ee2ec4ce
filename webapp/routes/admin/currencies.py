"""Currencies (issue 10 item 8, C5.3): the company currency and the dated exchange rates.

One page: the company currency (a select of ISO 4217 currencies named in the reader's
language; changing it while rates exist asks to confirm their deletion — services.currencies),
then the rates, the latest valid_from first (keyset pages), with an add form above them and
edit / delete on each row. htmx swaps the rates section (#currency-rates) or one row; a refusal
comes back in the same place with each reason next to its field (422, 409). Without JavaScript
the forms post and redirect. One service call, one commit per request.
"""

from __future__ import annotations

import re
from datetime import date

from flask import flash, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from ...errors import Conflict, Invalid
from ...extensions import db
from ...forms.currencies import CompanyCurrencyForm, RateForm
from ...htmx import is_htmx, redirect, render
from ...i18n import fmt_date
from ...models.catalog import ExchangeRate
from ...services import currencies as svc
from ..currency_display import rate_words
from ..errors import on_error
from . import bp

PAGE_SIZE = 20
_CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(\d{1,10})$")


def _cursor(raw: str | None) -> tuple[date, int] | None:
    """A page cursor "2026-11-01.17" (valid_from.id of the row above the page), else None."""
    match = _CURSOR.match(raw or "")
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1)), int(match.group(2))
    except ValueError:
        return None


def _cursor_text(cursor: tuple[date, int] | None) -> str | None:
    return f"{cursor[0].isoformat()}.{cursor[1]}" if cursor else None


def _before() -> tuple[date, int] | None:
    return _cursor(request.values.get("before"))


def _rate_choices(base: str) -> dict:
    """The currencies a rate may be for (not the company currency), this CRM's first."""
    locale = get_locale()
    own = set(svc.configured_currencies(db.session)) - {base}
    others = svc.iso_codes() - own - {base}
    return {_("Currencies of this CRM"): svc.currency_choices(own, locale),
            _("Other ISO 4217 currencies"): svc.currency_choices(others, locale)}


def _rate_form(prefix: str, rate: ExchangeRate | None = None, formdata=None) -> RateForm:
    form = RateForm(formdata=formdata, prefix=prefix)
    if formdata is None and rate is not None:
        form.currency.data = rate.currency
        form.rate.data = format(rate.rate.normalize(), "f")
        form.valid_from.data = rate.valid_from.isoformat()
    form.currency.choices = _rate_choices(svc.company_currency(db.session))
    return form


def _company_form(formdata=None) -> CompanyCurrencyForm:
    form = CompanyCurrencyForm(formdata=formdata, prefix="company")
    if formdata is None:
        form.currency.data = svc.company_currency(db.session)
    codes = svc.iso_codes() | set(svc.configured_currencies(db.session))
    form.currency.choices = svc.currency_choices(codes, get_locale())
    return form


def _rates_context(before=None, add_form: RateForm | None = None, notice: str | None = None,
                   oob_company: bool = False) -> dict:
    session = db.session
    rows, older = svc.page_of_rates(session, before, PAGE_SIZE)
    today = date.today()
    return {"rates": rows, "before": _cursor_text(before), "older": _cursor_text(older),
            "add_form": add_form or _rate_form("new"),
            "in_force": svc.in_force_ids(session, today, {r.currency for r in rows}), "today": today,
            "notice": notice, "names": _names(rows), "oob_company": oob_company,
            "rate_words": rate_words}


def _names(rows) -> dict[str, str]:
    locale = get_locale()
    return {r.currency: svc.currency_name(r.currency, locale) for r in rows}


def _company_context(form: CompanyCurrencyForm | None = None) -> dict:
    session = db.session
    base = svc.company_currency(session)
    return {"company_form": form or _company_form(), "base": base,
            "base_name": svc.currency_name(base, get_locale()), "rate_count": svc.count_rates(session)}


def _rates_section(status: int = 200, **kw):
    return render("admin/currencies.html", "admin/_currency_rates.html", status,
                  **_company_context(), **_rates_context(**kw))


def _section_response(**kw):
    """After a change: the rates section again (htmx: in place of the section, even when the
    request came from one row), or the page (a plain form post: redirect)."""
    if not is_htmx():
        if kw.get("notice"):
            flash(kw["notice"], "success")
        return redirect(url_for("admin.currencies", before=_cursor_text(kw.get("before"))))
    response = _rates_section(oob_company=True, **kw)  # the company section too: it counts the rates
    response.headers["HX-Retarget"] = "#currency-rates"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


# ---------------------------------------------------------------- views


@bp.get("/currencies")
def currencies():
    """The page; htmx (the pager) gets the rates section. ?before= a page cursor."""
    return _rates_section(before=_before())


@bp.post("/currencies/company")
def currencies_company():
    """Change the company currency: back to the page with a notice, or the form with the
    reason next to the select (422; 409 while rates exist and their deletion is not confirmed)."""
    form = _company_form(request.form)

    def show_errors(e):
        form.apply_errors(e.errors)
        if not e.errors:
            form.form_errors.append(str(e.message))
        return render("admin/currencies.html", "admin/_company_currency.html", e.status,
                      **_company_context(form), **_rates_context())

    on_error(Invalid, show_errors)
    on_error(Conflict, show_errors)
    before = svc.company_currency(db.session)
    code = svc.set_company_currency(db.session, current_user, form.to_data(), strict=False)
    db.session.commit()
    if code != before:
        flash(_("The company currency is now %(name)s (%(code)s).", name=svc.currency_name(code, get_locale()),
                code=code), "success")
    return redirect(url_for("admin.currencies"))


@bp.post("/currencies/rates")
def currencies_add():
    """Add a rate: the rates section with it (the add form emptied), or the section with the
    add form's errors next to their fields (422), nothing written."""
    form = _rate_form("new", formdata=request.form)

    def show_errors(e):
        form.apply_errors(e.errors)
        return _rates_section(e.status, add_form=form)

    on_error(Invalid, show_errors)
    rate = svc.add_rate(db.session, current_user, form.to_data(), strict=False)
    db.session.commit()
    return _section_response(notice=_("Rate of %(currency)s from %(day)s added.", currency=rate.currency,
                                      day=_day(rate.valid_from)))


@bp.get("/currencies/rates/<int:rate_id>")
def currencies_row(rate_id: int):
    """One rate's row (htmx: Cancel on an edit row); the page otherwise."""
    rate = svc.get_rate(db.session, current_user, rate_id)
    if not is_htmx():
        return redirect(url_for("admin.currencies"))
    return _row(rate)


def _row(rate: ExchangeRate, form: RateForm | None = None, status: int = 200):
    """One rate's row (as a form when `form` is given); without htmx, a page around it."""
    today = date.today()
    template = "admin/_currency_rate_edit.html" if form is not None else "admin/_currency_rate_row.html"
    return render("admin/currency_rate.html", template, status, rate=rate, form=form, today=today,
                  before=_cursor_text(_before()), base=svc.company_currency(db.session),
                  in_force=svc.in_force_ids(db.session, today, {rate.currency}), names=_names([rate]),
                  rate_words=rate_words)


@bp.get("/currencies/rates/<int:rate_id>/edit")
def currencies_edit(rate_id: int):
    """The row as a form (htmx), or a page with the form."""
    rate = svc.get_rate(db.session, current_user, rate_id)
    return _row(rate, _rate_form(f"rate{rate.id}", rate))


@bp.post("/currencies/rates/<int:rate_id>")
def currencies_update(rate_id: int):
    """Save a rate: the rates section (its order and the rates in force may change), or the
    row's form with the errors next to their fields (422)."""
    rate = svc.get_rate(db.session, current_user, rate_id)
    form = _rate_form(f"rate{rate.id}", formdata=request.form)

    def show_errors(e):
        form.apply_errors(e.errors)
        return _row(db.session.get(ExchangeRate, rate_id), form, e.status)

    on_error(Invalid, show_errors)
    svc.update_rate(db.session, current_user, rate, form.to_data(), strict=False)
    db.session.commit()
    return _section_response(before=_before(), notice=_("Rate of %(currency)s from %(day)s saved.",
                                                        currency=rate.currency, day=_day(rate.valid_from)))


@bp.post("/currencies/rates/<int:rate_id>/delete")
def currencies_delete(rate_id: int):
    """Delete a rate: the rates section without it."""
    rate = svc.get_rate(db.session, current_user, rate_id)
    currency, day = rate.currency, rate.valid_from
    svc.delete_rate(db.session, current_user, rate)
    db.session.commit()
    return _section_response(before=_before(), notice=_("Rate of %(currency)s from %(day)s deleted.",
                                                        currency=currency, day=_day(day)))


def _day(value: date) -> str:
    return fmt_date(value)
