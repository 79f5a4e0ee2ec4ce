"""e2e: a live server on a free port with its own SQLite database, driven by Debian's Chromium."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from webapp import create_app
from webapp.extensions import db
from webapp.models import Job, User
from webapp.reference import ensure_reference_data
from webapp.services import bulk

PASSWORD = "e2e password 123"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
User.password_method = "pbkdf2:sha256:1000"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    app = create_app({
        "TESTING": False,
        "SECRET_KEY": "e2e-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'e2e.sqlite3'}",
        "UPLOAD_FOLDER": str(folder / "uploads"),
        "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
        "RATELIMIT_ENABLED": False,  # every test signs in: login throttling is tested in tests/
    })
    with app.app_context():
        db.create_all()
        ensure_reference_data(db.session)
        from webapp.services.users import create_user

        manager = create_user("manager@example.com", PASSWORD, "manager", "Maud Manager", team_name="North")
        create_user("admin@example.com", PASSWORD, "admin", "Ada Admin")
        create_user("sales@example.com", PASSWORD, "sales", "Sam Sales", manager=manager, team_name="North")
        create_user("viewer@example.com", PASSWORD, "viewer", "Vic Viewer")
        db.session.commit()
    return app


@pytest.fixture(scope="session")
def live_server(live_app):
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def app_db(live_app):
    """Check outcomes in the database the live server writes to."""
    with live_app.app_context():
        yield db
        db.session.remove()


@pytest.fixture
def login(page, live_server):
    def sign_in(email: str = "sales@example.com"):
        page.goto(f"{live_server}/login")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server}/")
        return page

    return sign_in


@pytest.fixture
def worker(live_app, tmp_path):
    """A worker thread running queued bulk jobs (5 leads a chunk, 0.2 s apart), the queue's own
    messages going to a throw-away SqliteHuey file (test_bulk.py, test_board_bulk.py)."""
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
    with live_app.app_context():  # the shared sales user back in English (a test may switch it)
        db.session.query(User).filter(User.email == "sales@example.com").update({"language": None})
        db.session.commit()
        db.session.remove()
    live_app.config.update(saved)
    live_app.extensions.pop("huey", None)

def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-results/screenshots (not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
