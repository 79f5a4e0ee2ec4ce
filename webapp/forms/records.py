"""Form pieces shared by the account, contact and deal forms: text fields sized from the model
columns, record pickers, owner choices, custom fields, and form <-> service data."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from ..extensions import db
from ..records import custom_fields, get_custom, get_tags
from .common import Tags, owner_choices, split_tags, strip_filter


def maxlen(column) -> Length:
    """A Length validator with the column's own size (one source of truth: the model)."""
    return Length(max=column.type.length, message=f"At most {column.type.length} characters.")


def text(label: str, column, *validators, required: bool = False, area: bool = False, **kw):
    """A trimmed text field limited to the column size; empty becomes None."""
    first = [InputRequired(message="This field is required.")] if required else [Optional()]
    sized = [maxlen(column)] if getattr(column.type, "length", None) else []
    cls = TextAreaField if area else StringField
    return cls(label, [*first, *sized, *validators], filters=[strip_filter], **kw)


def as_choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices (tuples are deprecated in WTForms 3.3)."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def add_choice(field, value) -> None:
    """Keep a value written elsewhere (a conversion, the API) selectable in the form."""
    if value and str(value) not in {c.value for c in field.choices}:
        field.choices.append(SelectChoice(str(value), str(value)))


def _int_or_none(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class RefField(SelectField):
    """A record picker (a select filled with the current value and a few matches; a search box
    beside it reloads the options). Any id is accepted here; the service says if it is unknown."""

    def __init__(self, label=None, validators=None, **kw):
        super().__init__(label, validators, coerce=_int_or_none, validate_choice=False, **kw)

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = _int_or_none(valuelist[0])
            except ValueError:
                self.data = None
                raise ValueError("Choose a record from the list.") from None


class OwnerField(SelectField):
    """An active user; left out, the service keeps the owner (or makes the actor the owner)."""

    def __init__(self, label="Owner", validators=None, **kw):
        super().__init__(label, validators, coerce=_int_or_none, validate_choice=True, **kw)

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Choose an owner from the list.") from None

    def pre_validate(self, form):
        if self.data is None:
            return
        if str(self.data) not in {c.value for c in self.choices}:
            raise ValidationError("Choose an active user as the owner.")


def owner_field(label: str = "Owner") -> SelectField:
    return OwnerField(label)


def tags_field() -> StringField:
    return StringField("Tags", [Tags()], description="Comma-separated, e.g. vip, partner")


class RecordForm(FlaskForm):
    """Base of the record forms: owner and tags; custom fields are added per entity."""

    owner_id = owner_field()
    tags = tags_field()

    kind: str = ""
    fields: tuple[str, ...] = ()

    def fill_choices(self, refs: dict[str, list[tuple[str, str]]] | None = None) -> None:
        """Choices that come from the database (owners, pickers)."""
        self.owner_id.choices = as_choices(owner_choices())
        for name, choices in (refs or {}).items():
            self[name].choices = as_choices(choices)

    def load(self, obj) -> None:
        """Initial tags and custom values of an existing record (the columns come from obj=)."""
        self.tags.data = ", ".join(get_tags(db.session, self.kind, obj.id))
        for key, value in get_custom(db.session, self.kind, obj.id).items():
            if f"cf_{key}" in self:
                self[f"cf_{key}"].data = value

    def to_data(self) -> dict:
        """The service's data dict, named as in api.md."""
        data = {name: self[name].data for name in self.fields}
        if data.get("owner_id") is None:
            data.pop("owner_id", None)
        data["tags"] = split_tags(self.tags.data)
        data["custom"] = {name[3:]: self[name].data for name in self.custom_names()}
        return data

    def custom_names(self) -> list[str]:
        return [f.name for f in self if f.name.startswith("cf_")]

    def apply_errors(self, errors: dict[str, list[str]]) -> None:
        """Put the service's errors next to their fields."""
        for key, reasons in errors.items():
            name = "cf_" + key.split(".", 1)[1] if key.startswith("custom.") else key
            target = self[name] if name in self else None
            messages = [r[0].upper() + r[1:] + ("" if r.endswith(".") else ".") for r in reasons]
            if target is None:
                self.form_errors.extend(messages)
            else:
                target.errors = list(target.errors) + messages


def _custom_field(field):
    label = field.label
    validators = [InputRequired(message="This field is required.")] if field.required and field.type != "checkbox" else [Optional()]
    if field.type == "checkbox":
        return BooleanField(label)
    if field.type == "textarea":
        return TextAreaField(label, validators, filters=[strip_filter])
    if field.type == "picklist":
        return SelectField(label, validators, choices=as_choices([("", "—")] + [(o, o) for o in field.options or []]),
                           validate_choice=False, filters=[strip_filter])
    types = {"number": "number", "decimal": "text", "date": "date", "email": "email",
             "phone": "tel", "url": "url"}
    render_kw = {"type": types.get(field.type, "text")}
    if field.type == "decimal":
        render_kw["inputmode"] = "decimal"
    return StringField(label, validators, filters=[strip_filter], render_kw=render_kw)


def with_custom(form_cls: type[RecordForm], **kw) -> RecordForm:
    """An instance of form_cls with one field per custom field of its entity (cf_<key>)."""
    extra = {f"cf_{f.key}": _custom_field(f) for f in custom_fields(db.session, form_cls.kind)}
    cls = type(form_cls.__name__, (form_cls,), extra) if extra else form_cls
    return cls(**kw)
