"""Roles and people (issue 10 item 6) without a client: the per-role permission matrix (what the
built-in presets grant, proved on records), custom roles read from their stored permissions,
the role service (conflicts, bad input), users (managers without cycles, deactivation,
reassignment counts), teams and API tokens — every change audited."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from webapp import permissions
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.models import (
    Account,
    ApiToken,
    AuditEntry,
    Contact,
    Deal,
    Lead,
    Role,
    Task,
    Team,
    TimelineEvent,
    User,
)
from webapp.services import roles as role_svc
from webapp.services import users as user_svc

RECORDS = {"lead": Lead, "account": Account, "contact": Contact, "deal": Deal}


def audit_entries(db, area: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.area == area).order_by(AuditEntry.id)))


def codes(error) -> dict[str, list[str]]:
    return {field: [getattr(p, "code", str(p)) for p in problems] for field, problems in error.errors.items()}


@pytest.fixture
def owned(users, make_lead, make_account, make_contact, make_deal):
    """One record of each kind per owner: the role's own, a team member's (the sales user, who
    reports to the manager), a stranger's (the other sales user, no team)."""
    def records(owner: User) -> dict:
        return {"lead": make_lead(owner_id=owner.id, team_id=owner.team_id),
                "account": make_account(owner_id=owner.id, team_id=owner.team_id),
                "contact": make_contact(owner_id=owner.id, team_id=owner.team_id),
                "deal": make_deal(owner_id=owner.id, team_id=owner.team_id)}

    return {"manager": records(users["manager"]), "sales": records(users["sales"]),
            "other": records(users["other_sales"])}


# ------------------------------------------------------------------ the per-role matrix

# What each preset grants: entity -> the actions ("c"reate, "r"ead all, "e"dit, "d"elete).
PRESETS = {
    "admin": ({e: "cred" for e in RECORDS}, "all", {"lead.convert", "conversion.revert", "admin"}),
    "manager": ({"lead": "ced", "account": "cred", "contact": "cred", "deal": "cred"}, "team",
                {"lead.convert", "conversion.revert"}),
    "sales": ({"lead": "ce", "account": "cre", "contact": "cre", "deal": "cre"}, "own",
              {"lead.convert", "conversion.revert"}),
    "viewer": ({e: "r" for e in RECORDS}, "all", set()),
}
LETTERS = {"c": "create", "r": "read", "e": "edit", "d": "delete"}


@pytest.mark.parametrize("key", list(PRESETS))
def test_each_preset_grants_its_matrix(db, users, key):
    matrix, scope, special = PRESETS[key]
    role = db.session.get(Role, key)
    granted = permissions.role_permissions(role)
    assert role.scope == scope
    for entity in RECORDS:
        for letter, action in LETTERS.items():
            assert (f"{entity}.{action}" in granted) == (letter in matrix[entity]), (key, entity, action)
    assert {p for p in permissions.SPECIAL_PERMISSIONS if p in granted} == special
    user = users[key]
    assert permissions.can_convert(user) == ("lead.convert" in special)
    assert permissions.can_revert(user) == ("conversion.revert" in special)
    assert permissions.is_admin(user) == ("admin" in special)


# (role, whose record) -> may read, may edit, may delete — per kind of record.
EXPECTED = {
    ("admin", "sales"): {"lead": "red", "account": "red", "contact": "red", "deal": "red"},
    ("admin", "other"): {"lead": "red", "account": "red", "contact": "red", "deal": "red"},
    ("manager", "manager"): {"lead": "red", "account": "red", "contact": "red", "deal": "red"},
    ("manager", "sales"): {"lead": "red", "account": "red", "contact": "red", "deal": "red"},
    ("manager", "other"): {"lead": "", "account": "r", "contact": "r", "deal": "r"},
    ("sales", "sales"): {"lead": "re", "account": "re", "contact": "re", "deal": "re"},
    ("sales", "other"): {"lead": "", "account": "r", "contact": "r", "deal": "r"},
    ("viewer", "sales"): {"lead": "r", "account": "r", "contact": "r", "deal": "r"},
    ("viewer", "other"): {"lead": "r", "account": "r", "contact": "r", "deal": "r"},
}


