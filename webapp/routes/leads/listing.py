"""Leads: the list (GET /leads/): live search, filters, sorts and keyset pages."""

from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import BooleanField, Form, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from ...extensions import db
from ...forms.common import owner_choices, status_choices
from ...htmx import render
from ...i18n import _l, translate
from ...services.leads import (
    Q_MAX,
    SORT_LABELS,
    LeadFilters,
    Page,
    count_leads,
    list_leads,
)
from ...services.tags import tags_for
from . import bp

FALSE_VALUES = (False, "false", "", "0", "no", "off")


class LeadListForm(Form):
    """The list's filters, read from the query string (a GET form: no CSRF token)."""

    q = StringField(_l("Search"), validators=[Optional(), Length(max=Q_MAX)])
    status = SelectField(_l("Status"), default="")
    owner = SelectField(_l("Owner"), default="")
    tag = StringField(_l("Tag"), validators=[Optional(), Length(max=60)],
                      render_kw={"placeholder": _l("Any tag")})
    source = StringField(_l("Source"), validators=[Optional(), Length(max=100)],
                         render_kw={"placeholder": _l("Any source")})
    converted = BooleanField(_l("Converted only"), false_values=FALSE_VALUES)
    sort = SelectField(_l("Sort"), default="created")

    def filters(self) -> LeadFilters:
        """The validated values as the service's filters."""
        return LeadFilters(
            q=(self.q.data or "").strip(), status=self.status.data or "",
            owner_id=int(self.owner.data) if self.owner.data else None,
            tag=(self.tag.data or "").strip(), source=(self.source.data or "").strip(),
            converted=bool(self.converted.data),
        )


def filter_form(args) -> LeadListForm:
    """The filter form bound to `args`, with its choices loaded (shared with the board)."""
    form = LeadListForm(args)
    status = [("", _("Open leads")), ("all", _("Open and closed")), *status_choices()]
    form.status.choices = [SelectChoice(k, v) for k, v in status]
    form.owner.choices = [SelectChoice(k, v) for k, v in owner_choices(blank=_("Anyone"))]
    # The sort labels come from the lead service (marked there), shown in the reader's language.
    form.sort.choices = [SelectChoice(k, translate(v)) for k, v in SORT_LABELS.items()]
    return form


@bp.get("/")
@login_required
def index():
    """The lead list; an htmx request gets the results fragment (or, with a cursor, the rows)."""
    form = filter_form(request.args)
    cursor = request.args.get("cursor") or None
    valid = form.validate()
    page, filters = Page(), form.filters() if valid else None
    if valid:
        page = list_leads(db.session, current_user, filters, form.sort.data, cursor)
    # The URL of the next page keeps every filter; only non-empty ones, for tidy URLs.
    args = {k: v for k, v in request.args.items() if v and k != "cursor"}
    next_url = url_for("leads.index", **args, cursor=page.next_cursor) if page.next_cursor else None
    filtered = any(k in args for k in ("q", "status", "owner", "tag", "source", "converted"))
    # A "Load more" request (it carries a cursor) appends rows; anything else swaps the results.
    fragment = "leads/_page.html" if cursor else "leads/_rows.html"
    return render(
        "leads/index.html", fragment, status=200 if valid else 422, form=form, leads=page.items,
        tags=tags_for(db.session, "lead", [lead.id for lead in page.items]), next_url=next_url,
        first_page=cursor is None, filtered=filtered, invalid=not valid,
        count=count_leads(db.session, current_user, filters, page=page) if valid and not cursor else None,
    )
