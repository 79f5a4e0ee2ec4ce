"""Rebuilding every record's normalised duplicate keys (C4.7) as a resumable background job.

Needed whenever the normalisation rules change (a new legal form, another phone region):
the keys stored on leads, contacts, accounts and custom field values are computed again
by the very functions that compute them on every write (each model's `refresh_keys()`,
the custom values' `records._norm`), never by a copy of the rules.

Flask-free: a session in. Unlike the other services this one commits, once per chunk,
because resuming is the point: each chunk reads rows by id range, computes their keys,
writes only the rows whose keys changed (one executemany UPDATE per chunk and table) and,
in the same transaction, saves the job's cursor (last id per table), its processed count
and a heartbeat. A worker killed at any moment leaves the job at its last committed chunk;
`stale_jobs()` finds such a job from its old heartbeat and `release()` puts it back in the
queue state, and the next run carries on from the cursor.

Concurrency: the job row is claimed with a conditional UPDATE (queued -> running) and every
chunk's commit is conditional on the processed count the worker last wrote, so when two
workers ever hold the same job (a slow one thought dead) exactly one of them commits each
chunk and the other stops. A key is only overwritten where it still holds the value read
(compare-and-set), so an edit saved meanwhile (which recomputes the keys itself) wins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, and_, bindparam, func, select, update

from ..models import Account, Contact, CustomField, CustomFieldValue, Job, Lead, utcnow
from .custom_values import custom_norm, custom_value

KIND = "rebuild_keys"
DEFAULT_CHUNK = 1000
ERROR_MAX = 500  # Job.error's length


class Stopped(Exception):
    """Another worker committed this job's chunk first, or the job is no longer running."""


# --- The keys of one table ----------------------------------------------------------------

