"""The account form (create and edit)."""

from __future__ import annotations

from ..i18n import _l
from ..models import Account
from ..services.records import KINDS
from .common import column_input
from .records import RecordForm, RefField

A = Account


class AccountForm(RecordForm):
    kind = "account"
    fields = KINDS["account"].fields

    name = column_input(A, "name", _l("Account name"), required=True)
    industry = column_input(A, "industry", _l("Industry"))
    website = column_input(A, "website", _l("Website"), placeholder="https://")
    phone = column_input(A, "phone", _l("Phone"))
    fax = column_input(A, "fax", _l("Fax"))
    annual_revenue = column_input(A, "annual_revenue", _l("Annual revenue"))
    employees = column_input(A, "employees", _l("Employees"))
    parent_id = RefField(_l("Parent account"))
    billing_street = column_input(A, "billing_street", _l("Street"))
    billing_city = column_input(A, "billing_city", _l("City"))
    billing_state = column_input(A, "billing_state", _l("State / region"))
    billing_postal_code = column_input(A, "billing_postal_code", _l("Postal code"))
    billing_country = column_input(A, "billing_country", _l("Country"))
    shipping_street = column_input(A, "shipping_street", _l("Street"))
    shipping_city = column_input(A, "shipping_city", _l("City"))
    shipping_state = column_input(A, "shipping_state", _l("State / region"))
    shipping_postal_code = column_input(A, "shipping_postal_code", _l("Postal code"))
    shipping_country = column_input(A, "shipping_country", _l("Country"))