@pytest.mark.parametrize(("role", "whose"), list(EXPECTED))
def test_presets_behave_as_before_on_records(db, users, owned, role, whose):
    """The built-in roles keep the rights of issue 3, now read from their stored permissions."""
    user = users[role]
    for kind, obj in owned[whose].items():
        expected = EXPECTED[(role, whose)][kind]
        assert permissions.can_view(db.session, user, obj) == ("r" in expected), (role, whose, kind)
        assert permissions.can_edit(db.session, user, obj) == ("e" in expected), (role, whose, kind)
        assert permissions.can_delete(db.session, user, obj) == ("d" in expected), (role, whose, kind)
        visible = db.session.scalars(select(RECORDS[kind].id).where(
            permissions.visible_clause(db.session, user, RECORDS[kind]))).all()
        assert (obj.id in visible) == ("r" in expected), (role, whose, kind)


def test_a_custom_role_is_read_from_its_stored_permissions(db, users, make_user, owned):
    admin = users["admin"]
    role = role_svc.create_role(db.session, admin, {
        "label": "Deal desk", "scope": "own",
        "permissions": ["deal.read", "deal.create", "deal.edit", "deal.delete", "lead.edit"]})
    db.session.commit()
    desk = make_user(role.key)
    mine = owned["other"]  # re-own the stranger's records: the desk user's own
    for obj in mine.values():
        obj.owner_id = desk.id
    db.session.commit()
    # Deals: read all, edit and delete only its own; no other record beyond its own.
    assert permissions.can_view(db.session, desk, owned["sales"]["deal"])
    assert not permissions.can_edit(db.session, desk, owned["sales"]["deal"])
    assert permissions.can_delete(db.session, desk, mine["deal"])
    assert not permissions.can_view(db.session, desk, owned["sales"]["account"])
    assert permissions.can_view(db.session, desk, mine["account"])  # its scope: its own records
    assert not permissions.can_edit(db.session, desk, mine["account"])
    assert permissions.can_edit(db.session, desk, mine["lead"])
    assert not permissions.can_create(desk, "lead") and permissions.can_create(desk, "deal")
    assert not permissions.can_convert(desk)
    # An edit of the role applies at once (nothing cached on the user).
    role_svc.update_role(db.session, admin, role, {"label": "Deal desk", "scope": "all",
                                                   "permissions": ["deal.read", "lead.edit", "lead.convert"]})
    db.session.commit()
    assert permissions.can_convert(desk) and permissions.can_edit(db.session, desk, owned["sales"]["lead"])
    assert not permissions.can_delete(db.session, desk, mine["deal"])


def test_legacy_permission_names_still_grant_what_they_did(db, users, make_user, owned):
    """Roles stored before per-entity reads and deletes ("record.read_all", "record.delete")."""
    db.session.add(Role(key="old", label="Old", scope="own",
                        permissions=["lead.edit", "account.edit", "record.read_all", "record.delete"]))
    db.session.commit()
    old = make_user("old")
    assert permissions.can_view(db.session, old, owned["sales"]["account"])
    assert not permissions.can_view(db.session, old, owned["sales"]["lead"])
    assert permissions.has_perm(old, "lead.delete") and permissions.has_perm(old, "deal.read")


def _migration():
    path = Path(__file__).resolve().parents[2] / "migrations/versions/e7f8a9b0c1d2_role_permissions_per_entity.py"
    spec = importlib.util.spec_from_file_location("people_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_PRESETS = {
    # permissions.BUILTIN_ROLES before this migration (issue 3).
    "admin": None,
    "manager": sorted([f"{e}.{a}" for e in permissions.ENTITY_PERMS for a in ("create", "edit")]
                      + ["record.delete", "record.read_all", "lead.convert", "conversion.revert"]),
    "sales": [f"{e}.{a}" for e in permissions.ENTITY_PERMS for a in ("create", "edit")]
    + ["lead.convert", "conversion.revert", "record.read_all"],
    "viewer": ["record.read_all"],
}


