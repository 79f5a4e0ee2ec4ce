"""The activity panel on any record (lead, account, contact, deal): notes, tasks, attachments,
and the record's timeline. Self-contained: other pages lazy-load it with hx-trigger="load"."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BuildError
from werkzeug.utils import secure_filename
from wtforms.fields.core import UnboundField

from .. import permissions
from ..errors import Invalid, ReadOnlyRecord, Text
from ..extensions import db
from ..forms.activities import KIND_LABELS, AttachmentForm, NoteForm, TaskForm
from ..htmx import redirect, render, trigger
from ..i18n import _l, translate
from ..models import Attachment, Lead, Note, Task
from ..services import activities as service
from .errors import error_response, on_error

bp = Blueprint("activities", __name__)

PANEL_LIMIT = 20
PANEL_LIMIT_ALL = 200


@bp.app_template_global()
def record_url(parent_type: str, parent_id: int) -> str | None:
    """The page of a lead, account, contact or deal, or None while that page does not exist."""
    try:
        return url_for(f"{parent_type}s.show", **{f"{parent_type}_id": parent_id})
    except BuildError:
        return None


# The changed fields an "updated" event lists (it keeps their column names in data["fields"])
# are named as the record's form labels them; these few have no input of that name.
CHANGED_LABELS = {"custom": _l("Custom fields"), "custom fields": _l("Custom fields")}


def _form_class(parent_type: str):
    from ..forms.accounts import AccountForm
    from ..forms.contacts import ContactForm
    from ..forms.deals import DealForm
    from ..forms.leads import LeadForm

    return {"lead": LeadForm, "account": AccountForm, "contact": ContactForm, "deal": DealForm}.get(parent_type)


def _changed_label(form_class, key: str) -> str:
    """What the record's form calls a column ("owner_id" -> "Owner"), in the reader's language."""
    for name in (key, f"{key}_id"):
        unbound = getattr(form_class, name, None)
        if isinstance(unbound, UnboundField):
            label = unbound.kwargs.get("label") or (unbound.args[0] if unbound.args else None)
            if label:
                return str(label)
    return str(CHANGED_LABELS.get(key) or key.replace("_", " "))


@bp.app_template_global()
def event_text(event) -> str:
    """A timeline event's sentence in the reader's language; an "updated" event names its
    changed fields with their labels ("Compte modifié : Secteur d’activité, Site web")."""
    text = event.text
    fields = (event.data or {}).get("fields") if isinstance(event.data, dict) else None
    form_class = _form_class(event.parent_type)
    if (event.kind in ("updated", "lead_updated") and isinstance(text, Text) and "fields" in text.params
            and isinstance(fields, list) and form_class is not None):
        names = ", ".join(dict.fromkeys(_changed_label(form_class, str(f)) for f in fields))
        text = Text(text.template, **{**text.params, "fields": names})
    return translate(text)


def _parent(parent_type: str, parent_id: int):
    try:
        parent = service.get_parent(db.session, parent_type, parent_id)
    except service.NotFound:
        abort(404)
    if not permissions.can_view(db.session, current_user, parent):
        abort(403)
    return parent


def panel_context(parent, note_form=None, task_form=None, file_form=None, notice: str | None = None) -> dict:
    """What activities/_panel.html needs (pages that include the panel directly call this)."""
    task_form = task_form or TaskForm(formdata=None, prefix="task")
    task_form.setup(current_user)
    limit = PANEL_LIMIT_ALL if request.args.get("all") else PANEL_LIMIT
    read_only = isinstance(parent, Lead) and parent.converted
    return {
        "parent": parent, "session": db.session, "kind_labels": KIND_LABELS, "notice": notice,
        "data": service.panel_data(db.session, current_user, parent, limit=limit),
        "note_form": note_form or NoteForm(formdata=None, prefix="note"), "task_form": task_form,
        "file_form": file_form or AttachmentForm(formdata=None, prefix="file"),
        "can_add": {kind: permissions.can_add_to(db.session, current_user, parent, kind)
                    for kind in ("note", "task", "attachment")},
        "read_only": read_only,
        "read_only_message": service.converted_message(parent) if read_only else None,
        "max_upload_mb": (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024),
    }


def _panel(parent, status: int = 200, **kwargs):
    """The panel: the fragment for htmx, a small page of its own otherwise."""
    return render("activities/page.html", "activities/_panel.html", status,
                  inner="activities/_panel.html", **panel_context(parent, **kwargs))


def _done(parent):
    """After a change: the refreshed panel for htmx, the record's page for a plain form."""
    parent_type = service.type_of(parent)
    if request.headers.get("HX-Request") == "true":
        # The page's timeline listens for this and reloads itself.
        return trigger(_panel(parent), {"recordChanged": {"type": parent_type, "id": parent.id}})
    return redirect(record_url(parent_type, parent.id)
                    or url_for("activities.panel", parent_type=parent_type, parent_id=parent.id))


def _refusals(parent, form=None, slot: str | None = None) -> None:
    """How this request shows a refusal: a field error next to the panel's form `slot`
    (note_form, task_form, file_form: 422), read-only in the panel's notice (409); anything
    else as the app's handler renders it (403...)."""
    if form is not None:
        def invalid(e):
            form.apply_errors(e.errors)
            return _panel(parent, 422, **{slot: form})

        on_error(Invalid, invalid)
    on_error(ReadOnlyRecord, lambda e: _panel(parent, 409, notice=e.message))


