"""Contacts pages: list, detail (account, deals), create and edit."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..forms.contacts import ContactForm
from ..forms.records import add_choice, with_custom
from ..models import Account, Deal
from . import recordviews as views

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


def _fill(form, contact=None):
    account = db.session.get(Account, form.account_id.ident) if form.account_id.ident else None
    form.fill_choices(current_user, {"account_id": views.picker_choices("account", account)}, contact)
    # Keep a salutation written elsewhere (a conversion, the API) selectable on its record.
    add_choice(form.salutation, contact.salutation if contact else None)


@bp.get("/")
@login_required
def index():
    """The contacts list (?account_id= for one account's); htmx gets only the rows."""
    account_id = views.int_arg("account_id")
    return views.list_view(
        "contact",
        {"owner_id": views.int_arg("owner_id"), "tag": request.args.get("tag", "").strip()[:60],
         "account_id": account_id},
        account=db.session.get(Account, account_id) if account_id else None,
    )


@bp.get("/lookup")
@login_required
def lookup():
    """Contact <option>s for a picker's search box."""
    return views.lookup_view("contact")


@bp.get("/new")
@login_required
def new():
    """The new-contact form (?account_id= preselects the account)."""
    views.require_create("contact")
    form = views.new_form(ContactForm)
    form.account_id.process_data(views.int_arg("account_id"))
    _fill(form)
    return views.form_page("contact", form)


@bp.post("/")
@login_required
def create():
    """Create a contact: 303 to its page, or the form with errors (422)."""
    views.require_create("contact")
    return views.save("contact", with_custom(ContactForm), _fill)


@bp.get("/<int:contact_id>")
@login_required
def show(contact_id: int):
    """The contact page."""
    contact = views.get_record("contact", contact_id)
    deals = db.session.scalars(
        select(Deal).where(Deal.contact_id == contact.id)
        .order_by(Deal.created_at.desc(), Deal.id.desc()).limit(50)).all()
    return views.show_view("contact", contact, deals=deals)


@bp.get("/<int:contact_id>/edit")
@login_required
def edit(contact_id: int):
    """The edit form."""
    contact = views.get_record("contact", contact_id)
    views.require_edit(contact)
    form = with_custom(ContactForm, obj=contact)
    form.load(contact)
    _fill(form, contact)
    return views.form_page("contact", form, contact)


@bp.post("/<int:contact_id>")
@login_required
def update(contact_id: int):
    """Save the edit form: 303 to the page, or the form with errors (422)."""
    contact = views.get_record("contact", contact_id)
    views.require_edit(contact)
    return views.save("contact", with_custom(ContactForm), _fill, contact)
