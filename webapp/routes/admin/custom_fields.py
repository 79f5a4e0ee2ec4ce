"""Custom fields (issue 10 item 2): a tab per entity (lead, account, contact, deal) with its fields
in form order (label, key, type, flags; a lead field's mapping targets), keyset pages of
PAGE_SIZE, move up / down, the create form (on a lead: "also create it on contacts / accounts /
deals and map it", C3.3), the edit page, and the delete step: a page saying what the field holds
(records with a value, the conversion mapping's pairs) before its confirmation.

Each change is one services.custom_fields call and one commit. With htmx the panel (tabs, table,
create form) is swapped; without JavaScript the forms post and come back (303). A refusal shows
the posted form again with each reason next to its field: 422 bad values, 409 values that do not
fit the change (how many records hold what). The page costs a few queries whatever the number
of fields: the counts per entity, one page of fields, the mapping."""

from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, DomainError, Invalid, Text
from ...extensions import db
from ...forms.custom_fields import CustomFieldForm, edit_form
from ...htmx import is_htmx, redirect, render
from ...i18n import _l, translate
from ...models import ENTITIES
from ...services import custom_fields as svc
from ..errors import on_error
from . import bp
from .jobs import _int_arg

PAGE_SIZE = 50
PAGE, PANEL = "admin/custom_fields.html", "admin/_custom_fields.html"
EDIT_PAGE, EDIT_PANEL = "admin/custom_field_edit.html", "admin/_custom_field_edit.html"
TABS = {"lead": _l("Leads"), "account": _l("Accounts"), "contact": _l("Contacts"), "deal": _l("Deals")}
CONCURRENT = Text("This change conflicts with another change to the custom fields saved at the same time; "
                  "nothing was saved.")


def _entity() -> str:
    entity = request.args.get("entity") or "lead"
    if entity not in ENTITIES:
        abort(404)
    return entity


def _save(write):
    """write() (the service call), then the one commit; a key taken meanwhile by a concurrent
    request (the unique index, at the service's flush or at the commit) is a 409."""
    try:
        result = write()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(CONCURRENT) from None
    return result


def _panel(entity: str, status: int = 200, *, form: CustomFieldForm | None = None, message: str | None = None,
           notice: str | None = None):
    """The page, or its panel (htmx): the tabs, a page of the entity's fields, the create form."""
    after = _int_arg("after")
    fields, more = svc.page(db.session, entity, after, PAGE_SIZE)
    return render(PAGE, PANEL, status, entity=entity, tabs=TABS, counts=svc.counts(db.session), fields=fields,
                  after=after, more=more, first=(fields[0].position if fields else 0),
                  mapped=svc.mapped_targets(db.session) if entity == "lead" else {},
                  form=form or CustomFieldForm(formdata=None).setup(), message=message, notice=notice,
                  type_labels={k: translate(v) for k, v in svc.TYPE_LABELS.items()}, length_types=svc.LENGTH_TYPES,
                  mapped_words={e: _("Mapped to %(entity)s", entity=str(TABS[e]).lower()) for e in ENTITIES},
                  nouns=TABS, row_urls={"move": _per_id("admin.custom_fields_move", after=after),
                                        "edit": _per_id("admin.custom_fields_edit"),
                                        "delete": _per_id("admin.custom_fields_delete")})


_ID_SLOT = 987654321


def _per_id(endpoint: str, **args) -> str:
    """url_for(endpoint, field_id=...) as a format string with {} for the id: built once for the
    page's rows (a str.format costs a tenth of werkzeug's URL builder)."""
    url = url_for(endpoint, field_id=_ID_SLOT, **args)
    return url.replace("{", "{{").replace("}", "}}").replace(str(_ID_SLOT), "{}")


def _done(entity: str, message: str):
    if is_htmx():
        return _panel(entity, message=message)
    flash(message, "success")
    return redirect(url_for("admin.custom_fields", entity=entity, after=_int_arg("after")))


def _type_word(field) -> str:
    return translate(svc.TYPE_LABELS[field.type])


# ---------------------------------------------------------------- the list and the create form


@bp.get("/custom-fields")
def custom_fields():
    """One entity's custom fields in form order (?entity=, default lead; ?after= a field id)."""
    return _panel(_entity())


