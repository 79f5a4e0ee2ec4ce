"""Form pieces shared by every form: inputs sized and typed from the field layer, choices.

Forms are widgets and labels only: they never judge a value. The services check every
value through webapp/fields.py and raise errors.Invalid; `apply_errors` puts each reason
next to its field, so a form, the API and the conversion say the same thing.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from .. import permissions
from ..errors import N_, Problem, Text
from ..extensions import db
from ..fields import FieldSpec, custom_spec, model_specs
from ..i18n import _l, parse_locale_decimal, translate
from ..models import User
from ..services.leads import lead_statuses

# The HTML input of each kind (the browser's own hints; the server decides).
_INPUT_TYPES = {"email": "email", "phone": "tel", "url": "text", "date": "date", "number": "text",
                "decimal": "text"}
_INPUT_MODES = {"number": "numeric", "decimal": "decimal", "url": "url"}
# Kinds typed as numbers: read the locale's way ("12 000,50" in French) before the service.
_NUMBER_KINDS = ("number", "decimal")

# Salutations are stored as typed (the English abbreviations); the choices show them translated.
SALUTATIONS = {"Mr.": _l("Mr."), "Ms.": _l("Ms."), "Mrs.": _l("Mrs."), "Dr.": _l("Dr."), "Prof.": _l("Prof.")}


def locale_decimal(value):
    """A WTForms filter: a number typed in the reader's locale ("12,5", "12 000,50" in French)
    as the plain text the field layer reads ("12.5", "12000.50"); a point always works too.
    Text it cannot read stays as typed, for the service to refuse with its reason. HTML forms
    only: the JSON API takes strict JSON numbers."""
    if isinstance(value, str) and value.strip():
        return parse_locale_decimal(value)
    return value


def _render_kw(spec: FieldSpec, **kw) -> dict:
    out = {"type": _INPUT_TYPES.get(spec.kind, "text")}
    if spec.kind in _INPUT_MODES:
        out["inputmode"] = _INPUT_MODES[spec.kind]
    if spec.length and spec.kind in ("text", "email", "phone", "url", "textarea"):
        out["maxlength"] = spec.length
    return {**out, **kw}


class Required:
    """Only flags a field as required (asterisk, required attribute): the service says why."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        return None


def input_for(spec: FieldSpec, label: str, *, required: bool = False, **render_kw):
    """The input for one field: a text box, a text area or a checkbox — never a validator."""
    flags = [Required()] if required or spec.required else []
    if spec.kind == "checkbox":
        return BooleanField(label, render_kw=render_kw or None)
    if spec.kind == "textarea":
        return TextAreaField(label, flags, render_kw={"rows": 4, **_render_kw(spec, **render_kw)})
    if spec.kind == "picklist":
        return SelectField(label, flags, choices=as_choices([("", "—")] + [(o, o) for o in spec.options]),
                           validate_choice=False)
    filters = [locale_decimal] if spec.kind in _NUMBER_KINDS else []
    return StringField(label, flags, filters=filters, render_kw=_render_kw(spec, **render_kw))


def column_input(model, name: str, label: str, **kw):
    """The input of a model column, sized and typed by the column's FieldSpec."""
    return input_for(model_specs(model)[name], label, **kw)


def choice(label: str, *, required: bool = False, **kw) -> SelectField:
    """A select whose value the service checks (any posted value reaches it)."""
    return SelectField(label, [Required()] if required else [], validate_choice=False, **kw)


def custom_input(definition):
    """The input of a custom field definition."""
    return input_for(custom_spec(definition), definition.label)


def strip_filter(value):
    """Trim text input; empty becomes None (for the few forms with no service field behind them)."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def as_choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms 3.3 select choices."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def with_current(pairs, current) -> list[SelectChoice]:
    """Choices, keeping a stored value selectable even when the list no longer offers it."""
    pairs = list(pairs)
    if current not in (None, "") and str(current) not in {str(v) for v, _ in pairs}:
        pairs.append((str(current), str(current)))
    return as_choices(pairs)


def salutation_choices(current: str | None = None) -> list[SelectChoice]:
    """The salutations (translated labels, English values), keeping a stored other one."""
    return with_current([("", "—"), *SALUTATIONS.items()], current)


def status_choices() -> list[tuple[str, str]]:
    """The statuses a person may pick, labels in the reader's language (request time)."""
    return [(s.key, translate(s.label)) for s in lead_statuses(db.session) if s.category != "converted"]


def owner_choices(blank: str | None = None) -> list[tuple[str, str]]:
    """Every active user (a filter: who owns what, not who may be assigned)."""
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name))
    choices = [(str(u.id), u.display_name) for u in users]
    return ([("", blank)] if blank is not None else []) + choices


def owner_choices_for(actor: User, current_id: int | None = None, blank: str | None = None) -> list[SelectChoice]:
    """Users `actor` may assign a record to (permissions.assignable_owners_clause), plus the
    current owner, kept as is."""
    query = (select(User).where(permissions.assignable_owners_clause(db.session, actor))
             .order_by(User.name, User.id))
    choices = [(str(u.id), u.display_name) for u in db.session.scalars(query)]
    if current_id is not None and str(current_id) not in {c[0] for c in choices}:
        current = db.session.get(User, current_id)
        if current is not None:
            choices.append((str(current.id), current.display_name))
    return as_choices(([("", blank)] if blank is not None else []) + choices)


def _as_shown(target, reason):
    """A "must be one of: new, contacted" next to a select names the options as the select
    shows them ("Nouveau, Contacté"), not by their codes; any other reason as it is."""
    choices = getattr(target, "choices", None)
    if getattr(reason, "code", None) != "not_choice" or not choices:
        return reason
    labels = {str(c.value): str(c.label) for c in choices if isinstance(c, SelectChoice)}
    codes = str(reason.params.get("choices", "")).split(", ")
    if not all(code in labels for code in codes):
        return reason
    return Problem(reason.code, reason.template, **{**reason.params, "choices": ", ".join(labels[c] for c in codes)})


class EditForm(FlaskForm):
    """Base of the edit forms: `to_data()` gives the service its raw values, `apply_errors()`
    shows the service's refusal."""

    def apply_errors(self, errors: dict[str, list[str]]) -> None:
        """Put each reason next to its field ("custom.vat" -> the input cf_vat), as a sentence
        with the field's label; reasons of fields without an input go to the form's errors."""
        for key, reasons in errors.items():
            name = "cf_" + key.split(".", 1)[1] if key.startswith("custom.") else key
            target = self[name] if name in self else None
            label = key.replace("_", " ").capitalize() if target is None else target.label.text
            sentences = [translate(Text(N_("{label} {reason}."), label=label, reason=_as_shown(target, r)))
                         for r in reasons]
            if target is None:
                self.form_errors.extend(sentences)
            else:
                target.errors = [*target.errors, *sentences]

    def custom_names(self) -> list[str]:
        return [f.name for f in self if f.name.startswith("cf_")]

    def custom_data(self) -> dict:
        return {name[3:]: self[name].data for name in self.custom_names()}
