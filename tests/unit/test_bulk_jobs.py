"""The bulk_convert job (webapp/services/bulk.py, C8.5): the selection snapshotted when the job
starts, one result per lead, chunks committed with the counts, exactly once after a SIGKILL,
two workers on overlapping jobs, cancel, graceful stop.

The service on SQLite and PostgreSQL (the `db` fixture), and the queue with real consumer
processes on SqliteHuey and RedisHuey, as tests/unit/test_jobs.py does for the key rebuild.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from webapp import jobs
from webapp.errors import Conflict, Invalid
from webapp.extensions import db as _db
from webapp.models import Account, Conversion, Job, JobResult, Lead, Note, User, utcnow
from webapp.services import bulk, keys

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
OPTIONS = {"deal": {"stage": "Qualification", "name": "{company}"}}


def add_leads(db, owner: User, n: int, start: int = 0, company_every: int = 7, **extra) -> list[int]:
    """n leads with a note each; every `company_every` leads share one new company (so a company
    spans chunks); inserted with Core, keys computed as the models do."""
    from webapp.normalize import norm_company, norm_email, norm_name

    now = utcnow()
    rows = []
    for i in range(start, start + n):
        company = f"Shared {i // company_every} SAS"
        email = f"lead{i}@example.com"
        rows.append({"first_name": f"First{i}", "last_name": "Last", "company": company, "email": email,
                     "email_norm": norm_email(email), "company_norm": norm_company(company),
                     "name_norm": norm_name(f"First{i}", "Last"), "status": "new", "currency": "EUR",
                     "converted": False, "email_opt_out": False, "owner_id": owner.id, "created_at": now,
                     "updated_at": now, **extra})
    db.session.execute(insert(Lead.__table__), rows)
    db.session.flush()
    ids = list(db.session.scalars(select(Lead.id).where(Lead.email.in_([r["email"] for r in rows]))
                                  .order_by(Lead.id)))
    db.session.execute(insert(Note.__table__), [{"body": f"Note {i}", "parent_type": "lead", "parent_id": i,
                                                 "created_at": now, "updated_at": now} for i in ids])
    db.session.commit()
    return ids


def get_job(db, job_id: int) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job_id)


def results(db, job_id: int) -> dict[int, JobResult]:
    db.session.expire_all()
    return {r.lead_id: r for r in db.session.scalars(select(JobResult).where(JobResult.job_id == job_id))}


def assert_each_converted_once(db, lead_ids: list[int]) -> None:
    db.session.expire_all()
    per_lead = dict(db.session.execute(select(Conversion.lead_id, func.count()).group_by(Conversion.lead_id)).all())
    assert sorted(per_lead) == sorted(lead_ids) and set(per_lead.values()) == {1}
    assert db.session.scalar(select(func.count()).select_from(Lead).where(
        Lead.id.in_(lead_ids), Lead.converted.is_(False))) == 0
    # A new company shared by several leads (across chunks, jobs, workers) gave one account.
    duplicated = db.session.scalar(select(func.count()).select_from(
        select(Account.name_norm).group_by(Account.name_norm).having(func.count() > 1).subquery()))
    assert duplicated == 0
    linked = db.session.scalar(select(func.count()).select_from(Note).where(Note.parent_type == "lead"))
    assert linked == 0  # every note moved


@pytest.fixture
def admin(users):
    return users["admin"]


# --- the request --------------------------------------------------------------------------------
@pytest.mark.parametrize("body,key", [
    ({}, "lead_ids"),
    ({"lead_ids": [], **OPTIONS}, "lead_ids"),
    ({"lead_ids": [1, "x"]}, "lead_ids.1"),
    ({"lead_ids": [1], "filter": {}}, "filter"),
    ({"filter": {"status": "nope"}}, "filter.status"),
    ({"filter": {"color": "red"}}, "filter.color"),
    ({"filter": {"owner_id": "x"}}, "filter.owner_id"),
    ({"lead_ids": [1], "deal": {"name": "x"}}, "deal.stage"),
    ({"lead_ids": [1], "account": {"action": "link", "id": 1}}, "account.id"),
    ({"lead_ids": [1], "owner_id": 999}, "owner_id"),
])
def test_bad_requests_are_refused_with_nothing_written(body, key, db, admin):
    before = db.session.scalar(select(func.count()).select_from(Job))
    with pytest.raises(Invalid) as e:
        bulk.create_job(db.session, admin, body)
    assert key in e.value.errors and e.value.status == 422
    assert db.session.scalar(select(func.count()).select_from(Job)) == before


def test_a_job_converts_the_lead_ids_with_one_result_each(db, admin, users):
    ids = add_leads(db, users["sales"], 30)
    job = bulk.create_job(db.session, admin, {"lead_ids": [*ids, ids[0], 424242], **OPTIONS})
    assert (job.status, job.total, job.kind) == ("queued", 31, "bulk_convert")
    assert bulk.run_job(db.session, job.id, chunk_size=8) == "done"
    done = get_job(db, job.id)
    assert (done.status, done.total, done.processed, done.converted, done.skipped, done.failed) == (
        "done", 31, 31, 30, 1, 0)
    rows = results(db, job.id)
    assert rows[424242].outcome == "skipped" and rows[424242].reason == "This lead does not exist."
    assert rows[424242].detail == {"reason": {"t": "This lead does not exist.", "p": {}}, "code": "not_found"}
    assert {rows[i].outcome for i in ids} == {"converted"}
    assert {rows[i].conversion_id for i in ids} == set(db.session.scalars(select(Conversion.id)))
    assert_each_converted_once(db, ids)


def test_the_filter_is_snapshotted_when_the_job_starts(db, admin, users):
    """"Select all matching": the job converts what the filter matched when it started; a lead
    matching later is left alone, one no longer matching is still converted."""
    sales, other = users["sales"], users["other_sales"]
    mine = add_leads(db, sales, 12)
    add_leads(db, other, 5, start=100)  # another owner: not matched
    job = bulk.create_job(db.session, admin, {"filter": {"owner_id": sales.id}, **OPTIONS})
    assert job.total == 0  # counted when it starts
    late = add_leads(db, sales, 2, start=200)  # before the start: matched

    changed = []

    def meanwhile():  # asked before each chunk: after the snapshot
        if not changed:
            with _db.engine.begin() as other_connection:
                other_connection.execute(update(Lead.__table__).where(Lead.id == mine[0]).values(owner_id=other.id))
            changed.append(add_leads(db, sales, 3, start=300))
        return False

    assert bulk.run_job(db.session, job.id, chunk_size=5, should_stop=meanwhile) == "done"
    done = get_job(db, job.id)
    assert (done.total, done.converted) == (14, 14)
    assert set(results(db, job.id)) == set(mine + late)
    after = changed[0]
    assert not any(db.session.get(Lead, i).converted for i in after)


def test_the_filter_is_the_creators_sight(db, users):
    sales, other = users["sales"], users["other_sales"]
    mine = add_leads(db, sales, 4)
    add_leads(db, other, 3, start=100)
    job = bulk.create_job(db.session, sales, {"filter": {"status": "all"}, **OPTIONS})
    assert bulk.run_job(db.session, job.id) == "done"
    assert set(results(db, job.id)) == set(mine)


def test_a_killed_chunk_leaves_nothing_and_the_next_run_converts_each_lead_once(db, admin, users, monkeypatch):
    ids = add_leads(db, users["sales"], 40)
    job = bulk.create_job(db.session, admin, {"lead_ids": ids, **OPTIONS})
    real = bulk.convert_chunk
    calls = []

    class Killed(BaseException):
        """What a SIGKILL looks like from inside: nothing after it runs, nothing is committed."""

    def dies_in_the_third_chunk(session, actor, lead_ids, options, **kw):
        calls.append(lead_ids)
        outcomes = real(session, actor, lead_ids, options, **kw)
        if len(calls) == 3:
            raise Killed  # written, not committed
        return outcomes

    monkeypatch.setattr(bulk, "convert_chunk", dies_in_the_third_chunk)
    with pytest.raises(Killed):
        bulk.run_job(db.session, job.id, chunk_size=10)
    db.session.rollback()
    monkeypatch.setattr(bulk, "convert_chunk", real)

    left = get_job(db, job.id)
    assert (left.status, left.processed, left.converted) == ("running", 20, 20)
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 20
    assert sum(r.outcome == "pending" for r in results(db, job.id).values()) == 20
    stale = keys.stale_jobs(db.session, 30, now=utcnow() + timedelta(seconds=31))
    assert [j.id for j in stale] == [job.id] and keys.release(db.session, stale[0])
    assert bulk.run_job(db.session, job.id, chunk_size=10) == "done"
    done = get_job(db, job.id)
    assert (done.processed, done.converted, done.skipped, done.failed, done.total) == (40, 40, 0, 0, 40)
    assert_each_converted_once(db, ids)


def test_a_worker_that_lost_its_job_stops_without_converting_more(db, admin, users):
    """A slow worker thought dead: the job was released and another worker committed a chunk;
    the slow one's next transaction finds the count moved on and stops, converting nothing more."""
    ids = add_leads(db, users["sales"], 10)
    job = bulk.create_job(db.session, admin, {"lead_ids": ids, **OPTIONS})
    asked = []

    def another_worker_took_it():  # asked between chunks, outside any transaction
        asked.append(1)
        if len(asked) == 2:
            with _db.engine.begin() as other:
                other.execute(update(Job.__table__).where(Job.id == job.id).values(processed=99))
        return False

    assert bulk.run_job(db.session, job.id, chunk_size=5, should_stop=another_worker_took_it) is None
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 5
    assert get_job(db, job.id).processed == 99


