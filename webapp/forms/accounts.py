"""The account form (create and edit)."""

from __future__ import annotations

from ..models import Account
from ..services.records import KINDS
from .common import column_input
from .records import RecordForm, RefField

A = Account


class AccountForm(RecordForm):
    kind = "account"
    fields = KINDS["account"].fields

    name = column_input(A, "name", "Account name", required=True)
    industry = column_input(A, "industry", "Industry")
    website = column_input(A, "website", "Website", placeholder="https://")
    phone = column_input(A, "phone", "Phone")
    fax = column_input(A, "fax", "Fax")
    annual_revenue = column_input(A, "annual_revenue", "Annual revenue")
    employees = column_input(A, "employees", "Employees")
    parent_id = RefField("Parent account")
    billing_street = column_input(A, "billing_street", "Street")
    billing_city = column_input(A, "billing_city", "City")
    billing_state = column_input(A, "billing_state", "State / region")
    billing_postal_code = column_input(A, "billing_postal_code", "Postal code")
    billing_country = column_input(A, "billing_country", "Country")
    shipping_street = column_input(A, "shipping_street", "Street")
    shipping_city = column_input(A, "shipping_city", "City")
    shipping_state = column_input(A, "shipping_state", "State / region")
    shipping_postal_code = column_input(A, "shipping_postal_code", "Postal code")
    shipping_country = column_input(A, "shipping_country", "Country")
