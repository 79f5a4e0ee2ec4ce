"""Leads: the Kanban board (one column per open then closed status) and moving a card."""

from __future__ import annotations

from flask import abort, jsonify, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ... import permissions
from ...errors import DomainError, NotFound
from ...extensions import db
from ...htmx import render, trigger, vary
from ...i18n import translate
from ...models import AutomationRule, Lead, LeadStatus
from ...services.leads import (
    Q_MAX,
    LeadFilters,
    board_statuses,
    change_status,
    list_leads,
    status_counts,
)
from ..errors import on_error
from . import bp
from .listing import filter_form

CARDS_PER_PAGE = 20


def _filters(values) -> LeadFilters:
    """The board's filters (owner, q) from a query string or a form; bad values filter nothing."""
    owner = values.get("owner", type=int)
    return LeadFilters(q=(values.get("q") or "").strip()[:Q_MAX], owner_id=owner)


def _filter_args(filters: LeadFilters) -> dict:
    return {k: v for k, v in (("q", filters.q), ("owner", filters.owner_id)) if v}


def _column(status: LeadStatus, filters: LeadFilters, cursor: str | None = None) -> dict:
    """One column's page of cards (newest first) and the URL of its next page."""
    page = list_leads(db.session, current_user, LeadFilters(**{**vars(filters), "status": status.key}),
                      cursor=cursor, limit=CARDS_PER_PAGE)
    next_url = None
    if page.next_cursor:
        next_url = url_for("leads.board_column", status=status.key, cursor=page.next_cursor,
                           **_filter_args(filters))
    return {"status": status, "leads": page.items, "next_url": next_url}


@bp.get("/board")
@login_required
def board():
    """The board; an htmx request (the filters) gets just the columns."""
    filters = _filters(request.args)
    counts = status_counts(db.session, current_user, filters)
    columns = [_column(s, filters) for s in board_statuses(db.session)]
    form = filter_form(request.args)
    convert_to = None
    if permissions.can_convert(current_user):
        convert_to = db.session.scalar(select(LeadStatus).where(LeadStatus.category == "converted")
                                       .order_by(LeadStatus.position).limit(1))
    return render("leads/board.html", "leads/_columns.html", columns=columns, counts=counts, convert_to=convert_to,
                  form=form, can_move=permissions.has_perm(current_user, "lead.edit"),
                  filtered=bool(_filter_args(filters)))


@bp.get("/board/column/<status>")
@login_required
def board_column(status: str):
    """The next page of one column's cards (fetched when its last card scrolls into view)."""
    column = db.session.get(LeadStatus, status)
    if column is None or column.category not in ("open", "closed"):
        abort(404, _("This board has no such column."))
    data = _column(column, _filters(request.args), request.args.get("cursor") or None)
    return vary(make_response(render_template("leads/_cards.html", **data)))


@bp.post("/<int:lead_id>/status")
@login_required
def move(lead_id: int):
    """Change a lead's status (a card dropped on another column); JSON with the new counts.

    403 without the right to edit it, 404 when the user cannot see it, 409 when converted
    (C1.4), 422 for an unknown status or the converted one (that is what Convert does).
    When a rule of the new status converted the lead (C8.6), "converted" is true (the card
    leaves the board) and the message names the rule; a rule that could not convert it adds
    its reason (the one on the lead's timeline) to the message.
    """
    # This endpoint speaks JSON (the board's script reads it): so do its refusals.
    on_error(DomainError, lambda e: (jsonify(e.as_dict(translate)), e.status))
    lead = db.session.get(Lead, lead_id)
    if lead is None or not permissions.can_view(db.session, current_user, lead):
        raise NotFound(_("This lead does not exist or you may not see it."))
    name = lead.display_name
    change = change_status(db.session, current_user, lead, request.form.get("status", ""))
    label = translate(change.new.label)
    message = (_("%(name)s moved to %(status)s.", name=name, status=label) if change.changed
               else _("%(name)s is already in %(status)s.", name=name, status=label))
    # C8.6: a rule of the new status may have converted the lead (it then leaves the board), or
    # tried and said why not on the timeline: the reply says it too.
    converted = change.conversion is not None
    extra = {"conversion_id": change.conversion.id} if converted else {}
    if converted:
        event = next(e for e in change.rule_events if e.kind == "rule_converted")
        rule = db.session.get(AutomationRule, event.data["rule_id"])  # in the session already
        message = _("%(name)s moved to %(status)s and converted by the rule “%(rule)s”.",
                    name=name, status=label, rule=rule.name)
    else:
        message = " ".join([message, *(translate(e.text) for e in change.rule_events)])
    db.session.commit()
    filters = _filters(request.form)
    payload = {"lead_id": lead_id, "status": change.new.key, "label": label,
               "changed": change.changed, "converted": converted,
               "rule_refused": not converted and bool(change.rule_events), "message": message,
               "counts": status_counts(db.session, current_user, filters), **extra}
    # Other parts of the page (a future bulk panel, the detail page) may listen for this event.
    return trigger(jsonify(payload), {"leadMoved": {"lead_id": lead_id, "status": change.new.key,
                                                    "converted": converted}})
