"""The background queue and its one real job: rebuilding the normalised duplicate keys (C4.7).

The service (webapp/services/keys.py) on SQLite and PostgreSQL (the `db` fixture), and the
queue (webapp/jobs.py) on SqliteHuey and RedisHuey with a real consumer process that is
killed mid-way and started again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from webapp import jobs
from webapp.models import Account, Contact, CustomField, CustomFieldValue, Job, Lead, utcnow
from webapp.services import keys

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
LEAD_KEYS = ("email_norm", "company_norm", "name_norm", "name_rev_norm", "phone_e164")


class Killed(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs, nothing is committed."""


# --- helpers ------------------------------------------------------------------------------

def add_stale_leads(db, n: int, start: int = 0) -> None:
    """n leads inserted with Core (no before_flush): every normalised key is missing."""
    db.session.execute(insert(Lead.__table__), [
        {"first_name": f"Élodie{i}", "last_name": "D'Arc", "company": f"Zylker {i}, Inc.",
         "email": f"  Elodie.{i}@Zylker.COM ", "phone": "01 23 45 67 89", "country": "France",
         "status": "new", "currency": "EUR", "converted": False, "email_opt_out": False,
         "created_at": utcnow(), "updated_at": utcnow()}
        for i in range(start, start + n)])
    db.session.commit()


def wrong_keys(db) -> list[tuple]:
    """(table, id, key, stored, right) of every key that differs from what the model computes."""
    out = []
    for model in (Lead, Contact, Account):
        for obj in db.session.scalars(select(model).order_by(model.id)):
            columns = [c for c in ("email_norm", "company_norm", "name_norm", "name_rev_norm",
                                   "phone_e164") if hasattr(obj, c)]
            stored = {c: getattr(obj, c) for c in columns}
            obj.refresh_keys()
            out += [(model.__tablename__, obj.id, c, stored[c], getattr(obj, c))
                    for c in columns if getattr(obj, c) != stored[c]]
    db.session.rollback()
    return out


def updated_ats(db) -> dict:
    return {(m.__tablename__, i): u for m in (Lead, Contact, Account)
            for i, u in db.session.execute(select(m.id, m.updated_at))}


@pytest.fixture
def records(db):
    """Leads, contacts, accounts and custom values, some of whose keys are stale."""
    add_stale_leads(db, 12)
    db.session.add_all([Contact(first_name="Marie", last_name=f"Dupont{i}", email=f"M{i}@Ex.com",
                                phone="+44 20 7946 0958") for i in range(5)])
    db.session.add_all([Account(name=f"ACME {i} S.A.R.L.", phone="01 23 45 67 89") for i in range(4)])
    fields = {kind: CustomField(entity="contact", key=f"k_{kind}", label=kind, type=kind)
              for kind in ("text", "email", "checkbox", "decimal", "number", "date")}
    db.session.add_all(fields.values())
    db.session.commit()
    values = {"text": {"value_text": "  AB-12 Zé "}, "email": {"value_text": "X@Y.COM"},
              "checkbox": {"value_text": "true"}, "decimal": {"value_number": Decimal("12.50")},
              "number": {"value_number": Decimal(7)}, "date": {"value_date": date(2026, 1, 2)}}
    for kind, value in values.items():
        db.session.add(CustomFieldValue(field_id=fields[kind].id, parent_type="contact",
                                        parent_id=1, value_norm="stale", **value))
    db.session.commit()
    # Contacts and accounts were written through the ORM (right keys): spoil some.
    db.session.execute(update(Contact.__table__).where(Contact.id <= 2).values(email_norm="old"))
    db.session.execute(update(Account.__table__).where(Account.id == 3).values(name_norm=None))
    db.session.commit()
    return fields


EXPECTED_CUSTOM = {"text": "ab 12 ze", "email": "x@y.com", "checkbox": "true",
                   "decimal": "12.5", "number": "7", "date": "2026 01 02"}


def custom_norms(db) -> dict:
    rows = db.session.execute(select(CustomField.type, CustomFieldValue.value_norm)
                              .join(CustomField, CustomField.id == CustomFieldValue.field_id))
    return dict(rows.all())