@pytest.mark.parametrize("key", list(OLD_PRESETS))
def test_the_migration_turns_the_old_presets_into_the_new_ones(key):
    migration = _migration()
    old = OLD_PRESETS[key] or []
    assert migration._upgrade(key, old) == sorted(permissions.BUILTIN_ROLES[key][2])
    assert sorted(migration.ALL) == sorted(permissions.ALL_PERMISSIONS)
    if key != "admin":
        assert migration._downgrade(key, migration._upgrade(key, old)) == sorted(old)


def test_the_migration_keeps_a_custom_role_that_edits_nothing_reading_every_lead():
    assert _migration()._upgrade("team_lead", ["lead.convert"]) == ["lead.convert", "lead.read"]


# ------------------------------------------------------------------ the role service

def test_create_role_makes_a_key_and_audits(db, users):
    role = role_svc.create_role(db.session, users["admin"], {"label": "Équipe junior", "scope": "team",
                                                            "permissions": ["lead.create", "lead.edit"]})
    again = role_svc.create_role(db.session, users["admin"], {"label": "Equipe-junior!", "scope": "own",
                                                             "permissions": []})
    new = role_svc.create_role(db.session, users["admin"], {"label": "New", "scope": "own", "permissions": []})
    db.session.commit()
    assert (role.key, again.key, new.key) == ("equipe_junior", "equipe_junior_2", "new_2")
    [entry, *_] = audit_entries(db, "role")
    assert (entry.key, entry.action, entry.actor_id) == ("equipe_junior", "created", users["admin"].id)
    assert entry.after == {"label": "Équipe junior", "scope": "team", "permissions": ["lead.create", "lead.edit"]}


@pytest.mark.parametrize(("data", "expected"), [
    ({"label": "", "scope": "own", "permissions": []}, {"label": ["required"]}),
    ({"label": "x" * 81, "scope": "own", "permissions": []}, {"label": ["too_long"]}),
    ({"label": "Nul\x00", "scope": "own", "permissions": []}, {"label": ["nul"]}),
    ({"label": "sales", "scope": "own", "permissions": []}, {"label": ["role_label_taken"]}),
    ({"label": "A", "scope": "planet", "permissions": []}, {"scope": ["not_choice"]}),
    ({"label": "A", "scope": "own", "permissions": ["lead.fly"]}, {"permissions": ["unknown_permission"]}),
    ({"label": "A", "scope": "own", "permissions": "lead.edit"}, {"permissions": ["not_permission_list"]}),
    ({"label": "A", "scope": "own", "permissions": ["deal.delete"]}, {"permissions": ["delete_needs_edit"]}),
    ({"label": "A", "scope": "own", "permissions": ["lead.convert"]}, {"permissions": ["convert_needs_edit"]}),
    ({"label": "", "scope": None, "permissions": ["task.read"]},
     {"label": ["required"], "scope": ["not_choice"], "permissions": ["unknown_permission"]}),
])
def test_create_role_refuses_bad_input_and_writes_nothing(db, users, data, expected):
    before = db.session.scalar(select(func.count()).select_from(Role))
    with pytest.raises(Invalid) as refused:
        role_svc.create_role(db.session, users["admin"], data)
    db.session.rollback()
    assert codes(refused.value) == expected
    assert db.session.scalar(select(func.count()).select_from(Role)) == before
    assert audit_entries(db, "role") == []


def test_a_role_in_use_cannot_be_deleted_and_says_how_many_have_it(db, users, make_user):
    admin = users["admin"]
    role = role_svc.create_role(db.session, admin, {"label": "Temp", "scope": "own", "permissions": []})
    db.session.commit()
    make_user(role.key)
    make_user(role.key, active=False)  # inactive users count: they would point at nothing
    with pytest.raises(Conflict) as refused:
        role_svc.delete_role(db.session, admin, role)
    assert refused.value.code == "role_in_use" and refused.value.params["count"] == 2
    assert "users with this role: 2" in str(refused.value.message)
    db.session.rollback()
    db.session.execute(User.__table__.update().where(User.role_key == "temp").values(role_key="sales"))
    role_svc.delete_role(db.session, admin, db.session.get(Role, "temp"))
    db.session.commit()
    assert db.session.get(Role, "temp") is None
    assert [e.action for e in audit_entries(db, "role")] == ["created", "deleted"]


