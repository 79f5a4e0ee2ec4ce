"""The conversion form (C8.1): one WTForms class carrying the modal's choices to the options dict
of api.md. Widgets only: the conversion domain judges every value (C7.5), and its errors are put
back next to their fields here (apply_errors / field_errors)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from ..extensions import db
from ..i18n import _l, translate
from ..models import Account, Campaign, CurrencyRate, CustomField, Pipeline
from ..permissions import visible_clause
from .common import as_choices, custom_input, locale_decimal, owner_choices_for

# The lead's values shown (and editable) per section; only changed ones are posted as `fields`.
ACCOUNT_FIELDS = (
    ("name", _l("Company name")), ("industry", _l("Industry")), ("website", _l("Website")),
    ("phone", _l("Phone")), ("billing_street", _l("Street")), ("billing_postal_code", _l("Postal code")),
    ("billing_city", _l("City")), ("billing_state", _l("State / region")), ("billing_country", _l("Country")),
)
CONTACT_FIELDS = (
    ("first_name", _l("First name")), ("last_name", _l("Last name")), ("title", _l("Job title")),
    ("email", _l("E-mail")), ("phone", _l("Phone")), ("mobile", _l("Mobile")),
)
TARGETS = (("contact", _l("Contact")), ("account", _l("Account")), ("deal", _l("Deal")))
PARENT_CHOICES_MAX = 500
SECTIONS = ("lead", "account", "contact", "deal", "task")

# User-facing words of this form, in one place; sentences with values are built at request
# time (set_entity_choices, reason_words, why_words).
WORDS = {
    "same_owner": _l("Same as the records"),
    "no_parent": _l("None"),
    "no_campaign": _l("None"),
    "choose_stage": _l("Choose a stage…"),
    "choose_option": _l("Choose one of the options."),
    "required": _l("This field is required."),
    "none": _l("Do not create"),
}
CREATE_NEW = {"account": _l("Create new account"), "contact": _l("Create new contact")}
REASONS = {"email": _l("e-mail"), "company_name": _l("company name"), "full_name": _l("full name")}
PHRASES = {"contact_account": _l("the account of the matched contact"), "chosen": _l("chosen in the form")}


def strip_filter(value):
    """Trim text input; empty becomes None so that nothing stores blank strings."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes sharing one name (tags destinations)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _text(label, filters=(), **render_kw) -> StringField:
    return StringField(label, filters=[strip_filter, *filters], render_kw=render_kw or None)


class ConversionForm(FlaskForm):
    """Every choice of the modal; field names are "<entity>_<option>" (errors map back by name)."""

    # A double submit replays the first conversion instead of failing (api.md Idempotency-Key).
    idempotency_key = HiddenField()
    # The duplicate choice preselected when the modal opened ("link:5") and why it matched: kept
    # as is, it is posted as "auto" so the conversion records the rule that matched (C4.3).
    account_suggested = HiddenField()
    account_suggested_reason = HiddenField()
    contact_suggested = HiddenField()
    contact_suggested_reason = HiddenField()
    owner_id = SelectField(_l("Owner of the new records"), validate_choice=False)
    account_choice = RadioField(_l("Account"), validate_choice=False)
    account_parent_id = SelectField(_l("Parent account (is a subsidiary of)"), validate_choice=False)
    contact_choice = RadioField(_l("Contact"), validate_choice=False)
    create_deal = BooleanField(_l("Create a deal"))
    deal_name = _text(_l("Deal name"))
    deal_closing_date = _text(_l("Closing date"), type="date")
    deal_pipeline_id = SelectField(_l("Pipeline"), validate_choice=False)
    deal_stage = SelectField(_l("Stage"), validate_choice=False, filters=[strip_filter])
    deal_amount = _text(_l("Amount"), [locale_decimal], inputmode="decimal", placeholder=_l("0.00"))
    deal_currency = SelectField(_l("Currency"), validate_choice=False)
    deal_contact_role = _text(_l("Contact role"), placeholder=_l("e.g. Decision maker"))
    deal_campaign_id = SelectField(_l("Campaign"), validate_choice=False)
    deal_owner_id = SelectField(_l("Deal owner"), validate_choice=False)
    create_task = BooleanField(_l("Create a follow-up task"))
    task_subject = _text(_l("Task subject"))
    task_due_date = _text(_l("Due date"), type="date")
    task_owner_id = SelectField(_l("Task owner"), validate_choice=False)
    attachments_to = RadioField(_l("Attachments go to"), choices=as_choices(TARGETS), default="contact",
                                validate_choice=False)
    activities_to = RadioField(_l("Activities and campaigns go to"), choices=as_choices(TARGETS[:2]),
                               default="contact", validate_choice=False)
    tags_to = MultiCheckboxField(_l("Tags go to"), choices=as_choices(TARGETS), default=["contact", "deal"],
                                 validate_choice=False)

    def custom_names(self, entity: str) -> list[str]:
        return [f.name for f in self if f.name.startswith(f"{entity}_custom_")]

    def section(self, prefix: str, names) -> list:
        return [self[f"{prefix}_{n}"] for n, _label in names]


