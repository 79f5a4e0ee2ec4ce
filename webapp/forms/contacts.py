"""The contact form (create and edit)."""

from __future__ import annotations

from wtforms import BooleanField, SelectField

from ..models import Contact
from ..services.records import KINDS
from .common import Email, Phone
from .records import RecordForm, RefField, as_choices, text

C = Contact
SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")


class ContactForm(RecordForm):
    kind = "contact"
    fields = KINDS["contact"].fields

    salutation = SelectField("Salutation", choices=as_choices([("", "—")] + [(s, s) for s in SALUTATIONS]),
                             coerce=lambda v: v or None)
    first_name = text("First name", C.first_name)
    last_name = text("Last name", C.last_name, required=True)
    title = text("Title", C.title)
    email = text("E-mail", C.email, Email(), render_kw={"type": "email"})
    phone = text("Phone", C.phone, Phone(), render_kw={"type": "tel"})
    mobile = text("Mobile", C.mobile, Phone(), render_kw={"type": "tel"})
    fax = text("Fax", C.fax, Phone(), render_kw={"type": "tel"})
    skype = text("Skype", C.skype)
    linkedin = text("LinkedIn", C.linkedin)
    twitter = text("Twitter", C.twitter)
    facebook = text("Facebook", C.facebook)
    lead_source = text("Lead source", C.lead_source)
    email_opt_out = BooleanField("E-mail opt-out")
    description = text("Description", C.description, area=True)
    mailing_street = text("Street", C.mailing_street)
    mailing_city = text("City", C.mailing_city)
    mailing_state = text("State / region", C.mailing_state)
    mailing_postal_code = text("Postal code", C.mailing_postal_code)
    mailing_country = text("Country", C.mailing_country)
    account_id = RefField("Account")
