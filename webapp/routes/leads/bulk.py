"""The bulk conversion panel (C8.4): POST /leads/bulk-convert renders it into the modal for the
posted selection (selection=ids&ids=1,2,3, or selection=filter&filter=<the list's query string>);
/summary is its dry run (htmx, on every change: conversion.bulk.summarize, the engine's own
plan); /start creates the job (jobs.start_bulk_convert) and sends the browser to its page.

The widgets become the body of POST /api/v1/lead-conversions/bulk; the one validator of the
options is the engine's (BulkOptions.parse + validate): bad input answers 422 with each message
next to its field, and nothing is written. A filter selection is the list's own filters (its
form, the reader's time zone for the dashboard's dates), sent as the job's filter: the job
converts what the list showed when it starts, never more.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ... import jobs as queue
from ... import permissions
from ...conversion.bulk import BulkOptions, summarize, validate
from ...errors import Invalid, Text
from ...extensions import db
from ...forms.bulk import EXTRA_DEAL_FIELDS, BulkConvertForm, bulk_form, options_from_form
from ...forms.conversions import sentence
from ...htmx import redirect, render
from ...i18n import translate
from ...models import Lead
from ...services import bulk as bulk_service
from ...services.leads import filter_clauses
from . import bp
from .listing import filter_form

PANEL = "leads/bulk/_panel.html"
PAGE = "leads/bulk/panel.html"
SUMMARY = "leads/bulk/_summary.html"
MAX_SHOWN_REASONS = 8


def _guard() -> None:
    if not permissions.can_convert(current_user):
        abort(403)


# --- the selection --------------------------------------------------------------------------

def selection_of(form: BulkConvertForm) -> tuple[dict, dict]:
    """({"lead_ids": [...]} or {"filter": {...}}, field errors) from the posted selection."""
    if form.selection.data == "filter":
        args = MultiDict(parse_qsl(form.filter.data or "", keep_blank_values=False))
        args.pop("cursor", None)
        lists = filter_form(args)
        if not lists.validate():
            return {}, {"filter": [_("These filters cannot be applied.")]}
        f = lists.filters()
        if f.custom:  # a stored bulk filter (services/bulk.lead_filters) has no custom fields: never more leads
            return {}, {"filter": [_("A filter on custom fields cannot select leads for a bulk conversion yet: "
                                     "select the leads on the page instead.")]}
        out = {"status": f.status, "converted": bool(f.converted)}
        for key, value in (("q", f.q), ("tag", f.tag), ("source", f.source), ("owner_id", f.owner_id),
                           ("team_id", f.team_id)):
            if value not in (None, ""):
                out[key] = value
        for key, value in (("created_from", f.created_from), ("created_before", f.created_before)):
            if value is not None:
                out[key] = value.isoformat()
        return {"filter": out}, {}
    raw = [part.strip() for part in (form.ids.data or "").split(",") if part.strip()]
    if not raw or not all(part.isdigit() for part in raw):
        return {}, {"ids": [_("Select at least one lead.")]}
    return {"lead_ids": list(dict.fromkeys(int(part) for part in raw))}, {}


def selected_ids(selection: dict) -> list[int]:
    """The leads the selection names now (a filter: those it matches, within the reader's sight)."""
    if "lead_ids" in selection:
        return selection["lead_ids"]
    filters = bulk_service.lead_filters(selection["filter"])
    return list(db.session.scalars(select(Lead.id).where(*filter_clauses(db.session, current_user, filters,
                                                                         count=True))
                                   .order_by(Lead.id).limit(bulk_service.MAX_IDS)))


# --- the options ----------------------------------------------------------------------------

def evaluate(form: BulkConvertForm) -> tuple[dict, BulkOptions | None, dict]:
    """(selection, the parsed options or None, every error by key) of the posted panel."""
    selection, errors = selection_of(form)
    options = BulkOptions.parse(options_from_form(form))
    for key, messages in options.errors.items():
        errors.setdefault(key, []).extend(messages)
    if not options.errors:
        try:
            validate(db.session, current_user, options)
        except Invalid as e:
            for key, messages in (e.errors or {}).items():
                errors.setdefault(key, []).extend(messages)
    db.session.rollback()
    return selection, (None if errors else options), errors


def field_of(form: BulkConvertForm, key: str) -> str | None:
    """The widget of an error key ("deal.name" -> deal_name); None when it has none."""
    if key in form:
        return key
    name = key.replace(".fields.", "_").replace(".", "_")
    return name if name in form else None


def apply_errors(form: BulkConvertForm, errors: dict) -> None:
    """Each message next to its widget; those without one on form.other_errors."""
    form.other_errors = []
    for key, reasons in errors.items():
        messages = [sentence(r) for r in reasons]
        name = field_of(form, key)
        if name is None:
            form.other_errors.append((key, messages))
            continue
        if name.startswith("deal_") and name[5:] in dict(EXTRA_DEAL_FIELDS):
            shown = set(filter(None, (form.deal_shown.data or "").split(",")))
            form.deal_shown.data = ",".join(sorted(shown | {name[5:]}))
        field = form[name]
        field.errors = list(dict.fromkeys([*(field.errors or []), *messages]))


def summary_context(selection: dict, options: BulkOptions | None, errors: dict) -> dict:
    """What the dry-run box shows: the engine's summary, or why there is none yet."""
    if errors or options is None:
        return {"summary": None, "errors": bool(errors)}
    summary = summarize(db.session, current_user, selected_ids(selection), options)
    db.session.rollback()
    reasons = sorted(summary["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))
    return {"summary": summary, "errors": False, "reasons": [(translate(r), n) for r, n in reasons][:MAX_SHOWN_REASONS]}


def _panel(form: BulkConvertForm, selection: dict, options, errors: dict, status: int = 200):
    apply_errors(form, errors)
    count = len(selection["lead_ids"]) if "lead_ids" in selection else None
    return render(PAGE, PANEL, status, form=form, count=count, by_filter="filter" in selection,
                  extra_fields=EXTRA_DEAL_FIELDS, **summary_context(selection, options, errors))


# --- views -----------------------------------------------------------------------------------

@bp.post("/bulk-convert")
@login_required
def bulk_convert():
    """The panel for the posted selection (from the selection bar, or re-rendered to add a field)."""
    _guard()
    opening = "deal_name" not in request.form
    form = bulk_form(current_user, formdata=request.form)
    if opening:
        form.create_deal.data = False
        form.deal_name.data = "{company}"
        form.task_subject.data = _("Follow up")
        form.attachments_to.data = form.attachments_to.default
        form.tags_to.data = list(form.tags_to.default)
        form.owner_mode.data = "each"
    form.deal_shown.data = ",".join(form.shown())
    form.add_field.data = ""
    selection, options, errors = evaluate(form)
    if opening:
        errors = {k: v for k, v in errors.items() if k in ("ids", "filter")}
    return _panel(form, selection, options, errors)


@bp.post("/bulk-convert/summary")
@login_required
def bulk_summary():
    """The dry-run summary of the posted panel (htmx, on change)."""
    _guard()
    form = bulk_form(current_user, formdata=request.form)
    selection, options, errors = evaluate(form)
    return render(SUMMARY, SUMMARY, 200, **summary_context(selection, options, errors))


@bp.post("/bulk-convert/start")
@login_required
def bulk_start():
    """Start the job and go to its page; bad input: the panel again, 422, nothing written."""
    _guard()
    form = bulk_form(current_user, formdata=request.form)
    form.deal_shown.data = ",".join(form.shown())
    selection, options, errors = evaluate(form)
    if not errors and not form.validate():  # the CSRF token
        errors = {k: list(v) for k, v in form.errors.items()}
    if errors:
        return _panel(form, selection, None, errors, 422)
    try:
        job = queue.start_bulk_convert(current_app._get_current_object(), current_user,
                                       {**selection, **options.to_dict()})
    except Invalid as e:
        return _panel(form, selection, None, e.errors or {"other": [Text(str(e))]}, 422)
    return redirect(url_for("jobs.show", job_id=job.id))
