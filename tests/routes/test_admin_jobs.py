"""The admin jobs page: administrators only, starting a key rebuild, the polled progress row, every
kind and status of job with its label (English and French)."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import func, select, update

from tests.conftest import csrf_token_from, login
from tests.unit.test_jobs import add_stale_leads, wrong_keys
from webapp import jobs
from webapp.models import Job, Lead
from webapp.services import keys

HX = {"HX-Request": "true"}


@pytest.fixture
def queue(app, tmp_path):
    """A SqliteHuey file of the test's own: jobs stay queued (no consumer runs)."""
    app.config["HUEY_FILE"] = str(tmp_path / "huey.sqlite3")
    app.extensions.pop("huey", None)
    yield jobs
    app.extensions.pop("huey", None)


def job_count(db) -> int:
    return db.session.scalar(select(func.count(Job.id)))


@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_the_admin_area_is_refused_to_everyone_but_administrators(as_user, db, role, queue):
    client = as_user(role)
    assert client.get("/admin/jobs").status_code == 403
    assert client.get("/admin/").status_code == 403
    assert client.post("/admin/jobs/rebuild-keys").status_code == 403
    job = keys.create_job(db.session)
    assert client.get(f"/admin/jobs/{job.id}", headers=HX).status_code == 403
    assert job_count(db) == 1  # nothing was started


def test_anonymous_visitors_are_sent_to_the_login(as_user, db):
    response = as_user("anonymous").post("/admin/jobs/rebuild-keys")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert job_count(db) == 0


def test_only_administrators_see_the_admin_link(as_user):
    assert 'href="/admin/"' in as_user("admin").get("/leads/").get_data(as_text=True)
    assert 'href="/admin/"' not in as_user("manager").get("/leads/").get_data(as_text=True)


def test_an_administrator_starts_a_rebuild_and_it_is_queued(as_user, db, users, queue):
    add_stale_leads(db, 3)
    client = as_user("admin")
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "No job has run yet." in page and "Rebuild duplicate keys" in page

    response = client.post("/admin/jobs/rebuild-keys")
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/jobs")
    job = db.session.scalar(select(Job))
    assert (job.kind, job.status, job.total, job.created_by) == ("rebuild_keys", "queued", 3,
                                                                 users["admin"].id)
    assert queue.huey_for(client.application).pending_count() == 1  # only its id is sent

    page = client.get("/admin/jobs").get_data(as_text=True)
    assert f"The rebuild of the duplicate keys was started (job #{job.id})." in page
    row = re.search(rf'<tr id="job-{job.id}".*?</tr>', page, re.S).group(0)
    assert 'hx-trigger="every 1s"' in row and "Queued" in row and users["admin"].display_name in row
    assert '<progress max="3" value="0"' in row

    # One rebuild at a time: a second click while it is queued starts nothing.
    page = client.post("/admin/jobs/rebuild-keys", follow_redirects=True).get_data(as_text=True)
    assert f"A rebuild of the duplicate keys is already under way (job #{job.id})." in page
    assert job_count(db) == 1


def test_the_progress_row_polls_while_running_and_stops_when_done(as_user, db, queue):
    add_stale_leads(db, 5)
    client = as_user("admin")
    job = keys.create_job(db.session, chunk_size=2)
    asked = iter([False, True])
    keys.run_job(db.session, job.id, should_stop=lambda: next(asked))  # one chunk, then stop
    keys._claim(db.session, job.id, keys.utcnow())  # running again, 2 of 5 done

    response = client.get(f"/admin/jobs/{job.id}", headers=HX)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    row = response.get_data(as_text=True)
    assert row.strip().startswith("<tr") and "<html" not in row
    assert f'hx-get="/admin/jobs/{job.id}"' in row and 'hx-trigger="every 1s"' in row
    assert '<progress max="5" value="2"' in row and "2 of 5 rows (40 %)" in row and "Running" in row

    db.session.rollback()
    keys.release(db.session, db.session.get(Job, job.id))
    keys.run_job(db.session, job.id)
    row = client.get(f"/admin/jobs/{job.id}", headers=HX).get_data(as_text=True)
    assert "hx-trigger" not in row and "Done" in row  # polling stops
    assert '<progress max="5" value="5"' in row and "5 of 5 rows (100 %)" in row
    assert wrong_keys(db) == []

    # Without HX-Request: the job's own page.
    page = client.get(f"/admin/jobs/{job.id}").get_data(as_text=True)
    assert "<html" in page and f"Job #{job.id}" in page


def test_a_failed_job_shows_its_error(as_user, db):
    job = keys.create_job(db.session)
    keys.fail(db.session, job.id, "ValueError: boom")
    row = as_user("admin").get(f"/admin/jobs/{job.id}", headers=HX).get_data(as_text=True)
    assert "Failed" in row and "ValueError: boom" in row and "hx-trigger" not in row


def test_a_queue_that_is_down_is_reported_not_a_500(as_user, app, db):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    client = as_user("admin")
    response = client.post("/admin/jobs/rebuild-keys", follow_redirects=True)
    assert response.status_code == 200
    assert "The rebuild could not be started: The queue could not be reached" in response.get_data(as_text=True)
    assert db.session.scalar(select(Job.status)) == "failed"


