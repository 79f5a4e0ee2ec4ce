"""e2e: an administrator starts the rebuild of the duplicate keys and watches it finish; the list
shows bulk conversions in every status, labelled, in English and French.

This module runs its own live server (with 1,500 leads whose keys are stale, so as not to
change the shared e2e data) and a real queue worker process on its own SqliteHuey file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect
from sqlalchemy import insert, select
from werkzeug.serving import make_server

from e2e.conftest import PASSWORD
from webapp import create_app
from webapp.extensions import db
from webapp.models import Job, Lead, User, utcnow
from webapp.reference import ensure_reference_data

ROOT = Path(__file__).resolve().parent.parent
SHOT = Path("/tmp/shots/admin_jobs.png")
LEADS = 1500
WORKER = """
import json, sys
from webapp import create_app
from webapp.jobs import run_worker
run_worker(create_app(json.loads(sys.argv[1])), 1)
"""


@pytest.fixture(scope="module")
def worker_config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e-jobs")
    return {"SECRET_KEY": "e2e-jobs", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'jobs.sqlite3'}",
            "HUEY_FILE": str(folder / "huey.sqlite3"), "UPLOAD_FOLDER": str(folder / "uploads"),
            # Small chunks with a pause, so that the bar is seen moving.
            "JOB_CHUNK_SIZE": 100, "JOB_CHUNK_PAUSE": 0.1}


@pytest.fixture(scope="module")
def live_app(worker_config):
    app = create_app({**worker_config, "TESTING": False})
    with app.app_context():
        db.create_all()
        ensure_reference_data(db.session)
        from webapp.cli import create_user

        create_user("admin@example.com", PASSWORD, "admin", "Ada Admin")
        db.session.commit()
        db.session.execute(insert(Lead.__table__), [
            {"first_name": f"Anne{i}", "last_name": "Martin", "company": f"Zylker {i} SARL",
             "email": f"Anne.{i}@Zylker.COM", "status": "new", "currency": "EUR", "converted": False,
             "email_opt_out": False, "created_at": utcnow(), "updated_at": utcnow()}
            for i in range(LEADS)])
        db.session.commit()
        db.session.remove()
    return app


@pytest.fixture(scope="module")
def live_server(live_app):
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def worker(worker_config, tmp_path_factory):
    log = tmp_path_factory.mktemp("e2e-jobs-log") / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(worker_config)],
                                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdout=out, stderr=subprocess.STDOUT)
    yield process
    process.send_signal(2)  # SIGINT: a graceful stop
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_an_admin_starts_the_rebuild_and_sees_it_finish(page, live_server, live_app, login, worker):
    login("admin@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    # /admin/ is the overview of the sections (routes/admin SECTIONS): the jobs are one of them.
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Background jobs").click()
    page.get_by_role("heading", name="Background jobs", level=1).wait_for()
    assert page.get_by_text("No job has run yet.").is_visible()

    button = page.get_by_role("button", name="Rebuild duplicate keys")
    button.focus()
    page.keyboard.press("Enter")  # keyboard-usable: a real button in a real form
    page.get_by_text("The rebuild of the duplicate keys was started (job #1).").wait_for()

    row = page.locator("#job-1")
    bar = row.get_by_role("progressbar", name="Progress of job 1")
    bar.wait_for()
    # htmx polls the row every second: it moves to Running, then Done, without a reload.
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    try:
        row.get_by_text("Running", exact=True).wait_for(timeout=30_000)
        page.screenshot(path=str(SHOT.with_name("admin_jobs_running.png")), full_page=True)
    except PlaywrightTimeout:  # a fast worker may finish between two polls
        pass
    row.get_by_text("Done", exact=True).wait_for(timeout=90_000)
    assert bar.get_attribute("max") == str(LEADS) and bar.get_attribute("value") == str(LEADS)
    assert row.get_by_text(f"{LEADS:,} of {LEADS:,} rows (100 %)").is_visible()
    assert page.url.endswith("/admin/jobs")
    assert row.get_attribute("hx-trigger") is None  # polling stopped

    page.screenshot(path=str(SHOT), full_page=True)

    with live_app.app_context():
        job = db.session.scalar(select(Job))
        assert (job.status, job.processed, job.total, job.params["changed"]) == ("done", LEADS, LEADS, LEADS)
        assert db.session.scalar(select(Lead.email_norm).where(Lead.id == 1)) == "anne.0@zylker.com"
        db.session.remove()


def test_the_admin_lists_bulk_conversions_in_every_status(page, live_server, live_app, login):
    """A bulk conversion of the administrator's in each status, labelled, in English and French."""
    from webapp.services import bulk, keys

    with live_app.app_context():
        admin = db.session.scalar(select(User).where(User.email == "admin@example.com"))
        lead_ids = list(db.session.scalars(select(Lead.id).order_by(Lead.id).limit(20)))
        made = {}
        for status, ids in (("done", lead_ids[:3]), ("failed", lead_ids[3:5]), ("cancelled", lead_ids[5:10]),
                            ("running", lead_ids[10:15]), ("queued", lead_ids[15:20])):
            job = bulk.create_job(db.session, admin, {"lead_ids": ids})
            made[status] = job.id
            if status == "done":
                bulk.run_job(db.session, job.id)
            elif status == "failed":
                keys.fail(db.session, job.id, "ValueError: the engine stopped")
            elif status in ("cancelled", "running"):
                asked = iter([False, True])  # one chunk of 2, then the worker lets go
                bulk.run_job(db.session, job.id, chunk_size=2, should_stop=lambda asked=asked: next(asked))
                keys._claim(db.session, job.id, utcnow())
                if status == "cancelled":
                    bulk.cancel(db.session, db.session.get(Job, job.id))
        db.session.remove()

    english = {"done": "Done", "failed": "Failed", "cancelled": "Cancelled", "running": "Running", "queued": "Queued"}
    login("admin@example.com")
    page.goto(f"{live_server}/admin/jobs")
    for status, job_id in made.items():
        row = page.locator(f"#job-{job_id}")
        expect(row.locator("[data-job-kind]")).to_have_text("Bulk conversion")
        expect(row.locator("[data-job-status]")).to_have_text(english[status])
    expect(page.locator(f"#job-{made['done']} [data-count=converted]")).to_have_text("3")
    expect(page.locator(f"#job-{made['cancelled']} [data-count=converted]")).to_have_text("2")
    expect(page.locator(f"#job-{made['running']}")).to_have_attribute("hx-trigger", "every 1s")
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT.with_name("jobs_admin_en.png")), full_page=True)

    page.locator(".lang-switch button[value=fr]").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    for status, job_id in made.items():
        row = page.locator(f"#job-{job_id}")
        expect(row.locator("[data-job-kind]")).to_have_text("Conversion en masse")
        expect(row.locator("[data-job-status]")).not_to_have_text(english[status])
        expect(row.locator("[data-job-status]")).not_to_have_text(status)
        assert "bulk_convert" not in row.inner_text()
    page.screenshot(path=str(SHOT.with_name("jobs_admin_fr.png")), full_page=True)

    # A bulk conversion's row leads to its own page: the results, by outcome.
    page.locator(f"#job-{made['done']} th a").click()
    page.wait_for_url(f"{live_server}/jobs/{made['done']}")
    expect(page.locator("#job-results tr[data-outcome=converted]")).to_have_count(3)
    page.locator(".lang-switch button[value=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