def test_cancel_marks_the_rest_cancelled_and_keeps_what_is_converted(db, admin, users):
    ids = add_leads(db, users["sales"], 20)
    job = bulk.create_job(db.session, admin, {"lead_ids": ids, **OPTIONS})
    asked = []

    def cancel_after_the_first_chunk():
        asked.append(1)
        if len(asked) == 2:  # between chunks: the API's POST /jobs/{id}/cancel
            bulk.cancel(_db.session, _db.session.get(Job, job.id))
        return False

    assert bulk.run_job(db.session, job.id, chunk_size=6, should_stop=cancel_after_the_first_chunk) is None
    done = get_job(db, job.id)
    assert (done.status, done.converted) == ("cancelled", 6) and done.finished_at is not None
    outcomes = [r.outcome for _, r in sorted(results(db, job.id).items())]
    assert outcomes == ["converted"] * 6 + ["cancelled"] * 14
    assert results(db, job.id)[ids[-1]].reason == "The job was cancelled before this lead was converted."
    with pytest.raises(Conflict):
        bulk.cancel(db.session, done)
    assert bulk.run_job(db.session, job.id) is None  # a cancelled job is never run again


def test_a_queued_job_cancelled_before_it_starts(db, admin, users):
    ids = add_leads(db, users["sales"], 3)
    job = bulk.create_job(db.session, admin, {"lead_ids": ids, **OPTIONS})
    bulk.cancel(db.session, job)
    assert get_job(db, job.id).status == "cancelled"
    assert bulk.run_job(db.session, job.id) is None
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 0


