"""Deals pages: list, detail (pipeline and stage progress), create and edit."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..forms.common import as_choices
from ..forms.deals import DealForm
from ..forms.records import add_choice, with_custom
from ..htmx import vary
from ..i18n import translate
from ..models import Account, Campaign, Contact, CurrencyRate, Pipeline
from ..services.records import stage_names
from . import recordviews as views
from .currency_display import converted_amount

bp = Blueprint("deals", __name__, url_prefix="/deals")
# The amount in the company currency under a deal's amount (this form, the conversion preview).
bp.add_app_template_global(converted_amount, "converted_amount")


def _pipelines():
    return db.session.scalars(select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.name)).all()


def _fill(form, deal=None):
    account = db.session.get(Account, form.account_id.ident) if form.account_id.ident else None
    contact = db.session.get(Contact, form.contact_id.ident) if form.contact_id.ident else None
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.name)).all()
    form.fill_choices(current_user, {
        "account_id": views.picker_choices("account", account),
        "contact_id": views.picker_choices("contact", contact),
        "campaign_id": [("", _("— None —"))] + [(str(c.id), c.name) for c in campaigns],
        "pipeline_id": [(str(p.id), translate(p.name)) for p in _pipelines()],
        "currency": [(c, c) for c in db.session.scalars(
            select(CurrencyRate.code).order_by(CurrencyRate.is_base.desc(), CurrencyRate.code))],
    }, deal)
    pipeline_id = form.pipeline_id.ident or (int(form.pipeline_id.choices[0].value) if form.pipeline_id.choices else None)
    form.pipeline_id.data = str(pipeline_id) if pipeline_id else None
    form.stage.choices = as_choices((s, translate(s)) for s in stage_names(db.session, pipeline_id))
    add_choice(form.stage, form.stage.data)


@bp.get("/")
@login_required
def index():
    """The deals list (filters: owner, tag, account, contact, pipeline, stage); htmx gets the rows."""
    account_id, contact_id = views.int_arg("account_id"), views.int_arg("contact_id")
    return views.list_view(
        "deal",
        {"owner_id": views.int_arg("owner_id"), "tag": request.args.get("tag", "").strip()[:60],
         "account_id": account_id, "contact_id": contact_id,
         "pipeline_id": views.int_arg("pipeline_id"), "stage": request.args.get("stage", "").strip()[:100]},
        account=db.session.get(Account, account_id) if account_id else None,
        contact=db.session.get(Contact, contact_id) if contact_id else None,
        pipelines=_pipelines(),
    )


@bp.get("/stages")
@login_required
def stages():
    """The stage <option>s of ?pipeline_id= (the form reloads them when the pipeline changes)."""
    names = stage_names(db.session, views.int_arg("pipeline_id"))
    return vary(current_app.make_response(render_template(
        "macros/_options.html", choices=[(n, translate(n)) for n in names], blank=None, select_first=True)))


@bp.get("/converted")
@login_required
def converted():
    """The line under the amount: ?amount= (as typed) and ?currency= in the company currency
    at today's rate, or that no rate applies; empty when there is nothing to convert."""
    return vary(current_app.make_response(render_template(
        "deals/_converted.html", converted=converted_amount(request.args.get("amount"),
                                                            request.args.get("currency")))))


@bp.get("/new")
@login_required
def new():
    """The new-deal form (?account_id= / ?contact_id= preselect them)."""
    views.require_create("deal")
    form = views.new_form(DealForm)
    form.account_id.process_data(views.int_arg("account_id"))
    form.contact_id.process_data(views.int_arg("contact_id"))
    contact = db.session.get(Contact, form.contact_id.ident) if form.contact_id.ident else None
    if contact is not None and form.account_id.data is None:
        form.account_id.process_data(contact.account_id)
    _fill(form)
    return views.form_page("deal", form)


@bp.post("/")
@login_required
def create():
    """Create a deal: 303 to its page, or the form with errors (422)."""
    views.require_create("deal")
    return views.save("deal", with_custom(DealForm), _fill)


@bp.get("/<int:deal_id>")
@login_required
def show(deal_id: int):
    """The deal page with its stage progress across the pipeline."""
    deal = views.get_record("deal", deal_id)
    stages = deal.pipeline.stages if deal.pipeline else []
    names = [s.name for s in stages]
    current = names.index(deal.stage) if deal.stage in names else -1
    campaign = db.session.get(Campaign, deal.campaign_id) if deal.campaign_id else None
    return views.show_view("deal", deal, stages=stages, current_stage=current, campaign=campaign)


@bp.get("/<int:deal_id>/edit")
@login_required
def edit(deal_id: int):
    """The edit form."""
    deal = views.get_record("deal", deal_id)
    views.require_edit(deal)
    form = with_custom(DealForm, obj=deal)
    form.load(deal)
    _fill(form, deal)
    return views.form_page("deal", form, deal)


@bp.post("/<int:deal_id>")
@login_required
def update(deal_id: int):
    """Save the edit form: 303 to the page, or the form with errors (422)."""
    deal = views.get_record("deal", deal_id)
    views.require_edit(deal)
    return views.save("deal", with_custom(DealForm), _fill, deal)
