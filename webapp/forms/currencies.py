"""The currencies page's forms (admin, issue 10 item 8): widgets only — services.currencies
judges every value (the field layer's rate, code and date rules) and the errors come back next
to their fields through EditForm.apply_errors. Several forms share the page: each has a prefix
(its inputs' names and ids), "company", "new" and "rate<id>"."""

from __future__ import annotations

from wtforms import BooleanField

from ..i18n import _l
from ..models.catalog import ExchangeRate
from .common import EditForm, choice, column_input


class CompanyCurrencyForm(EditForm):
    currency = choice(_l("Company currency"), required=True)
    delete_rates = BooleanField(_l("Delete the exchange rates"))

    def to_data(self) -> dict:
        return {"currency": self.currency.data, "delete_rates": bool(self.delete_rates.data)}


class RateForm(EditForm):
    currency = choice(_l("Currency"), required=True)
    rate = column_input(ExchangeRate, "rate", _l("Rate"), required=True, placeholder=_l("e.g. 0.92"))
    valid_from = column_input(ExchangeRate, "valid_from", _l("Valid from"), required=True)

    def to_data(self) -> dict:
        return {"currency": self.currency.data, "rate": self.rate.data, "valid_from": self.valid_from.data}
