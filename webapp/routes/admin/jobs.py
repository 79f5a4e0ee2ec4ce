"""Background jobs: the list (newest first, keyset pages), starting a key rebuild, and each
job's progress row that htmx polls every second while the job is queued or running. Every kind
of job is listed (a bulk conversion links to its page, with its results and Cancel)."""

from __future__ import annotations

from flask import current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ... import jobs as queue
from ...errors import NotFound, Text
from ...extensions import db
from ...htmx import redirect, render
from ...models import Job, User
from ...services import keys
from ..jobs import KIND_WORDS, STATUS_WORDS
from . import bp

PAGE_SIZE = 20
# One wording for every page that shows jobs: each kind of jobs.RUNNERS, each of JOB_STATUSES.
KIND_LABELS = KIND_WORDS
STATUS_LABELS = STATUS_WORDS
INT_MAX = 2**31 - 1


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= INT_MAX else None


def _people(rows) -> dict[int, str]:
    ids = {j.created_by for j in rows if j.created_by}
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def _error_words(message: str | None) -> str | None:
    """A job's error for the reader. The queue-down sentence is stored formatted, in English
    (jobs.QUEUE_DOWN): it is shown in the reader's language around its technical detail; any
    other error (an exception's own text) as stored."""
    head = queue.QUEUE_DOWN.partition("{error}")[0]
    if message and message.startswith(head):
        return _(queue.QUEUE_DOWN).format(error=message[len(head):])
    return message


def _context(rows: list[Job], **extra) -> dict:
    return {"people": _people(rows), "kinds": KIND_LABELS, "statuses": STATUS_LABELS,
            "error_words": _error_words, **extra}


@bp.get("/jobs")
def jobs():
    """Jobs, newest first; `before` (a job id) pages to older ones."""
    before = _int_arg("before")
    query = select(Job).order_by(Job.id.desc()).limit(PAGE_SIZE + 1)
    if before:
        query = query.where(Job.id < before)
    rows = list(db.session.scalars(query))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render("admin/jobs.html", "admin/_jobs.html",
                  **_context(rows, jobs=rows, before=before,
                             older=rows[-1].id if more else None))


@bp.post("/jobs/rebuild-keys")
def rebuild_keys():
    """Queue a rebuild of every record's duplicate keys (unless one is under way); back to the list."""
    active = keys.active_job(db.session)
    if active is not None:
        flash(_("A rebuild of the duplicate keys is already under way (job #%(id)s).", id=active.id), "info")
        return redirect(url_for("admin.jobs"))
    job = queue.start_rebuild_keys(current_app._get_current_object(), created_by=current_user.id)
    if job.status == "failed":
        flash(_("The rebuild could not be started: %(error)s", error=_error_words(job.error)), "error")
    else:
        flash(_("The rebuild of the duplicate keys was started (job #%(id)s).", id=job.id), "success")
    return redirect(url_for("admin.jobs"))


@bp.get("/jobs/<int:job_id>")
def job(job_id: int):
    """One job: its row (the fragment htmx polls) or a page with it."""
    row = db.session.get(Job, job_id) if job_id <= INT_MAX else None
    if row is None:
        raise NotFound(Text("There is no such job."))
    return render("admin/job.html", "admin/_job_row.html", **_context([row], job=row))
