"""Accounts pages: list, detail (contacts, deals, parent, subsidiaries), create and edit."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..extensions import db
from ..forms.accounts import AccountForm
from ..forms.records import with_custom
from ..models import Account, Contact, Deal
from . import recordviews as views

bp = Blueprint("accounts", __name__, url_prefix="/accounts")
SHOWN = 50  # related rows shown on the account page; "View all" opens the filtered list


def _fill(form, account=None):
    parent = db.session.get(Account, form.parent_id.ident) if form.parent_id.ident else None
    form.fill_choices(current_user, {"parent_id": views.picker_choices(
        "account", parent, exclude=account.id if account else None)}, account)


@bp.get("/")
@login_required
def index():
    """The accounts list; htmx gets only the rows."""
    return views.list_view("account", {"owner_id": views.int_arg("owner_id"),
                                       "tag": request.args.get("tag", "").strip()[:60]})


@bp.get("/lookup")
@login_required
def lookup():
    """Account <option>s for a picker's search box."""
    return views.lookup_view("account", exclude=views.int_arg("exclude"))


@bp.get("/new")
@login_required
def new():
    """The new-account form (?parent_id= preselects the parent)."""
    views.require_create("account")
    form = views.new_form(AccountForm)
    form.parent_id.data = views.int_arg("parent_id")
    _fill(form)
    return views.form_page("account", form)


@bp.post("/")
@login_required
def create():
    """Create an account: 303 to its page, or the form with errors (422)."""
    views.require_create("account")
    return views.save("account", with_custom(AccountForm), _fill)


@bp.get("/<int:account_id>")
@login_required
def show(account_id: int):
    """The account page."""
    account = views.get_record("account", account_id)
    contacts = db.session.scalars(
        select(Contact).where(Contact.account_id == account.id)
        .order_by(func.coalesce(Contact.name_norm, ""), Contact.id).limit(SHOWN)).all()
    deals = db.session.scalars(
        select(Deal).where(Deal.account_id == account.id)
        .order_by(Deal.created_at.desc(), Deal.id.desc()).limit(SHOWN)).all()
    contact_count = db.session.scalar(select(func.count()).where(Contact.account_id == account.id))
    deal_count, deal_total = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Deal.amount), 0)).where(Deal.account_id == account.id)).one()
    subsidiaries = db.session.scalars(
        select(Account).where(Account.parent_id == account.id).order_by(Account.name).limit(SHOWN)).all()
    return views.show_view("account", account, contacts=contacts, deals=deals,
                           contact_count=contact_count, deal_count=deal_count, deal_total=deal_total,
                           subsidiaries=subsidiaries)


@bp.get("/<int:account_id>/edit")
@login_required
def edit(account_id: int):
    """The edit form."""
    account = views.get_record("account", account_id)
    views.require_edit(account)
    form = with_custom(AccountForm, obj=account)
    form.load(account)
    _fill(form, account)
    return views.form_page("account", form, account)


@bp.post("/<int:account_id>")
@login_required
def update(account_id: int):
    """Save the edit form: 303 to the page, or the form with errors (422)."""
    account = views.get_record("account", account_id)
    views.require_edit(account)
    return views.save("account", with_custom(AccountForm), _fill, account)
