"""The flask commands: create-user, create-token (token on the last line), bootstrap."""

from sqlalchemy import func, select

from webapp.models import ApiToken, Lead, User

GOOD = "sturdy-otter-42"


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_create_user_with_manager_and_team(app, db):
    assert run(app, "create-user", "boss@example.com", "--password", GOOD, "--role", "manager",
               "--team", "South").exit_code == 0
    result = run(app, "create-user", "Rep@Example.com", "--password", GOOD, "--role", "sales",
                 "--manager", "boss@example.com", "--team", "South")
    assert result.exit_code == 0, result.output
    rep = db.session.scalar(select(User).where(User.email == "rep@example.com"))
    assert rep.role_key == "sales" and rep.manager.email == "boss@example.com"
    assert rep.team.name == "South" and rep.check_password(GOOD)


def test_create_user_refuses_a_weak_password_and_creates_nobody(app, db):
    for weak, reason in (("x", "at least 10 characters"), ("password123", "too common"),
                         ("weak@example.com", "your e-mail address")):
        result = run(app, "create-user", "weak@example.com", "--password", weak)
        assert result.exit_code != 0 and reason in result.output, result.output
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_create_user_refuses_a_taken_email_and_an_unknown_manager(app, db):
    run(app, "create-user", "a@example.com", "--password", GOOD)
    assert "already exists" in run(app, "create-user", "A@example.com", "--password", "x").output
    result = run(app, "create-user", "b@example.com", "--password", "x", "--manager", "nobody@example.com")
    assert result.exit_code != 0 and "no user" in result.output
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_create_token_prints_a_working_token_as_last_line(app, db, client):
    run(app, "create-user", "api@example.com", "--password", GOOD, "--role", "admin")
    result = run(app, "create-token", "api@example.com")
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    stored = db.session.scalar(select(ApiToken))
    assert stored.token_hash == ApiToken.hash(token) and token not in stored.token_hash
    response = client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_create_token_for_unknown_user_fails(app):
    result = run(app, "create-token", "ghost@example.com")
    assert result.exit_code != 0 and "no user" in result.output


def test_bootstrap_creates_admin_once_and_demo_data(app, db):
    first = run(app, "bootstrap", "--demo-leads", "20")
    assert first.exit_code == 0, first.output
    assert "admin@example.com" in first.output and "password:" in first.output
    assert db.session.scalar(select(func.count(Lead.id))) >= 20
    second = run(app, "bootstrap", "--demo-leads", "20")
    assert "password:" not in second.output
