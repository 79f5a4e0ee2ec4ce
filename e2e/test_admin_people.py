"""e2e (issue 10 item 6): an administrator creates a role without "Convert leads" from the
permission matrix (by keyboard), gives it to a new user, and that user's lead page has no
Convert button; then the user is deactivated with their records reassigned and their session
ends. Screenshots of the roles and people pages, in English and in French, go to /tmp/shots.

Names start with "PPL" (the e2e database is shared between e2e tests)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import select

from e2e.conftest import PASSWORD
from webapp.models import Lead, Role, User

SHOTS = Path("/tmp/shots")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of a full-page shot
    page.screenshot(path=str(SHOTS / f"admin_people_{name}.png"), full_page=True)


def _sign_out(page) -> None:
    page.get_by_role("button", name=re.compile("Sign out|Se déconnecter")).click()
    page.wait_for_url(re.compile(r"/login"))


def test_a_role_without_convert_leads_hides_the_convert_button(page, live_server, login, app_db):
    tag = uuid.uuid4().hex[:6]
    role_name, email = f"PPL No convert {tag}", f"ppl.{tag}@example.com"
    login("admin@example.com")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Roles").click()
    expect(page.get_by_role("heading", name="Roles", exact=True)).to_be_visible()
    shot(page, "roles_en")

    # Start from a copy of the Sales preset, untick "Convert leads" with the keyboard.
    page.get_by_role("link", name="New role from Sales").click()
    page.get_by_role("textbox", name="Name").fill(role_name)
    convert = page.get_by_role("checkbox", name="Convert leads")
    expect(convert).to_be_checked()
    convert.focus()
    page.keyboard.press("Space")
    expect(convert).not_to_be_checked()
    create_leads = page.get_by_role("checkbox", name="Leads Create")
    expect(create_leads).to_be_checked()
    shot(page, "role_matrix_en")
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_text(f"Role “{role_name}” created.")).to_be_visible()
    role = app_db.session.scalar(select(Role).where(Role.label == role_name))
    assert "lead.convert" not in role.permissions and "lead.edit" in role.permissions

    # A new user with that role, and a lead of theirs.
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users and teams").click()
    page.get_by_role("link", name="New user").click()
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("textbox", name="Name").fill(f"PPL Rep {tag}")
    page.get_by_label("Initial password").fill(PASSWORD)
    page.get_by_label("Role").select_option(label=role_name)
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text(f"User PPL Rep {tag} created")).to_be_visible()
    user = app_db.session.scalar(select(User).where(User.email == email))
    assert user.role_key == role.key
    lead = Lead(first_name="Paula", last_name=f"PPL{tag}", company=f"PPL {tag} SARL", owner_id=user.id)
    sales_lead = Lead(first_name="Sam", last_name=f"PPLS{tag}", company=f"PPL S {tag}",
                      owner_id=app_db.session.scalar(select(User.id).where(User.email == "sales@example.com")))
    app_db.session.add_all([lead, sales_lead])
    app_db.session.commit()
    _sign_out(page)

    # Their lead page: Edit, but no Convert.
    login(email)
    page.goto(f"{live_server}/leads/{lead.id}")
    expect(page.get_by_role("heading", name=re.compile(f"PPL{tag}"))).to_be_visible()
    actions = page.locator("header .actions")
    expect(actions.get_by_role("link", name="Edit")).to_be_visible()
    expect(actions.get_by_role("link", name="Convert", exact=True)).to_have_count(0)
    _sign_out(page)
    # The Sales preset still converts its own leads.
    login("sales@example.com")
    page.goto(f"{live_server}/leads/{sales_lead.id}")
    expect(page.locator("header .actions").get_by_role("link", name="Convert", exact=True)).to_be_visible()
    _sign_out(page)

    # Deactivate them, their lead going to the sales user, in one step.
    login("admin@example.com")
    page.goto(f"{live_server}/admin/users?q=PPL+Rep+{tag}")
    page.get_by_role("link", name=f"PPL Rep {tag}").click()
    shot(page, "user_en")
    page.get_by_role("link", name="Deactivate…").click()
    page.get_by_label("Give their records to").select_option(label="Sam Sales")
    shot(page, "deactivate_en")
    page.get_by_role("button", name=f"Deactivate PPL Rep {tag}").click()
    expect(page.get_by_text("Their records were reassigned — Leads: 1")).to_be_visible()
    app_db.session.expire_all()
    assert app_db.session.get(Lead, lead.id).owner.email == "sales@example.com"
    assert not app_db.session.get(User, user.id).active
    page.goto(f"{live_server}/admin/users")
    shot(page, "users_en")
    page.goto(f"{live_server}/admin/users/teams")
    shot(page, "teams_en")


def test_the_people_pages_in_french(page, live_server, login, app_db):
    """A French-speaking administrator of their own (the shared admin stays in English)."""
    email = "ppl.admin.fr@example.com"
    if app_db.session.scalar(select(User).where(User.email == email)) is None:
        from webapp.services.users import create_user

        create_user(email, PASSWORD, "admin", "Adèle Admin")
        app_db.session.commit()
    login(email)
    page.get_by_role("button", name="FR").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    sales = app_db.session.scalar(select(User).where(User.email == "sales@example.com"))
    for name, url in (("roles", "/admin/roles"), ("role_matrix", "/admin/roles/sales"), ("users", "/admin/users"),
                      ("user", f"/admin/users/{sales.id}"), ("deactivate", f"/admin/users/{sales.id}/deactivate"),
                      ("teams", "/admin/users/teams")):
        page.goto(live_server + url)
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("h1")).to_be_visible()
        shot(page, f"{name}_fr")
    # The matrix stays usable by keyboard in French too: Tab reaches the first checkbox.
    page.goto(live_server + "/admin/roles/sales")
    first = page.locator("#perm-lead-create")
    first.focus()
    expect(first).to_be_focused()
