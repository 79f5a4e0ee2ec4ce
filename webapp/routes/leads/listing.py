"""Leads: the list (GET /leads/): live search, filters, sorts and keyset pages."""

from __future__ import annotations

from datetime import UTC, timedelta

from flask import request, url_for
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.i18n import translations as wtforms_translations
from sqlalchemy import select
from wtforms import BooleanField, DateField, Form, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from ...extensions import db
from ...forms.common import owner_choices, status_choices
from ...htmx import render
from ...i18n import _l, fmt_date, translate
from ...models import Team
from ...models.base import start_of_day
from ...services.custom_values import custom_fields, custom_norm
from ...services.leads import (
    Q_MAX,
    SORT_LABELS,
    LeadFilters,
    Page,
    count_leads,
    lead_statuses,
    list_leads,
)
from ...services.tags import tags_for
from ..conversions import may_convert
from . import bp

FALSE_VALUES = (False, "false", "", "0", "no", "off")


class LeadListForm(Form):
    """The list's filters, read from the query string (a GET form: no CSRF token)."""

    class Meta:
        def get_translations(self, form):
            # WTForms' own messages ("Not a valid date value.") in the reader's language, as in
            # the FlaskForms (Flask-WTF's catalogue lookup, by the request's locale).
            return wtforms_translations

    q = StringField(_l("Search"), validators=[Optional(), Length(max=Q_MAX)])
    status = SelectField(_l("Status"), default="")
    owner = SelectField(_l("Owner"), default="")
    tag = StringField(_l("Tag"), validators=[Optional(), Length(max=60)],
                      render_kw={"placeholder": _l("Any tag")})
    source = StringField(_l("Source"), validators=[Optional(), Length(max=100)],
                         render_kw={"placeholder": _l("Any source")})
    converted = BooleanField(_l("Converted only"), false_values=FALSE_VALUES)
    sort = SelectField(_l("Sort"), default="created")
    # The dashboard's links only (no input in the bar: shown as a removable chip).
    team = SelectField(_l("Team"), default="")
    created_from = DateField(_l("Created from"), validators=[Optional()])
    created_to = DateField(_l("Created until"), validators=[Optional()])

    # {input name: CustomField}: the custom picklist / checkbox filters (set by filter_form).
    custom_defs: dict = {}

    def custom_filters(self) -> tuple:
        """The chosen custom filters as LeadFilters.custom: (field id, normalised value, holds it?)."""
        out = []
        for name, definition in self.custom_defs.items():
            value = self[name].data
            if not value:
                continue
            if definition.type == "checkbox":
                out.append((definition.id, "true", value == "true"))
            else:
                out.append((definition.id, custom_norm(definition, value), True))
        return tuple(out)

    def filters(self) -> LeadFilters:
        """The validated values as the service's filters."""
        return LeadFilters(
            q=(self.q.data or "").strip(), status=self.status.data or "",
            owner_id=int(self.owner.data) if self.owner.data else None,
            tag=(self.tag.data or "").strip(), source=(self.source.data or "").strip(),
            converted=bool(self.converted.data),
            team_id=int(self.team.data) if self.team.data else None,
            created_from=_day_start(self.created_from.data),
            created_before=_day_start(self.created_to.data and self.created_to.data + timedelta(days=1)),
            custom=self.custom_filters(),
        )


def _day_start(day):
    """The start of `day` in the reader's time zone, as a UTC instant (None stays None)."""
    return start_of_day(day, get_timezone()) if day else None


CUSTOM_FILTER_TYPES = ("picklist", "checkbox")


