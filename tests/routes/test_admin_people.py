"""The admin pages of roles and people (issue 10 item 6): the permission matrix, role conflicts,
users (list, create, edit, managers, deactivate with the reassign step, reactivate), teams, API
tokens; a deactivated user's web session and API token are refused on their next request.
(The 403 / login matrix of every /admin page is tests/routes/test_admin_area.py.)"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, assert_unchanged, db_rows, login
from webapp.models import ApiToken, AuditEntry, Lead, Role, Team, User

HX = {"HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


def checked(page: str, name: str) -> bool:
    match = re.search(rf'<input type="checkbox" name="permissions" value="{re.escape(name)}"[^>]*>', page)
    assert match, name
    return "checked" in match.group(0)


def areas(db) -> list[tuple[str, str]]:
    return [(e.area, e.action) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


# ------------------------------------------------------------------ roles

def test_the_roles_page_lists_the_presets_with_their_users(as_user):
    page = text(as_user("admin").get("/admin/roles"))
    for label in ("Administrator", "Manager", "Sales", "Viewer"):
        assert label in page
    assert page.count("Preset") >= 4 and 'href="/admin/users?role=sales"' in page
    assert 'aria-current="page"' in page and 'href="/admin/roles/new"' in page


def test_the_matrix_shows_a_checkbox_per_entity_and_action(as_user):
    page = text(as_user("admin").get("/admin/roles/sales"))
    assert checked(page, "lead.create") and checked(page, "lead.edit") and not checked(page, "lead.read")
    assert checked(page, "account.read") and not checked(page, "deal.delete")
    assert checked(page, "lead.convert") and checked(page, "conversion.revert") and not checked(page, "admin")
    assert 'value="task.read"' not in page  # tasks are read with their record
    # Keyboard and screen readers: each checkbox is named by its row and column headers.
    assert 'id="perm-lead-create"' in page and 'aria-labelledby="row-lead col-create"' in page
    assert '<th scope="row" id="row-lead">Leads</th>' in page and 'id="col-read">Read all</th>' in page
    radio = re.search(r'<input[^>]*type="radio"[^>]*value="own"[^>]*>', page).group(0)
    assert "checked" in radio
    assert "Restore the preset" in page and "Delete the role" not in page


def test_create_a_role_from_the_matrix(as_user, db, users):
    client = as_user("admin")
    page = text(client.get("/admin/roles/new?from=sales"))
    assert checked(page, "lead.convert")  # a copy of Sales to start from
    response = client.post("/admin/roles", data={
        "label": "Junior sales", "scope": "own",
        "permissions": ["lead.create", "lead.edit", "account.read", "contact.read", "deal.read"]})
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/roles/junior_sales")
    role = db.session.get(Role, "junior_sales")
    assert (role.label, role.scope) == ("Junior sales", "own")
    assert sorted(role.permissions) == ["account.read", "contact.read", "deal.read", "lead.create", "lead.edit"]
    assert areas(db) == [("role", "created")]
    page = text(client.get(response.headers["Location"]))
    assert "Role “Junior sales” created." in page and "Delete the role Junior sales" in page


def test_bad_role_input_is_422_next_to_the_fields_and_writes_nothing(as_user, db):
    client = as_user("admin")
    before = db_rows(db)
    response = client.post("/admin/roles", data={"label": "", "scope": "galaxy",
                                                 "permissions": ["lead.delete", "lead.fly"]})
    assert response.status_code == 422
    page = text(response)
    assert "Name is required." in page
    assert "Permissions name a permission this CRM does not know: lead.fly." in page
    assert "Permissions must give “Edit” on Leads along with “Delete”" in page
    assert 'id="permissions-error"' in page and checked(page, "lead.delete")  # the posted ticks stay
    assert_unchanged(db, before)
    huge = client.post("/admin/roles", data={"label": "x" * 100_000, "scope": "own", "permissions": ["\x00"]})
    assert huge.status_code == 422
    assert_unchanged(db, before)


def test_a_role_without_convert_leads_removes_the_convert_button(as_user, db, users, make_lead, make_user):
    client = as_user("admin")
    client.post("/admin/roles", data={"label": "No convert", "scope": "own",
                                      "permissions": ["lead.create", "lead.edit", "account.create"]})
    user = make_user("no_convert")
    lead = make_lead(owner_id=user.id)
    login(client, user)
    page = text(client.get(f"/leads/{lead.id}"))
    assert "Edit" in page and f'href="/leads/{lead.id}/convert"' not in page and ">Convert<" not in page
    assert client.get(f"/leads/{lead.id}/convert").status_code == 403
    # The Sales preset still converts.
    sales_lead = make_lead(owner_id=users["sales"].id)
    login(client, users["sales"])
    assert ">Convert<" in text(client.get(f"/leads/{sales_lead.id}"))


def test_editing_and_restoring_a_preset(as_user, db, users, make_lead):
    client = as_user("admin")
    lead = make_lead(owner_id=users["sales"].id)
    response = client.post("/admin/roles/sales", data={"label": "Sales", "scope": "own",
                                                       "permissions": ["lead.create", "lead.edit"]})
    assert response.status_code == 303
    assert db.session.get(Role, "sales").label == "Sales"
    login(client, users["sales"])
    assert ">Convert<" not in text(client.get(f"/leads/{lead.id}"))
    login(client, users["admin"])
    assert client.post("/admin/roles/sales/reset").status_code == 303
    login(client, users["sales"])
    assert ">Convert<" in text(client.get(f"/leads/{lead.id}"))
    assert areas(db) == [("role", "updated"), ("role", "updated")]


def test_a_preset_keeps_its_english_name_when_saved_from_a_french_page(as_user, db):
    client = as_user("admin")
    client.post("/profile/language", data={"language": "fr"})
    page = text(client.get("/admin/roles/viewer"))
    label = re.search(r'name="label"[^>]*value="([^"]+)"', page).group(1)
    assert label != "Viewer"  # shown in French
    client.post("/admin/roles/viewer", data={"label": label, "scope": "all",
                                             "permissions": ["lead.read", "account.read"]})
    assert db.session.get(Role, "viewer").label == "Viewer"


def test_the_administrators_preset_cannot_be_changed(as_user, db):
    client = as_user("admin")
    page = text(client.get("/admin/roles/admin"))
    assert "<fieldset class=\"form-section\" disabled>" in page and "Save changes" not in page
    before = db_rows(db)
    response = client.post("/admin/roles/admin", data={"label": "Admin", "scope": "own", "permissions": []})
    assert response.status_code == 409 and "cannot be changed" in text(response)
    assert client.post("/admin/roles/admin/reset").status_code == 409
    assert_unchanged(db, before)


def test_a_role_in_use_cannot_be_deleted(as_user, db, make_user):
    client = as_user("admin")
    client.post("/admin/roles", data={"label": "Temp", "scope": "own", "permissions": []})
    make_user("temp")
    make_user("temp")
    before = db_rows(db)
    response = client.post("/admin/roles/temp/delete")
    assert response.status_code == 409
    assert "The “Temp” role cannot be deleted: users with this role: 2." in text(response)
    assert_unchanged(db, before)
    assert client.post("/admin/roles/sales/delete").status_code == 409  # a preset
    db.session.execute(User.__table__.update().values(role_key="sales").where(User.role_key == "temp"))
    db.session.commit()
    response = client.post("/admin/roles/temp/delete")
    assert response.status_code == 303 and db.session.get(Role, "temp") is None
    assert client.get("/admin/roles/temp").status_code == 404
    assert client.get("/admin/roles/" + "x" * 300).status_code == 404
    assert client.get("/admin/roles/%00").status_code == 404
    assert client.get("/admin/roles/new?from=%00").status_code == 200


# ------------------------------------------------------------------ users

def test_the_users_list_pages_searches_and_filters(as_user, db, users, make_user):
    for i in range(30):
        make_user("viewer", name=f"Yann {i:02d}", email=f"yann{i}@example.com", active=i != 3)
    client = as_user("admin")
    page = text(client.get("/admin/users?q=yann"))
    assert "Yann 00" in page and "Yann 24" in page and "Yann 25" not in page and "Load more" in page
    next_url = re.search(r'hx-get="(/admin/users\?[^"]+)"', page.split("more-row")[1]).group(1).replace("&amp;", "&")
    more = client.get(next_url, headers=HX)
    assert "<html" not in text(more) and "Yann 25" in text(more) and "Yann 00" not in text(more)
    assert "Load more" not in text(more)
    fragment = text(client.get("/admin/users?active=no", headers=HX))
    assert "Yann 03" in fragment and "Yann 04" not in fragment and "Deactivated" in fragment
    assert "<html" not in fragment
    by_team = text(client.get(f"/admin/users?team_id={users['sales'].team_id}", headers=HX))
    assert "sales@example.com" in by_team and "admin@example.com" not in by_team
    no_team = text(client.get("/admin/users?team_id=none&q=admin", headers=HX))
    assert "admin@example.com" in no_team
    managed = text(client.get(f"/admin/users?manager_id={users['manager'].id}", headers=HX))
    assert "sales@example.com" in managed and "other@example.com" not in managed
    by_role = text(client.get("/admin/users?role=manager", headers=HX))
    assert "manager@example.com" in by_role and "sales@example.com" not in by_role
    assert "No user matches these filters." in text(client.get("/admin/users?q=nobody-here", headers=HX))
    # Junk in the query string is ignored, never a 500.
    for junk in ("?after=abc", "?after=" + "9" * 5000, "?team_id=99999999999", "?role=%00", "?q=" + "%00" * 300, "?active=maybe"):
        assert client.get("/admin/users" + junk).status_code == 200, junk


def test_create_a_user(as_user, db, users):
    client = as_user("admin")
    page = text(client.get("/admin/users/new"))
    assert 'name="password"' in page and 'name="role_key"' in page
    response = client.post("/admin/users", data={
        "email": "nina@example.com", "name": "Nina Roux", "password": "a sturdy new passphrase",
        "role_key": "sales", "team_id": str(users["sales"].team_id), "manager_id": str(users["manager"].id)})
    assert response.status_code == 303
    nina = db.session.scalar(select(User).where(User.email == "nina@example.com"))
    assert (nina.role_key, nina.team_id, nina.manager_id) == ("sales", users["sales"].team_id, users["manager"].id)
    assert areas(db) == [("user", "created")]
    client.post("/logout")
    response = client.post("/login", data={"email": "nina@example.com", "password": "a sturdy new passphrase"})
    assert response.status_code == 303


def test_bad_user_input_is_422_and_writes_nothing(as_user, db):
    client = as_user("admin")
    before = db_rows(db)
    response = client.post("/admin/users", data={"email": "sales@example.com", "password": "short",
                                                 "role_key": "pope", "team_id": "x", "manager_id": "0"})
    assert response.status_code == 422
    page = text(response)
    assert "a user with e-mail sales@example.com already exists" in page
    assert "must be at least 10 characters long" in page and "unknown role" in page
    assert_unchanged(db, before)
    response = client.post("/admin/users", data={"email": "a\x00@example.com", "password": "x" * 10_000,
                                                 "role_key": "sa\x00les", "name": "n" * 5000,
                                                 "team_id": "\x00", "manager_id": "1\x00"})
    assert response.status_code == 422
    assert_unchanged(db, before)


def test_edit_a_user_and_refuse_a_manager_cycle(as_user, db, users):
    client = as_user("admin")
    manager, sales = users["manager"], users["sales"]
    page = text(client.get(f"/admin/users/{sales.id}"))
    assert 'value="sales@example.com"' in page and "API tokens" in page and "Their records" in page
    before = db_rows(db)
    response = client.post(f"/admin/users/{manager.id}", data={
        "email": manager.email, "name": manager.name, "role_key": "manager",
        "team_id": str(manager.team_id), "manager_id": str(sales.id)})
    assert response.status_code == 422
    assert "would make a cycle" in text(response)
    assert_unchanged(db, before)
    response = client.post(f"/admin/users/{sales.id}", data={
        "email": "Sam@Example.com", "name": "Sam", "role_key": "viewer", "team_id": "", "manager_id": ""})
    assert response.status_code == 303
    db.session.refresh(sales)
    assert (sales.email, sales.role_key, sales.team_id, sales.manager_id) == ("sam@example.com", "viewer", None, None)
    assert areas(db) == [("user", "updated")]
    assert client.get("/admin/users/99999").status_code == 404
    assert client.get(f"/admin/users/{2**40}").status_code == 404


def test_the_last_administrator_keeps_administration(as_user, db, users):
    client = as_user("admin")
    admin = users["admin"]
    response = client.post(f"/admin/users/{admin.id}", data={"email": admin.email, "name": admin.name,
                                                             "role_key": "viewer", "team_id": "", "manager_id": ""})
    assert response.status_code == 409 and "must keep the “Administration” permission" in text(response)
    assert db.session.get(User, admin.id).role_key == "admin"
    assert "This is you" in text(client.get(f"/admin/users/{admin.id}"))
    assert client.post(f"/admin/users/{admin.id}/deactivate").status_code == 409


def test_a_deactivated_users_session_and_token_are_refused_on_the_next_request(app, client, db, users,
                                                                            api_headers):
    """Issue 10: deactivation takes effect at once, for the browser and for scripts."""
    sales = users["sales"]
    headers = api_headers(sales)
    rep = client
    login(rep, sales)
    assert rep.get("/leads/").status_code == 200
    assert rep.get("/api/v1/leads", headers=headers).status_code == 200

    admin = app.test_client()
    login(admin, users["admin"])
    page = text(admin.get(f"/admin/users/{sales.id}/deactivate"))
    assert "Their API token is revoked" in page and 'name="reassign_to"' in page
    assert admin.post(f"/admin/users/{sales.id}/deactivate", data={"reassign_to": ""}).status_code == 303

    response = rep.get("/leads/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    refused = rep.get("/api/v1/leads", headers=headers)
    assert refused.status_code == 401 and refused.json["error"] == "unauthorized"
    assert rep.post("/login", data={"email": "sales@example.com", "password": PASSWORD}).status_code == 422
    page = text(admin.get(f"/admin/users/{sales.id}"))
    assert "is deactivated: they are signed out and their API tokens are revoked." in page
    assert "Reactivate" in page


def test_deactivate_with_the_reassign_step(as_user, db, users, make_lead, make_account, make_task):
    sales, manager = users["sales"], users["manager"]
    leads = [make_lead(owner_id=sales.id) for _ in range(2)]
    make_account(owner_id=sales.id)
    make_task(owner_id=sales.id, parent_type="lead", parent_id=leads[0].id)
    client = as_user("admin")
    page = text(client.get(f"/admin/users/{sales.id}/deactivate"))
    assert re.search(r"<dt>Leads</dt><dd>2</dd>", page) and re.search(r"<dt>Open tasks</dt><dd>1</dd>", page)
    response = client.post(f"/admin/users/{sales.id}/deactivate", data={"reassign_to": str(manager.id)},
                           follow_redirects=True)
    page = text(response)
    assert "Their records were reassigned — Leads: 2, Accounts: 1, Contacts: 0, Deals: 0, Open tasks: 1." in page
    assert {db.session.get(Lead, lead.id).owner_id for lead in leads} == {manager.id}
    assert not db.session.get(User, sales.id).active


def test_a_refused_deactivation_keeps_everything(as_user, db, users, make_lead):
    sales = users["sales"]
    make_lead(owner_id=sales.id)
    client = as_user("admin")
    before = db_rows(db)
    response = client.post(f"/admin/users/{sales.id}/deactivate", data={"reassign_to": str(sales.id)})
    assert response.status_code == 422 and "must be someone else" in text(response)
    response = client.post(f"/admin/users/{sales.id}/deactivate", data={"reassign_to": "abc"})
    assert response.status_code == 422
    assert_unchanged(db, before)


def test_reassign_without_deactivating(as_user, db, users, make_lead):
    sales, other = users["sales"], users["other_sales"]
    make_lead(owner_id=sales.id)
    client = as_user("admin")
    response = client.post(f"/admin/users/{sales.id}/reassign", data={"reassign_to": str(other.id)},
                           follow_redirects=True)
    assert f"Records of {sales.display_name} reassigned — Leads: 1, Accounts: 0" in text(response)
    assert db.session.get(User, sales.id).active
    assert db.session.scalar(select(func.count(Lead.id)).where(Lead.owner_id == other.id)) == 1
    response = client.post(f"/admin/users/{sales.id}/reassign", data={"reassign_to": ""})
    assert response.status_code == 422 and "is required" in text(response)


def test_reactivate(as_user, db, users):
    client = as_user("admin")
    sales = users["sales"]
    client.post(f"/admin/users/{sales.id}/deactivate")
    response = client.post(f"/admin/users/{sales.id}/reactivate", follow_redirects=True)
    assert "is active again and can sign in." in text(response)
    assert db.session.get(User, sales.id).active
    assert client.post(f"/admin/users/{sales.id}/reactivate").status_code == 409


def test_an_administrator_lists_and_revokes_a_users_tokens(app, as_user, db, users, api_headers):
    sales = users["sales"]
    headers = api_headers(sales)
    client = as_user("admin")
    page = text(client.get(f"/admin/users/{sales.id}"))
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == sales.id))
    assert "Revoke token test" in page
    assert client.post(f"/admin/users/{users['viewer'].id}/tokens/{token.id}/revoke").status_code == 404
    response = client.post(f"/admin/users/{sales.id}/tokens/{token.id}/revoke")
    assert response.status_code == 303
    assert app.test_client().get("/api/v1/leads", headers=headers).status_code == 401
    assert areas(db) == [("api_token", "deleted")]


def test_the_owner_revokes_on_the_profile_page_and_it_is_audited(as_user, db, users):
    client = as_user("sales")
    response = client.post("/profile/tokens", data={"name": "Zapier"})
    assert response.status_code == 201
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == users["sales"].id))
    login(client, users["viewer"])
    assert client.post(f"/profile/tokens/{token.id}/revoke").status_code == 404  # not theirs
    login(client, users["sales"])
    assert client.post(f"/profile/tokens/{token.id}/revoke").status_code == 303
    assert areas(db) == [("api_token", "created"), ("api_token", "deleted")]


# ------------------------------------------------------------------ teams

def test_teams(as_user, db, users):
    client = as_user("admin")
    page = text(client.get("/admin/users/teams"))
    assert "North" in page and 'aria-current="page"' in page
    response = client.post("/admin/users/teams", data={"name": "South"})
    assert response.status_code == 303
    south = db.session.scalar(select(Team).where(Team.name == "South"))
    response = client.post("/admin/users/teams", data={"name": "north"})
    assert response.status_code == 422 and "a team named north already exists" in text(response)
    response = client.post(f"/admin/users/teams/{south.id}", data={f"team-{south.id}-name": ""})
    assert response.status_code == 422 and f'id="team-{south.id}-name-error"' in text(response)
    response = client.post(f"/admin/users/teams/{south.id}", data={f"team-{south.id}-name": "South-West"})
    assert response.status_code == 303 and db.session.get(Team, south.id).name == "South-West"
    north = users["sales"].team_id
    response = client.post(f"/admin/users/teams/{north}/delete")
    assert response.status_code == 409 and "still has members: 2" in text(response)
    assert client.post(f"/admin/users/teams/{south.id}/delete").status_code == 303
    assert db.session.get(Team, south.id) is None
    assert client.post("/admin/users/teams/99999/delete").status_code == 404
    assert [a for a in areas(db)] == [("team", "created"), ("team", "updated"), ("team", "deleted")]


# ------------------------------------------------------------------ in French

@pytest.mark.parametrize("url", ["/admin/roles", "/admin/roles/sales", "/admin/roles/new", "/admin/users",
                                 "/admin/users/new", "/admin/users/teams", "USER", "USER/deactivate"])
def test_the_pages_speak_french(as_user, users, url):
    client = as_user("admin")
    client.post("/profile/language", data={"language": "fr"})
    url = url.replace("USER", f"/admin/users/{users['sales'].id}")
    response = client.get(url)
    assert response.status_code == 200
    assert '<html lang="fr"' in text(response)


def test_nul_bytes_and_huge_values_are_refused_not_500(as_user, db, users):
    """Every form of these pages, with NUL and oversized values in every field (PostgreSQL too)."""
    client = as_user("admin")
    sales, team = users["sales"], users["sales"].team_id
    posts = {
        "/admin/roles": ["label", "scope", "permissions"],
        "/admin/roles/sales": ["label", "scope", "permissions"],
        "/admin/users": ["email", "name", "password", "role_key", "team_id", "manager_id"],
        f"/admin/users/{sales.id}": ["email", "name", "role_key", "team_id", "manager_id"],
        f"/admin/users/{sales.id}/reassign": ["reassign_to"],
        f"/admin/users/{sales.id}/deactivate": ["reassign_to"],
        "/admin/users/teams": ["name"],
        f"/admin/users/teams/{team}": [f"team-{team}-name"],
    }
    before = db_rows(db)
    for url, names in posts.items():
        for bad in ("\x00", "a\x00b", "9" * 5000, "é" * 50_000):
            response = client.post(url, data={name: bad for name in names})
            assert response.status_code in (400, 404, 409, 413, 422), (url, bad[:5], response.status_code)
    assert_unchanged(db, before)
