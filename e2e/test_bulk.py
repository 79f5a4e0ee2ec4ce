"""e2e (issue 9, C8.3-C8.5): select leads by keyboard (with a Shift range) and convert them with a
deal; "select all matching" over several pages; watch the progress bar finish; download the CSV;
the results filling in while a job runs, under the reader's filter.

Jobs run on the `worker` fixture's thread (e2e/conftest.py: bulk.run_job in small chunks with a
pause, so the progress bar is seen moving), the queue's own messages going to a throw-away
SqliteHuey file."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import func, select

from e2e.conftest import screenshot
from webapp.models import Deal, Job, Lead, User, utcnow
from webapp.services import bulk, keys


def _leads(app_db, tag: str, n: int) -> list[int]:
    sales = app_db.session.scalar(select(User).where(User.email == "sales@example.com"))
    rows = [Lead(first_name=f"{tag}{i:02d}", last_name="Zed", company=f"{tag} Co {i % 4}",
                 email=f"{tag.lower()}{i}@e2e.example", owner_id=sales.id, status="new") for i in range(n)]
    app_db.session.add_all(rows)
    app_db.session.commit()
    return [r.id for r in rows]


def _language(page, live_server, code: str) -> None:
    page.locator(f".lang-switch button[value={code}]").click()
    page.wait_for_load_state()


def test_select_by_keyboard_and_convert_with_a_deal(page, live_server, login, app_db, worker):
    ids = _leads(app_db, "Kbd", 5)
    login()
    page.goto(f"{live_server}/leads/?q=Kbd")
    rows = page.locator("#lead-rows tr[data-href]")
    expect(rows).to_have_count(5)
    page.evaluate("window.sessionStorage.clear()")
    rows.nth(0).focus()
    page.keyboard.press("Space")  # row 0
    page.keyboard.press("ArrowDown")  # to row 1 (leads.js)
    page.keyboard.press("Shift+ArrowDown")  # rows 1 and 2 (selection.js)
    bar = page.locator("#selection-bar")
    expect(bar).to_be_visible()
    expect(bar.locator("[data-selection-count]")).to_have_text("3 leads selected")
    expect(rows.nth(2)).to_be_focused()
    expect(rows.nth(3).locator("input.row-select")).not_to_be_checked()
    page.keyboard.press("x")  # x toggles: row 2 off
    expect(bar.locator("[data-selection-count]")).to_have_text("2 leads selected")
    page.keyboard.press("x")
    expect(bar.locator("[data-selection-count]")).to_have_text("3 leads selected")
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()
    expect(bar.locator("[data-selection-count]")).to_have_text("3 leads selected")

    bar.get_by_role("button", name="Convert…").click()
    panel = page.locator("#bulk-form")
    expect(panel).to_be_visible()
    expect(page.locator("#modal-title")).to_have_text("Convert 3 leads")
    page.get_by_label("Create a deal").check()
    page.get_by_label("Deal name").fill("{company} – {full_name}")
    page.get_by_label("Stage", exact=True).select_option("Qualification")
    page.locator("#add_field").select_option("amount")
    expect(page.get_by_label("Amount")).to_be_visible()
    page.get_by_label("Amount").fill("1200")
    page.get_by_label("Create a deal").check()
    expect(page.locator("#bulk-summary [data-count=deal-created]")).to_have_text("3")
    expect(page.locator("#bulk-summary [data-count=total]")).to_have_text("3")
    screenshot(page, "bulk-panel-en")
    page.get_by_role("button", name="Start the conversion").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#job-progress")).to_have_attribute("data-status", "done", timeout=15000)
    expect(page.locator("#job-progress [data-count=converted]")).to_have_text("3")
    with app_db.session.no_autoflush:
        app_db.session.expire_all()
        converted = set(app_db.session.scalars(select(Lead.id).where(Lead.id.in_(ids), Lead.converted.is_(True))))
        assert converted == set(ids[-3:])  # the list is newest first
        names = set(app_db.session.scalars(select(Deal.name).where(Deal.name.like("Kbd Co %"))))
        assert names == {"Kbd Co 0 – Kbd04 Zed", "Kbd Co 3 – Kbd03 Zed", "Kbd Co 2 – Kbd02 Zed"}
        assert app_db.session.scalar(select(func.sum(Deal.amount)).where(Deal.name.like("Kbd Co %"))) == 3600


def test_select_all_matching_over_pages_watch_the_progress_and_download_the_csv(
        page, live_server, login, app_db, worker):
    _leads(app_db, "Many", 62)
    login()
    page.goto(f"{live_server}/leads/?q=Many")
    page.evaluate("window.sessionStorage.clear()")
    page.reload()
    rows = page.locator("#lead-rows tr[data-href]")
    expect(rows).to_have_count(50)
    rows.nth(0).focus()
    page.keyboard.press("a")  # the page
    bar = page.locator("#selection-bar")
    expect(bar.locator("[data-selection-count]")).to_have_text("50 leads selected")
    bar.locator("[data-select-matching]").click()
    expect(bar.locator("[data-selection-count]")).to_have_text("All 62 leads matching this filter are selected")
    page.get_by_role("link", name="Load 50 more").click()
    expect(rows).to_have_count(62)
    expect(rows.nth(61).locator("input.row-select")).to_be_checked()  # still all matching
    bar.get_by_role("button", name="Convert…").click()
    expect(page.locator("#modal-title")).to_have_text("Convert the leads matching the filter")
    expect(page.locator("#bulk-summary [data-count=total]")).to_have_text("62")
    page.get_by_role("button", name="Start the conversion").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    progress = page.locator("#job-progress")
    expect(progress).to_have_attribute("data-status", "running", timeout=10000)
    screenshot(page, "bulk-job-running-en")
    expect(progress).to_have_attribute("data-status", "done", timeout=30000)
    expect(progress.locator("[data-count=converted]")).to_have_text("62")
    expect(page.locator("#job-results tr[data-outcome=converted]")).to_have_count(50)  # refreshed at the end
    screenshot(page, "bulk-job-done-en")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    with open(info.value.path(), encoding="utf-8") as f:
        text = f.read()
    rows_csv = list(csv.reader(io.StringIO(text)))
    assert rows_csv[0][:3] == ["Lead ID", "Lead", "Outcome"] and len(rows_csv) == 63
    assert {r[2] for r in rows_csv[1:]} == {"Converted"}

    # The same pages in French.
    _language(page, live_server, "fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    screenshot(page, "bulk-job-done-fr")
    # A tag no other e2e test uses: the e2e database is shared (q is a prefix search).
    _leads(app_db, "Bulkfr", 3)
    page.goto(f"{live_server}/leads/?q=Bulkfr")
    page.evaluate("window.sessionStorage.clear()")
    page.reload()
    page.locator("#select-page").check()
    page.locator("#selection-bar [data-bulk-convert]").click()
    expect(page.locator("#bulk-form")).to_be_visible()
    page.locator("#create_deal").check()
    expect(page.locator("#bulk-summary [data-count=total]")).to_have_text("3")
    screenshot(page, "bulk-panel-fr")  # (the worker fixture puts the user back in English)


SHOTS = Path("/tmp/shots")


def _held(app_db, job_id: int, chunks: int = 1, size: int = 2) -> None:
    """`chunks` more chunks of the job converted, then the job left running (as a worker holds it)."""
    app_db.session.expire_all()
    job = app_db.session.get(Job, job_id)
    if job.status == "running":
        keys.release(app_db.session, job)
    asked = iter([False] * chunks + [True])
    assert bulk.run_job(app_db.session, job_id, chunk_size=size, should_stop=lambda: next(asked)) == "queued"
    assert keys._claim(app_db.session, job_id, utcnow()) is not None


def _finish(app_db, job_id: int) -> None:
    app_db.session.expire_all()
    keys.release(app_db.session, app_db.session.get(Job, job_id))
    assert bulk.run_job(app_db.session, job_id) == "done"


def test_the_results_fill_in_while_the_job_runs_keeping_the_filter(page, live_server, login, app_db):
    """No worker here: the test converts the job's chunks itself, so each step is seen for sure."""
    sales = app_db.session.scalar(select(User).where(User.email == "sales@example.com"))
    ids = _leads(app_db, "Livejob", 6)
    job = bulk.create_job(app_db.session, sales, {"lead_ids": ids})
    _held(app_db, job.id)  # 2 of 6 converted, running
    SHOTS.mkdir(parents=True, exist_ok=True)
    login()
    try:
        page.goto(f"{live_server}/jobs/{job.id}")
        progress, results = page.locator("#job-progress"), page.locator("#job-results")
        expect(progress).to_have_attribute("data-status", "running")
        expect(results.locator("tr[data-outcome=converted]")).to_have_count(2)
        expect(results.locator("tr[data-outcome=pending]")).to_have_count(4)
        _held(app_db, job.id)  # 4 of 6: the table follows, no reload
        expect(results.locator("tr[data-outcome=converted]")).to_have_count(4)
        expect(progress.locator("[data-count=converted]")).to_have_text("4")
        page.screenshot(path=str(SHOTS / "jobs_running_en.png"), full_page=True)

        # The reader's filter stays while the rows come in.
        results.get_by_role("navigation", name="Filter by outcome").get_by_role("link", name="Converted").click()
        page.wait_for_url(re.compile(r"outcome=converted"))
        expect(results.locator("tr")).to_have_count(5)  # the header and 4 converted
        _finish(app_db, job.id)
        expect(progress).to_have_attribute("data-status", "done")
        expect(results.locator("tr[data-outcome=converted]")).to_have_count(6)
        expect(results.locator("tr[data-outcome=pending]")).to_have_count(0)
        expect(results.locator('a[aria-current="true"]')).to_have_text("Converted")
        expect(page.get_by_role("button", name="Cancel the job")).to_have_count(0)  # gone with the job
        expect(progress).not_to_have_attribute("hx-trigger", re.compile("."))  # polling stopped
        expect(page.locator("#job-notice [data-running]")).to_have_attribute("data-running", "0")  # the top bar too
        page.screenshot(path=str(SHOTS / "jobs_done_en.png"), full_page=True)

        # In French: a second job, running then done.
        ids = _leads(app_db, "Livefr", 6)
        other = bulk.create_job(app_db.session, sales, {"lead_ids": ids})
        _held(app_db, other.id, chunks=2)
        page.goto(f"{live_server}/jobs/{other.id}")
        _language(page, live_server, "fr")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(progress).to_have_attribute("data-status", "running")
        expect(results.locator("tr[data-outcome=converted]")).to_have_count(4)
        page.screenshot(path=str(SHOTS / "jobs_running_fr.png"), full_page=True)
        _finish(app_db, other.id)
        expect(progress).to_have_attribute("data-status", "done")
        expect(results.locator("tr[data-outcome=converted]")).to_have_count(6)
        page.screenshot(path=str(SHOTS / "jobs_done_fr.png"), full_page=True)
    finally:
        app_db.session.query(User).filter(User.email == "sales@example.com").update({"language": None})
        app_db.session.commit()
