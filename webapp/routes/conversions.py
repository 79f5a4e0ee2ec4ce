"""The conversion modal (C8.1), its live preview (C8.7), the convert action and conversion records.

The web layer reads the form into the options dict of api.md, asks the conversion domain
(ConversionOptions.parse -> planner.plan / executor.apply) and shows the answer: every field
error at once next to its field, the preview kept beside them, a refusal inside the modal.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation

from babel import numbers as babel_numbers
from flask import Blueprint, abort, flash, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from .. import permissions
from ..conversion import executor, planner
from ..conversion import revert as reverting
from ..conversion.errors import AlreadyConverted, ConversionError
from ..conversion.mapping import build_values, load_mapping
from ..conversion.options import ConversionOptions
from ..errors import DomainError, Forbidden, Invalid, N_plural, NotFound
from ..extensions import db
from ..forms import conversions as forms
from ..forms.conversions import ACCOUNT_FIELDS, CONTACT_FIELDS, conversion_form
from ..htmx import redirect, render
from ..i18n import _l, fmt_date, fmt_money, fmt_phone, translate
from ..models import Account, Contact, Conversion, Deal, Lead, Task
from ..services.activities import converted_message
from ..services.custom_values import custom_fields, get_custom

bp = Blueprint("conversions", __name__)
MODAL, PAGE = "conversions/_modal.html", "conversions/new.html"

# User-facing sentences of these routes, in one place.
WORDS = {
    "duplicates_changed": _l("The possible duplicates changed while this form was open: check the account "
                             "and contact choices, then convert again."),
    "not_converted": _l("The conversion could not be made; nothing was saved."),
}


# --- loading and guards ------------------------------------------------------------------

def _lead(lead_id: int) -> Lead:
    """The lead, 404 when missing, 403 when the user may not see it."""
    lead = db.get_or_404(Lead, lead_id)
    if not permissions.can_view(db.session, current_user, lead):
        abort(403)
    return lead


def _conflict(lead: Lead):
    """C1.4: a converted lead answers 409 with a link to what its conversion produced."""
    conversion = db.session.get(Conversion, lead.conversion_id) if lead.conversion_id else None
    return render("conversions/conflict.html", "conversions/_conflict.html", 409, lead=lead,
                  conversion=conversion, message=converted_message(lead))


def _guard(lead: Lead):
    """None when the user may convert the lead, else the response to send (409 / 403)."""
    if lead.converted:
        return _conflict(lead)
    allowed, reason = permissions.may_convert_lead(db.session, current_user, lead)
    if not allowed:
        raise Forbidden(reason)
    return None


@bp.app_template_global()
def may_convert(lead: Lead) -> bool:
    """Whether to show the Convert button (C7.1, C7.2): the same check the routes make."""
    return (not lead.converted and current_user.is_authenticated
            and permissions.may_convert_lead(db.session, current_user, lead)[0])


# --- the form's data ---------------------------------------------------------------------

def _defaults(lead: Lead) -> dict:
    """What the lead brings to each section (the mapped values, C3.1/C8.1): prefilled, and the
    reference to tell which fields the user changed (only those are posted as `fields`)."""
    mapping, lead_custom = load_mapping(db.session), get_custom(db.session, "lead", lead.id)
    return {e: build_values(lead, mapping, e, lead_custom) for e in ("account", "contact", "deal")}


def _custom_defs(lead: Lead, base) -> dict:
    """The custom fields to fill in the modal (C7.4): those required on account / contact / deal,
    and the lead's required ones that are still empty (posted as the options' "lead" part)."""
    defs = {e: [f for f in custom_fields(db.session, e) if f.required] for e in ("account", "contact", "deal")}
    lead_custom = get_custom(db.session, "lead", lead.id)
    defs["lead"] = [f for f in custom_fields(db.session, "lead")
                    if f.required and lead_custom.get(f.key) in (None, "", [])]
    return defs


def _base_plan(lead: Lead):
    """The plan with the default (auto) choices: the candidates of C4.3 and the preselection."""
    try:
        return planner.plan(db.session, current_user, lead.id,
                            ConversionOptions.from_dict({"interactive": True})), None
    except ConversionError as e:
        return None, e


def _choice_of(plan) -> str:
    return f"link:{plan.record_id}" if plan.record_id else "create"


def _initial(lead: Lead, base, defaults: dict) -> dict:
    data = {"owner_id": str(lead.owner_id or current_user.id), "deal_currency": lead.currency or "EUR",
            "deal_name": lead.company or lead.full_name or "", "idempotency_key": uuid.uuid4().hex,
            "task_subject": _("Follow up with %(name)s", name=lead.display_name)}
    for prefix, names in (("account", ACCOUNT_FIELDS), ("contact", CONTACT_FIELDS)):
        for name, _label in names:
            value = defaults[prefix].get(name)
            data[f"{prefix}_{name}"] = "" if value is None else str(value)
    for entity, values in defaults.items():
        for key, value in values.items():
            if key.startswith("custom."):
                data[f"{entity}_custom_{key[7:]}"] = value
    if base is not None:
        data["account_choice"] = _choice_of(base.account) if base.account.action != "none" or not lead.company \
            else "none"
        data["contact_choice"] = _choice_of(base.contact) if base.contact.action != "none" else "create"
        for entity in ("account", "contact"):
            data[f"{entity}_suggested"], data[f"{entity}_suggested_reason"] = forms.suggestion(base, entity)
    return data


def _form(lead: Lead, base, defaults: dict, formdata=None):
    form = conversion_form(current_user, _custom_defs(lead, base), formdata=formdata, owner_id=lead.owner_id,
                           data=None if formdata is not None else _initial(lead, base, defaults))
    if base is not None or formdata is None:
        forms.set_entity_choices(form, lead, base)
    return form


def _posted(lead: Lead):
    """(defaults, form, options dict, form errors) from the posted form."""
    defaults = _defaults(lead)
    form = _form(lead, None, defaults, formdata=request.form)
    errors = {} if form.validate() else dict(form.errors)
    body, parse_errors = forms.options_from_form(form, defaults)
    errors.update(parse_errors)
    return defaults, form, body, errors


# --- one pass over the options: the plan (kept for the preview) and every error ---------------

@dataclass
class Outcome:
    """What the posted options would do: the plan (of the valid part, when some fields are not),
    every invalid field, the required fields still empty, or a refusal (403 / 409)."""

    plan: object | None = None
    invalid: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    refusal: DomainError | None = None

    @property
    def errors(self) -> dict:
        out = {k: list(v) for k, v in self.missing.items()}
        for k, v in self.invalid.items():
            out[k] = list(dict.fromkeys([*v, *out.get(k, [])]))
        return out


def _merge(into: dict, errors: dict) -> dict:
    for key, reasons in (errors or {}).items():
        # A reason stays a Text (a Problem): it is translated where it is shown (forms.sentence).
        into[key] = list(dict.fromkeys([*into.get(key, []),
                                        *(r if isinstance(r, str) else str(r) for r in reasons)]))
    return into


_DEAL_KEYS = {"name", "pipeline_id", "stage", "amount", "currency", "closing_date", "contact_role",
              "campaign_id", "owner_id"}


def _prune(body: dict, errors: dict) -> dict | None:
    """The body without the values `errors` refuse (so the rest can still be planned), or None
    when an error names nothing that can be left out."""
    body = {k: (dict(v) if isinstance(v, dict) else v) for k, v in body.items()}
    changed = False
    for key in errors:
        entity, _sep, rest = key.partition(".")
        part = body.get(entity)
        if not rest:
            if entity in ("owner_id", "attachments_to", "activities_to", "tags_to") and entity in body:
                body.pop(entity)
                changed = True
            continue
        if not isinstance(part, dict):
            continue
        fields = dict(part.get("fields") or {})
        if entity in ("account", "contact") and rest in ("action", "id"):
            if part.get("action") in ("link", "auto"):
                body[entity] = {"action": "create", **({"fields": fields} if fields else {})}
                changed = True
        elif entity == "account" and rest == "parent_id" and "parent_id" in part:
            part.pop("parent_id")
            changed = True
        elif rest in fields:
            fields.pop(rest)
            part["fields"] = fields
            changed = True
        elif entity == "deal" and rest in _DEAL_KEYS and part.get(rest) is not None and rest != "stage":
            part[rest] = None
            changed = True
        elif entity == "task" and rest in ("due_date", "owner_id") and part.get(rest) is not None:
            part[rest] = None
            changed = True
    return body if changed else None


def _evaluate(lead: Lead, body: dict, form_errors: dict | None = None) -> Outcome:
    """Plan the posted options once, reporting every error together (C7.5): those of the form,
    of the options parser and of the planner; a refused value is left out so that the preview
    still shows what the rest would do (a few re-plans at most, only when something is wrong)."""
    out = Outcome(invalid=_merge({}, form_errors))
    for _attempt in range(4):
        options = ConversionOptions.parse(body)
        _merge(out.invalid, options.errors)
        try:
            out.plan = planner.plan(db.session, current_user, lead.id, replace(options, errors={}))
        except (Invalid, NotFound) as e:
            if not e.errors or "lead_id" in e.errors:
                out.refusal = e
                return out
            _merge(out.invalid, e.errors)
            body = _prune(body, e.errors)
            if body is None:
                return out
            continue
        except DomainError as e:
            out.refusal = e
            return out
        out.missing = out.plan.errors()
        return out
    return out


def _preview(form, outcome: Outcome, live: bool = True) -> dict:
    """The preview's context: the plan kept beside the errors, grouped by modal section."""
    by_field, others = forms.field_errors(form, outcome.errors)
    sections: dict[str, list] = {}
    for name, messages in by_field.items():
        sections.setdefault(forms.section_of(name), []).append((form[name].label.text, messages))
    for key, messages in others:
        sections.setdefault("other", []).append((view.error_label(key), messages))
    suggested = {}
    for entity in ("account", "contact"):
        value = getattr(form, f"{entity}_suggested").data or ""
        if value.startswith("link:") and value[5:].isdigit():
            suggested[entity] = (int(value[5:]), getattr(form, f"{entity}_suggested_reason").data or "")
    refusal = translate(outcome.refusal.message) if outcome.refusal is not None else None
    if outcome.plan is not None and outcome.plan.blocked is not None:
        refusal = translate(outcome.plan.blocked.message)
    return {"plan": outcome.plan, "fields": by_field, "sections": sections, "refusal": refusal,
            "invalid": bool(outcome.invalid), "suggested": suggested, "live": live,
            "wanted": {"deal": bool(form.create_deal.data), "task": bool(form.create_task.data)}}


