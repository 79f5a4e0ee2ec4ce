"""The conversion modal (C8.1), its live preview (C8.7), the convert action and conversion records.

The web layer only translates: form -> options dict -> ConversionOptions.from_dict ->
planner.plan / executor.apply, and domain errors -> statuses and messages next to fields.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, request, url_for
from flask_login import current_user, login_required

from .. import permissions
from ..conversion import executor, planner
from ..conversion.errors import AlreadyConverted, ConversionError, RecordNotFound
from ..conversion.mapping import build_values, load_mapping
from ..conversion.options import ConversionOptions
from ..extensions import db
from ..forms import conversions as forms
from ..forms.conversions import ACCOUNT_FIELDS, CONTACT_FIELDS, conversion_form
from ..htmx import redirect, render
from ..models import Account, Contact, Conversion, Deal, Lead, Task
from ..records import custom_fields, get_custom
from ..services.activities import converted_message

bp = Blueprint("conversions", __name__)
MODAL, PAGE = "conversions/_modal.html", "conversions/new.html"


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
        abort(403, reason)
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
    lead_missing = {k[7:] for k in (base.missing.get("lead", []) if base else [])}
    defs = {e: [f for f in custom_fields(db.session, e) if f.required] for e in ("account", "contact", "deal")}
    defs["lead"] = [f for f in custom_fields(db.session, "lead") if f.key in lead_missing]
    return defs


def _base_plan(lead: Lead):
    """The plan with the default (auto) choices: the candidates of C4.3 and the preselection."""
    try:
        return planner.plan(db.session, current_user, lead.id,
                            ConversionOptions.from_dict({"interactive": True})), None
    except ConversionError as e:
        return None, e


def _choice_of(plan) -> str:
    if plan.record_id:
        return f"link:{plan.record_id}"
    return "create"


def _initial(lead: Lead, base, defaults: dict) -> dict:
    data = {"owner_id": str(lead.owner_id or current_user.id), "deal_currency": lead.currency or "EUR",
            "deal_name": lead.company or lead.full_name or "", "idempotency_key": uuid.uuid4().hex,
            "task_subject": f"Follow up with {lead.display_name}"}
    for prefix, names in (("account", ACCOUNT_FIELDS), ("contact", CONTACT_FIELDS)):
        for name, _ in names:
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
    return data


def _form(lead: Lead, base, defaults: dict, formdata=None):
    form = conversion_form(current_user, _custom_defs(lead, base), formdata=formdata,
                           data=None if formdata is not None else _initial(lead, base, defaults))
    forms.set_entity_choices(form, lead, base)
    return form


def _posted(lead: Lead):
    """(base plan, defaults, form, options dict, errors) from the posted form."""
    base, _ = _base_plan(lead)
    defaults = _defaults(lead)
    form = _form(lead, base, defaults, formdata=request.form)
    errors = {} if form.validate() else {k: v for k, v in form.errors.items()}
    body, parse_errors = forms.options_from_form(form, defaults)
    errors.update(parse_errors)
    return base, defaults, form, body, errors


def _preview_of(lead: Lead, body: dict | None) -> dict:
    """The preview's context: the plan, or the messages of invalid options (never a 500)."""
    if body is None:
        return {"plan": None, "errors": {}, "message": None}
    try:
        options = ConversionOptions.from_dict(body)
        result = planner.plan(db.session, current_user, lead.id, options)
    except ConversionError as e:
        return {"plan": None, "errors": e.errors, "message": e.message}
    return {"plan": result, "errors": {}, "message": None}


def _modal(lead: Lead, form, base, status: int = 200, preview: dict | None = None, alert: str | None = None):
    return render(PAGE, MODAL, status, lead=lead, form=form, base=base, alert=alert,
                  preview=preview or {"plan": base, "errors": {}, "message": None, "base": base}, view=view)


# --- what the templates show ----------------------------------------------------------------

LABELS = {"owner_id": "Owner", "account_id": "Account", "contact_id": "Contact", "parent_id": "Parent account",
          "pipeline_id": "Pipeline", "campaign_id": "Campaign", "email": "E-mail", "email_opt_out": "E-mail opt-out",
          "name": "Name", "due_date": "Due date", "closing_date": "Closing date", "linkedin": "LinkedIn"}
REFS = {"owner_id": "User", "account_id": Account, "contact_id": Contact, "parent_id": Account,
        "pipeline_id": "Pipeline", "campaign_id": "Campaign"}
ACTION_WORDS = {"created": "Created", "merged": "Merged into", "linked": "Linked to", "none": "Not created"}
NOUNS = {"notes": ("note", "notes"), "attachments": ("attachment", "attachments"),
         "activities": ("activity", "activities"), "campaigns": ("campaign membership", "campaign memberships"),
         "tags": ("tag", "tags"), "line_items": ("product line", "product lines"),
         "addresses": ("address", "addresses")}
# Fields a created task or deal gets from the conversion itself: not worth a preview line.
HIDDEN_VALUES = {"kind", "status"}