class _KeyRecorder:
    """Stands in for a model instance so that the model's own refresh_keys() computes the
    keys of a plain row: attributes read come from the row (or what refresh_keys wrote
    before), attributes set are recorded."""

    def __init__(self, row):
        object.__setattr__(self, "_row", row)
        object.__setattr__(self, "written", {})

    def __getattr__(self, name):
        written = object.__getattribute__(self, "written")
        if name in written:
            return written[name]
        try:
            return object.__getattribute__(self, "_row")[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self.written[name] = value


def _model_keys(model) -> Callable:
    def compute(row, fields) -> dict:
        recorder = _KeyRecorder(row)
        model.refresh_keys(recorder)
        return recorder.written

    return compute


class _ValueRow:
    """A custom_field_values row with its field, as records._value_of reads it."""

    def __init__(self, row, field):
        self.field = field
        self.value_text = row["value_text"]
        self.value_number = row["value_number"]
        self.value_date = row["value_date"]


def _custom_value_keys(row, fields: dict) -> dict:
    field = fields.get(row["field_id"])
    if field is None:  # a definition deleted meanwhile (its values go with it)
        return {}
    # The value as the app reads it back (what duplicate look-ups normalise), the checkbox
    # as its stored "true"/"false", exactly as records.set_custom does.
    value = row["value_text"] if field.type == "checkbox" else custom_value(_ValueRow(row, field))
    return {"value_norm": custom_norm(field, value)}


@dataclass(frozen=True)
class Target:
    """One table whose keys are rebuilt; `compute(row, fields)` gives {key column: value}
    (`fields`: the custom field definitions by id)."""

    name: str
    table: Table
    compute: Callable


def targets() -> tuple[Target, ...]:
    """The tables, in the order a job walks them (the cursor names them)."""
    return (
        Target("leads", Lead.__table__, _model_keys(Lead)),
        Target("contacts", Contact.__table__, _model_keys(Contact)),
        Target("accounts", Account.__table__, _model_keys(Account)),
        Target("custom_field_values", CustomFieldValue.__table__, _custom_value_keys),
    )


def field_definitions(session) -> dict[int, CustomField]:
    return {f.id: f for f in session.scalars(select(CustomField))}


def _update_statement(table: Table, keys: tuple[str, ...]):
    """UPDATE table SET key = :new WHERE id = :id AND key IS NOT DISTINCT FROM :old (each key).

    Columns with an onupdate default (updated_at) are set to themselves: rebuilding keys is
    not an edit, the "recently updated" order must not change."""
    values = {k: bindparam(f"new_{k}") for k in keys}
    for column in table.columns:
        if column.onupdate is not None and column.name not in values:
            values[column.name] = column
    where = [table.c.id == bindparam("row_id")]
    where += [table.c[k].is_not_distinct_from(bindparam(f"old_{k}")) for k in keys]
    return update(table).where(and_(*where)).values(values)


def rebuild_chunk(session, target: Target, after_id: int, limit: int, fields: dict | None = None
                  ) -> tuple[int, int, int | None]:
    """Recompute one chunk of `target` after `after_id`, writing the changed rows (not committed).

    Returns (rows read, rows whose keys changed, last id read or None when none was left)."""
    table = target.table
    rows = session.execute(
        select(table).where(table.c.id > after_id).order_by(table.c.id).limit(limit)
    ).mappings().all()
    if not rows:
        return 0, 0, None
    if fields is None:
        fields = field_definitions(session)
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        keys = target.compute(row, fields)
        if any(row[k] != v for k, v in keys.items()):
            params = {"row_id": row["id"]}
            for k, v in keys.items():
                params[f"new_{k}"] = v
                params[f"old_{k}"] = row[k]
            groups.setdefault(tuple(sorted(keys)), []).append(params)
    connection = session.connection()
    for keys, params in groups.items():
        connection.execute(_update_statement(table, keys), params)
    return len(rows), sum(len(p) for p in groups.values()), rows[-1]["id"]


# --- The job ------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    return moment.isoformat()


def count_rows(session) -> int:
    return sum(session.scalar(select(func.count()).select_from(t.table)) or 0 for t in targets())


def create_job(session, created_by: int | None = None, chunk_size: int | None = None) -> Job:
    """A queued rebuild job with its total; committed, so that a worker can see it."""
    job = Job(kind=KIND, status="queued", created_by=created_by, total=count_rows(session),
              processed=0, params={"cursor": {}, "changed": 0, "heartbeat": _iso(utcnow()),
                                   **({"chunk": int(chunk_size)} if chunk_size else {})})
    session.add(job)
    session.commit()
    return job


def active_job(session) -> Job | None:
    """The rebuild already queued or running, if any (one at a time is enough)."""
    return session.scalar(select(Job).where(Job.kind == KIND, Job.status.in_(("queued", "running")))
                          .order_by(Job.id).limit(1))


def _jobs():
    return Job.__table__


def _claim(session, job_id: int, now: datetime) -> dict | None:
    """queued -> running (conditional: one worker wins); the job's row as claimed, or None."""
    jobs = _jobs()
    row = session.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None or row["status"] != "queued":
        session.rollback()
        return None
    params = {**(row["params"] or {}), "heartbeat": _iso(now)}
    claimed = session.execute(
        update(jobs).where(jobs.c.id == job_id, jobs.c.status == "queued")
        .values(status="running", params=params, error=None,
                started_at=func.coalesce(jobs.c.started_at, now))
    ).rowcount
    session.commit()
    if not claimed:
        return None
    return {**row, "params": params, "status": "running"}


def _save(session, job_id: int, seen_processed: int, **values) -> None:
    """Write the job's progress in the current transaction if it is still ours, then commit."""
    jobs = _jobs()
    done = session.execute(
        update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running",
                           jobs.c.processed == seen_processed).values(**values)
    ).rowcount
    if not done:
        session.rollback()
        raise Stopped(job_id)
    session.commit()