def conversion_form(actor, custom_defs: dict, formdata=None, owner_id: int | None = None,
                    **kw) -> ConversionForm:
    """The form with a text field per standard section field and per custom field to fill
    (custom_defs: {entity: [CustomField]}), and its choices loaded. `owner_id` (the lead's owner)
    stays offered even when `actor` may not assign to it: keeping it is no re-assignment."""
    extra = {}
    for prefix, names in (("account", ACCOUNT_FIELDS), ("contact", CONTACT_FIELDS)):
        for name, label in names:
            extra[f"{prefix}_{name}"] = _text(label, type="email" if name == "email" else "text")
    for entity, defs in custom_defs.items():
        for field in defs:
            extra[f"{entity}_custom_{field.key}"] = custom_input(field)
    cls = type("ConversionForm", (ConversionForm,), extra)
    form = cls(formdata=formdata, **kw)
    _load_choices(form, actor, owner_id)
    return form


def _load_choices(form: ConversionForm, actor, owner_id: int | None) -> None:
    # Issue 7 step 5: only the owners `actor` may assign (permissions.assignable_owners_clause).
    form.owner_id.choices = owner_choices_for(actor, owner_id)
    same = [SelectChoice("", WORDS["same_owner"])]
    form.deal_owner_id.choices = same + owner_choices_for(actor)
    form.task_owner_id.choices = same + owner_choices_for(actor)
    accounts = db.session.execute(
        select(Account.id, Account.name).where(visible_clause(db.session, actor, Account))
        .order_by(Account.name).limit(PARENT_CHOICES_MAX))
    form.account_parent_id.choices = as_choices([("", WORDS["no_parent"])] + [(i, n) for i, n in accounts])
    pipelines = list(db.session.scalars(select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.name)))
    form.deal_pipeline_id.choices = as_choices([(p.id, translate(p.name)) for p in pipelines])
    form.pipelines = pipelines
    chosen = next((p for p in pipelines if str(p.id) == str(form.deal_pipeline_id.data)), None)
    chosen = chosen or (pipelines[0] if pipelines else None)
    stages = [s.name for s in chosen.stages] if chosen else []
    form.deal_stage.choices = as_choices([("", WORDS["choose_stage"])] + [(s, translate(s)) for s in stages])
    codes = list(db.session.scalars(select(CurrencyRate.code).order_by(CurrencyRate.code)))
    form.deal_currency.choices = as_choices([(c, c) for c in codes])
    campaigns = db.session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.name))
    form.deal_campaign_id.choices = as_choices([("", WORDS["no_campaign"])] + [(i, n) for i, n in campaigns])


# --- choices in words ----------------------------------------------------------------------

def reason_words(reason: str | None, entity: str = "contact") -> str:
    """The rule a record matched by (C4.7: every offered match says why), in words."""
    if not reason:
        return ""
    if reason.startswith("unique:"):
        key = reason[7:]
        field = db.session.scalar(select(CustomField).where(
            CustomField.key == key.removeprefix("custom."), CustomField.entity.in_(("account", "contact"))))
        return _("unique field %(field)s", field=field.label if field else key)
    return str(REASONS[reason]) if reason in REASONS else reason.replace("_", " ")


