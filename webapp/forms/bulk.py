"""The bulk conversion panel's form (C8.4): widgets only. The values are judged by the one
validator of bulk options (conversion.bulk.BulkOptions.parse / validate); options_from_form only
carries the widgets to the body of POST /api/v1/lead-conversions/bulk. Names and companies are
not editable in bulk: the panel has no account / contact fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from ..extensions import db
from ..i18n import _l, translate
from ..models import CurrencyRate, Pipeline
from .common import as_choices, locale_decimal, owner_choices_for
from .conversions import TARGETS, MultiCheckboxField, strip_filter

# The deal fields "+ add a field" offers (the others are always shown: name, pipeline, stage).
EXTRA_DEAL_FIELDS = (("amount", _l("Amount")), ("currency", _l("Currency")),
                     ("closing_date", _l("Closing date")), ("contact_role", _l("Contact role")))
DEFAULT_TEMPLATE = "{company}"
OWNER_EACH = ""  # owner_mode: each lead's own owner


def _text(label, **render_kw) -> StringField:
    return StringField(label, filters=[strip_filter], render_kw=render_kw or None)


class BulkConvertForm(FlaskForm):
    """The panel's widgets; names are "<part>_<option>" (errors map back by name)."""

    selection = HiddenField()  # "ids" or "filter"
    ids = HiddenField()  # "1,2,3"
    filter = HiddenField()  # the list's query string
    deal_shown = HiddenField()  # the extra deal fields added ("amount,closing_date")
    add_field = SelectField(_l("+ add a field"), validate_choice=False)
    owner_mode = RadioField(_l("Owner of the new records"), validate_choice=False, default="each",
                            choices=as_choices([("each", _l("Each lead’s own owner")), ("one", _l("One user for all"))]))
    owner_id = SelectField(_l("Owner for all"), validate_choice=False)
    create_deal = BooleanField(_l("Create a deal"))
    deal_name = _text(_l("Deal name"), placeholder=DEFAULT_TEMPLATE)
    deal_pipeline_id = SelectField(_l("Pipeline"), validate_choice=False)
    deal_stage = SelectField(_l("Stage"), validate_choice=False, filters=[strip_filter])
    deal_amount = StringField(_l("Amount"), filters=[strip_filter, locale_decimal],
                              render_kw={"inputmode": "decimal", "placeholder": _l("0.00")})
    deal_currency = SelectField(_l("Currency"), validate_choice=False)
    deal_closing_date = _text(_l("Closing date"), type="date")
    deal_contact_role = _text(_l("Contact role"), placeholder=_l("e.g. Decision maker"))
    create_task = BooleanField(_l("Create a follow-up task"))
    task_subject = _text(_l("Task subject"))
    task_due_date = _text(_l("Due date"), type="date")
    attachments_to = RadioField(_l("Attachments go to"), choices=as_choices(TARGETS), default="contact", validate_choice=False)
    tags_to = MultiCheckboxField(_l("Tags go to"), choices=as_choices(TARGETS), default=["contact", "deal"],
                                 validate_choice=False)

    def shown(self) -> list[str]:
        """The extra deal fields on screen: those added, and any with a value."""
        names = [n for n in (self.deal_shown.data or "").split(",") if n]
        if self.add_field.data and self.add_field.data not in names:
            names.append(self.add_field.data)
        names += [n for n, _label in EXTRA_DEAL_FIELDS if self[f"deal_{n}"].data and n not in names]
        return [n for n, _label in EXTRA_DEAL_FIELDS if n in names]


def bulk_form(actor, formdata=None, **kw) -> BulkConvertForm:
    form = BulkConvertForm(formdata=formdata, **kw)
    form.owner_id.choices = owner_choices_for(actor)
    pipelines = list(db.session.scalars(select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.name)))
    form.deal_pipeline_id.choices = as_choices([(p.id, translate(p.name)) for p in pipelines])
    chosen = next((p for p in pipelines if str(p.id) == str(form.deal_pipeline_id.data)), None)
    chosen = chosen or (pipelines[0] if pipelines else None)
    stages = [s.name for s in chosen.stages] if chosen else []
    form.deal_stage.choices = as_choices([(s, translate(s)) for s in stages])
    codes = list(db.session.scalars(select(CurrencyRate.code).order_by(CurrencyRate.code)))
    form.deal_currency.choices = [SelectChoice("", _l("Each lead’s currency"))] + as_choices([(c, c) for c in codes])
    shown = set(form.shown())
    form.add_field.choices = [SelectChoice("", _l("+ add a field"))] + [
        SelectChoice(n, label) for n, label in EXTRA_DEAL_FIELDS if n not in shown]
    return form


def _int(value):
    """An id from a select: digits -> int; anything else is handed on for the validator to refuse."""
    if value in (None, ""):
        return None
    return int(value) if str(value).isdigit() else value


def options_from_form(form: BulkConvertForm) -> dict:
    """The options part of the bulk request body (api.md, Bulk) from the panel's widgets."""
    body = {"account": {"action": "auto"}, "contact": {"action": "auto"},
            "attachments_to": form.attachments_to.data or "contact",
            "tags_to": list(form.tags_to.data or [])}
    if form.owner_mode.data == "one":
        body["owner_id"] = _int(form.owner_id.data) if form.owner_id.data else None
    if form.create_deal.data:
        deal = {"name": form.deal_name.data or DEFAULT_TEMPLATE, "pipeline_id": _int(form.deal_pipeline_id.data),
                "stage": form.deal_stage.data or None}
        for name in form.shown():
            value = form[f"deal_{name}"].data
            if value not in (None, ""):
                deal[name] = value
        body["deal"] = deal
    if form.create_task.data:
        body["task"] = {"subject": form.task_subject.data, "due_date": form.task_due_date.data}
    return body
