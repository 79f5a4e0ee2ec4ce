"""e2e: an administrator starts the rebuild of the duplicate keys and watches it finish.

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
from sqlalchemy import insert, select
from werkzeug.serving import make_server

from e2e.conftest import PASSWORD
from webapp import create_app
from webapp.extensions import db
from webapp.models import Job, Lead, utcnow
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
    page.get_by_role("heading", name="Background jobs").wait_for()
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