def run_job(session, job_id: int, chunk_size: int | None = None, pause: float = 0.0,
            should_stop: Callable[[], bool] = lambda: False,
            clock: Callable[[], datetime] = utcnow) -> str | None:
    """Run (or resume) rebuild job `job_id` to its end; returns the status it left, or None
    when there was nothing to do (not queued: done, failed, or another worker's).

    `should_stop()` is asked between chunks (a worker shutting down): the job is put back to
    "queued" at its last committed chunk. `pause` seconds are slept after each chunk, to
    leave the database to the web traffic on a big table."""
    job = _claim(session, job_id, clock())
    if job is None:
        return None
    params = dict(job["params"])
    cursor = dict(params.get("cursor") or {})
    changed = int(params.get("changed") or 0)
    processed = int(job["processed"] or 0)
    limit = int(chunk_size or params.get("chunk") or DEFAULT_CHUNK)
    fields = None
    try:
        for target in targets():
            while cursor.get(target.name, 0) is not None:
                if should_stop():
                    _save(session, job_id, processed, status="queued")
                    return "queued"
                if fields is None:
                    fields = field_definitions(session)
                read, wrote, last = rebuild_chunk(session, target, cursor.get(target.name, 0),
                                                  limit, fields)
                cursor[target.name] = last  # None: this table is finished
                changed += wrote
                params = {**params, "cursor": dict(cursor), "changed": changed,
                          "heartbeat": _iso(clock())}
                _save(session, job_id, processed, processed=processed + read, params=params)
                processed += read
                if pause and last is not None:
                    time.sleep(pause)
        # Rows added while the job ran are counted too: the bar ends full.
        _save(session, job_id, processed, status="done", finished_at=clock(),
              total=processed, params={**params, "heartbeat": _iso(clock())})
        return "done"
    except Stopped:
        return None
    except Exception as error:
        session.rollback()
        message = f"{type(error).__name__}: {error}"[:ERROR_MAX]
        session.execute(update(_jobs()).where(_jobs().c.id == job_id, _jobs().c.status == "running")
                        .values(status="failed", error=message, finished_at=clock()))
        session.commit()
        raise


def _aware(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive: they hold UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def heartbeat_of(job: Job) -> datetime:
    """When the job's worker last wrote (or the job was created, queued or released)."""
    value = (job.params or {}).get("heartbeat")
    try:
        return _aware(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return _aware(job.created_at)


def stale_jobs(session, older_than: float, queued_older_than: float | None = None,
               now: datetime | None = None) -> list[Job]:
    """Jobs to enqueue again: running ones whose heartbeat is older than `older_than` seconds
    (their worker died: killed, machine lost) and queued ones older than `queued_older_than`
    (default the same; their message may be lost, and a duplicate message is harmless)."""
    now = now or utcnow()
    queued_older_than = older_than if queued_older_than is None else queued_older_than
    jobs = session.scalars(select(Job).where(Job.status.in_(("queued", "running")))
                           .order_by(Job.id)).all()
    return [j for j in jobs if heartbeat_of(j) <= now - timedelta(
        seconds=older_than if j.status == "running" else queued_older_than)]


def release(session, job: Job, now: datetime | None = None) -> bool:
    """Put a stale job back to "queued" (conditional on the progress seen) with a fresh
    heartbeat, so that it is enqueued again and not again before another `older_than`."""
    jobs = _jobs()
    params = {**(job.params or {}), "heartbeat": _iso(now or utcnow())}
    done = session.execute(
        update(jobs).where(jobs.c.id == job.id, jobs.c.status == job.status,
                           jobs.c.processed == job.processed)
        .values(status="queued", params=params)
    ).rowcount
    session.commit()
    session.expire_all()
    return bool(done)


def fail(session, job_id: int, message: str) -> None:
    """Mark a job that cannot run (the queue refused it) as failed, with the reason."""
    session.execute(update(_jobs()).where(_jobs().c.id == job_id)
                    .values(status="failed", error=message[:ERROR_MAX], finished_at=utcnow()))
    session.commit()