# --- the service ----------------------------------------------------------------------------

def test_rebuild_recomputes_every_stale_key_with_the_models_rules(db, records):
    assert len(wrong_keys(db)) > 12  # every lead, two contacts, one account
    before = updated_ats(db)
    job = keys.create_job(db.session, chunk_size=5)
    assert job.status == "queued" and job.total == 12 + 5 + 4 + 6

    assert keys.run_job(db.session, job.id) == "done"

    db.session.expire_all()
    assert wrong_keys(db) == []
    assert custom_norms(db) == EXPECTED_CUSTOM
    lead = db.session.get(Lead, 1)
    assert (lead.email_norm, lead.company_norm, lead.name_norm, lead.name_rev_norm, lead.phone_e164) == (
        "elodie.0@zylker.com", "zylker 0", "elodie0 d arc", "d arc elodie0", "+33123456789")
    job = db.session.get(Job, job.id)
    assert job.status == "done" and job.processed == job.total == 27
    assert job.started_at is not None and job.finished_at is not None and job.error is None
    # Only the rows whose keys were wrong were written: 12 leads, 2 contacts, 1 account, 6 values.
    assert job.params["changed"] == 12 + 2 + 1 + 6
    # Rebuilding keys is not an edit: "recently updated" does not move.
    assert updated_ats(db) == before


def test_rebuild_writes_nothing_when_every_key_is_right(db, records):
    keys.run_job(db.session, keys.create_job(db.session).id)
    job = keys.create_job(db.session, chunk_size=4)
    assert keys.run_job(db.session, job.id) == "done"
    db.session.expire_all()
    job = db.session.get(Job, job.id)
    assert job.params["changed"] == 0 and job.processed == job.total == 27


def test_rebuild_resumes_from_the_last_committed_chunk_after_a_killed_worker(db, monkeypatch):
    add_stale_leads(db, 23)
    job = keys.create_job(db.session, chunk_size=5)
    real_chunk = keys.rebuild_chunk
    calls = []

    def dies_in_the_fourth_chunk(session, target, after_id, limit, fields=None):
        calls.append(after_id)
        result = real_chunk(session, target, after_id, limit, fields)
        if len(calls) == 4:
            raise Killed  # the chunk was written but not committed
        return result

    monkeypatch.setattr(keys, "rebuild_chunk", dies_in_the_fourth_chunk)
    with pytest.raises(Killed):
        keys.run_job(db.session, job.id)
    db.session.rollback()  # the connection dies with the process
    monkeypatch.setattr(keys, "rebuild_chunk", real_chunk)

    db.session.expire_all()
    left = db.session.get(Job, job.id)
    assert left.status == "running" and left.processed == 15
    assert left.params["cursor"] == {"leads": 15}
    assert db.session.get(Lead, 15).email_norm is not None
    assert db.session.get(Lead, 16).email_norm is None  # the 4th chunk was not kept

    # Not stale yet; stale once its heartbeat is older than the limit.
    assert keys.stale_jobs(db.session, 30) == []
    stale = keys.stale_jobs(db.session, 30, now=utcnow() + timedelta(seconds=31))
    assert [j.id for j in stale] == [job.id]
    assert keys.release(db.session, stale[0]) is True
    assert db.session.get(Job, job.id).status == "queued"

    assert keys.run_job(db.session, job.id) == "done"
    db.session.expire_all()
    done = db.session.get(Job, job.id)
    assert done.processed == done.total == 23 and done.params["changed"] == 23
    assert wrong_keys(db) == []


def test_a_job_is_claimed_by_one_worker_only(db):
    add_stale_leads(db, 3)
    job = keys.create_job(db.session)
    assert keys._claim(db.session, job.id, utcnow()) is not None
    assert keys._claim(db.session, job.id, utcnow()) is None  # already running: not again
    assert keys.run_job(db.session, job.id) is None
    assert keys.run_job(db.session, 999) is None