def _modal(lead: Lead, form, preview: dict, status: int = 200, alert: str | None = None, edited=False):
    return render(PAGE, MODAL, status, lead=lead, form=form, alert=translate(alert), preview=preview,
                  view=view, edited=edited)


# --- what the templates show ----------------------------------------------------------------

LABELS = {"owner_id": _l("Owner"), "account_id": _l("Account"), "contact_id": _l("Contact"),
          "parent_id": _l("Parent account"), "pipeline_id": _l("Pipeline"), "campaign_id": _l("Campaign"),
          "email": _l("E-mail"), "email_opt_out": _l("E-mail opt-out"), "due_date": _l("Due date"),
          "closing_date": _l("Closing date"), "linkedin": _l("LinkedIn"), "lead_source": _l("Lead source"),
          # The other mapped fields (conversion.mapping), in the words they had untranslated.
          "name": _l("Name"), "subject": _l("Subject"), "salutation": _l("Salutation"),
          "first_name": _l("First name"), "last_name": _l("Last name"), "title": _l("Title"),
          "industry": _l("Industry"), "website": _l("Website"), "phone": _l("Phone"), "mobile": _l("Mobile"),
          "fax": _l("Fax"), "skype": _l("Skype"), "twitter": _l("Twitter"), "facebook": _l("Facebook"),
          "description": _l("Description"), "annual_revenue": _l("Annual revenue"), "employees": _l("Employees"),
          "rating": _l("Rating"), "currency": _l("Currency"), "amount": _l("Amount"), "stage": _l("Stage"),
          "contact_role": _l("Contact role"), "mailing_street": _l("Mailing street"),
          "mailing_city": _l("Mailing city"), "mailing_state": _l("Mailing state"),
          "mailing_postal_code": _l("Mailing postal code"), "mailing_country": _l("Mailing country")}
