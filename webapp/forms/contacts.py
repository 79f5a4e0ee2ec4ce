"""The contact form (create and edit)."""

from __future__ import annotations

from ..models import Contact
from ..services.records import KINDS
from .common import as_choices, choice, column_input
from .records import RecordForm, RefField

C = Contact
SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")


class ContactForm(RecordForm):
    kind = "contact"
    fields = KINDS["contact"].fields

    salutation = choice("Salutation", choices=as_choices([("", "—")] + [(s, s) for s in SALUTATIONS]))
    first_name = column_input(C, "first_name", "First name")
    last_name = column_input(C, "last_name", "Last name", required=True)
    title = column_input(C, "title", "Title")
    email = column_input(C, "email", "E-mail")
    phone = column_input(C, "phone", "Phone")
    mobile = column_input(C, "mobile", "Mobile")
    fax = column_input(C, "fax", "Fax")
    skype = column_input(C, "skype", "Skype")
    linkedin = column_input(C, "linkedin", "LinkedIn")
    twitter = column_input(C, "twitter", "Twitter")
    facebook = column_input(C, "facebook", "Facebook")
    lead_source = column_input(C, "lead_source", "Lead source")
    email_opt_out = column_input(C, "email_opt_out", "E-mail opt-out")
    description = column_input(C, "description", "Description")
    mailing_street = column_input(C, "mailing_street", "Street")
    mailing_city = column_input(C, "mailing_city", "City")
    mailing_state = column_input(C, "mailing_state", "State / region")
    mailing_postal_code = column_input(C, "mailing_postal_code", "Postal code")
    mailing_country = column_input(C, "mailing_country", "Country")
    account_id = RefField("Account")