class view:
    """Display helpers for the conversion templates (labels, values in words, links)."""

    @staticmethod
    def label(entity: str, key: str) -> str:
        if key.startswith("custom."):
            field = next((f for f in custom_fields(db.session, entity) if f.key == key[7:]), None)
            return field.label if field else key[7:]
        return LABELS.get(key) or key.replace("_", " ").capitalize()

    @staticmethod
    def error_label(key: str) -> str:
        entity, _, rest = key.partition(".")
        if not rest:
            return key.replace("_", " ").capitalize()
        if rest in ("action", "id"):
            return f"{entity.capitalize()} choice"
        return f"{entity.capitalize()} · {view.label(entity, rest)}"

    @staticmethod
    def value(key: str, value) -> str:
        """A planned value in words: ids as names, booleans as yes / no, dates ISO."""
        from ..models import Campaign, Pipeline, User

        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return "Yes" if value else "No"
        model = {"User": User, "Pipeline": Pipeline, "Campaign": Campaign}.get(REFS.get(key), REFS.get(key))
        if model is not None and isinstance(value, int):
            record = db.session.get(model, value)
            return getattr(record, "display_name", None) or getattr(record, "name", None) or f"#{value}"
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return str(value)

    @staticmethod
    def shown(values: dict) -> list:
        return [(k, v) for k, v in values.items()
                if k not in HIDDEN_VALUES and v is not False and v not in (None, "")]

    @staticmethod
    def why(p, base) -> str:
        """Why a merged record was picked: the match reason, also when the person kept it."""
        reason = p.reason
        if reason == "chosen" and base is not None:
            reason = next((c.reason for c in base.candidates.get(p.entity, []) if c.id == p.record_id), reason)
        return "your choice" if reason == "chosen" else "matched on " + forms.reason_words(reason, p.entity)

    reason = staticmethod(forms.reason_words)

    @staticmethod
    def moves(plan) -> list[tuple[str, str]]:
        """("3 notes", "the deal, the account (copy)") for the preview (C6, plan.destinations)."""
        out = []
        for what, n in plan.moves.items():
            if not n:
                continue
            places = plan.destinations.get(what) or []
            out.append((view.count(what, n), ", ".join(f"the {p}" for p in places) or "stay on the lead"))
        return out

    @staticmethod
    def count(what: str, n: int) -> str:
        """"3 notes", "1 activity"."""
        word = NOUNS.get(what, (what.replace("_", " "),) * 2)[n != 1]
        return f"{n} {word}"

    @staticmethod
    def produced_links(conversion: Conversion) -> list[dict]:
        """The records a conversion produced, as {type, id, label, action, url} (labels escaped by Jinja)."""
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
            url = record_url(kind, rid) if kind != "task" else None
            if kind == "task":
                parent_url = record_url(record.parent_type, record.parent_id)
                url = parent_url
            out.append({"type": kind, "id": rid, "label": label, "action": action, "url": url})
        return out


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
    preview = None if base else {"plan": None, "errors": error.errors, "message": error.message}
    alert = base.blocked.message if base is not None and base.blocked is not None else None
    return _modal(lead, form, base, preview=preview, alert=alert)


@bp.post("/leads/<int:lead_id>/convert/preview")
@login_required
def preview(lead_id: int):
    """C8.7: what the posted options would do, record by record and field by field."""
    lead = _lead(lead_id)
    refused = _guard(lead)
    if refused is not None:
        return refused
    base, _, form, body, errors = _posted(lead)
    context = {**_preview_of(lead, None if errors else body), "base": base}
    if errors:
        context = {"plan": None, "errors": errors, "message": "Some options are not valid."}
    status = 422 if context["errors"] or context["message"] else 200
    return render("conversions/preview.html", "conversions/_preview.html", status, lead=lead,
                  preview=context, view=view)


@bp.post("/leads/<int:lead_id>/convert")
@login_required
def create(lead_id: int):
    """Convert: one call to the executor, one commit; errors go next to their fields (C7.5)."""
    lead = _lead(lead_id)
    refused = _guard(lead)
    if refused is not None:
        return refused
    base, _, form, body, errors = _posted(lead)
    if errors:
        forms.apply_errors(form, errors)
        return _modal(lead, form, base, 422, preview={"plan": None, "errors": errors,
                                                      "message": "Some options are not valid."})
    try:
        options = ConversionOptions.from_dict(body)
        conversion = executor.apply(db.session, current_user, lead.id, options,
                                    idempotency_key=form.idempotency_key.data or None)
    except AlreadyConverted:
        db.session.rollback()
        return _conflict(db.session.get(Lead, lead.id))
    except ConversionError as e:
        db.session.rollback()
        status = 422 if isinstance(e, RecordNotFound) else e.http_status
        if status == 422:
            forms.apply_errors(form, e.errors)
            return _modal(lead, form, base, 422, preview={**_preview_of(lead, body), "base": base})
        return _modal(lead, form, base, status, preview={**_preview_of(lead, body), "base": base}, alert=e.message)
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
                  records=view.produced_links(conversion), view=view)
