"""Leads: the lead page, the create / edit forms, and the page's small forms (typed addresses,
campaigns, product lines)."""

from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ... import permissions
from ...errors import Conflict, Invalid, ReadOnlyRecord
from ...extensions import db
from ...forms.leads import AddressForm, CampaignForm, LineItemForm, lead_form
from ...htmx import redirect, render, trigger
from ...i18n import _l
from ...models import (
    Account,
    CampaignMember,
    Contact,
    Conversion,
    Deal,
    Lead,
    LineItem,
)
from ...services import activities as activity_service
from ...services import leads as service
from ...services.custom_values import custom_fields, get_custom
from ...services.tags import get_tags
from ..activities import panel_context
from ..errors import on_error
from . import bp

SECTIONS = {
    "contact": (_l("Contact details"), (
        ("salutation", _l("Salutation")), ("first_name", _l("First name")), ("last_name", _l("Last name")),
        ("title", _l("Job title")), ("email", _l("E-mail")), ("phone", _l("Phone")), ("mobile", _l("Mobile")),
        ("fax", _l("Fax")), ("email_opt_out", _l("E-mail opt-out")), ("skype", _l("Skype")),
        ("linkedin", _l("LinkedIn")), ("twitter", _l("X / Twitter")), ("facebook", _l("Facebook")))),
    "company": (_l("Company"), (
        ("company", _l("Company")), ("industry", _l("Industry")), ("website", _l("Website")),
        ("annual_revenue", _l("Annual revenue")), ("employees", _l("Employees")),
        ("lead_source", _l("Lead source")), ("rating", _l("Rating")))),
    "address": (_l("Address"), (
        ("street", _l("Street")), ("postal_code", _l("Postal code")), ("city", _l("City")),
        ("state", _l("State / region")), ("country", _l("Country")))),
}


def _lead(lead_id: int) -> Lead:
    lead = db.get_or_404(Lead, lead_id)
    if not permissions.can_view(db.session, current_user, lead):
        abort(403)
    return lead


def _editable(lead: Lead) -> None:
    """Abort unless the user may change the lead; a converted lead answers 409 (C1.4)."""
    if lead.converted:
        raise activity_service.converted_error(lead)
    if not permissions.can_edit(db.session, current_user, lead):
        abort(403)


def _conversions(lead: Lead) -> list[dict]:
    """What the lead's conversions produced, as links (C1.4: reachable from both sides)."""
    out = []
    rows = db.session.scalars(select(Conversion).where(Conversion.lead_id == lead.id)
                              .order_by(Conversion.created_at.desc()))
    for conv in rows:
        made = []
        for kind, model, record_id, action in (
                ("account", Account, conv.account_id, conv.account_action),
                ("contact", Contact, conv.contact_id, conv.contact_action),
                ("deal", Deal, conv.deal_id, conv.deal_action)):
            record = db.session.get(model, record_id) if record_id else None
            if record is not None:
                made.append({"type": kind, "id": record.id, "label": record.display_name, "action": action})
        out.append({"conversion": conv, "records": made})
    return out


def _context(lead: Lead, **overrides) -> dict:
    """Everything the lead page and its fragments show."""
    can_edit = permissions.can_edit(db.session, current_user, lead)
    members = list(db.session.scalars(select(CampaignMember).where(
        CampaignMember.parent_type == "lead", CampaignMember.parent_id == lead.id).order_by(CampaignMember.id)))
    lines = list(db.session.scalars(select(LineItem).where(
        LineItem.parent_type == "lead", LineItem.parent_id == lead.id).order_by(LineItem.id)))
    values = get_custom(db.session, "lead", lead.id)
    campaign_form = overrides.pop("campaign_form", None) or CampaignForm(formdata=None)
    campaign_form.setup({m.campaign_id for m in members})
    line_form = overrides.pop("line_form", None) or LineItemForm(formdata=None)
    line_form.setup()
    items, more = activity_service.timeline(db.session, "lead", lead.id)
    ctx = {
        "lead": lead, "lead_status": lead.status_ref, "tags": get_tags(db.session, "lead", lead.id),
        "custom": [(f, values.get(f.key)) for f in custom_fields(db.session, "lead")],
        "sections": SECTIONS, "members": members, "lines": lines,
        "lines_total": sum((line.total for line in lines), start=0),
        "conversions": _conversions(lead) if lead.converted else [],
        "converted_message": activity_service.converted_message(lead) if lead.converted else None,
        "can_edit": can_edit, "address_form": overrides.pop("address_form", None) or AddressForm(formdata=None),
        "campaign_form": campaign_form, "line_form": line_form,
        "timeline_items": items, "timeline_more": more,
        **panel_context(lead), **overrides,
    }
    return ctx


@bp.get("/<int:lead_id>")
@login_required
def show(lead_id: int):
    lead = _lead(lead_id)
    return render("leads/show.html", "leads/_body.html", **_context(lead))


@bp.get("/new")
@login_required
def new():
    if not permissions.can_create(current_user, "lead"):
        abort(403)
    form = lead_form(current_user)
    return render("leads/new.html", "leads/_form.html", form=form, lead=None)