def filter_form(args) -> LeadListForm:
    """The filter form bound to `args`, with its choices loaded (shared with the board); a
    select per custom picklist / checkbox field of leads (cf_<key>)."""
    defs = {f"cf_{f.key}": f for f in custom_fields(db.session, "lead") if f.type in CUSTOM_FILTER_TYPES}
    form_class = LeadListForm
    if defs:
        form_class = type("LeadListFormWithCustom", (LeadListForm,),
                          {name: SelectField(f.label, default="") for name, f in defs.items()})
    form = form_class(args)
    form.custom_defs = defs
    for name, f in defs.items():
        if f.type == "checkbox":
            pairs = [("", _("Any")), ("true", _("Yes")), ("false", _("No"))]
        else:
            pairs = [("", _("Any")), *((o, o) for o in f.options or ())]
        form[name].choices = [SelectChoice(k, v) for k, v in pairs]
    status = [("", _("Open leads")), ("all", _("Open and closed")), *status_choices()]
    form.status.choices = [SelectChoice(k, v) for k, v in status]
    form.owner.choices = [SelectChoice(k, v) for k, v in owner_choices(blank=_("Anyone"))]
    form.team.choices = [SelectChoice("", _("Any team"))] + [
        SelectChoice(str(t.id), t.name) for t in db.session.scalars(select(Team).order_by(Team.name))]
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
    filtered = any(k in args for k in ("q", "status", "owner", "tag", "source", "converted", "team",
                                       "created_from", "created_to")) or any(k in args for k in form.custom_defs)
    # A "Load more" request (it carries a cursor) appends rows; anything else swaps the results.
    fragment = "leads/_page.html" if cursor else "leads/_rows.html"
    return render(
        "leads/index.html", fragment, status=200 if valid else 422, form=form, leads=page.items,
        tags=tags_for(db.session, "lead", [lead.id for lead in page.items]), next_url=next_url,
        # What the rows show alike, looked up once per page rather than once per row.
        status_labels={s.key: translate(s.label) for s in lead_statuses(db.session)},
        convertible={lead.id for lead in page.items if may_convert(lead)},
        row_urls={"show": _per_id("leads.show"), "convert": _per_id("conversions.new")},
        created_days=_created_days(page.items),
        first_page=cursor is None, filtered=filtered, invalid=not valid,
        count=count_leads(db.session, current_user, filters, page=page) if valid and not cursor else None,
        scope_words=_scope_words(form) if valid else "",
        unscoped_url=url_for("leads.index", **{k: v for k, v in args.items() if k not in SCOPE_ARGS}),
    )


SCOPE_ARGS = ("team", "created_from", "created_to")
_ID_SLOT = 987654321


def _per_id(endpoint: str) -> str:
    """url_for(endpoint, lead_id=...) as a format string with {} for the id: built once for
    the page's fifty rows (a str.format costs a tenth of werkzeug's URL builder)."""
    return url_for(endpoint, lead_id=_ID_SLOT).replace("{", "{{").replace("}", "}}").replace(str(_ID_SLOT), "{}")


def _created_days(leads) -> dict[int, str]:
    """Each lead's creation day as the `date` filter writes it (in the reader's time zone), with
    the zone looked up once and each day formatted once: a page's fifty rows share a few days."""
    zone, days, out = get_timezone(), {}, {}
    for lead in leads:
        created = lead.created_at
        day = (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(zone).date()
        if day not in days:
            days[day] = fmt_date(day)
        out[lead.id] = days[day]
    return out


def _scope_words(form: LeadListForm) -> str:
    """The dashboard's team and period in words ("Team North · Created Sep 3 – Dec 1, 2026")."""
    parts = []
    if form.team.data:
        names = {c.value: c.label for c in form.team.choices}
        parts.append(_("Team: %(team)s", team=names.get(form.team.data, form.team.data)))
    start, end = form.created_from.data, form.created_to.data
    if start and end:
        parts.append(_("Created %(start)s – %(end)s", start=fmt_date(start), end=fmt_date(end)))
    elif start:
        parts.append(_("Created since %(start)s", start=fmt_date(start)))
    elif end:
        parts.append(_("Created until %(end)s", end=fmt_date(end)))
    return " · ".join(parts)