# Each entity's fields say which record they belong to ("Name" alone was ambiguous).
ENTITY_LABELS = {
    "account": {**dict(ACCOUNT_FIELDS), "owner_id": _l("Account owner")},
    "contact": {**dict(CONTACT_FIELDS), "owner_id": _l("Contact owner")},
    "deal": {"name": _l("Deal name"), "owner_id": _l("Deal owner"), "amount": _l("Amount"), "stage": _l("Stage")},
    "task": {"subject": _l("Task subject"), "owner_id": _l("Task owner")},
    "lead": {},
}
# The entities' names at the head of a label ("Deal · Amount") and of their choice's errors.
ENTITY_NAMES = {"account": _l("Account"), "contact": _l("Contact"), "deal": _l("Deal"), "task": _l("Task"),
                "lead": _l("Lead")}
CHOICE_LABELS = {"account": _l("Account choice"), "contact": _l("Contact choice")}
REFS = {"owner_id": "User", "account_id": Account, "contact_id": Contact, "parent_id": Account,
        "pipeline_id": "Pipeline", "campaign_id": "Campaign"}


# "3 notes", "1 activity": each kind's singular and plural, one catalogue entry each.
COUNT_WORDS = {
    "notes": N_plural("%(num)d note", "%(num)d notes"),
    "attachments": N_plural("%(num)d attachment", "%(num)d attachments"),
    "activities": N_plural("%(num)d activity", "%(num)d activities"),
    "campaigns": N_plural("%(num)d campaign membership", "%(num)d campaign memberships"),
    "tags": N_plural("%(num)d tag", "%(num)d tags"),
    "line_items": N_plural("%(num)d product line", "%(num)d product lines"),
    "addresses": N_plural("%(num)d address", "%(num)d addresses"),
}