def _show_refusals(template: str, form, lead: Lead | None) -> None:
    """Bad values: the form again with each reason next to its field (422); a converted lead:
    its page with the notice (409). Registered for the request, raised by the service."""
    def invalid(e):
        form.apply_errors(e.errors)
        return render(template, "leads/_form.html", 422, form=form, lead=lead)

    on_error(Invalid, invalid)
    if lead is not None:
        on_error(ReadOnlyRecord, lambda e: render("leads/show.html", "leads/_body.html", 409,
                                                  **_context(lead, conflict=e.message)))


@bp.post("/")
@login_required
def create():
    if not permissions.can_create(current_user, "lead"):
        abort(403)
    form = lead_form(current_user)
    _show_refusals("leads/new.html", form, None)
    lead = service.create_lead(db.session, current_user, form.to_data())
    db.session.commit()
    flash(_("Lead “%(name)s” created.", name=lead.display_name), "success")
    return redirect(url_for("leads.show", lead_id=lead.id))


def _edit_form(lead: Lead, **kwargs):
    data = {"tags": ", ".join(get_tags(db.session, "lead", lead.id)),
            **{f"cf_{k}": v for k, v in get_custom(db.session, "lead", lead.id).items()}}
    return lead_form(current_user, lead, obj=lead, data=data, **kwargs)


@bp.get("/<int:lead_id>/edit")
@login_required
def edit(lead_id: int):
    lead = _lead(lead_id)
    if lead.converted:
        return render("leads/show.html", "leads/_body.html", 409,
                      **_context(lead, conflict=activity_service.converted_message(lead)))
    _editable(lead)
    return render("leads/edit.html", "leads/_form.html", form=_edit_form(lead), lead=lead)


@bp.post("/<int:lead_id>")
@login_required
def update(lead_id: int):
    lead = _lead(lead_id)
    if lead.converted:
        return render("leads/show.html", "leads/_body.html", 409,
                      **_context(lead, conflict=activity_service.converted_message(lead)))
    _editable(lead)
    form = _edit_form(lead)
    _show_refusals("leads/edit.html", form, lead)
    service.update_lead(db.session, current_user, lead, form.to_data())
    db.session.commit()
    flash(_("Changes saved."), "success")
    return redirect(url_for("leads.show", lead_id=lead.id))


# --- The page's small forms: each answers its card (htmx) or the whole page ---------------

def _card(lead: Lead, card: str, status: int = 200, **overrides):
    return render("leads/show.html", f"leads/_{card}.html", status, **_context(lead, **overrides))


def _after(lead: Lead, card: str, call, form=None, form_key: str | None = None):
    """Run one service call, commit, answer the refreshed card; refusals go next to the field
    (422) or in the card's notice (409)."""
    if form is not None:
        def invalid(e):
            form.apply_errors(e.errors)
            return _card(lead, card, 422, **{form_key: form})

        on_error(Invalid, invalid)
    on_error(Conflict, lambda e: _card(lead, card, 409, card_notice=e.message))
    call()
    db.session.commit()
    if request.headers.get("HX-Request") == "true":
        return trigger(_card(lead, card), {"recordChanged": {"type": "lead", "id": lead.id}})
    return redirect(url_for("leads.show", lead_id=lead.id) + f"#lead-{card}")


@bp.post("/<int:lead_id>/addresses")
@login_required
def add_address(lead_id: int):
    lead = _lead(lead_id)
    _editable(lead)
    form = AddressForm()
    fields = {n: form[n].data for n in service.ADDRESS_LINES}
    return _after(lead, "addresses",
                  lambda: service.add_address(db.session, current_user, lead, form.type.data, **fields),
                  form, "address_form")


@bp.post("/<int:lead_id>/addresses/<int:address_id>/delete")
@login_required
def remove_address(lead_id: int, address_id: int):
    lead = _lead(lead_id)
    _editable(lead)
    return _after(lead, "addresses", lambda: service.remove_address(db.session, current_user, lead, address_id))


@bp.post("/<int:lead_id>/campaigns")
@login_required
def add_campaign(lead_id: int):
    lead = _lead(lead_id)
    _editable(lead)
    form = CampaignForm()
    form.setup(set())
    return _after(lead, "campaigns",
                  lambda: service.add_to_campaign(db.session, current_user, lead, form.campaign_id.data),
                  form, "campaign_form")


@bp.post("/<int:lead_id>/campaigns/<int:member_id>/delete")
@login_required
def remove_campaign(lead_id: int, member_id: int):
    lead = _lead(lead_id)
    _editable(lead)
    return _after(lead, "campaigns", lambda: service.remove_from_campaign(db.session, current_user, lead, member_id))


@bp.post("/<int:lead_id>/line-items")
@login_required
def add_line_item(lead_id: int):
    lead = _lead(lead_id)
    _editable(lead)
    form = LineItemForm()
    form.setup()
    return _after(lead, "line_items",
                  lambda: service.add_line_item(db.session, current_user, lead, form.product_id.data,
                                                form.quantity.data, form.unit_price.data),
                  form, "line_form")


@bp.post("/<int:lead_id>/line-items/<int:line_id>/delete")
@login_required
def remove_line_item(lead_id: int, line_id: int):
    lead = _lead(lead_id)
    _editable(lead)
    return _after(lead, "line_items", lambda: service.remove_line_item(db.session, current_user, lead, line_id))
