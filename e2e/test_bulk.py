"""e2e (issue 9, C8.3-C8.5): select leads by keyboard (with a Shift range) and convert them with a
deal; "select all matching" over several pages; watch the progress bar finish; download the CSV.

Jobs run on a worker thread of this module (bulk.run_job in small chunks with a pause, so the
progress bar is seen moving), the queue's own messages going to a throw-away SqliteHuey file."""

from __future__ import annotations

import csv
import io
import re
import threading
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from e2e.conftest import screenshot
from webapp.extensions import db
from webapp.models import Deal, Job, Lead, User
from webapp.services import bulk


@pytest.fixture
def worker(live_app, tmp_path):
    """A worker thread running queued bulk jobs (5 leads a chunk, 0.2 s apart)."""
    saved = {k: live_app.config.get(k) for k in ("HUEY_FILE",)}
    live_app.config["HUEY_FILE"] = str(tmp_path / "huey.sqlite3")
    live_app.extensions.pop("huey", None)
    stop = threading.Event()

    def run():
        while not stop.is_set():
            with live_app.app_context():
                ids = list(db.session.scalars(select(Job.id).where(Job.kind == bulk.KIND, Job.status == "queued")))
                for job_id in ids:
                    bulk.run_job(db.session, job_id, chunk_size=5, pause=0.2)
                db.session.remove()
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)
    with live_app.app_context():  # the shared sales user back in English, whatever happened
        db.session.query(User).filter(User.email == "sales@example.com").update({"language": None})
        db.session.commit()
        db.session.remove()
    live_app.config.update(saved)
    live_app.extensions.pop("huey", None)


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