@pytest.mark.parametrize("key", list(permissions.BUILTIN_ROLES))
def test_a_preset_cannot_be_deleted(db, users, key):
    with pytest.raises(Conflict) as refused:
        role_svc.delete_role(db.session, users["admin"], db.session.get(Role, key))
    assert refused.value.code == "role_builtin"


def test_the_admin_preset_is_locked_and_the_others_are_editable_and_restorable(db, users):
    admin = users["admin"]
    with pytest.raises(Conflict) as refused:
        role_svc.update_role(db.session, admin, db.session.get(Role, "admin"),
                             {"label": "Boss", "scope": "own", "permissions": []})
    assert refused.value.code == "role_locked"
    db.session.rollback()
    sales = db.session.get(Role, "sales")
    role_svc.update_role(db.session, admin, sales, {"label": "Sales", "scope": "own",
                                                    "permissions": ["lead.create", "lead.edit"]})
    db.session.commit()
    assert not permissions.can_convert(users["sales"])
    role_svc.reset_role(db.session, admin, sales)
    db.session.commit()
    assert permissions.can_convert(users["sales"])
    assert sorted(sales.permissions) == sorted(permissions.BUILTIN_ROLES["sales"][2])
    [_, reset] = audit_entries(db, "role")
    assert "lead.convert" in reset.after["permissions"] and "lead.convert" not in reset.before["permissions"]


def test_the_last_administration_permission_cannot_be_removed(db, users):
    admin = users["admin"]
    boss = role_svc.create_role(db.session, admin, {"label": "Boss", "scope": "all", "permissions": ["admin"]})
    db.session.commit()
    # Nobody active has "Boss": taking "admin" from it is fine.
    role_svc.update_role(db.session, admin, boss, {"label": "Boss", "scope": "all", "permissions": []})
    db.session.commit()
    # The only active administrator cannot be given a role without "Administration"...
    with pytest.raises(Conflict) as refused:
        user_svc.update_user(db.session, admin, admin, {"role_key": "sales"})
    assert refused.value.code == "last_admin"
    db.session.rollback()
    # ... nor deactivated by another user of an admin role while they are the last one.
    role_svc.update_role(db.session, admin, boss, {"label": "Boss", "scope": "all", "permissions": ["admin"]})
    db.session.commit()
    other = user_svc.add_user(db.session, admin, {"email": "boss@example.com", "password": PASSWORD,
                                                  "role_key": boss.key})
    db.session.commit()
    user_svc.deactivate_user(db.session, other, admin)  # another admin remains: allowed
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        role_svc.update_role(db.session, other, boss, {"label": "Boss", "scope": "all", "permissions": []})
    assert refused.value.code == "last_admin"


@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_only_administrators_change_roles_and_people(db, users, role):
    actor = users[role]
    with pytest.raises(Forbidden):
        role_svc.create_role(db.session, actor, {"label": "X", "scope": "own", "permissions": []})
    with pytest.raises(Forbidden):
        user_svc.deactivate_user(db.session, actor, users["other_sales"])
    with pytest.raises(Forbidden):
        user_svc.create_team(db.session, actor, "South")
    with pytest.raises(Forbidden):
        user_svc.reassign_records(db.session, actor, users["other_sales"], users["sales"].id)


# ------------------------------------------------------------------ users and managers