KIND_WORDS = {"note": _l("Note"), "attachment": _l("Attachment"), "activity": _l("Activity"),
              "campaign_member": _l("Campaign"), "tag": _l("Tag"), "line_item": _l("Product line"),
              "address": _l("Address")}
OUTCOMES = {"created": _l("Created"), "merged": _l("Merged"), "linked": _l("Linked"), "none": _l("Not created")}
CHOICES = {"auto": _l("Best match, else create"), "create": _l("Create new"), "link": _l("Add to existing"),
           "none": _l("Do not create")}
# Where related records go (conversion.transfer.destinations) and where they came from.
PLACES = {"lead": _l("the lead"), "account": _l("the account"), "contact": _l("the contact"),
          "deal": _l("the deal"), "task": _l("the task"), "account (copy)": _l("the account (copy)"),
          "contact (copy)": _l("the contact (copy)"), "deal (open ones)": _l("the deal (open ones)")}
# Fields a created task or deal gets from the conversion itself: not worth a preview line.
HIDDEN_VALUES = {"kind", "status"}
DATE_KEYS = {"closing_date", "due_date", "converted_at", "birth_date", "birthday"}
MONEY_KEYS = {"amount", "annual_revenue", "expected_revenue", "budget"}
TRANSLATED_KEYS = {"stage", "lead_source", "salutation", "rating"}
PHONE_KEYS = {"phone", "mobile", "fax"}


def money_words(amount, currency: str | None = None) -> str:
    """An amount in the reader's format: 12000, "EUR" -> "€12,000.00" (English),
    "12 000,00 €" (French); without a currency, just the number ("12,000.00")."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    if not value.is_finite():
        return str(amount)
    return fmt_money(value, currency or None)


def date_words(value) -> str:
    """A date (or an ISO string) for people, in the reader's format: "Dec 15, 2026" (English),
    "15 déc. 2026" (French); a datetime is shown in the reader's time zone."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return fmt_date(value) if isinstance(value, date) else str(value)


def _place(what: str) -> str:
    """"the deal", "the account (copy)"."""
    if what in PLACES:
        return str(PLACES[what])
    return _("the %(place)s", place=str(what).replace("_", " "))


