"""Lead statuses (issue 10 item 4): the ordered table with inline rename, category, move up /
down and the add form — each an htmx post answered with the refreshed panel (or, without
JavaScript, a redirect back) — and the delete step, a page of its own that offers to move the
status's leads. services.statuses judges and audits every change; one commit per request."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, Invalid, Text
from ...extensions import db
from ...forms.common import as_choices
from ...forms.statuses import CATEGORY_LABELS, AddStatusForm, DeleteStatusForm
from ...htmx import is_htmx, redirect, render
from ...i18n import translate
from ...services import statuses as svc
from ..errors import on_error
from . import bp

PAGE, PANEL = "admin/statuses.html", "admin/_statuses.html"
_SLOT = "zzkeyzz"  # a status key no status has: url_for once per page, the key put in per row


def _row_urls() -> dict[str, str]:
    """Each row's form URLs as format strings ({key}): 50 rows need 250 URLs, built in 5 calls."""
    return {name: url_for(f"admin.statuses_{name}", key=_SLOT).replace(_SLOT, "{key}")
            for name in ("rename", "category", "move", "delete")}


def _row_words() -> dict[str, str]:
    """The rows' sentences, looked up once per page (format strings with %(label)s)."""
    return {"label_of": _("Label of “%(label)s”"), "category_of": _("Category of “%(label)s”"),
            "up": _("Move “%(label)s” up"), "down": _("Move “%(label)s” down"),
            "shown_as": _("Shown in your language as “%(label)s”.")}


def _commit() -> None:
    """The one commit; a key taken by a concurrent request (after the service's check) is a 409."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(Text("This change conflicts with another one saved at the same time; nothing was "
                            "saved. Reload the page and try again.")) from None


def _panel(status: int = 200, *, form: AddStatusForm | None = None, row: str | None = None,
           row_errors: dict | None = None, typed: str | None = None, notice: str | None = None,
           message: str | None = None):
    """The page, or the panel (htmx): every status in order with its number of leads."""
    order = svc.ordered(db.session)
    return render(PAGE, PANEL, status, statuses=order, counts=svc.lead_numbers(db.session),
                  form=form or AddStatusForm(formdata=None, prefix="add").setup(), row=row, row_errors=row_errors or {},
                  typed=typed, notice=notice, message=message, categories=CATEGORY_LABELS,
                  label_max=svc.LABEL_MAX, system=svc.CONVERTED, translated=translate, urls=_row_urls(),
                  words=_row_words())


def _done(message: str):
    """After a change: the refreshed panel saying what was done (htmx), else back to the page."""
    if is_htmx():
        return _panel(message=message)
    flash(message, "success")
    return redirect(url_for("admin.statuses"))


def _refusals(row: str | None = None, typed: str | None = None) -> None:
    """A refusal shows in the panel: bad values next to the row's field (422), conflicts above
    the table (409)."""
    def invalid(e):
        if row is None:
            return _panel(422, notice=translate(e.message))
        return _panel(422, row=row, typed=typed,
                      row_errors={k: [translate(m) for m in v] for k, v in e.errors.items()})

    on_error(Invalid, invalid)
    on_error(Conflict, lambda e: _panel(409, notice=translate(e.message)))


@bp.get("/statuses")
def statuses():
    """Every lead status in its order (the board's and the filters'), with the add form."""
    return _panel()


@bp.post("/statuses")
def statuses_create():
    form = AddStatusForm(prefix="add").setup()

    def invalid(e):
        form.apply_errors(e.errors)
        return _panel(422, form=form)

    on_error(Invalid, invalid)
    on_error(Conflict, lambda e: _panel(409, form=form, notice=translate(e.message)))
    status = svc.add_status(db.session, current_user, form.to_data())
    _commit()
    return _done(_("Status “%(label)s” added (key %(key)s).", label=status.label, key=status.key))


@bp.post("/statuses/<key>/label")
def statuses_rename(key: str):
    status = svc.get_status(db.session, key)
    typed = request.form.get("label", "")
    _refusals(status.key, typed)
    old = translate(status.label)
    changed = svc.rename_status(db.session, current_user, status, typed)
    _commit()
    if not changed:
        return _done(_("“%(label)s” is unchanged.", label=translate(status.label)))
    return _done(_("“%(old)s” renamed “%(label)s”.", old=old, label=status.label))


@bp.post("/statuses/<key>/category")
def statuses_category(key: str):
    status = svc.get_status(db.session, key)
    _refusals(status.key)
    changed = svc.set_category(db.session, current_user, status, request.form.get("category", ""))
    _commit()
    label = translate(status.label)
    if not changed:
        return _done(_("“%(label)s” is unchanged.", label=label))
    if status.category == "closed":
        return _done(_("“%(label)s” is now a closed status: its leads leave the board’s open columns.",
                       label=label))
    return _done(_("“%(label)s” is now an open status.", label=label))


@bp.post("/statuses/<key>/move")
def statuses_move(key: str):
    status = svc.get_status(db.session, key)
    _refusals()
    direction = request.form.get("direction", "")
    moved = svc.move_status(db.session, current_user, status, direction)
    _commit()
    label = translate(status.label)
    if not moved:
        return _done(_("“%(label)s” is first of its category already.", label=label) if direction == "up"
                     else _("“%(label)s” is last of its category already.", label=label))
    return _done(_("“%(label)s” moved to place %(n)s.", label=label, n=status.position + 1))


def _delete_page(status, form: DeleteStatusForm | None = None, code: int = 200, notice: str | None = None):
    """The delete step: what blocks it, or how many leads it has and where they may go."""
    order = svc.ordered(db.session)
    blocker = svc.delete_blocker(db.session, status, order)
    targets = svc.move_targets(order, status)
    form = form or DeleteStatusForm(formdata=None)
    form.move_to.choices = as_choices([("", _("— Choose a status —"))]
                                      + [(s.key, translate(s.label)) for s in targets])
    count = svc.leads_with(db.session, status.key)
    return render("admin/status_delete.html", "admin/status_delete.html", code, item=status, form=form,
                  blocker=translate(blocker.message) if blocker else None,
                  rules=svc.rules_on(db.session, status.key) if blocker else [], count=count, notice=notice)


@bp.get("/statuses/<key>/delete")
def statuses_delete(key: str):
    return _delete_page(svc.get_status(db.session, key))


@bp.post("/statuses/<key>/delete")
def statuses_destroy(key: str):
    status = svc.get_status(db.session, key)
    form = DeleteStatusForm()

    def invalid(e):
        form.apply_errors(e.errors)
        return _delete_page(status, form, 422)

    on_error(Invalid, invalid)
    on_error(Conflict, lambda e: _delete_page(status, form, 409, notice=translate(e.message)))
    label = translate(status.label)
    move_to = form.to_data()["move_to"]
    moved = svc.delete_status(db.session, current_user, status, move_to)
    _commit()
    if moved:
        target = translate(db.session.get(type(status), move_to).label)
        flash(ngettext("Status “%(label)s” deleted; its %(num)d lead moved to “%(target)s”.",
                       "Status “%(label)s” deleted; its %(num)d leads moved to “%(target)s”.",
                       moved, label=label, target=target), "success")
    else:
        flash(_("Status “%(label)s” deleted.", label=label), "success")
    return redirect(url_for("admin.statuses"))