def test_a_worker_that_lost_its_job_stops_without_counting_twice(db, records):
    """A slow worker thought dead: the job was released and taken by another, which commits
    first; the slow one's next chunk is refused and rolled back."""
    job = keys.create_job(db.session, chunk_size=5)
    real_chunk = keys.rebuild_chunk

    def another_worker_commits_first(session, target, after_id, limit, fields=None):
        from webapp.extensions import db as _db

        with _db.engine.begin() as other:
            other.execute(update(Job.__table__).where(Job.id == job.id).values(processed=99))
        return real_chunk(session, target, after_id, limit, fields)

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(keys, "rebuild_chunk", another_worker_commits_first)
    try:
        assert keys.run_job(db.session, job.id) is None
    finally:
        monkeypatch.undo()
    db.session.expire_all()
    assert db.session.get(Job, job.id).processed == 99
    assert db.session.get(Lead, 1).email_norm is None  # its chunk was rolled back


def test_an_edit_saved_during_the_rebuild_is_not_overwritten(db, monkeypatch):
    add_stale_leads(db, 3)
    real_targets = keys.targets

    def edited_meanwhile():
        leads, *rest = real_targets()

        def compute(row, fields):
            if row["id"] == 2:  # someone saves lead 2 (keys recomputed) between read and write
                from webapp.extensions import db as _db

                with _db.engine.begin() as other:
                    other.execute(update(Lead.__table__).where(Lead.id == 2).values(
                        email="new@example.com", email_norm="new@example.com"))
            return leads.compute(row, fields)

        return (keys.Target(leads.name, leads.table, compute), *rest)

    monkeypatch.setattr(keys, "targets", edited_meanwhile)
    keys.run_job(db.session, keys.create_job(db.session).id)
    db.session.expire_all()
    assert db.session.get(Lead, 2).email_norm == "new@example.com"
    assert db.session.get(Lead, 1).email_norm == "elodie.0@zylker.com"


def test_a_graceful_stop_puts_the_job_back_in_the_queue_at_its_last_chunk(db):
    add_stale_leads(db, 10)
    job = keys.create_job(db.session, chunk_size=3)
    asked = iter([False, False, True])
    assert keys.run_job(db.session, job.id, should_stop=lambda: next(asked)) == "queued"
    db.session.expire_all()
    left = db.session.get(Job, job.id)
    assert left.status == "queued" and left.processed == 6
    assert keys.run_job(db.session, job.id) == "done"
    db.session.expire_all()
    assert db.session.get(Job, job.id).processed == 10 and wrong_keys(db) == []