class view:
    """Display helpers for the conversion templates (labels, values in words, links)."""

    money = staticmethod(money_words)
    date = staticmethod(date_words)
    why_words = staticmethod(forms.why_words)
    kinds = KIND_WORDS
    choices = CHOICES
    outcomes = OUTCOMES

    @staticmethod
    def label(entity: str, key: str) -> str:
        if key.startswith("custom."):
            f = next((f for f in custom_fields(db.session, entity) if f.key == key[7:]), None)
            return f.label if f else key[7:]
        return (ENTITY_LABELS.get(entity, {}).get(key) or LABELS.get(key)
                or key.replace("_", " ").capitalize())

    @staticmethod
    def error_label(key: str) -> str:
        entity, _sep, rest = key.partition(".")
        if not rest:
            return str(LABELS[key]) if key in LABELS else key.replace("_", " ").capitalize()
        if rest in ("action", "id"):
            if entity in CHOICE_LABELS:
                return str(CHOICE_LABELS[entity])
            return _("%(entity)s choice", entity=entity.capitalize())
        return _("%(entity)s · %(field)s", entity=ENTITY_NAMES.get(entity, entity.capitalize()),
                 field=view.label(entity, rest))

    @staticmethod
    def value(key: str, value, values: dict | None = None) -> str:
        """A planned or recorded value in words: ids as names, yes / no, money and dates for people."""
        from ..models import Campaign, Pipeline, User

        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        model = {"User": User, "Pipeline": Pipeline, "Campaign": Campaign}.get(REFS.get(key), REFS.get(key))
        if model is not None and isinstance(value, int):
            record = db.session.get(model, value)
            name = getattr(record, "display_name", None) or getattr(record, "name", None)
            return translate(name) if model is Pipeline and name else name or f"#{value}"
        if key in TRANSLATED_KEYS:
            return translate(str(value))  # seeded labels (stages, sources) in the reader's language
        if key in PHONE_KEYS:
            return fmt_phone(str(value))
        if key in MONEY_KEYS:
            return money_words(value, (values or {}).get("currency"))
        if isinstance(value, date) or key in DATE_KEYS:
            return date_words(value)
        if isinstance(value, Decimal) and value.is_finite():
            return babel_numbers.format_decimal(value, locale=get_locale(), decimal_quantization=False)
        return str(value)

    @staticmethod
    def shown(values: dict) -> list:
        """The lines of a created record in the preview, its name first; the currency goes with
        the amount."""
        items = [(k, v) for k, v in values.items()
                 if k not in HIDDEN_VALUES and v is not False and v not in (None, "")]
        if values.get("amount") not in (None, ""):
            items = [(k, v) for k, v in items if k != "currency"]
        return sorted(items, key=lambda kv: kv[0] not in ("name", "subject"))

    @staticmethod
    def why(p, preview: dict) -> str:
        """Why a merged or linked record was picked, in the same words as its radio: the rule
        that matched (also when the person kept or picked a match), else "chosen in the form"."""
        reason = p.reason
        if reason == "chosen":
            suggested = (preview.get("suggested") or {}).get(p.entity)
            candidates = preview["plan"].candidates.get(p.entity, []) if preview.get("plan") else []
            if suggested and suggested[0] == p.record_id and suggested[1]:
                reason = suggested[1]
            else:
                reason = next((c.reason for c in candidates if c.id == p.record_id), reason)
        return forms.why_words(reason, p.entity)

    @staticmethod
    def moves(plan) -> list[tuple[str, str]]:
        """("3 notes", "the deal, the account (copy)") for the preview (C6, plan.destinations)."""
        out = []
        for what, n in plan.moves.items():
            if not n:
                continue
            places = plan.destinations.get(what) or []
            out.append((view.count(what, n), ", ".join(_place(p) for p in places) or _("stay on the lead")))
        return out

    @staticmethod
    def count(what: str, n: int) -> str:
        """"3 notes", "1 activity"."""
        words = COUNT_WORDS.get(what)
        return ngettext(*words, n) if words else f"{n} {what.replace('_', ' ')}"

    @staticmethod
    def summary(preview: dict) -> str:
        """What the polite live region says after a preview update."""
        count = sum(len(items) for items in preview["sections"].values())
        if preview.get("refusal"):
            return _("Preview updated: %(reason)s", reason=translate(preview["refusal"]))
        if count:
            return ngettext("Preview updated. %(num)d field needs attention; each is marked in its section.",
                            "Preview updated. %(num)d fields need attention; each is marked in its section.",
                            count)
        return _("Preview updated.")

    @staticmethod
    def record(kind: str, record_id) -> dict | None:
        """{label, url} of an account / contact / deal / lead the viewer may see, else None."""
        from ..models import Lead as LeadModel
        from .activities import record_url

        model = {"account": Account, "contact": Contact, "deal": Deal, "lead": LeadModel}.get(kind)
        if model is None or not isinstance(record_id, int):
            return None
        record = db.session.get(model, record_id)
        if record is None or not permissions.can_view(db.session, current_user, record):
            return None
        label = getattr(record, "display_name", None) or getattr(record, "name", None) or kind
        return {"label": label, "url": record_url(kind, record_id)}

    @staticmethod
    def place(pair) -> dict:
        """Where a moved record came from / went to (["deal", 4]) as {noun, label, url}."""
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            return {"noun": "", "label": "", "url": None}
        kind, rid = pair
        found = view.record(kind, rid) or {}
        return {"noun": _place(str(kind)), "label": found.get("label", ""),
                "url": found.get("url")}

    @staticmethod
    def went_to(conversion: Conversion, kind: str) -> list[str]:
        """The entities that really received `kind` records ("tag" -> ["contact"])."""
        places = []
        for m in conversion.moved_records or []:
            if not isinstance(m, dict):
                continue
            to = m.get("to")
            if m.get("type") == kind and isinstance(to, list) and to and to[0] not in places:
                places.append(to[0])
        return places

    @staticmethod
    def produced_links(conversion: Conversion) -> list[dict]:
        """The records a conversion produced, as {type, id, label, action, url} (labels escaped by Jinja);
        the task links to the page it shows on."""
        from .activities import record_url

        out = []
        for kind, model, rid, action in (
                ("account", Account, conversion.account_id, conversion.account_action),
                ("contact", Contact, conversion.contact_id, conversion.contact_action),
                ("deal", Deal, conversion.deal_id, conversion.deal_action),
                ("task", Task, conversion.task_id, conversion.task_action)):
            record = db.session.get(model, rid) if rid else None
            if record is None:
                continue
            label = getattr(record, "display_name", None) or getattr(record, "subject", None) or f"#{rid}"
            if kind == "task":
                url = record_url(record.parent_type, record.parent_id)
            else:
                url = record_url(kind, rid)
            out.append({"type": kind, "id": rid, "label": label, "action": action, "url": url})
        return out