def test_unknown_jobs_are_404(as_user):
    client = as_user("admin")
    assert client.get("/admin/jobs/999", headers=HX).status_code == 404
    assert client.get("/admin/jobs/99999999999").status_code == 404


def test_jobs_are_listed_newest_first_twenty_a_page(as_user, db):
    for _ in range(23):
        keys.create_job(db.session)
    client = as_user("admin")
    page = client.get("/admin/jobs").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'<tr id="job-(\d+)"', page)]
    assert ids == list(range(23, 3, -1))
    assert 'href="/admin/jobs?before=4"' in page
    older = client.get("/admin/jobs?before=4").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'<tr id="job-(\d+)"', older)] == [3, 2, 1]
    assert "Older jobs" not in older and "Newest jobs" in older
    assert client.get("/admin/jobs?before=abc").status_code == 200


@pytest.mark.csrf
def test_starting_a_rebuild_needs_the_csrf_token(as_user, db, queue):
    client = as_user("admin")
    assert client.post("/admin/jobs/rebuild-keys").status_code == 400
    assert job_count(db) == 0
    token = csrf_token_from(client.get("/admin/jobs").get_data(as_text=True))
    assert client.post("/admin/jobs/rebuild-keys", data={"csrf_token": token}).status_code == 303
    assert job_count(db) == 1


# --- every kind and status, labelled (a bulk conversion in each status, in English and French) ---

def _bulk_job(db, users, status: str) -> Job:
    """A bulk conversion job of the sales user, in `status` (set as a worker or Cancel would)."""
    from webapp.services import bulk

    lead = Lead(first_name="Bulk", last_name="Label", email="bulk.label@example.com", owner_id=users["sales"].id)
    db.session.add(lead)
    db.session.commit()
    job = bulk.create_job(db.session, users["sales"], {"lead_ids": [lead.id]})
    db.session.execute(update(Job).where(Job.id == job.id).values(status=status))
    db.session.commit()
    db.session.expire_all()
    return db.session.get(Job, job.id)


def _row(html: str, job_id: int) -> str:
    return re.search(rf'<tr id="job-{job_id}".*?</tr>', html, re.S).group(0)


def _labels(row: str) -> tuple[str, str]:
    """The kind and the status a row shows (their visible text)."""
    kind = re.search(r"<span data-job-kind>([^<]*)</span>", row).group(1)
    status = re.search(r'<span class="badge badge-job-\w+" data-job-status>([^<]*)</span>', row).group(1)
    return html_lib.unescape(kind), html_lib.unescape(status)


def _visible(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))


def test_every_job_kind_and_status_has_a_label():
    from webapp.models.jobs import JOB_STATUSES
    from webapp.routes.admin import jobs as admin_jobs

    assert set(admin_jobs.STATUS_LABELS) == set(JOB_STATUSES)
    assert set(admin_jobs.KIND_LABELS) == set(jobs.RUNNERS)


ENGLISH = {"queued": "Queued", "running": "Running", "done": "Done", "failed": "Failed", "cancelled": "Cancelled"}


@pytest.mark.parametrize("status", list(ENGLISH))
def test_a_bulk_conversion_is_listed_with_its_labels(as_user, db, users, status):
    job = _bulk_job(db, users, status)
    client = as_user("admin")
    row = _row(client.get("/admin/jobs").get_data(as_text=True), job.id)
    assert _labels(row) == ("Bulk conversion", ENGLISH[status])
    assert f'href="/jobs/{job.id}"' in row  # its own page: the results, Cancel
    assert "0 of 1 lead (0 %)" in row
    assert re.findall(r'<dt>(\w+)</dt> <dd data-count="(\w+)">0</dd>', row) == [
        ("Converted", "converted"), ("Skipped", "skipped"), ("Failed", "failed")]
    assert ("hx-trigger" in row) == (status in ("queued", "running"))  # polls only while it runs
    # The polled row itself, and the job's admin page, say the same.
    fragment = client.get(f"/admin/jobs/{job.id}", headers=HX).get_data(as_text=True)
    assert _labels(fragment) == ("Bulk conversion", ENGLISH[status])
    page = client.get(f"/admin/jobs/{job.id}").get_data(as_text=True)
    assert f"Job #{job.id} · Bulk conversion" in page


@pytest.mark.parametrize("status", list(ENGLISH))
def test_a_bulk_conversion_is_listed_in_french_never_with_its_raw_keys(client, db, users, status):
    from flask_babel import force_locale

    from webapp.routes.admin import jobs as admin_jobs

    job = _bulk_job(db, users, status)
    users["admin"].language = "fr"
    db.session.commit()
    login(client, users["admin"])
    html = client.get("/admin/jobs").get_data(as_text=True)
    assert 'lang="fr"' in html
    row = _row(html, job.id)
    kind, word = _labels(row)
    assert kind != "bulk_convert" and word != status  # never the raw keys
    assert "bulk_convert" not in _visible(row)
    with force_locale("fr"):  # the catalogue's words (the English ones until a msgid is merged)
        assert (kind, word) == (str(admin_jobs.KIND_LABELS["bulk_convert"]), str(admin_jobs.STATUS_LABELS[status]))
    assert kind == "Conversion en masse" and word != ENGLISH[status]  # already in the catalogue