@bp.get("/records/<parent_type>/<int:parent_id>/activity")
@login_required
def panel(parent_type: str, parent_id: int):
    return _panel(_parent(parent_type, parent_id))


@bp.get("/records/<parent_type>/<int:parent_id>/timeline")
@login_required
def timeline(parent_type: str, parent_id: int):
    parent = _parent(parent_type, parent_id)
    before = None
    if request.args.get("before"):
        try:
            before = datetime.fromisoformat(request.args["before"])
        except ValueError:
            abort(400, _("The timeline position is not a valid date."))
    items, more = service.timeline(db.session, parent_type, parent.id, before=before)
    # "Show older" replaces itself with the next items; a first load gets the whole list.
    fragment = "activities/_timeline_items.html" if before else "activities/_timeline.html"
    return render("activities/page.html", fragment, inner="activities/_timeline.html",
                  parent=parent, parent_type=parent_type, items=items, more=more, kind_labels=KIND_LABELS)


@bp.post("/records/<parent_type>/<int:parent_id>/notes")
@login_required
def add_note(parent_type: str, parent_id: int):
    parent = _parent(parent_type, parent_id)
    form = NoteForm(prefix="note")
    _refusals(parent, form, "note_form")
    service.add_note(db.session, current_user, parent, form.body.data)
    db.session.commit()
    return _done(parent)


@bp.post("/records/<parent_type>/<int:parent_id>/tasks")
@login_required
def add_task(parent_type: str, parent_id: int):
    parent = _parent(parent_type, parent_id)
    form = TaskForm(prefix="task")
    form.setup(current_user)
    _refusals(parent, form, "task_form")
    service.add_task(db.session, current_user, parent, form.subject.data, form.due_date.data,
                     form.owner_id.data, form.kind.data)
    db.session.commit()
    return _done(parent)


@bp.post("/tasks/<int:task_id>/done")
@login_required
def complete_task(task_id: int):
    task = db.get_or_404(Task, task_id)
    parent = _parent(task.parent_type, task.parent_id)
    _refusals(parent)
    service.complete_task(db.session, current_user, task)
    db.session.commit()
    return _done(parent)


@bp.route("/notes/<int:note_id>", methods=["DELETE"])
@bp.post("/notes/<int:note_id>/delete")
@login_required
def delete_note(note_id: int):
    note = db.get_or_404(Note, note_id)
    parent = _parent(note.parent_type, note.parent_id)
    _refusals(parent)
    service.delete_note(db.session, current_user, note)
    db.session.commit()
    return _done(parent)


@bp.post("/records/<parent_type>/<int:parent_id>/attachments")
@login_required
def upload(parent_type: str, parent_id: int):
    parent = _parent(parent_type, parent_id)
    _refusals(parent, AttachmentForm(formdata=None, prefix="file"), "file_form")
    service.check_add(db.session, current_user, parent, "attachment")
    upload_ = AttachmentForm(prefix="file").file.data
    stored = service.store_attachment(
        db.session, current_user, parent, getattr(upload_, "stream", None),
        getattr(upload_, "filename", None), getattr(upload_, "mimetype", None),
        current_app.config["UPLOAD_FOLDER"], current_app.config.get("MAX_CONTENT_LENGTH"))
    try:
        db.session.commit()
    except Exception:
        stored.path.unlink(missing_ok=True)  # no row, no file
        raise
    return _done(parent)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """An upload over MAX_CONTENT_LENGTH: say so next to the file field (the body is never read)."""
    limit_mb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    message = (_("The file is too large: the limit is %(limit)s MB.", limit=limit_mb) if limit_mb
               else _("The file is too large."))
    args = request.view_args or {}
    if request.endpoint != "activities.upload" or not current_user.is_authenticated:
        return error_response(413, message)
    parent = _parent(args["parent_type"], args["parent_id"])
    form = AttachmentForm(formdata=None, prefix="file")
    form.file.errors = [message]
    return _panel(parent, 413, file_form=form)


@bp.get("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int):
    attachment = db.get_or_404(Attachment, attachment_id)
    if not permissions.can_view(db.session, current_user, attachment):
        abort(403)
    path = service.attachment_path(current_app.config["UPLOAD_FOLDER"], attachment)
    if not path.is_file():
        abort(404, _("The file is missing from storage."))
    response = send_file(path, mimetype=attachment.content_type, as_attachment=True,
                         download_name=secure_filename(attachment.filename) or f"attachment-{attachment.id}",
                         max_age=0)
    # Never let a browser run an uploaded file as a page of ours.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.post("/attachments/<int:attachment_id>/delete")
@login_required
def delete_attachment(attachment_id: int):
    attachment = db.get_or_404(Attachment, attachment_id)
    parent = _parent(attachment.parent_type, attachment.parent_id)
    _refusals(parent)
    path = service.delete_attachment(db.session, current_user, attachment, current_app.config["UPLOAD_FOLDER"])
    db.session.commit()
    path.unlink(missing_ok=True)  # after the commit: a rolled-back delete keeps its file
    return _done(parent)