@bp.app_template_global()
def conversion_records(conversion: Conversion) -> list[dict]:
    """What a conversion produced (account, contact, deal, task) as links: the lead's banner."""
    return view.produced_links(conversion) if conversion is not None else []


# --- routes --------------------------------------------------------------------------------

@bp.get("/leads/<int:lead_id>/convert")
@login_required
def new(lead_id: int):
    """The conversion modal, prefilled, with the duplicate choices and the first preview (C8.1)."""
    lead = _lead(lead_id)
    refused = _guard(lead)
    if refused is not None:
        return refused
    base, error = _base_plan(lead)
    form = _form(lead, base, _defaults(lead))
    outcome = Outcome(plan=base, missing=base.errors() if base else {})
    if error is not None:
        outcome = Outcome(invalid=error.errors, refusal=None if isinstance(error, Invalid) else error)
    alert = base.blocked.message if base is not None and base.blocked is not None else None
    return _modal(lead, form, _preview(form, outcome, live=False), alert=alert)


@bp.post("/leads/<int:lead_id>/convert/preview")
@login_required
def preview(lead_id: int):
    """C8.7: what the posted options would do, record by record and field by field, with every
    field error next to its section (422 when some value is not valid)."""
    lead = _lead(lead_id)
    refused = _guard(lead)
    if refused is not None:
        return refused
    _posted_defaults, form, body, errors = _posted(lead)
    outcome = _evaluate(lead, body, errors)
    status = 422 if outcome.invalid else 200
    return render("conversions/preview.html", "conversions/_preview.html", status, lead=lead,
                  preview=_preview(form, outcome), form=form, view=view)