def why_words(reason: str | None, entity: str = "contact") -> str:
    """Why a record is offered or picked, as the radio and the preview both say it:
    "matched on e-mail", "the account of the matched contact", "chosen in the form"."""
    if not reason:
        return ""
    if reason in PHRASES:
        return str(PHRASES[reason])
    return _("matched on %(rule)s", rule=reason_words(reason, entity))


def set_entity_choices(form: ConversionForm, lead, base) -> None:
    """The duplicate choices of C4.3: each candidate (why it matched), create new, do not create.
    The preselected record says the same reason as the preview (the plan's own reason)."""
    for entity in ("account", "contact"):
        choices = []
        planned = getattr(base, entity) if base is not None else None
        picked = planned.record_id if planned is not None and planned.record_id else None
        candidates = list(base.candidates.get(entity, [])) if base is not None else []
        if picked and picked not in {c.id for c in candidates}:
            # The plan's own pick (e.g. the matched contact's account, C4.4) is offered first.
            choices.append(SelectChoice(f"link:{picked}", _(
                "Add to existing %(name)s — %(why)s", name=planned.label, why=why_words(planned.reason, entity))))
        for c in candidates:
            reason = planned.reason if c.id == picked and planned.reason != "chosen" else c.reason
            choices.append(SelectChoice(f"link:{c.id}", _(
                "Add to existing %(name)s — %(why)s", name=c.name, why=why_words(reason, entity))))
        choices.append(SelectChoice("create", CREATE_NEW[entity]))
        choices.append(SelectChoice("none", WORDS["none"]))
        getattr(form, f"{entity}_choice").choices = choices


def suggestion(base, entity: str) -> tuple[str, str]:
    """The preselected choice of the auto plan and why ("link:5", "email"), or ("", "")."""
    planned = getattr(base, entity) if base is not None else None
    if planned is None or not planned.record_id:
        return "", ""
    return f"link:{planned.record_id}", planned.reason or ""


# --- form -> options (the api.md body) ------------------------------------------------------

def kept_suggestions(form: ConversionForm) -> dict[str, int]:
    """{entity: record id} of the preselected links, when the person kept both duplicate choices
    as suggested: those are posted as "auto" (the recorded reason is then the matching rule)."""
    kept = {}
    for entity in ("account", "contact"):
        chosen = getattr(form, f"{entity}_choice").data or ""
        suggested = getattr(form, f"{entity}_suggested").data or ""
        if chosen != suggested and suggested:
            return {}
        if suggested.startswith("link:") and suggested[5:].isdigit():
            kept[entity] = int(suggested[5:])
    return kept


def _entity(form, entity: str, names, defaults: dict, errors: dict, auto: bool) -> dict:
    raw = getattr(form, f"{entity}_choice").data or "create"
    body: dict = {"action": "create"}
    if auto:
        body = {"action": "auto"}
    elif raw.startswith("link:"):
        rid = raw[5:]
        if rid.isdigit() and int(rid) > 0:
            body = {"action": "link", "id": int(rid)}
        else:
            errors[f"{entity}_choice"] = [WORDS["choose_option"]]
    elif raw in ("create", "none"):
        body = {"action": raw}
    else:
        errors[f"{entity}_choice"] = [WORDS["choose_option"]]
    fields = {}
    for name, _label in names:
        value = form[f"{entity}_{name}"].data
        default = defaults.get(name)
        if (value or "") != ("" if default is None else str(default)):
            fields[name] = value
    for fname in form.custom_names(entity):
        value = form[fname].data
        key = "custom." + fname[len(entity) + 8:]
        if value not in (None, "", False) and value != defaults.get(key):
            fields[key] = value
    if fields:
        body["fields"] = fields
    return body


