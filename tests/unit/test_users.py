"""webapp/services/users.py without a client: the password policy, create_user,
change_password, authenticate and the session-version check of the user loader."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from webapp.errors import Invalid
from webapp.models import User
from webapp.seed import DEMO_PASSWORD
from webapp.services import users as svc


@pytest.mark.parametrize(("password", "code"), [
    ("short-pw", "password_too_short"),
    ("x" * 201, "password_too_long"),
    ("nul\x00inside-long", "password_nul"),
    ("rep@example.com", "password_is_email"),
    ("REP@EXAMPLE.COM", "password_is_email"),
    ("rep@example.com-2024", "password_is_email"),
    ("password123", "password_common"),
    ("qwertyuiop", "password_common"),
    ("1234567890", "password_common"),
    ("aaaaaaaaaaaa", "password_common"),
    ("letmein1234", "password_common"),
    ("password2024", "password_common"),
])
def test_password_policy_refuses(password, code):
    problems = svc.password_problems(password, "rep@example.com")
    assert [p.code for p in problems] == [code]


@pytest.mark.parametrize("password", [
    DEMO_PASSWORD, PASSWORD, "e2e password 123", "a sturdy new passphrase", "Tr0ub4dor&3xx",
])
def test_password_policy_accepts_the_passwords_the_project_uses(password):
    assert svc.password_problems(password, "rep@example.com") == []


def test_create_user_refuses_a_weak_password_and_writes_nothing(app, db):
    with pytest.raises(Invalid) as refused:
        svc.create_user("rep@example.com", "x")
    assert [p.code for p in refused.value.errors["password"]] == ["password_too_short"]
    assert isinstance(refused.value, ValueError)  # what the CLI reports
    assert "password: must be at least 10 characters long" in str(refused.value)
    db.session.rollback()
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_create_user_reports_every_problem_at_once(app, db):
    svc.create_user("rep@example.com", "a sturdy new passphrase")
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        svc.create_user("REP@example.com", "password123", role="pope")
    assert set(refused.value.errors) == {"email", "password", "role"}
    db.session.rollback()
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_create_user_hashes_and_lowercases(app, db):
    user = svc.create_user(" Rep@Example.com ", "a sturdy new passphrase", "manager", team_name="South")
    assert user.email == "rep@example.com" and user.team.name == "South"
    assert user.check_password("a sturdy new passphrase") and "passphrase" not in user.password_hash
    assert user.session_version == 0


def test_change_password_stores_the_new_one_and_rotates_the_session_version(app, db, users):
    user = users["sales"]
    version = user.session_version
    svc.change_password(db.session, user, PASSWORD, "a sturdy new passphrase")
    db.session.commit()
    assert user.check_password("a sturdy new passphrase") and not user.check_password(PASSWORD)
    assert user.session_version != version


@pytest.mark.parametrize(("current", "new", "errors"), [
    ("wrong", "a sturdy new passphrase", {"current_password": ["password_wrong"]}),
    (PASSWORD, "short", {"new_password": ["password_too_short"]}),
    (PASSWORD, PASSWORD, {"new_password": ["password_unchanged"]}),
    (PASSWORD, "sales@example.com", {"new_password": ["password_is_email"]}),
    ("wrong", "password123", {"current_password": ["password_wrong"], "new_password": ["password_common"]}),
])
def test_change_password_refused_changes_nothing(app, db, users, current, new, errors):
    user = users["sales"]
    before = (user.password_hash, user.session_version)
    with pytest.raises(Invalid) as refused:
        svc.change_password(db.session, user, current, new)
    assert {k: [p.code for p in v] for k, v in refused.value.errors.items()} == errors
    db.session.rollback()
    db.session.expire_all()
    assert (user.password_hash, user.session_version) == before


def test_authenticate(app, db, users):
    assert svc.authenticate(db.session, " SALES@example.com", PASSWORD) is users["sales"]
    assert svc.authenticate(db.session, "sales@example.com", "wrong") is None
    assert svc.authenticate(db.session, "ghost@example.com", PASSWORD) is None
    users["sales"].active = False
    db.session.commit()
    assert svc.authenticate(db.session, "sales@example.com", PASSWORD) is None


def test_unknown_email_verifies_a_hash_of_the_same_method(app, db, monkeypatch):
    checked = []
    monkeypatch.setattr(svc, "check_password_hash", lambda h, p: checked.append(h) or False)
    assert svc.authenticate(db.session, "ghost@example.com", "whatever") is None
    assert checked and checked[0].startswith(User.password_method.split(":")[0])


def test_session_id_carries_the_version(app, db, users):
    user = users["sales"]
    assert user.get_id() == f"{user.id}:0"
    assert svc.load_session_user(db.session, user.get_id()) is user
    assert svc.load_session_user(db.session, str(user.id)) is user  # a pre-version cookie: version 0
    old = user.get_id()
    svc.end_sessions(user)
    db.session.commit()
    assert svc.load_session_user(db.session, old) is None
    assert svc.load_session_user(db.session, str(user.id)) is None
    assert svc.load_session_user(db.session, user.get_id()) is user


@pytest.mark.parametrize("ident", ["", "abc", "1:x", ":1", "1:2:3", "99999999999:0", "-1:0", "999:0"])
def test_session_id_garbage_is_nobody(app, db, users, ident):
    assert svc.load_session_user(db.session, ident) is None


def test_inactive_user_session_is_nobody(app, db, users):
    user = users["sales"]
    user.active = False
    db.session.commit()
    assert svc.load_session_user(db.session, user.get_id()) is None