def _refused(lead: Lead, form, body: dict, form_errors: dict, status: int = 422, alert: str | None = None):
    """The modal again, with what the person typed, every error next to its field and the preview."""
    outcome = _evaluate(lead, body, form_errors)
    forms.apply_errors(form, outcome.errors)
    base, _error = _base_plan(lead)
    forms.set_entity_choices(form, lead, base)
    if alert is None and outcome.refusal is not None:
        alert, status = outcome.refusal.message, outcome.refusal.status
    elif alert is None and not outcome.errors:
        alert = str(WORDS["not_converted"])
    return _modal(lead, form, _preview(form, outcome), status, alert=alert, edited=True)


@bp.post("/leads/<int:lead_id>/convert")
@login_required
def create(lead_id: int):
    """Convert: one call to the executor, one commit; errors go next to their fields (C7.5)."""
    lead = _lead(lead_id)
    refused = _guard(lead)
    if refused is not None:
        return refused
    _posted_defaults, form, body, errors = _posted(lead)
    if errors:
        return _refused(lead, form, body, errors)
    kept = forms.kept_suggestions(form)
    try:
        conversion = executor.apply(db.session, current_user, lead.id, ConversionOptions.parse(body),
                                    idempotency_key=form.idempotency_key.data or None)
    except AlreadyConverted:
        db.session.rollback()
        return _conflict(db.session.get(Lead, lead.id))
    except (Invalid, NotFound):
        # The modal's view of a refused value: every error of the form at once, next to its field.
        db.session.rollback()
        return _refused(lead, form, body, {})
    except DomainError as e:
        # A refusal (rights, hidden duplicates, idempotency) is shown inside the modal.
        db.session.rollback()
        return _refused(lead, form, body, {}, e.status, alert=e.message)
    if any(getattr(conversion, f"{entity}_id") != rid for entity, rid in kept.items()):
        # The preselected match was posted as "auto": the best match is not the one shown any more.
        db.session.rollback()
        return _refused(lead, form, body, {}, 409, alert=str(WORDS["duplicates_changed"]))
    db.session.commit()
    links = view.produced_links(conversion)
    flash({"conversion_id": conversion.id, "lead": lead.display_name, "links": links}, "conversion")
    landing = next((x for x in links if x["type"] == "contact"), None) or \
        next((x for x in links if x["type"] == "account"), None)
    target = landing["url"] if landing and landing["url"] else url_for("conversions.show", conversion_id=conversion.id)
    return redirect(target)


@bp.get("/conversions/<int:conversion_id>")
@login_required
def show(conversion_id: int):
    """C1.5: the conversion record: who, when, options, records, fields written, what moved."""
    conversion = db.get_or_404(Conversion, conversion_id)
    lead = db.session.get(Lead, conversion.lead_id)
    if lead is None or not permissions.can_view(db.session, current_user, lead):
        abort(403)
    return render("conversions/show.html", "conversions/_record.html", lead=lead, conversion=conversion,
                  records=view.produced_links(conversion), view=view, rv=revert_view)


# --- C9.1: revert a conversion ---------------------------------------------------------------
# The preview (a modal, like the conversion's) lists what will happen record by record and what
# cannot be undone cleanly; the person keeps those records and reverts, or cancels. The domain
# (conversion/revert.py) plans and executes; one POST = one execute_revert() = one commit.

REVERT_PAGE, REVERT_MODAL = "conversions/revert.html", "conversions/_revert.html"
REVERT_WORDS = {
    "changed": _l("Something changed since the preview: read it again, then keep those records and revert, "
                  "or cancel."),
    "reverted": _l("This conversion has already been reverted."),
}
# moved_records' kinds -> the preview's count words (COUNT_WORDS keys).
KIND_COUNTS = {"note": "notes", "attachment": "attachments", "activity": "activities",
               "campaign_member": "campaigns", "line_item": "line_items", "address": "addresses",
               "tag": "tags"}


@bp.app_template_global()
def may_revert(target) -> bool:
    """Whether to show "Revert…" (C9.1) for a Conversion or a converted Lead: the domain's checks."""
    if target is None or not current_user.is_authenticated:
        return False
    lead = target if isinstance(target, Lead) else None
    if lead is not None:
        if not lead.converted or not lead.conversion_id:
            return False
        conversion = db.session.get(Conversion, lead.conversion_id)
    else:
        conversion = target
    return reverting.may_revert(db.session, current_user, conversion, lead)


