"""Fixtures: a fresh database per test (SQLite, or PostgreSQL when TEST_DATABASE_URL is set),
the app, a client, users of every role, and small record builders."""

from __future__ import annotations

import os
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from webapp import create_app
from webapp.extensions import db as _db
from webapp.models import Account, ApiToken, Contact, Deal, Lead, Note, Pipeline, Task, User
from webapp.reference import ensure_reference_data

PG_URL = os.environ.get("TEST_DATABASE_URL")
ROLES = ("admin", "manager", "sales", "viewer")
PASSWORD = "correct horse battery"
User.password_method = "pbkdf2:sha256:1000"  # a fast hash: the suite creates many users


def _pg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@pytest.fixture(scope="session")
def _pg_schema():
    """On PostgreSQL: build the schema once per run; tests truncate instead of rebuilding."""
    if not PG_URL:
        yield None
        return
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": _pg_url(PG_URL)})
    with app.app_context():
        _db.drop_all()
        _db.create_all()
        _db.session.remove()
        _db.engine.dispose()
    yield _pg_url(PG_URL)


@pytest.fixture
def app(request, tmp_path, _pg_schema):
    csrf = request.node.get_closest_marker("csrf") is not None
    uri = _pg_schema or f"sqlite:///{tmp_path / 'test.sqlite3'}"
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": uri,
        "WTF_CSRF_ENABLED": csrf,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "SERVER_NAME": "localhost",
        "RATELIMIT_ENABLED": False,  # tests/routes/test_security.py turns it on
    })
    with app.app_context():
        if _pg_schema:
            tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
            _db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            _db.session.commit()
        else:
            _db.create_all()
        ensure_reference_data(_db.session)
        _db.session.commit()
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    app.test_client_class = FreshUserClient
    return app.test_client()


class FreshUserClient(FlaskClient):
    """The fixture keeps one app context open for the whole test, so what a request caches in
    `g` would survive to the next one: Flask-Login's user (g._login_user), the API's token
    owner (g.api_user) and Flask-Babel's locale and time zone. Forget them each time."""

    def open(self, *args, **kwargs):
        from flask import g

        for key in ("_login_user", "api_user", "_flask_babel"):
            g.pop(key, None)
        return super().open(*args, **kwargs)


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(role: str = "sales", **kw) -> User:
        n = next(counter)
        user = User(email=kw.pop("email", f"{role}{n}@example.com"), name=kw.pop("name", f"{role.title()} {n}"),
                    role_key=role, **kw)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def users(make_user, db) -> dict[str, User]:
    """One user per role; the sales user reports to the manager, who shares their team."""
    from webapp.models import Team

    team = Team(name="North")
    db.session.add(team)
    db.session.commit()
    manager = make_user("manager", email="manager@example.com", team_id=team.id)
    return {
        "admin": make_user("admin", email="admin@example.com"),
        "manager": manager,
        "sales": make_user("sales", email="sales@example.com", manager_id=manager.id, team_id=team.id),
        "viewer": make_user("viewer", email="viewer@example.com"),
        "other_sales": make_user("sales", email="other@example.com"),
    }


def login(client, user: User | None) -> None:
    """Sign the test client in as `user` (None: anonymous) without going through the form."""
    # Requests reuse the test's app context, so Flask-Login's per-context cache of the
    # current user (g._login_user) must go, or a second sign-in in one test is ignored.
    from flask import g

    for key in ("_login_user", "api_user", "_flask_babel"):
        g.pop(key, None)
    with client.session_transaction() as session:
        session.clear()
        if user is not None:
            session["_user_id"] = str(user.id)
            session["_fresh"] = True


@pytest.fixture
def as_user(client, users):
    """as_user("sales") signs the client in with that role (or "anonymous") and returns it."""

    def sign_in(role: str):
        login(client, None if role == "anonymous" else users[role])
        return client

    return sign_in


@pytest.fixture
def api_headers(db):
    def headers(user: User) -> dict[str, str]:
        row, token = ApiToken.issue(user, "test")
        db.session.add(row)
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return headers


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _builder(db, model, defaults):
    def build(**kw):
        values = {**defaults(), **kw}
        tags = values.pop("tags", None)
        obj = model(**values)
        db.session.add(obj)
        db.session.flush()
        if tags:
            from webapp.services.tags import set_tags

            set_tags(db.session, model.__tablename__[:-1], obj.id, tags)
        db.session.commit()
        return obj

    return build


@pytest.fixture
def make_lead(db):
    return _builder(db, Lead, lambda: {"first_name": "Charles", "last_name": "Stone",
                                       "company": "Zylker Inc.", "email": "charles.s@zylker.com"})


@pytest.fixture
def make_account(db):
    return _builder(db, Account, lambda: {"name": "Zylker Inc."})


@pytest.fixture
def make_contact(db):
    return _builder(db, Contact, lambda: {"first_name": "Charles", "last_name": "Stone"})


@pytest.fixture
def make_deal(db):
    def defaults():
        pipeline = db.session.query(Pipeline).filter_by(is_default=True).one()
        return {"name": "Zylker deal", "pipeline_id": pipeline.id, "stage": "Qualification"}

    return _builder(db, Deal, defaults)


@pytest.fixture
def make_note(db):
    return _builder(db, Note, lambda: {"body": "Met at the fair", "parent_type": "lead", "parent_id": 1})


@pytest.fixture
def make_task(db):
    return _builder(db, Task, lambda: {"subject": "Call back", "parent_type": "lead", "parent_id": 1})


# Columns a refused request may still write: bookkeeping, not the record it was refused.
_BOOKKEEPING = {("api_tokens", "last_used_at")}


def db_rows(db) -> dict[str, list[tuple]]:
    """Every row of every table (bookkeeping columns left out), in key order."""
    from sqlalchemy import select

    out = {}
    for table in db.metadata.sorted_tables:
        cols = [c for c in table.columns if (table.name, c.name) not in _BOOKKEEPING]
        order = list(table.primary_key.columns) or cols
        out[table.name] = [tuple(r) for r in db.session.execute(select(*cols).order_by(*order))]
    return out


def assert_unchanged(db, before: dict[str, list[tuple]]) -> None:
    """A refused write wrote nothing: every table holds exactly the rows of `before = db_rows(db)`."""
    after = db_rows(db)
    changed = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))
    assert not changed, f"the refused request changed {changed}"
