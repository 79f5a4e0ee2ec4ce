"""What the account, contact and deal forms share: record pickers, owner, tags, custom fields.

Widgets only (see forms/common.py): the services check the values."""

from __future__ import annotations

from wtforms import SelectField, StringField

from ..extensions import db
from ..i18n import _l
from ..services.custom_values import custom_fields, get_custom
from ..services.tags import get_tags
from .common import EditForm, as_choices, custom_input, owner_choices_for


def add_choice(field, value) -> None:
    """Keep a value written elsewhere (a conversion, the API) selectable in the form."""
    if value and str(value) not in {c.value for c in field.choices}:
        field.choices.append(as_choices([(value, value)])[0])


class RefField(SelectField):
    """A record picker (a select filled with the current value and a few matches; a search box
    beside it reloads the options). The posted id goes to the service as it is."""

    def __init__(self, label=None, validators=None, **kw):
        super().__init__(label, validators, validate_choice=False, **kw)

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = valuelist[0] or None

    def process_data(self, value):
        # An id from the record or the route (an int) is shown selected like a posted one.
        self.data = None if value in (None, "") else str(value)

    @property
    def ident(self) -> int | None:
        """The chosen id when it is one (to show the chosen record back), else None."""
        value = str(self.data or "")
        return int(value) if value.isdigit() and 0 < int(value) < 2**31 else None


def owner_field(label=None) -> SelectField:
    return RefField(label or _l("Owner"))


def tags_field() -> StringField:
    return StringField(_l("Tags"), description=_l("Comma-separated, e.g. vip, partner"))


class RecordForm(EditForm):
    """Base of the record forms: owner and tags; custom fields are added per entity."""

    owner_id = owner_field()
    tags = tags_field()

    kind: str = ""
    fields: tuple[str, ...] = ()

    def fill_choices(self, actor, refs: dict[str, list[tuple[str, str]]] | None = None, obj=None) -> None:
        """Choices that come from the database (owners `actor` may assign, pickers)."""
        self.owner_id.choices = owner_choices_for(actor, getattr(obj, "owner_id", None))
        if self.owner_id.data is None and obj is None:
            self.owner_id.data = str(actor.id)
        for name, choices in (refs or {}).items():
            self[name].choices = as_choices(choices)

    def load(self, obj) -> None:
        """Initial tags and custom values of an existing record (the columns come from obj=)."""
        self.tags.data = ", ".join(get_tags(db.session, self.kind, obj.id))
        for key, value in get_custom(db.session, self.kind, obj.id).items():
            if f"cf_{key}" in self:
                self[f"cf_{key}"].data = value

    def to_data(self) -> dict:
        """The service's data dict, named as in api.md, values as posted."""
        data = {name: self[name].data for name in self.fields}
        if not data.get("owner_id"):
            data.pop("owner_id", None)
        data["tags"] = self.tags.data or ""
        data["custom"] = self.custom_data()
        return data


def with_custom(form_cls: type[RecordForm], **kw) -> RecordForm:
    """An instance of form_cls with one field per custom field of its entity (cf_<key>)."""
    extra = {f"cf_{f.key}": custom_input(f) for f in custom_fields(db.session, form_cls.kind)}
    cls = type(form_cls.__name__, (form_cls,), extra) if extra else form_cls
    return cls(**kw)