def test_a_graceful_stop_puts_the_job_back_at_its_last_chunk(db, admin, users):
    ids = add_leads(db, users["sales"], 12)
    job = bulk.create_job(db.session, admin, {"lead_ids": ids, **OPTIONS})
    asked = iter([False, False, True])
    assert bulk.run_job(db.session, job.id, chunk_size=5, should_stop=lambda: next(asked)) == "queued"
    left = get_job(db, job.id)
    assert (left.status, left.processed) == ("queued", 10)
    assert bulk.run_job(db.session, job.id, chunk_size=5) == "done"
    assert get_job(db, job.id).converted == 12
    assert_each_converted_once(db, ids)


def test_a_failing_job_is_marked_failed_with_the_reason(db, admin, users, monkeypatch):
    ids = add_leads(db, users["sales"], 3)
    job = bulk.create_job(db.session, admin, {"lead_ids": ids, **OPTIONS})

    def boom(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(bulk, "convert_chunk", boom)
    with pytest.raises(ValueError):
        bulk.run_job(db.session, job.id)
    failed = get_job(db, job.id)
    assert (failed.status, failed.error, failed.processed) == ("failed", "ValueError: boom", 0)


def test_overlapping_jobs_convert_each_lead_once(db, admin, users):
    """Two jobs over overlapping selections, run one after the other: the second skips what the
    first converted, "already converted", and merges into the accounts it created."""
    ids = add_leads(db, users["sales"], 30)
    first = bulk.create_job(db.session, admin, {"lead_ids": ids[:20], **OPTIONS})
    second = bulk.create_job(db.session, admin, {"lead_ids": ids[10:], **OPTIONS})
    assert bulk.run_job(db.session, first.id, chunk_size=7) == "done"
    assert bulk.run_job(db.session, second.id, chunk_size=7) == "done"
    a, b = get_job(db, first.id), get_job(db, second.id)
    assert (a.converted, b.converted, b.skipped) == (20, 10, 10)
    assert {r.reason for r in results(db, second.id).values() if r.outcome == "skipped"} == {
        "This lead has already been converted."}
    assert_each_converted_once(db, ids)


def test_immediate_mode_runs_the_job_when_it_is_enqueued(app, db, admin, users):
    ids = add_leads(db, users["sales"], 5)
    app.config["HUEY_IMMEDIATE"] = True
    job = jobs.start_bulk_convert(app, admin, {"lead_ids": ids, **OPTIONS})
    assert (job.status, job.converted) == ("done", 5)


# --- real workers, killed ---------------------------------------------------------------------------
WORKER = """
import json, logging, sys
from webapp import create_app
from webapp.jobs import run_worker
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
run_worker(create_app(json.loads(sys.argv[1])), 1)
"""


def start_worker(config: dict, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(config)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


def wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


@pytest.fixture(params=["sqlite", "redis"])
def queue_config(request, app, tmp_path):
    name = f"bulk-{uuid.uuid4().hex[:12]}"
    config = {"SECRET_KEY": "worker", "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
              "HUEY_NAME": name, "JOB_CHUNK_SIZE": 40, "JOB_CHUNK_PAUSE": 0.05, "JOB_STALE_SECONDS": 1}
    if request.param == "redis":
        config["REDIS_URL"] = REDIS_URL
    else:
        config["HUEY_FILE"] = str(tmp_path / "huey.sqlite3")
    app.config.update(config)
    app.extensions.pop("huey", None)
    yield config
    huey = app.extensions.pop("huey", None)
    if huey is not None and request.param == "redis":
        huey.flush()


def test_a_real_worker_killed_mid_job_resumes_and_converts_each_lead_once(app, db, admin, users, queue_config,
                                                                          tmp_path):
    """SIGKILL the consumer mid-job, start another: every lead converted exactly once, whole
    chunks only, the counts right, one account per shared company."""
    ids = add_leads(db, users["sales"], 600)
    log = tmp_path / "worker.log"
    job = jobs.start_bulk_convert(app, admin, {"lead_ids": ids, **OPTIONS})
    assert job.status == "queued", job.error
    worker = start_worker(queue_config, log)
    try:
        wait_for(lambda: get_job(db, job.id).processed >= 120, 60, "the first chunks", log)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    left = get_job(db, job.id)
    assert left.status == "running" and 120 <= left.processed < 600, left.error
    assert left.processed % 40 == 0 and left.converted == left.processed  # whole chunks only
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == left.processed

    time.sleep(1.1)  # the heartbeat goes stale: the next worker takes the job up when it starts
    worker = start_worker(queue_config, log)
    try:
        wait_for(lambda: get_job(db, job.id).status == "done", 120, "the job to finish", log)
    finally:
        stop(worker)
    done = get_job(db, job.id)
    assert (done.processed, done.total, done.converted, done.skipped, done.failed) == (600, 600, 600, 0, 0)
    assert {r.outcome for r in results(db, job.id).values()} == {"converted"}
    assert_each_converted_once(db, ids)


def test_two_workers_on_overlapping_jobs_convert_each_lead_once(app, db, admin, users, queue_config, tmp_path):
    """Two consumers, two jobs whose selections overlap and share new companies: each lead is
    converted once (by one job; the other skips it), each company gives one account."""
    ids = add_leads(db, users["sales"], 400, company_every=5)
    log = tmp_path / "workers.log"
    first = jobs.start_bulk_convert(app, admin, {"lead_ids": ids[:280], **OPTIONS})
    second = jobs.start_bulk_convert(app, admin, {"lead_ids": ids[120:][::-1], **OPTIONS})
    workers = [start_worker(queue_config, log) for _ in range(2)]
    try:
        wait_for(lambda: {get_job(db, j.id).status for j in (first, second)} == {"done"}, 120,
                 "both jobs to finish", log)
    finally:
        for worker in workers:
            stop(worker)
    a, b = get_job(db, first.id), get_job(db, second.id)
    assert (a.processed, b.processed) == (280, 280) and a.failed == b.failed == 0
    assert a.converted + b.converted == 400 and a.skipped + b.skipped == 160
    both = results(db, first.id), results(db, second.id)
    for lead_id in ids[120:280]:
        assert sorted(r[lead_id].outcome for r in both) == ["converted", "skipped"]
    assert_each_converted_once(db, ids)
