"""The account form (create and edit)."""

from __future__ import annotations

from wtforms import DecimalField, IntegerField
from wtforms.validators import URL, NumberRange, Optional

from ..models import Account
from ..services.records import KINDS, MAX_INT, MAX_MONEY
from .common import Phone
from .records import RecordForm, RefField, text

A = Account


class AccountForm(RecordForm):
    kind = "account"
    fields = KINDS["account"].fields

    name = text("Account name", A.name, required=True)
    industry = text("Industry", A.industry)
    website = text("Website", A.website, URL(require_tld=True, message="Enter a web address, e.g. https://zylker.com."),
                   render_kw={"type": "url", "placeholder": "https://"})
    phone = text("Phone", A.phone, Phone(), render_kw={"type": "tel"})
    fax = text("Fax", A.fax, Phone(), render_kw={"type": "tel"})
    annual_revenue = DecimalField("Annual revenue", [Optional(), NumberRange(min=0, max=MAX_MONEY, message="Enter an amount of zero or more.")],
                                  places=2, render_kw={"inputmode": "decimal"})
    employees = IntegerField("Employees", [Optional(), NumberRange(min=0, max=MAX_INT, message="Enter a whole number of zero or more.")],
                             render_kw={"type": "number", "min": 0})
    parent_id = RefField("Parent account")
    billing_street = text("Street", A.billing_street)
    billing_city = text("City", A.billing_city)
    billing_state = text("State / region", A.billing_state)
    billing_postal_code = text("Postal code", A.billing_postal_code)
    billing_country = text("Country", A.billing_country)
    shipping_street = text("Street", A.shipping_street)
    shipping_city = text("City", A.shipping_city)
    shipping_state = text("State / region", A.shipping_state)
    shipping_postal_code = text("Postal code", A.shipping_postal_code)
    shipping_country = text("Country", A.shipping_country)
