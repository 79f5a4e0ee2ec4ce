"""The bulk conversion job (C8.5, issue 9): convert a selection of leads in the background,
resumable, with one result per lead. Flask-free: a session in.

A job's params hold its options (conversion.bulk.BulkOptions.to_dict()) and its selection:
{"lead_ids": [...]} or {"filter": {<lead list filters>}}. When the job starts, the selection is
snapshotted into job_results as one "pending" row per lead (for a filter: the ids it matches at
that moment, within the creator's sight), so the job converts exactly what was selected then,
whatever changes meanwhile (given ids then leave the params: the results hold them). Then chunks of pending leads (lowest ids first) are converted by the
engine (conversion/bulk.py convert_chunk) and, in the same transaction, their results rows
(converted / skipped / failed, the reason, the conversion id), the job's counts and its
heartbeat are written; one commit per chunk.

Exactly once, after anything (the pattern of services/keys.py):
  - a chunk's transaction starts by a conditional UPDATE of the job row (running, and the
    processed count this worker last wrote): a second worker holding the job (one thought dead)
    waits for the first's commit, then finds the count changed and stops (Stopped);
  - a worker killed mid-chunk leaves nothing of that chunk: its leads are still pending, the job
    still running with an old heartbeat; jobs.recover() releases it and the next worker carries
    on from the pending rows;
  - a lead converted meanwhile by anyone (another job, a single conversion) is skipped "already
    converted" (the engine reads it after taking the match-key locks, and marks leads converted
    with the executor's conditional UPDATE).

Cancel: cancel() sets the job "cancelled" and every pending result "cancelled" in one
transaction; a running worker's next chunk finds the job no longer running and stops (its
chunk in progress is rolled back: what is converted stays converted, the rest is cancelled).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, insert, literal, select, update

from ..conversion.bulk import BulkOptions, convert_chunk, validate
from ..errors import N_, Conflict, Invalid, Problem, Text
from ..fields import ID_SPEC, TAG_MAX, FieldError, model_specs
from ..models import Job, JobResult, Lead, User, utcnow
from . import keys
from .leads import Q_MAX, LeadFilters, filter_clauses, lead_statuses

KIND = "bulk_convert"
DEFAULT_CHUNK = 500
MAX_IDS = 100_000  # lead ids in one request (a filter selects any number)
REASON_MAX = 500  # JobResult.reason's length
OUTCOMES = ("pending", "converted", "skipped", "failed", "cancelled")
FILTER_KEYS = ("status", "owner_id", "q", "tag", "converted", "source", "team_id", "created_from", "created_before")
# The list's dashboard scope (the web bulk panel sends what the list showed): instants, RFC 3339
# (ISO 8601 with an offset, api.md; the JSON Schema's "date-time"), kept in UTC.
INSTANT_KEYS = ("created_from", "created_before")
INSTANT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:([0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")
NOT_INSTANT = N_("must be a date and time with its offset (ISO 8601), e.g. 2026-01-31T09:00:00+01:00")
# The longest text of each text filter: the list's search box, a tag, the lead source column.
TEXT_MAX = {"q": Q_MAX, "tag": TAG_MAX, "source": model_specs(Lead)["lead_source"].length, "status": 60}
CANCELLED = N_("The job was cancelled before this lead was converted.")
Stopped = keys.Stopped


# --- the request ---------------------------------------------------------------------------------
def parse_selection(session, data: dict) -> tuple[dict, dict]:
    """({"lead_ids": [...]} or {"filter": {...}}, field errors) from a bulk request body."""
    errors: dict[str, list] = {}
    has_ids, has_filter = "lead_ids" in data, "filter" in data
    if has_ids == has_filter:
        message = Text("send either “lead_ids” or “filter”")
        errors["lead_ids" if not has_ids else "filter"] = [message]
        return {}, errors
    if has_ids:
        raw = data["lead_ids"]
        if not isinstance(raw, list) or not raw:
            return {}, {"lead_ids": [Text("must be a non-empty list of lead ids")]}
        if len(raw) > MAX_IDS:
            return {}, {"lead_ids": [Problem("too_many", max=MAX_IDS)]}
        ids = []
        for i, value in enumerate(raw):
            try:
                ident = ID_SPEC.parse(value, strict=True)
            except FieldError as e:
                errors[f"lead_ids.{i}"] = [e.problem]
                continue
            if ident is None:
                errors[f"lead_ids.{i}"] = [Problem("not_null")]
            else:
                ids.append(ident)
        return {"lead_ids": list(dict.fromkeys(ids))}, errors
    return {"filter": parse_filter(session, data["filter"], errors)}, errors


def parse_filter(session, raw, errors: dict) -> dict:
    """The lead list filters of api.md (status, owner_id, q, tag, converted), and the list's
    source, team_id, created_from / created_before (RFC 3339 instants, kept in UTC), checked.
    routes/api/jobs.py documents the same rules as JSON Schema."""
    if not isinstance(raw, dict):
        errors["filter"] = [Problem("not_object")]
        return {}
    out: dict = {}
    for key, value in raw.items():
        where = f"filter.{key}"
        if key not in FILTER_KEYS:
            errors[where] = [Problem("unknown_option")]
        elif key in ("owner_id", "team_id"):
            try:
                out[key] = ID_SPEC.parse(value, strict=True)
            except FieldError as e:
                errors[where] = [e.problem]
        elif key in INSTANT_KEYS:
            instant = parse_instant(value)
            if instant is None:
                errors[where] = [Problem("not_datetime", NOT_INSTANT)]
            else:
                out[key] = instant.isoformat()
        elif key == "converted":
            if not isinstance(value, bool):
                errors[where] = [Problem("not_bool")]
            else:
                out[key] = value
        elif (problem := text_problem(value, TEXT_MAX[key])) is not None:
            errors[where] = [problem]
        elif key == "status":
            allowed = ["", "all", *(s.key for s in lead_statuses(session))]
            if value not in allowed:
                errors[where] = [Problem("not_choice", choices=", ".join(a for a in allowed if a))]
            else:
                out[key] = value
        else:
            out[key] = value
    return out


def parse_instant(value) -> datetime | None:
    """The UTC instant of an RFC 3339 date-time ("2026-01-31T09:00:00+01:00", "...Z"; a leap
    second is the instant after :59), else None (a date alone, no offset, out of range)."""
    text = value.upper() if isinstance(value, str) else ""
    match = INSTANT_RE.fullmatch(text)
    if match is None:
        return None
    leap = match.group(1) == "60"
    if leap:
        text = text[:match.start(1)] + "59" + text[match.end(1):]
    try:
        return (datetime.fromisoformat(text) + timedelta(seconds=leap)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def text_problem(value, limit: int) -> Problem | None:
    """Why `value` is no text filter of at most `limit` characters, or None."""
    if not isinstance(value, str):
        return Problem("not_text")
    if "\x00" in value:
        return Problem("nul")
    try:
        value.encode()
    except UnicodeEncodeError:
        return Problem("bad_unicode")
    return Problem("too_long", max=limit) if len(value) > limit else None


def lead_filters(stored: dict) -> LeadFilters:
    """The LeadFilters of a stored filter (status absent: open and closed, as the API list)."""
    return LeadFilters(q=stored.get("q") or "", status=stored.get("status", "all"),
                       owner_id=stored.get("owner_id"), tag=stored.get("tag") or "",
                       converted=bool(stored.get("converted")), source=stored.get("source") or "",
                       team_id=stored.get("team_id"),
                       **{k: datetime.fromisoformat(stored[k]) for k in INSTANT_KEYS if stored.get(k)})


def create_job(session, actor: User, data: dict) -> Job:
    """A queued bulk job from the body of POST /lead-conversions/bulk (committed). Raises
    Invalid / InvalidOptions (422) with every field error; nothing is written then."""
    if not isinstance(data, dict):
        raise Invalid(errors={"body": [Problem("not_object")]})
    selection, errors = parse_selection(session, data)
    rest = {k: v for k, v in data.items() if k not in ("lead_ids", "filter")}
    options = BulkOptions.parse(rest, strict=True)
    for key, messages in options.errors.items():
        errors.setdefault(key, []).extend(messages)
    if errors:
        session.rollback()
        raise Invalid(Text("Some fields need attention."), errors)
    try:
        validate(session, actor, options)
    except Invalid:
        session.rollback()
        raise
    total = len(selection["lead_ids"]) if "lead_ids" in selection else 0
    job = Job(kind=KIND, status="queued", created_by=actor.id, total=total, processed=0,
              params={"options": options.to_dict(), "selection": selection, "heartbeat": utcnow().isoformat()})
    session.add(job)
    session.commit()
    return job


# --- running ---------------------------------------------------------------------------------------
def _jobs():
    return Job.__table__


def _results():
    return JobResult.__table__


def snapshot(session, job_id: int, selection: dict, actor: User) -> int:
    """One pending result per selected lead (ids as given; a filter's matches now); their number."""
    results = _results()
    if "lead_ids" in selection:
        rows = [{"job_id": job_id, "lead_id": i, "outcome": "pending"} for i in selection["lead_ids"]]
        for start in range(0, len(rows), 5000):
            session.execute(insert(results), rows[start:start + 5000])
        return len(rows)
    filters = lead_filters(selection.get("filter") or {})
    matching = select(literal(job_id), Lead.id, literal("pending")).where(
        *filter_clauses(session, actor, filters, count=True))
    session.execute(insert(results).from_select(["job_id", "lead_id", "outcome"], matching))
    return session.scalar(select(func.count()).select_from(results).where(results.c.job_id == job_id))


def _take(session, job_id: int, seen: int, **values) -> None:
    """The conditional UPDATE that opens every transaction of a running job (see the module doc)."""
    jobs = _jobs()
    done = session.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running",
                                              jobs.c.processed == seen).values(**values)).rowcount
    if not done:
        session.rollback()
        raise Stopped(job_id)