def test_add_user_checks_every_field_at_once(db, users):
    with pytest.raises(Invalid) as refused:
        user_svc.add_user(db.session, users["admin"], {
            "email": "SALES@example.com", "password": "password123", "role_key": "pope",
            "team_id": "999", "manager_id": "abc", "name": "x" * 121})
    assert codes(refused.value) == {"email": ["email_taken"], "password": ["password_common"],
                                    "role_key": ["unknown_role"], "team_id": ["choose_from_list"],
                                    "manager_id": ["choose_from_list"], "name": ["too_long"]}
    with pytest.raises(Invalid) as refused:
        user_svc.add_user(db.session, users["admin"], {"email": "not an e-mail", "password": PASSWORD,
                                                       "role_key": "sales", "manager_id": str(2**40)})
    assert codes(refused.value) == {"email": ["bad_email"], "manager_id": ["choose_from_list"]}


def test_add_user_creates_one_who_can_sign_in(db, users):
    team = user_svc.create_team(db.session, users["admin"], "South")
    user = user_svc.add_user(db.session, users["admin"], {
        "email": " New.Rep@Example.com ", "password": "a sturdy new passphrase", "role_key": "viewer",
        "team_id": str(team.id), "manager_id": str(users["manager"].id), "name": ""})
    db.session.commit()
    assert (user.email, user.name, user.role_key, user.team_id, user.manager_id) == (
        "new.rep@example.com", "New Rep", "viewer", team.id, users["manager"].id)
    assert user_svc.authenticate(db.session, "new.rep@example.com", "a sturdy new passphrase") == user
    [entry] = audit_entries(db, "user")
    assert entry.action == "created" and "password_hash" not in entry.after


def test_no_manager_cycle(db, users, make_user):
    admin = users["admin"]
    boss, middle, junior = make_user("manager"), make_user("sales"), make_user("sales")
    user_svc.set_manager(db.session, admin, middle, boss.id)
    user_svc.set_manager(db.session, admin, junior, middle.id)
    db.session.commit()
    for user, manager in ((boss, junior), (boss, middle), (middle, junior), (boss, boss)):
        with pytest.raises(Invalid) as refused:
            user_svc.set_manager(db.session, admin, user, manager.id)
        assert codes(refused.value) == {"manager_id": ["manager_self" if user is manager else "manager_cycle"]}
        db.session.rollback()
    assert "already reports to this user" in str(
        user_svc.manager_problem(db.session, boss, junior.id))
    inactive = make_user("sales", active=False)
    assert user_svc.manager_problem(db.session, boss, inactive.id).code == "not_active_user"
    user_svc.set_manager(db.session, admin, junior, None)
    user_svc.set_manager(db.session, admin, boss, junior.id)  # no longer a cycle
    db.session.commit()
    assert boss.manager_id == junior.id
    assert [e.after for e in audit_entries(db, "user")][-1] == {"manager_id": junior.id}


def test_deactivation_ends_sessions_and_tokens_at_once(db, users, api_headers):
    sales = users["sales"]
    api_headers(sales)
    api_headers(sales)
    cookie_id = sales.get_id()
    user_svc.deactivate_user(db.session, users["admin"], sales)
    db.session.commit()
    assert user_svc.load_session_user(db.session, cookie_id) is None
    assert user_svc.authenticate(db.session, "sales@example.com", PASSWORD) is None
    assert db.session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == sales.id)) == 0
    assert not permissions.has_perm(sales, "lead.edit")  # an inactive user may do nothing
    [entry] = audit_entries(db, "user")
    assert entry.before == {"active": True, "api_tokens_revoked": None}
    assert entry.after == {"active": False, "api_tokens_revoked": 2}
    with pytest.raises(Conflict):
        user_svc.deactivate_user(db.session, users["admin"], sales)
    user_svc.reactivate_user(db.session, users["admin"], sales)
    db.session.commit()
    assert user_svc.authenticate(db.session, "sales@example.com", PASSWORD) == sales
    assert user_svc.load_session_user(db.session, cookie_id) is None  # the old session stays ended


def test_nobody_deactivates_themselves(db, users):
    with pytest.raises(Conflict) as refused:
        user_svc.deactivate_user(db.session, users["admin"], users["admin"])
    assert refused.value.code == "deactivate_self"