class revert_view:
    """Display helpers of the revert preview."""

    @staticmethod
    def status(key: str | None) -> str:
        from ..models import LeadStatus

        row = db.session.get(LeadStatus, key) if key else None
        return translate(row.label) if row is not None else (key or "—")

    @staticmethod
    def moves(plan) -> list[tuple[str, str]]:
        """("3 notes", "the deal, the contact"): what goes back to the lead, and from where."""
        groups: dict[str, tuple[list, list]] = {}
        for s in plan.by_action("move_back", blocked=False):
            steps, places = groups.setdefault(s.type, ([], []))
            steps.append(s)
            if s.place and s.place[0] not in places:
                places.append(s.place[0])
        return [(view.count(KIND_COUNTS.get(kind, kind), len(steps)), ", ".join(_place(p) for p in places))
                for kind, (steps, places) in groups.items()]

    @staticmethod
    def copies(plan) -> list[str]:
        """"2 notes", "3 tags": the copies removed."""
        out = []
        for action, kind in (("remove_copy", "note"), ("remove_tag", "tag")):
            n = len([s for s in plan.by_action(action, blocked=False) if s.type == kind])
            if n:
                out.append(view.count(KIND_COUNTS[kind], n))
        return out

    @staticmethod
    def kind(kind: str) -> str:
        return str(KIND_WORDS.get(kind) or ENTITY_NAMES.get(kind) or kind.replace("_", " ").capitalize())

    @staticmethod
    def text(item: dict) -> str:
        """A sentence stored in a revert report, in the reader's language."""
        from ..errors import Text

        stored = item.get("text") if isinstance(item, dict) else None
        if isinstance(stored, dict):
            try:
                return translate(Text.from_json(stored))
            except (KeyError, TypeError, ValueError):
                pass
        return str((item or {}).get("message") or "")

    @staticmethod
    def user(user_id) -> str:
        from ..models import User

        user = db.session.get(User, user_id) if isinstance(user_id, int) else None
        return user.display_name if user is not None else "—"


def _reverting(conversion_id: int) -> tuple[Conversion, Lead]:
    """The conversion and its lead; 404 when missing, 403 when the lead is out of sight."""
    conversion = db.get_or_404(Conversion, conversion_id)
    lead = db.session.get(Lead, conversion.lead_id)
    if lead is None or not permissions.can_view(db.session, current_user, lead):
        abort(403)
    return conversion, lead


def _revert_modal(conversion: Conversion, lead: Lead, plan, status: int = 200, alert=None):
    return render(REVERT_PAGE, REVERT_MODAL, status, conversion=conversion, lead=lead, plan=plan,
                  alert=translate(alert) if alert else None, view=view, rv=revert_view)


@bp.get("/conversions/<int:conversion_id>/revert")
@login_required
def revert_preview(conversion_id: int):
    """C9.1: what reverting would do, record by record, and what cannot be undone cleanly."""
    conversion, lead = _reverting(conversion_id)
    if conversion.reverted_at is not None:
        return _revert_modal(conversion, lead, None, 409, REVERT_WORDS["reverted"])
    plan = reverting.plan_revert(db.session, current_user, conversion)
    return _revert_modal(conversion, lead, plan)


@bp.post("/conversions/<int:conversion_id>/revert")
@login_required
def revert(conversion_id: int):
    """Revert (keep_changed=1: keep what changed since and revert the rest); then the lead's page."""
    conversion, lead = _reverting(conversion_id)
    keep = request.form.get("keep_changed") in ("1", "true", "y", "on")
    try:
        reverting.execute_revert(db.session, current_user, conversion, keep_changed=keep)
    except reverting.AlreadyReverted:
        db.session.rollback()
        return _revert_modal(conversion, lead, None, 409, REVERT_WORDS["reverted"])
    except (reverting.RevertBlocked, IntegrityError):
        # Blockers the person has not seen (something changed since the preview, or a concurrent
        # change the foreign keys refused): show them.
        db.session.rollback()
        plan = reverting.plan_revert(db.session, current_user, conversion)
        return _revert_modal(conversion, lead, plan, 409, REVERT_WORDS["changed"])
    db.session.commit()
    flash(_("Conversion reverted: the lead “%(name)s” is back in the list and on the board.",
            name=lead.display_name), "success")
    return redirect(url_for("leads.show", lead_id=lead.id))