_PENDING = (select(JobResult.lead_id).where(JobResult.job_id == bindparam("job"), JobResult.outcome == "pending")
            .order_by(JobResult.lead_id).limit(bindparam("n")))
_RESULT = (update(JobResult.__table__)
           .where(JobResult.__table__.c.job_id == bindparam("b_job"), JobResult.__table__.c.lead_id == bindparam("b_lead"),
                  JobResult.__table__.c.outcome == "pending")
           .values(outcome=bindparam("b_outcome"), conversion_id=bindparam("b_conversion"),
                   reason=bindparam("b_reason"), detail=bindparam("b_detail")))


def result_row(job_id: int, outcome) -> dict:
    reason = outcome.reason
    return {"b_job": job_id, "b_lead": outcome.lead_id, "b_outcome": outcome.outcome,
            "b_conversion": outcome.conversion_id,
            "b_reason": str(reason)[:REASON_MAX] if reason is not None else None,
            "b_detail": ({"reason": reason.to_json(), "code": outcome.code} if isinstance(reason, Text) else None)}


def run_job(session, job_id: int, chunk_size: int | None = None, pause: float = 0.0,
            should_stop: Callable[[], bool] = lambda: False,
            clock: Callable[[], datetime] = utcnow) -> str | None:
    """Run (or resume) bulk job `job_id` to its end; the status it left, or None when there was
    nothing to do (not queued) or another worker took it over / it was cancelled (Stopped)."""
    job = keys._claim(session, job_id, clock())
    if job is None:
        return None
    params = dict(job["params"] or {})
    processed = int(job["processed"] or 0)
    counts = {k: int(job[k] or 0) for k in ("converted", "skipped", "failed")}
    limit = int(chunk_size or params.get("chunk") or DEFAULT_CHUNK)
    try:
        actor = session.get(User, job["created_by"]) if job["created_by"] else None
        if actor is None:
            raise LookupError("the job's creator no longer exists")
        options = BulkOptions.from_stored(params.get("options") or {})
        if not params.get("snapshot"):
            _take(session, job_id, processed, params={**params, "heartbeat": clock().isoformat()})
            selection = params.get("selection") or {}
            total = snapshot(session, job_id, selection, actor)
            if "lead_ids" in selection:  # they are the results' rows now: the params stay small
                selection = {"lead_ids_count": len(selection["lead_ids"])}
            params = {**params, "selection": selection, "snapshot": True, "heartbeat": clock().isoformat()}
            session.execute(update(_jobs()).where(_jobs().c.id == job_id).values(total=total, params=params))
            session.commit()
        while True:
            if should_stop():
                _take(session, job_id, processed, status="queued",
                      params={**params, "heartbeat": clock().isoformat()})
                session.commit()
                return "queued"
            now = clock()
            params = {**params, "heartbeat": now.isoformat()}
            _take(session, job_id, processed, params=params)
            ids = list(session.scalars(_PENDING, {"job": job_id, "n": limit}))
            if not ids:
                total = session.scalar(select(func.count()).select_from(_results())
                                       .where(_results().c.job_id == job_id))
                session.execute(update(_jobs()).where(_jobs().c.id == job_id).values(
                    status="done", finished_at=clock(), total=total, params=params))
                session.commit()
                return "done"
            actor = session.get(User, job["created_by"])
            outcomes = convert_chunk(session, actor, ids, options, now=now)
            session.execute(_RESULT, [result_row(job_id, o) for o in outcomes])
            for o in outcomes:
                counts[o.outcome] += 1
            processed += len(outcomes)
            session.execute(update(_jobs()).where(_jobs().c.id == job_id).values(processed=processed, **counts))
            session.commit()
            if pause:
                time.sleep(pause)
    except Stopped:
        return None
    except Exception as error:
        session.rollback()
        message = f"{type(error).__name__}: {error}"[:keys.ERROR_MAX]
        session.execute(update(_jobs()).where(_jobs().c.id == job_id, _jobs().c.status == "running")
                        .values(status="failed", error=message, finished_at=clock()))
        session.commit()
        raise