def _int(field, errors: dict):
    value = field.data
    if value in (None, "", "None"):
        return None
    if str(value).isdigit():
        return int(value)
    errors[field.name] = [WORDS["choose_option"]]
    return None


def options_from_form(form: ConversionForm, defaults: dict) -> tuple[dict, dict]:
    """(the options dict of api.md, form errors found while reading it)."""
    errors: dict = {}
    kept = kept_suggestions(form)
    account = _entity(form, "account", ACCOUNT_FIELDS, defaults.get("account", {}), errors, "account" in kept)
    parent = _int(form.account_parent_id, errors)
    if parent is not None:
        account["parent_id"] = parent
    body = {
        "interactive": True,
        "owner_id": _int(form.owner_id, errors),
        "account": account,
        "contact": _entity(form, "contact", CONTACT_FIELDS, defaults.get("contact", {}), errors,
                           "contact" in kept),
        "attachments_to": form.attachments_to.data or "contact",
        "activities_to": form.activities_to.data or "contact",
        "tags_to": list(form.tags_to.data or []),
    }
    if form.create_deal.data:
        deal = {"name": form.deal_name.data, "pipeline_id": _int(form.deal_pipeline_id, errors),
                "stage": form.deal_stage.data, "amount": form.deal_amount.data,
                "currency": form.deal_currency.data or None, "closing_date": form.deal_closing_date.data,
                "contact_role": form.deal_contact_role.data, "campaign_id": _int(form.deal_campaign_id, errors),
                "owner_id": _int(form.deal_owner_id, errors)}
        fields = {"custom." + f[12:]: form[f].data for f in form.custom_names("deal")
                  if form[f].data not in (None, "", False)}
        if fields:
            deal["fields"] = fields
        body["deal"] = deal
    lead_fields = {"custom." + f[12:]: form[f].data for f in form.custom_names("lead")
                   if form[f].data not in (None, "", False)}
    if lead_fields:
        body["lead"] = {"fields": lead_fields}
    if form.create_task.data:
        body["task"] = {"subject": form.task_subject.data, "due_date": form.task_due_date.data,
                        "owner_id": _int(form.task_owner_id, errors)}
    return body, errors


# --- domain errors -> fields -----------------------------------------------------------------

def field_name(form: ConversionForm, key: str) -> str | None:
    """The form field of an error key ("deal.stage" -> deal_stage, "contact.id" -> contact_choice)."""
    if key in form:
        return key
    entity, _sep, rest = key.partition(".")
    if rest in ("action", "id"):
        return f"{entity}_choice"
    name = key.replace(".custom.", "_custom_").replace(".", "_")
    return name if name in form else None


def sentence(reason) -> str:
    """A reason (a Problem, a sentence) as a sentence in the reader's language: "Must be a
    number.", "This field is required."."""
    if getattr(reason, "code", None) == "required" or reason in ("is required", WORDS["required"]):
        return str(WORDS["required"])
    reason = str(translate(reason))
    reason = reason[:1].upper() + reason[1:]
    return reason if reason.endswith(".") else reason + "."


def section_of(name: str) -> str:
    """The modal section a form field belongs to: lead, account, contact, deal, task or other."""
    head = name.split("_", 1)[0]
    return head if head in SECTIONS else "other"


def field_errors(form: ConversionForm, errors: dict) -> tuple[dict[str, list[str]], list]:
    """({form field name: [sentences]}, [(key, [sentences])] of errors without a field)."""
    by_field: dict[str, list[str]] = {}
    others: list = []
    for key, reasons in errors.items():
        name = field_name(form, key)
        messages = [sentence(r) for r in reasons]
        if name is None:
            others.append((key, messages))
            continue
        by_field[name] = list(dict.fromkeys([*by_field.get(name, []), *messages]))
    return by_field, others


def apply_errors(form: ConversionForm, errors: dict) -> None:
    """Put errors next to their fields; those without a field go to form.other_errors."""
    by_field, form.other_errors = field_errors(form, errors)
    for name, messages in by_field.items():
        field = form[name]
        field.errors = list(dict.fromkeys([*(field.errors or []), *messages]))
