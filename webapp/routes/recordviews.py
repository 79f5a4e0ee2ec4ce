"""The views accounts, contacts and deals share: list, show, new/create, edit/update, lookup.

Each blueprint (accounts.py, contacts.py, deals.py) wires these to its endpoints and adds
what is its own (the context of its detail page, the choices of its pickers).
"""

from __future__ import annotations

from flask import abort, current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import permissions
from ..errors import Invalid
from ..extensions import db
from ..forms.records import with_custom
from ..htmx import redirect, render, vary
from ..i18n import translate
from ..models import RECORD_MODELS, User
from ..services import records as svc
from ..services.custom_values import custom_fields, get_custom
from ..services.records import SORT_LABELS, SORTS
from ..services.tags import get_tags, tags_for
from .errors import on_error


def plural(kind: str) -> str:
    return kind + "s"


def int_arg(name: str) -> int | None:
    """An integer query argument; anything else is ignored (a filter never causes a 500)."""
    return request.args.get(name, type=int)


def list_view(kind: str, filters: dict, **context):
    """The list page, or just its rows for htmx (live search, "Load more")."""
    q = (request.args.get("q") or "").strip()[:200]
    sort = request.args.get("sort")
    sort = sort if sort in SORTS[kind] else svc.DEFAULT_SORT[kind]
    page = svc.list_records(db.session, current_user, kind, q=q, filters=filters, sort=sort,
                            cursor=request.args.get("cursor") or None)
    args = {k: v for k, v in {"q": q, "sort": sort, **filters}.items() if v not in (None, "")}
    next_url = url_for(f"{plural(kind)}.index", **args, cursor=page.next_cursor) if page.next_cursor else None
    owners = db.session.scalars(db.select(User).where(User.active.is_(True)).order_by(User.name)).all()
    return render(
        f"{plural(kind)}/index.html", f"{plural(kind)}/_rows.html",
        page=page, rows=page.items, tags=tags_for(db.session, kind, [r.id for r in page.items]),
        next_url=next_url, args=args, q=q, sort=sort, filters=filters,
        sorts=[(key, translate(SORT_LABELS[key])) for key in SORTS[kind]], owners=owners,
        continued=bool(request.args.get("cursor")), **context,
    )


def get_record(kind: str, record_id: int):
    """The record, or 404; 403 when the actor's role may not see it."""
    obj = db.session.get(RECORD_MODELS[kind], record_id)
    if obj is None:
        abort(404)
    if not permissions.can_view(db.session, current_user, obj):
        abort(403)
    return obj


def show_view(kind: str, obj, **context):
    """The detail page: the record, its tags, custom values, timeline and activity panel."""
    fields = {f.key: f for f in custom_fields(db.session, kind)}
    values = get_custom(db.session, kind, obj.id)
    return vary(current_app.make_response(render_template(
        f"{plural(kind)}/show.html", kind=kind, record=obj, **{kind: obj},
        tags=get_tags(db.session, kind, obj.id),
        custom=[(fields[k], v) for k, v in values.items() if k in fields and v not in (None, "")],
        events=svc.timeline(db.session, kind, obj.id),
        can_edit=permissions.can_edit(db.session, current_user, obj),
        has_activity_panel="activities.panel" in current_app.view_functions,
        **context,
    )))


def new_form(form_cls):
    """A blank form for a new record, owned by the actor unless they choose someone else."""
    form = with_custom(form_cls)
    form.owner_id.data = str(current_user.id)
    return form


def form_page(kind: str, form, obj=None, status: int = 200):
    """The create/edit page (422 with errors next to the fields)."""
    return render_template(f"{plural(kind)}/form.html", form=form, record=obj, kind=kind,
                           **({kind: obj} if obj is not None else {})), status


def require_create(kind: str) -> None:
    if not permissions.can_create(current_user, kind):
        abort(403, translate(svc.CANNOT_CREATE[kind]))


def require_edit(obj) -> None:
    if not permissions.can_edit(db.session, current_user, obj):
        abort(403, _("You may not edit this record."))


def save(kind: str, form, fill, obj=None):
    """Call the service with the posted form: one state change, one commit. On bad input: the
    form again with every error next to its field (422), nothing written."""
    fill(form, obj)  # widgets only (CSRFProtect checked the token): the service judges values

    def show_errors(e):
        form.apply_errors(e.errors)
        return form_page(kind, form, obj, 422)

    on_error(Invalid, show_errors)
    if obj is None:
        obj = svc.create(db.session, current_user, kind, form.to_data())
    else:
        svc.update(db.session, current_user, obj, form.to_data())
    db.session.commit()
    flash(_saved(kind, obj.display_name), "success")
    return redirect(url_for(f"{plural(kind)}.show", **{f"{kind}_id": obj.id}))


def _saved(kind: str, name: str) -> str:
    """The flash after a save, one sentence per kind (its words agree with the kind's gender)."""
    if kind == "account":
        return _("Account “%(name)s” saved.", name=name)
    if kind == "contact":
        return _("Contact “%(name)s” saved.", name=name)
    return _("Deal “%(name)s” saved.", name=name)


def options(items, selected: int | None = None, blank: str | None = None):
    """(value, label) choices for a picker: a blank ("— None —" unless told), then the records."""
    choices = [("", _("— None —") if blank is None else blank)]
    seen = set()
    for item in items:
        if item is not None and item.id not in seen:
            seen.add(item.id)
            choices.append((str(item.id), item.display_name))
    return choices


def picker_choices(kind: str, current=None, exclude: int | None = None):
    """The current record first, then a few others by name."""
    found = svc.lookup(db.session, current_user, kind, None)
    return options([current, *[r for r in found if r.id != exclude]])


def lookup_view(kind: str, exclude: int | None = None):
    """<option>s matching ?q= for a picker's search box (htmx)."""
    found = [r for r in svc.lookup(db.session, current_user, kind, request.args.get("q"))
             if r.id != exclude]
    return vary(current_app.make_response(render_template(
        "macros/_options.html", choices=options(found)[1:], blank=_("— None —"),
        select_first=bool((request.args.get("q") or "").strip()))))