def test_reassign_moves_every_kind_in_one_step_with_counts(db, users, make_lead, make_account, make_contact,
                                                           make_deal, make_task):
    sales, other, admin = users["sales"], users["other_sales"], users["admin"]
    team = Team(name="South")
    db.session.add(team)
    db.session.commit()
    other.team_id = team.id
    db.session.commit()
    leads = [make_lead(owner_id=sales.id, team_id=sales.team_id) for _ in range(3)]
    converted = make_lead(owner_id=sales.id, converted=True, status="converted")
    make_account(owner_id=sales.id)
    make_account(owner_id=sales.id)
    make_contact(owner_id=sales.id)
    make_deal(owner_id=sales.id)
    open_task = make_task(owner_id=sales.id, parent_type="lead", parent_id=leads[0].id)
    done = make_task(owner_id=sales.id, status="done", parent_type="lead", parent_id=leads[0].id)
    untouched = make_lead(owner_id=users["manager"].id)
    assert user_svc.owned_counts(db.session, sales) == {"leads": 3, "accounts": 2, "contacts": 1, "deals": 1,
                                                        "tasks": 1}
    statements = []
    from sqlalchemy import event

    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        counts = user_svc.reassign_records(db.session, admin, sales, str(other.id))
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    db.session.commit()
    assert counts == {"leads": 3, "accounts": 2, "contacts": 1, "deals": 1, "tasks": 1}
    # Many is not a loop of one: an UPDATE per kind (and an INSERT ... SELECT of timeline events).
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 5
    assert all(db.session.get(Lead, lead.id).owner_id == other.id for lead in leads)
    assert {db.session.get(Lead, lead.id).team_id for lead in leads} == {team.id}  # the new owner's team
    assert db.session.get(Lead, converted.id).owner_id == sales.id  # archives stay (C1.4)
    assert db.session.get(Task, open_task.id).owner_id == other.id
    assert db.session.get(Task, done.id).owner_id == sales.id
    assert db.session.get(Lead, untouched.id).owner_id == users["manager"].id
    assert user_svc.owned_counts(db.session, sales) == dict.fromkeys(user_svc.REASSIGNED, 0)
    events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "owner_reassigned")).all()
    assert len(events) == 7 and {e.parent_type for e in events} == {"lead", "account", "contact", "deal"}
    assert events[0].text.startswith("Owner changed from Sales") and events[0].actor_id == admin.id
    [entry] = audit_entries(db, "user")
    assert entry.after == {"records_reassigned_to": other.email, "leads": 3, "accounts": 2, "contacts": 1,
                           "deals": 1, "tasks": 1}


@pytest.mark.parametrize(("target", "code"), [("self", "reassign_same"), ("inactive", "not_active_user"),
                                              ("", "required"), ("x", "choose_from_list"),
                                              ("missing", "not_active_user")])
def test_reassign_refuses_a_bad_target(db, users, make_user, target, code):
    raw = {"self": str(users["sales"].id), "inactive": str(make_user("sales", active=False).id),
           "missing": "99999"}.get(target, target)
    with pytest.raises(Invalid) as refused:
        user_svc.reassign_records(db.session, users["admin"], users["sales"], raw)
    assert codes(refused.value) == {"reassign_to": [code]}


def test_deactivate_with_reassignment_is_one_step(db, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id)
    counts = user_svc.deactivate_user(db.session, users["admin"], users["sales"], str(users["manager"].id))
    db.session.commit()
    assert counts["leads"] == 1 and db.session.get(Lead, lead.id).owner_id == users["manager"].id
    assert not users["sales"].active
    # A refused reassignment leaves the user active.
    lead2 = make_lead(owner_id=users["other_sales"].id)
    with pytest.raises(Invalid):
        user_svc.deactivate_user(db.session, users["admin"], users["other_sales"], str(users["sales"].id))
    db.session.rollback()
    assert users["other_sales"].active and db.session.get(Lead, lead2.id).owner_id == users["other_sales"].id