def test_a_failing_job_is_marked_failed_with_the_reason(db, monkeypatch):
    add_stale_leads(db, 2)
    job = keys.create_job(db.session)

    def boom(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(keys, "rebuild_chunk", boom)
    with pytest.raises(ValueError):
        keys.run_job(db.session, job.id)
    db.session.expire_all()
    failed = db.session.get(Job, job.id)
    assert failed.status == "failed" and failed.error == "ValueError: boom"
    assert failed.finished_at is not None and failed.processed == 0


# --- the queue ------------------------------------------------------------------------------

def test_immediate_mode_runs_the_job_when_it_is_enqueued(app, db):
    add_stale_leads(db, 4)
    app.config["HUEY_IMMEDIATE"] = True
    job = jobs.start_rebuild_keys(app, chunk_size=3)
    assert job.status == "done" and job.processed == job.total == 4
    assert wrong_keys(db) == []


def test_a_queue_that_cannot_be_reached_fails_the_job_with_the_reason(app, db):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    job = jobs.start_rebuild_keys(app)
    assert job.status == "failed" and job.error.startswith("The queue could not be reached")


def test_the_periodic_recovery_enqueues_jobs_left_by_dead_workers(app, db):
    add_stale_leads(db, 4)
    app.config.update(HUEY_IMMEDIATE=True, JOB_STALE_SECONDS=1)
    job = keys.create_job(db.session)
    keys._claim(db.session, job.id, utcnow() - timedelta(seconds=5))  # its worker died
    fresh = keys.create_job(db.session)  # just queued: its message is still on its way
    assert jobs.recover(app) == [job.id]
    db.session.expire_all()
    assert db.session.get(Job, job.id).status == "done"
    assert db.session.get(Job, fresh.id).status == "queued"
    # A starting worker also sends every queued job again (a duplicate message is harmless).
    assert jobs.recover(app, on_start=True) == [fresh.id]
    db.session.expire_all()
    assert db.session.get(Job, fresh.id).status == "done"


def test_the_periodic_recovery_task_is_registered_on_the_consumer(app):
    app.config["HUEY_FILE"] = str(Path(app.instance_path) / f"huey-{uuid.uuid4().hex}.sqlite3")
    app.extensions.pop("huey", None)
    try:
        huey = jobs.huey_for(app)
        names = {t.name for t in huey._registry.periodic_tasks}
        assert names == {"recover_jobs"}
    finally:
        app.extensions.pop("huey", None)
        Path(app.config["HUEY_FILE"]).unlink(missing_ok=True)


WORKER = """
import json, logging, sys
from webapp import create_app
from webapp.jobs import run_worker
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
run_worker(create_app(json.loads(sys.argv[1])), 1)
"""


def start_worker(config: dict, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(config)], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


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
    """The web side's and the worker's configuration for one Huey storage."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    config = {"SECRET_KEY": "worker", "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
              "HUEY_NAME": name, "JOB_CHUNK_SIZE": 40, "JOB_CHUNK_PAUSE": 0.02,
              "JOB_STALE_SECONDS": 1}
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


def test_a_real_worker_killed_mid_way_resumes_and_finishes(app, db, queue_config, tmp_path):
    """On SqliteHuey (a file) and on RedisHuey (the real Redis): enqueue, SIGKILL the
    consumer mid-way, start another; every key ends right and processed == total."""
    add_stale_leads(db, 1000)
    log = tmp_path / "worker.log"
    job = jobs.start_rebuild_keys(app)
    assert job.status == "queued", job.error
    job_id = job.id

    def progress():
        db.session.expire_all()
        return db.session.get(Job, job_id)

    worker = start_worker(queue_config, log)
    try:
        wait_for(lambda: progress().processed >= 200, 30, "the first chunks", log)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    left = progress()
    assert left.status == "running" and 200 <= left.processed < 1000
    assert left.processed % 40 == 0  # whole committed chunks only
    assert left.params["cursor"]["leads"] == left.processed

    time.sleep(1.1)  # the heartbeat goes stale: the next worker takes the job up on start
    worker = start_worker(queue_config, log)
    try:
        wait_for(lambda: progress().status == "done", 60, "the job to finish", log)
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
    done = progress()
    assert done.processed == done.total == 1000 and done.params["changed"] == 1000
    assert done.error is None
    assert wrong_keys(db) == []


# --- the commands -------------------------------------------------------------------------

def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_rebuild_keys_command_enqueues_the_job_and_prints_its_id(app, db, tmp_path):
    add_stale_leads(db, 3)
    app.config["HUEY_FILE"] = str(tmp_path / "huey.sqlite3")
    app.extensions.pop("huey", None)
    result = run(app, "rebuild-keys")
    assert result.exit_code == 0, result.output
    job = db.session.scalar(select(Job))
    assert result.output.splitlines()[0] == f"job {job.id}"
    assert job.status == "queued" and job.total == 3
    assert jobs.huey_for(app).pending_count() == 1
    app.extensions.pop("huey", None)


def test_rebuild_keys_wait_runs_it_here(app, db):
    add_stale_leads(db, 3)
    result = run(app, "rebuild-keys", "--wait", "--chunk", "2")
    assert result.exit_code == 0, result.output
    assert "done: 3 of 3 rows, 3 corrected" in result.output
    assert wrong_keys(db) == []


def test_worker_command_takes_a_number_of_workers(app):
    result = run(app, "worker", "--help")
    assert result.exit_code == 0 and "--workers" in result.output
    assert run(app, "worker", "-w", "0").exit_code != 0
