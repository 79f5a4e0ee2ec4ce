"""Background jobs for the people who started them (C8.5): GET /jobs (mine; every job for
administrators), GET /jobs/<id> (the progress bar, polled every second until the job ends, and
the results by outcome, which the poll refreshes while the job runs), its CSV report (headers and outcomes in the reader's language: the API's
CSV keeps the stable column names), and Cancel. A job is visible to its creator and to
administrators only: anyone else gets 404, as for a job that does not exist.

"When a job ends, the user sees it wherever they are": the top bar (jobs/_notice.html, included
by base.html) shows the count of the user's running jobs, polling itself while there are some.
The ids it saw running are kept in the session ("jobs_watch"); one found ended on a later look
moves to "jobs_ended" and is shown as a banner on every page until the user opens that job or
dismisses the banner. Testable with the client alone: no timestamps, no clock.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, flash, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from .. import permissions
from ..errors import Conflict
from ..extensions import db
from ..fields import INT_MAX
from ..htmx import is_htmx, redirect, render, safe_next
from ..i18n import _l, translate
from ..models import Job, JobResult, Lead, utcnow
from ..services import bulk
from .api.jobs import reason_of

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

PAGE_SIZE = 25
RESULTS_PAGE = 50
RUNNING = ("queued", "running")
# Every job kind (jobs.RUNNERS) and status (models.JOB_STATUSES), for these pages and the admin's.
STATUS_WORDS = {"queued": _l("Queued"), "running": _l("Running"), "done": _l("Done"), "failed": _l("Failed"),
                "cancelled": _l("Cancelled")}
OUTCOME_WORDS = {"pending": _l("Pending"), "converted": _l("Converted"), "skipped": _l("Skipped"),
                 "failed": _l("Failed"), "cancelled": _l("Cancelled")}
KIND_WORDS = {"bulk_convert": _l("Bulk conversion"), "rebuild_keys": _l("Rebuild duplicate keys")}
# The CSV report's headers, in the reader's language (issue 8).
CSV_HEADERS = (_l("Lead ID"), _l("Lead"), _l("Outcome"), _l("Conversion ID"), _l("Reason"))


def visible(job_id: int) -> Job:
    """The job when the user created it or is an administrator; 404 otherwise."""
    job = db.session.get(Job, job_id) if 0 < job_id <= INT_MAX else None
    if job is None or (job.created_by != current_user.id and not permissions.is_admin(current_user)):
        abort(404)
    return job


def lead_names(ids: list[int]) -> dict[int, str]:
    """The leads' names as the list shows them (name, else company, else e-mail), in one query."""
    out = {}
    for start in range(0, len(ids), 5000):
        for i, first, last, company, email in db.session.execute(
                select(Lead.id, Lead.first_name, Lead.last_name, Lead.company, Lead.email)
                .where(Lead.id.in_(ids[start:start + 5000]))):
            out[i] = " ".join(p for p in (first, last) if p) or company or email or ""
    return out


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def progress(job: Job) -> dict:
    """Percent done, leads per second and seconds left (None when not yet known)."""
    total, done = job.total or 0, job.processed or 0
    ended = job.status not in RUNNING
    percent = 100 if ended and job.status == "done" else (int(done * 100 / total) if total else 0)
    started = _aware(job.started_at)
    end = _aware(job.finished_at) if ended and job.finished_at else utcnow()
    seconds = (end - started).total_seconds() if started else 0
    rate = done / seconds if seconds > 0 and done else None
    left = (total - done) / rate if rate and not ended and total >= done else None
    return {"percent": min(percent, 100), "rate": rate, "left": left, "ended": ended}