def test_list_users_pages_by_name_and_filters(db, users, make_user):
    for i in range(30):
        make_user("viewer", name=f"Zed {i:02d}", email=f"zed{i}@example.com", active=i % 3 != 0)
    page, after = user_svc.list_users(db.session, q="zed")
    assert len(page) == 25 and after == page[-1].id and page[0].name == "Zed 00"
    rest, after2 = user_svc.list_users(db.session, q="zed", after=after)
    assert [u.name for u in rest] == [f"Zed {i}" for i in range(25, 30)] and after2 is None
    assert len(user_svc.list_users(db.session, q="ZED", active=False)[0]) == 10
    assert [u.email for u in user_svc.list_users(db.session, manager_id=users["manager"].id)[0]] == [
        "sales@example.com"]
    team_id = users["sales"].team_id
    assert {u.email for u in user_svc.list_users(db.session, team_id=team_id)[0]} == {
        "sales@example.com", "manager@example.com"}
    assert len(user_svc.list_users(db.session, team_id=0, q="zed")[0]) == 25
    assert user_svc.list_users(db.session, role="admin")[0] == [users["admin"]]
    assert user_svc.list_users(db.session, q="%_")[0] == []  # wildcards are searched as text


# ------------------------------------------------------------------ teams and tokens

def test_teams_create_rename_delete(db, users, make_lead):
    admin = users["admin"]
    south = user_svc.create_team(db.session, admin, " South ")
    db.session.commit()
    assert south.name == "South"
    for bad, code in (("north", "team_taken"), ("", "required"), ("x" * 121, "too_long")):
        with pytest.raises(Invalid) as refused:
            user_svc.create_team(db.session, admin, bad)
        assert codes(refused.value) == {"name": [code]}
    user_svc.rename_team(db.session, admin, south, "South-West")
    user_svc.rename_team(db.session, admin, south, "south-west")  # its own name, other case: fine
    db.session.commit()
    north = db.session.get(Team, users["sales"].team_id)
    with pytest.raises(Conflict) as refused:
        user_svc.delete_team(db.session, admin, north)
    assert refused.value.code == "team_has_members" and refused.value.params["count"] == 2
    db.session.rollback()
    lead = make_lead(team_id=south.id)
    user_svc.delete_team(db.session, admin, south)
    db.session.commit()
    assert db.session.get(Team, south.id) is None and db.session.get(Lead, lead.id).team_id is None
    assert [e.action for e in audit_entries(db, "team")] == ["created", "updated", "updated", "deleted"]


def test_tokens_are_revoked_by_their_owner_or_an_administrator(db, users):
    sales, other = users["sales"], users["other_sales"]
    row, token = user_svc.issue_token(db.session, sales, "nightly")
    spare, _ = user_svc.issue_token(db.session, sales, "spare")
    db.session.commit()
    assert row.token_hash == ApiToken.hash(token) and token not in str(audit_entries(db, "api_token")[0].after)
    with pytest.raises(NotFound):
        user_svc.revoke_token(db.session, other, row.id)  # not theirs: not even told it exists
    with pytest.raises(NotFound):
        user_svc.revoke_token(db.session, users["admin"], row.id, owner=other)  # not that user's
    with pytest.raises(NotFound):
        user_svc.revoke_token(db.session, users["admin"], 2**40)
    user_svc.revoke_token(db.session, sales, row.id)
    user_svc.revoke_token(db.session, users["admin"], spare.id, owner=sales)
    db.session.commit()
    assert user_svc.tokens_of(db.session, sales) == []
    entries = audit_entries(db, "api_token")
    assert [(e.action, e.actor_id) for e in entries] == [
        ("created", sales.id), ("created", sales.id), ("deleted", sales.id), ("deleted", users["admin"].id)]
    assert entries[2].key == "sales@example.com · nightly"


def test_list_teams_pages_by_name(db, users):
    for i in range(60):
        db.session.add(Team(name=f"T{i:02d}"))
    db.session.commit()
    page, after = user_svc.list_teams(db.session)
    assert len(page) == 50 and page[0].name == "North" and after == page[-1].id
    rest, last = user_svc.list_teams(db.session, after=after)
    assert [t.name for t in rest] == [f"T{i}" for i in range(49, 60)] and last is None
    assert user_svc.team_members(db.session, [page[0].id, page[1].id]) == {page[0].id: 2}