def cancel(session, job: Job, clock: Callable[[], datetime] = utcnow) -> Job:
    """C8.5: stop a queued or running bulk job; what is converted stays converted, every lead not
    yet converted is "cancelled". Raises Conflict when the job has already ended."""
    jobs, results = _jobs(), _results()
    done = session.execute(update(jobs).where(jobs.c.id == job.id, jobs.c.status.in_(("queued", "running")))
                           .values(status="cancelled", finished_at=clock())).rowcount
    if not done:
        session.rollback()
        raise Conflict(Text("This job has already ended: there is nothing to cancel."),
                       {"status": [Text("is {status}", status=job.status)]})
    session.execute(update(results).where(results.c.job_id == job.id, results.c.outcome == "pending")
                    .values(outcome="cancelled", reason=str(Text(CANCELLED)),
                            detail={"reason": Text(CANCELLED).to_json(), "code": "cancelled"}))
    session.commit()
    session.refresh(job)
    return job


def results_query(job_id: int, outcome: str | None = None):
    """The job's results in lead order (optionally one outcome)."""
    stmt = select(JobResult).where(JobResult.job_id == job_id)
    if outcome:
        stmt = stmt.where(JobResult.outcome == outcome)
    return stmt


__all__ = ["DEFAULT_CHUNK", "KIND", "OUTCOMES", "cancel", "create_job", "parse_selection", "run_job", "snapshot"]