def duration_words(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(num)s s", num=seconds)
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return _("%(min)s min %(sec)s s", min=minutes, sec=rest)
    hours, minutes = divmod(minutes, 60)
    return _("%(hours)s h %(min)s min", hours=hours, min=minutes)


def _context(job: Job) -> dict:
    return {"job": job, "progress": progress(job), "status_words": STATUS_WORDS, "outcome_words": OUTCOME_WORDS,
            "kind_words": KIND_WORDS, "duration_words": duration_words}


# --- the top bar's notice --------------------------------------------------------------------

def _seen(job_id: int) -> None:
    """The user opened this job: its "ended" banner is gone."""
    ended = session.get("jobs_ended") or []
    if job_id in ended:
        session["jobs_ended"] = [i for i in ended if i != job_id]


def _job_on_screen() -> int | None:
    """The job whose page the user is looking at (the page itself, or the page a poll came from)."""
    if request.endpoint == "jobs.show":
        return (request.view_args or {}).get("job_id")
    found = re.search(r"/jobs/(\d+)(?:[?#]|$)", request.headers.get("HX-Current-URL") or "")
    return int(found.group(1)) if found else None


@bp.app_template_global()
def job_notice() -> dict:
    """The user's running jobs (count) and the jobs seen running that have ended since."""
    if not current_user.is_authenticated:
        return {"running": 0, "ended": []}
    running = list(db.session.scalars(select(Job.id).where(Job.created_by == current_user.id,
                                                           Job.status.in_(RUNNING))))
    watch, ended = session.get("jobs_watch") or [], session.get("jobs_ended") or []
    newly = [i for i in watch if i not in running and i not in ended]
    if newly or set(watch) != set(running):
        session["jobs_watch"] = running
    here = _job_on_screen()
    if newly or here in ended:
        ended = [i for i in [*ended, *newly][-5:] if i != here]  # the job on screen says it itself
        session["jobs_ended"] = ended
    jobs = list(db.session.scalars(select(Job).where(Job.id.in_(ended), Job.created_by == current_user.id)
                                   .order_by(Job.id))) if ended else []
    return {"running": len(running), "ended": jobs, "status_words": STATUS_WORDS}


@bp.get("/notice")
@login_required
def notice():
    """The top bar's jobs notice alone (it polls itself while jobs are running)."""
    return render("jobs/_notice.html", "jobs/_notice.html")


@bp.post("/notice/dismiss")
@login_required
def dismiss():
    session["jobs_ended"] = []
    return redirect(safe_next(request.form.get("next")))


# --- pages -----------------------------------------------------------------------------------

@bp.get("/")
@login_required
def index():
    """My jobs, newest first (every job for administrators); keyset pages (?before=<id>)."""
    stmt = select(Job)
    if not permissions.is_admin(current_user):
        stmt = stmt.where(Job.created_by == current_user.id)
    before = request.args.get("before", type=int)
    if before:
        stmt = stmt.where(Job.id < before)
    rows = list(db.session.scalars(stmt.order_by(Job.id.desc()).limit(PAGE_SIZE + 1)))
    more = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return render("jobs/index.html", "jobs/_list.html", jobs=rows[:PAGE_SIZE], before=before,
                  newest_url=url_for("jobs.index") if before else None,
                  next_url=url_for("jobs.index", before=more) if more else None,
                  status_words=STATUS_WORDS, kind_words=KIND_WORDS, progress=progress)


def _shown() -> tuple[str, int | None]:
    """The results the reader chose: (outcome or "", the page's keyset start or None)."""
    outcome = request.args.get("outcome") or ""
    after = request.args.get("after", type=int)
    return (outcome if outcome in bulk.OUTCOMES else ""), (after if after and 0 < after <= INT_MAX else None)


def _results(job: Job) -> dict:
    """One page of results (two queries: the page, the leads' names)."""
    outcome, after = _shown()
    stmt = bulk.results_query(job.id, outcome or None)
    if after:
        stmt = stmt.where(JobResult.lead_id > after)
    rows = list(db.session.scalars(stmt.order_by(JobResult.lead_id).limit(RESULTS_PAGE + 1)))
    more = rows[RESULTS_PAGE - 1].lead_id if len(rows) > RESULTS_PAGE else None
    rows = rows[:RESULTS_PAGE]
    names = lead_names([r.lead_id for r in rows])
    args = {"outcome": outcome} if outcome else {}
    return {"results": [(r, names.get(r.lead_id), reason_of(r)) for r in rows], "outcome": outcome,
            "outcomes": bulk.OUTCOMES, "after": after,
            "first_results": url_for("jobs.show", job_id=job.id, **args) if after else None,
            "next_results": url_for("jobs.show", job_id=job.id, after=more, **args) if more else None}


def _version(job: Job) -> str:
    """What the results shown depend on: it changes with every chunk (and the selection's snapshot)."""
    return f"{job.total or 0}.{job.processed or 0}.{int(bool((job.params or {}).get('snapshot')))}"


def _poll_url(job: Job) -> str:
    """The progress poll, with the outcome and page the reader chose and the results' version."""
    outcome, after = _shown()
    return url_for("jobs.show", job_id=job.id, part="progress", outcome=outcome or None, after=after,
                   seen=_version(job))


@bp.get("/<int:job_id>")
@login_required
def show(job_id: int):
    """A job: its progress (?part=progress: the polled fragment) and its results by outcome.

    The poll carries the reader's outcome and page, and the version of the results they see
    (?seen=): while the job runs, an answer whose version changed brings that page of results
    along (hx-swap-oob), so the table fills in as chunks are converted; an unchanged one is the
    progress alone (no results query). The answer for an ended job has the last results, the
    actions without Cancel, and no trigger: polling stops."""
    job = visible(job_id)
    _seen(job.id)
    context = {**_context(job), "poll_url": _poll_url(job)}
    if is_htmx() and request.args.get("part") == "progress":
        ended = job.status not in RUNNING
        if job.kind == bulk.KIND and (ended or request.args.get("seen") != _version(job)):
            context.update(_results(job), oob=True)
        response = render("jobs/_poll.html", "jobs/_poll.html", **context)
        if ended:
            response.headers["HX-Trigger"] = "job-ended"
        return response
    if is_htmx() and request.args.get("part") == "results":
        return render("jobs/_results.html", "jobs/_results.html", **context, **_results(job))
    return render("jobs/show.html", "jobs/show.html", **context, **_results(job))


@bp.get("/<int:job_id>/results.csv")
@login_required
def results_csv(job_id: int):
    """The report, one line per lead (?outcome= one outcome), headers in the reader's language."""
    job = visible(job_id)
    outcome = request.args.get("outcome") or None
    if outcome not in (None, *bulk.OUTCOMES):
        abort(422)
    rows = list(db.session.scalars(bulk.results_query(job.id, outcome).order_by(JobResult.lead_id)))
    names = lead_names([r.lead_id for r in rows])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(h) for h in CSV_HEADERS])
    words = {k: str(v) for k, v in OUTCOME_WORDS.items()}
    for r in rows:
        writer.writerow([r.lead_id, names.get(r.lead_id) or "", words.get(r.outcome, r.outcome),
                         "" if r.conversion_id is None else r.conversion_id, reason_of(r) or ""])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="job-{job.id}-results.csv"'
    return response


@bp.post("/<int:job_id>/cancel")
@login_required
def cancel(job_id: int):
    """Cancel a queued or running job (what is converted stays converted)."""
    job = visible(job_id)
    if job.kind != bulk.KIND:
        abort(404)
    try:
        bulk.cancel(db.session, job)
        flash(_("The job was cancelled: the leads already converted stay converted."), "success")
    except Conflict as e:
        flash(translate(e.message), "error")
    return redirect(url_for("jobs.show", job_id=job_id))