@bp.post("/custom-fields")
def custom_fields_create():
    entity = _entity()
    form = CustomFieldForm().setup()

    def refused(e: DomainError):
        if isinstance(e, Invalid):
            form.apply_errors(e.errors)
        else:
            form.apply_sentences(e.errors)
        notice = None if e.errors and isinstance(e, Invalid) else translate(e.message)
        return _panel(entity, e.status, form=form, notice=notice)

    on_error(DomainError, refused)
    data = form.to_data(entity, creating=True)
    field = _save(lambda: svc.create(db.session, current_user, data))
    made = data.get("counterparts") or []
    if made:
        message = _("Field “%(label)s” created on leads, and on %(others)s, where the conversion maps it.",
                    label=field.label, others=", ".join(translate(svc.PLURAL_NOUNS[e]) for e in made))
    else:
        message = _("Field “%(label)s” created.", label=field.label)
    return _done(entity, message)


@bp.post("/custom-fields/<int:field_id>/move")
def custom_fields_move(field_id: int):
    """direction=up|down: one place (keyboard reordering; the pressed button keeps its id)."""
    field = svc.get_field(db.session, field_id)
    offset = {"up": -1, "down": 1}.get(request.form.get("direction", ""), 0)
    _save(lambda: svc.move(db.session, current_user, field, offset))
    return _done(field.entity, _("“%(label)s” is now at place %(place)s.", label=field.label, place=field.position + 1))


# ---------------------------------------------------------------- edit


def _edit(field, form: CustomFieldForm, status: int = 200, notice: str | None = None):
    return render(EDIT_PAGE, EDIT_PANEL, status, field=field, form=form, notice=notice, nouns=TABS,
                  count=svc.value_count(db.session, field), length_types=svc.LENGTH_TYPES,
                  type_word=_type_word(field))


@bp.get("/custom-fields/<int:field_id>/edit")
def custom_fields_edit(field_id: int):
    field = svc.get_field(db.session, field_id)
    return _edit(field, edit_form(field))


@bp.post("/custom-fields/<int:field_id>/edit")
def custom_fields_update(field_id: int):
    field = svc.get_field(db.session, field_id)
    form = edit_form(field, posted=True)

    def refused(e: DomainError):
        db.session.expire_all()
        if isinstance(e, Invalid):
            form.apply_errors(e.errors)
        else:
            form.apply_sentences(e.errors)
        notice = None if e.errors and isinstance(e, Invalid) else translate(e.message)
        return _edit(svc.get_field(db.session, field_id), form, e.status, notice)

    on_error(DomainError, refused)
    data = form.to_data(field.entity, creating=False)
    _save(lambda: svc.update_field(db.session, current_user, field, data))
    flash(_("Field “%(label)s” saved.", label=field.label), "success")
    return redirect(url_for("admin.custom_fields", entity=field.entity))


# ---------------------------------------------------------------- delete


def _delete_page(field, status: int = 200, notice: str | None = None):
    held = svc.holdings(db.session, field)
    return render("admin/custom_field_delete.html", "admin/_custom_field_delete.html", status, field=field,
                  held=held, notice=notice, noun=translate(TABS[field.entity]).lower(),
                  records=translate(svc.records(field.entity, held.values)), type_word=_type_word(field))


@bp.get("/custom-fields/<int:field_id>/delete")
def custom_fields_delete(field_id: int):
    """What the field holds, and the confirmation."""
    return _delete_page(svc.get_field(db.session, field_id))


@bp.post("/custom-fields/<int:field_id>/delete")
def custom_fields_destroy(field_id: int):
    field = svc.get_field(db.session, field_id)
    entity, label = field.entity, field.label
    on_error(Conflict, lambda e: _delete_page(svc.get_field(db.session, field_id), 409, translate(e.message)))
    confirm = request.form.get("confirm") == "1"
    held = _save(lambda: svc.delete_field(db.session, current_user, field, confirm=confirm))
    if held.values:
        message = ngettext("Field “%(label)s” deleted, with its value on %(num)d record.",
                           "Field “%(label)s” deleted, with its values on %(num)d records.", held.values,
                           label=label)
    else:
        message = _("Field “%(label)s” deleted.", label=label)
    flash(message, "success")
    return redirect(url_for("admin.custom_fields", entity=entity))
