"""The contact form (create and edit)."""

from __future__ import annotations

from ..i18n import _l
from ..models import Contact
from ..services.records import KINDS
from .common import choice, column_input, salutation_choices
from .records import RecordForm, RefField

C = Contact


class ContactForm(RecordForm):
    kind = "contact"
    fields = KINDS["contact"].fields

    salutation = choice(_l("Salutation"), choices=salutation_choices())
    first_name = column_input(C, "first_name", _l("First name"))
    last_name = column_input(C, "last_name", _l("Last name"), required=True)
    title = column_input(C, "title", _l("Title"))
    email = column_input(C, "email", _l("E-mail"))
    phone = column_input(C, "phone", _l("Phone"))
    mobile = column_input(C, "mobile", _l("Mobile"))
    fax = column_input(C, "fax", _l("Fax"))
    skype = column_input(C, "skype", _l("Skype"))
    linkedin = column_input(C, "linkedin", _l("LinkedIn"))
    twitter = column_input(C, "twitter", _l("Twitter"))
    facebook = column_input(C, "facebook", _l("Facebook"))
    lead_source = column_input(C, "lead_source", _l("Lead source"))
    email_opt_out = column_input(C, "email_opt_out", _l("E-mail opt-out"))
    description = column_input(C, "description", _l("Description"))
    mailing_street = column_input(C, "mailing_street", _l("Street"))
    mailing_city = column_input(C, "mailing_city", _l("City"))
    mailing_state = column_input(C, "mailing_state", _l("State / region"))
    mailing_postal_code = column_input(C, "mailing_postal_code", _l("Postal code"))
    mailing_country = column_input(C, "mailing_country", _l("Country"))
    account_id = RefField(_l("Account"))
