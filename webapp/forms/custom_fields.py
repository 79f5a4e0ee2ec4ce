"""The admin custom fields page's forms (widgets only: services.custom_fields judges every value).

One form creates a field (on the entity of the page's tab) and edits one; `to_data()` gives the
service what the chosen type takes (a length for the text types, options — one a line — for a
picklist), so that an input the type does not show is never judged."""

from __future__ import annotations

from wtforms import BooleanField, TextAreaField

from ..i18n import _l, translate
from ..models import FIELD_TYPES, CustomField
from ..services.custom_fields import KEY_MAX, LENGTH_TYPES, TYPE_LABELS, length_spec
from .common import EditForm, as_choices, choice, column_input, input_for

COUNTERPARTS = ("contact", "account", "deal")


class CustomFieldForm(EditForm):
    label = column_input(CustomField, "label", _l("Label"), required=True)
    key = column_input(CustomField, "key", _l("Key (optional)"), autocomplete="off", spellcheck="false",
                       maxlength=KEY_MAX)
    type = choice(_l("Type"), required=True)
    length = input_for(length_spec("textarea"), _l("Length (characters)"), size=6)
    options = TextAreaField(_l("Options"), render_kw={"rows": 5},
                            description=_l("One a line, in the order the list shows them."))
    required = BooleanField(_l("Required"), description=_l("New edits must fill it; a lead converts only once it "
                                                           "is filled."))
    unique = BooleanField(_l("Unique"), description=_l("Used to find duplicates when converting leads."))
    carry_over = BooleanField(_l("Carry over on conversion"),
                              description=_l("Its value goes to the field with the same key on the account, contact "
                                             "or deal."))
    also_contact = BooleanField(_l("Also create it on contacts and map it"))
    also_account = BooleanField(_l("Also create it on accounts and map it"))
    also_deal = BooleanField(_l("Also create it on deals and map it"))

    def setup(self) -> CustomFieldForm:
        self.type.choices = as_choices((t, translate(TYPE_LABELS[t])) for t in FIELD_TYPES)
        if not self.type.data:
            self.type.data = "text"
        return self

    def to_data(self, entity: str, *, creating: bool) -> dict:
        """The service's body: what the chosen type takes, the lead-only parts for a lead field."""
        field_type = self.type.data
        data = {"label": self.label.data, "type": field_type, "required": self.required.data,
                "unique": self.unique.data}
        if creating:
            data["entity"] = entity
            data["key"] = self.key.data
        if field_type in LENGTH_TYPES:
            data["length"] = self.length.data
        if field_type == "picklist":
            data["options"] = self.options.data or ""
        if entity == "lead":
            data["carry_over"] = self.carry_over.data
            if creating:
                data["counterparts"] = [e for e in COUNTERPARTS if self[f"also_{e}"].data]
        return data

    def apply_errors(self, errors: dict) -> None:
        """As EditForm's, an option's reason ("options.2") next to the options' text area."""
        merged: dict = {}
        for key, reasons in errors.items():
            merged.setdefault("options" if key.startswith("options.") else key, []).extend(reasons)
        super().apply_errors(merged)

    def apply_sentences(self, errors: dict) -> None:
        """A Conflict's reasons (whole sentences: "12 leads hold a value longer than 20
        characters") next to their fields, as they are."""
        for key, reasons in errors.items():
            name = key.split(".", 1)[0]
            target = self[name] if name in self else None
            sentences = [translate(r) for r in reasons]
            if target is None:
                self.form_errors.extend(sentences)
            else:
                target.errors = [*target.errors, *sentences]


def edit_form(field: CustomField, *, posted: bool = False) -> CustomFieldForm:
    """The form of an existing field: its saved values, or (`posted`) the request's."""
    data = {"label": field.label, "key": field.key, "type": field.type, "length": str(field.length or ""),
            "options": "\n".join(field.options or []), "required": field.required, "unique": field.unique,
            "carry_over": field.carry_over}
    form = CustomFieldForm(data=data) if posted else CustomFieldForm(formdata=None, data=data)
    return form.setup()
