"""Roles and people (issue 10 item 6): the roles and their permission matrix, users (create,
edit, deactivate with the reassign step, reactivate), teams, and each user's API tokens.

Plain forms that post and redirect (they work without JavaScript and by keyboard); the users
list filters and pages through htmx like the record lists. The services change the state
(services/roles.py, services/users.py): one call, one commit here; their refusals come back as
the page again with each reason next to its field (422) or the refusal above it (409)."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ... import permissions
from ...errors import Conflict, Invalid, NotFound, Text
from ...extensions import db
from ...fields import INT_MAX, search_text
from ...forms.people import SCOPE_HINTS, ReassignForm, RoleForm, TeamForm, UserForm, role_choices
from ...htmx import redirect, render
from ...i18n import translate
from ...models import Role, Team, User
from ...services import roles as role_svc
from ...services import users as user_svc
from ..errors import on_error
from . import bp


def _actor() -> User:
    return current_user._get_current_object()


def _reassigned_labels() -> dict[str, str]:
    return {"leads": _("Leads"), "accounts": _("Accounts"), "contacts": _("Contacts"), "deals": _("Deals"),
            "tasks": _("Open tasks")}


def _counts_sentence(counts: dict[str, int]) -> str:
    labels = _reassigned_labels()
    return ", ".join(f"{labels[k]}: {counts.get(k, 0)}" for k in user_svc.REASSIGNED)


# --- roles ---------------------------------------------------------------------------------

def _find_role(key: str | None) -> Role | None:
    """The role with this key, or None (a key no role can have is not looked up: NUL, too long)."""
    if not key or len(key) > role_svc.KEY_MAX or "\x00" in key:
        return None
    return db.session.get(Role, key)


def _role(key: str) -> Role:
    role = _find_role(key)
    if role is None:
        raise NotFound(Text("There is no such role."))
    return role


def _matrix_context(role: Role | None, granted) -> dict:
    return {"entities": permissions.ENTITY_PERMS, "actions": permissions.ACTIONS,
            "entity_actions": permissions.entity_actions, "entity_labels": permissions.ENTITY_LABELS,
            "action_labels": permissions.ACTION_LABELS, "special": permissions.SPECIAL_PERMISSIONS,
            "special_labels": permissions.PERMISSION_LABELS, "scope_hints": SCOPE_HINTS,
            "granted": set(granted), "role": role,
            "locked": role is not None and role_svc.is_locked(role),
            "builtin": role is not None and role_svc.is_builtin(role),
            "users_count": role_svc.usage(db.session, role.key) if role is not None else 0}


def _role_page(form: RoleForm, role: Role | None, granted, status: int = 200, refusal=None):
    return render("admin/role_form.html", "admin/role_form.html", status, form=form, refusal=refusal,
                  **_matrix_context(role, granted))


@bp.get("/roles")
def roles():
    """Every role: its scope, how many users have it, what it may do beyond records."""
    rows = role_svc.roles(db.session)
    return render("admin/roles.html", "admin/roles.html", roles=rows, counts=role_svc.usage_counts(db.session),
                  builtin=permissions.BUILTIN_ROLES, locked=permissions.LOCKED_ROLE,
                  scope_labels=permissions.SCOPE_LABELS, special=permissions.SPECIAL_PERMISSIONS,
                  special_labels=permissions.PERMISSION_LABELS, role_permissions=permissions.role_permissions)


@bp.get("/roles/new")
def roles_new():
    """A blank matrix, or a copy of another role's (?from=<key>, e.g. a preset to start from)."""
    form = RoleForm(formdata=None)
    source = _find_role(request.args.get("from"))
    form.scope.data = source.scope if source else "own"
    granted = permissions.role_permissions(source) if source else ()
    return _role_page(form, None, granted)


@bp.post("/roles")
def roles_create():
    form = RoleForm()
    data = form.to_data()

    def refused(e: Invalid):
        form.apply_errors(e.errors)
        return _role_page(form, None, data["permissions"], 422)

    on_error(Invalid, refused)
    role = role_svc.create_role(db.session, _actor(), data)
    db.session.commit()
    flash(_("Role “%(name)s” created.", name=role.label), "success")
    return redirect(url_for("admin.roles_edit", key=role.key))


@bp.get("/roles/<key>")
def roles_edit(key: str):
    role = _role(key)
    form = RoleForm(formdata=None, data={"label": translate(role.label) if role_svc.is_builtin(role) else role.label,
                                         "scope": role.scope})
    return _role_page(form, role, permissions.role_permissions(role))


@bp.post("/roles/<key>")
def roles_update(key: str):
    role = _role(key)
    form = RoleForm()
    data = form.to_data()
    if role_svc.is_builtin(role) and data["label"] == translate(role.label):
        data["label"] = role.label  # the preset's name as shown (translated) stays stored in English

    def refused(e: Invalid):
        form.apply_errors(e.errors)
        return _role_page(form, role, data["permissions"], 422)

    on_error(Invalid, refused)
    on_error(Conflict, lambda e: _role_page(form, role, data["permissions"], e.status, refusal=e.message))
    role_svc.update_role(db.session, _actor(), role, data)
    db.session.commit()
    flash(_("Role “%(name)s” saved.", name=translate(role.label)), "success")
    return redirect(url_for("admin.roles_edit", key=role.key))


@bp.post("/roles/<key>/reset")
def roles_reset(key: str):
    """Give a built-in role its preset again."""
    role = _role(key)
    form = RoleForm(formdata=None, data={"label": translate(role.label), "scope": role.scope})
    on_error(Conflict, lambda e: _role_page(form, role, permissions.role_permissions(role), e.status,
                                            refusal=e.message))
    role_svc.reset_role(db.session, _actor(), role)
    db.session.commit()
    flash(_("Role “%(name)s” has its preset permissions again.", name=translate(role.label)), "success")
    return redirect(url_for("admin.roles_edit", key=role.key))


@bp.post("/roles/<key>/delete")
def roles_delete(key: str):
    role = _role(key)
    form = RoleForm(formdata=None, data={"label": role.label, "scope": role.scope})
    on_error(Conflict, lambda e: _role_page(form, role, permissions.role_permissions(role), e.status,
                                            refusal=e.message))
    label = role.label
    role_svc.delete_role(db.session, _actor(), role)
    db.session.commit()
    flash(_("Role “%(name)s” deleted.", name=translate(label)), "success")
    return redirect(url_for("admin.roles"))


# --- users ---------------------------------------------------------------------------------

def _user(user_id: int) -> User:
    return user_svc.get_user(db.session, user_id)


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 and 0 < int(raw) <= INT_MAX else None


def _filters() -> dict:
    """The list's filters from the query string (anything unknown is ignored)."""
    team = request.args.get("team_id", "")
    active = request.args.get("active", "")
    role = request.args.get("role", "")
    return {
        "q": search_text(request.args.get("q", "")[:200].replace("\x00", "")) or None,
        "role": role if _find_role(role) else None,
        "team_id": 0 if team == "none" else _int_arg("team_id"),
        "manager_id": _int_arg("manager_id"),
        "active": {"yes": True, "no": False}.get(active),
    }


def _args(filters: dict) -> dict:
    """The filters as query-string values (the links keep them)."""
    out = {"q": filters["q"], "role": filters["role"], "manager_id": filters["manager_id"],
           "team_id": "none" if filters["team_id"] == 0 else filters["team_id"],
           "active": {True: "yes", False: "no"}.get(filters["active"])}
    return {k: v for k, v in out.items() if v not in (None, "")}


@bp.get("/users")
def users():
    """Users by name, 25 a page (keyset: ?after=<id>), with search and filters; an htmx request
    gets the rows (the filter bar's swap, or the next page in place of "Load more")."""
    filters = _filters()
    after = _int_arg("after")
    rows, next_after = user_svc.list_users(db.session, after=after, **filters)
    args = _args(filters)
    next_url = url_for("admin.users", after=next_after, **args) if next_after else None
    managers = db.session.scalars(select(User).where(User.id.in_(
        select(User.manager_id).where(User.manager_id.isnot(None)))).order_by(User.name))
    teams = list(db.session.scalars(select(Team).order_by(Team.name)))
    return render("admin/users.html", "admin/_user_rows.html", rows=rows, next_url=next_url, args=args,
                  filters=filters, continued=after is not None,
                  roles=[(c.value, c.label) for c in role_choices()],
                  teams=teams, managers=[(m.id, m.display_name) for m in managers],
                  role_labels={r.key: r.label for r in db.session.scalars(select(Role))})


def _user_page(user: User, form: UserForm | None = None, reassign: ReassignForm | None = None,
               status: int = 200, refusal=None):
    return render("admin/user.html", "admin/user.html", status, user=user,
                  form=form or UserForm(formdata=None, user=user),
                  reassign_form=reassign or ReassignForm(formdata=None, user=user),
                  counts=user_svc.owned_counts(db.session, user), labels=_reassigned_labels(),
                  tokens=user_svc.tokens_of(db.session, user), refusal=refusal,
                  is_self=user.id == current_user.id)


@bp.get("/users/new")
def users_new():
    form = UserForm(formdata=None)
    form.role_key.data = "sales"
    return render("admin/user_new.html", "admin/user_new.html", form=form)


@bp.post("/users")
def users_create():
    form = UserForm()

    def refused(e: Invalid):
        form.apply_errors(e.errors)
        return render("admin/user_new.html", "admin/user_new.html", 422, form=form)

    on_error(Invalid, refused)
    user = user_svc.add_user(db.session, _actor(), form.to_data())
    db.session.commit()
    flash(_("User %(name)s created: they can sign in with the password you chose.", name=user.display_name),
          "success")
    return redirect(url_for("admin.users_edit", user_id=user.id))


@bp.get("/users/<int:user_id>")
def users_edit(user_id: int):
    """A user: their details, what they own (and the reassign step), access, API tokens."""
    return _user_page(_user(user_id))


@bp.post("/users/<int:user_id>")
def users_update(user_id: int):
    user = _user(user_id)
    form = UserForm(user=user)

    def refused(e: Invalid):
        form.apply_errors(e.errors)
        return _user_page(db.session.get(User, user_id), form, status=422)

    on_error(Invalid, refused)
    on_error(Conflict, lambda e: _user_page(db.session.get(User, user_id), form, status=e.status,
                                            refusal=e.message))
    user_svc.update_user(db.session, _actor(), user, form.to_data())
    db.session.commit()
    flash(_("User %(name)s saved.", name=user.display_name), "success")
    return redirect(url_for("admin.users_edit", user_id=user.id))


@bp.post("/users/<int:user_id>/reassign")
def users_reassign(user_id: int):
    """Give all of a user's records to another user, in one step."""
    user = _user(user_id)
    form = ReassignForm(user=user)

    def refused(e: Invalid):
        form.apply_errors(e.errors)
        return _user_page(db.session.get(User, user_id), reassign=form, status=422)

    on_error(Invalid, refused)
    counts = user_svc.reassign_records(db.session, _actor(), user, form.reassign_to.data)
    db.session.commit()
    flash(_("Records of %(name)s reassigned — %(counts)s.", name=user.display_name,
            counts=_counts_sentence(counts)), "success")
    return redirect(url_for("admin.users_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/deactivate", methods=["GET", "POST"])
def users_deactivate(user_id: int):
    """The deactivation step: what they own, whom to give it to (optional), then deactivate."""
    user = _user(user_id)
    form = ReassignForm(user=user, required=False, formdata=None if request.method == "GET" else request.form)

    def page(status: int = 200, refusal=None):
        fresh = db.session.get(User, user_id)
        return render("admin/user_deactivate.html", "admin/user_deactivate.html", status, user=fresh, form=form,
                      counts=user_svc.owned_counts(db.session, fresh), labels=_reassigned_labels(),
                      tokens=len(user_svc.tokens_of(db.session, fresh)), refusal=refusal)

    if request.method == "GET":
        return page()

    def refused(e: Invalid):
        form.apply_errors(e.errors)
        return page(422)

    on_error(Invalid, refused)
    on_error(Conflict, lambda e: page(e.status, e.message))
    counts = user_svc.deactivate_user(db.session, _actor(), user, form.reassign_to.data or None)
    db.session.commit()
    message = _("%(name)s is deactivated: they are signed out and their API tokens are revoked.",
                name=user.display_name)
    if counts is not None:
        message += " " + _("Their records were reassigned — %(counts)s.", counts=_counts_sentence(counts))
    flash(message, "success")
    return redirect(url_for("admin.users_edit", user_id=user.id))


@bp.post("/users/<int:user_id>/reactivate")
def users_reactivate(user_id: int):
    user = _user(user_id)
    on_error(Conflict, lambda e: _user_page(db.session.get(User, user_id), status=e.status, refusal=e.message))
    user_svc.reactivate_user(db.session, _actor(), user)
    db.session.commit()
    flash(_("%(name)s is active again and can sign in.", name=user.display_name), "success")
    return redirect(url_for("admin.users_edit", user_id=user.id))


@bp.post("/users/<int:user_id>/tokens/<int:token_id>/revoke")
def users_revoke_token(user_id: int, token_id: int):
    user = _user(user_id)
    row = user_svc.revoke_token(db.session, _actor(), token_id, owner=user)
    name = row.name
    db.session.commit()
    flash(_("Token “%(name)s” revoked: scripts using it now get 401.", name=name), "success")
    return redirect(url_for("admin.users_edit", user_id=user.id) + "#tokens")


# --- teams ---------------------------------------------------------------------------------

def _team(team_id: int) -> Team:
    team = db.session.get(Team, team_id) if team_id <= INT_MAX else None
    if team is None:
        raise NotFound(Text("There is no such team."))
    return team


def _teams_page(form: TeamForm | None = None, status: int = 200, refusal=None, editing: int | None = None,
                rename_form: TeamForm | None = None):
    teams, next_after = user_svc.list_teams(db.session, after=_int_arg("after"))
    return render("admin/teams.html", "admin/teams.html", status, teams=teams,
                  members=user_svc.team_members(db.session, [t.id for t in teams]),
                  form=form or TeamForm(formdata=None), refusal=refusal, editing=editing,
                  rename_form=rename_form, next_after=next_after, first_page=_int_arg("after") is None)


@bp.get("/users/teams")
def users_teams():
    return _teams_page()


@bp.post("/users/teams")
def users_teams_create():
    form = TeamForm()

    def refused(e: Invalid):
        form.apply_errors(e.errors)
        return _teams_page(form, 422)

    on_error(Invalid, refused)
    team = user_svc.create_team(db.session, _actor(), form.name.data)
    db.session.commit()
    flash(_("Team “%(name)s” created.", name=team.name), "success")
    return redirect(url_for("admin.users_teams"))


@bp.post("/users/teams/<int:team_id>")
def users_teams_rename(team_id: int):
    team = _team(team_id)
    form = TeamForm(prefix=f"team-{team.id}")

    def refused(e: Invalid):
        form.apply_errors(e.errors)
        return _teams_page(status=422, editing=team_id, rename_form=form)

    on_error(Invalid, refused)
    user_svc.rename_team(db.session, _actor(), team, form.name.data)
    db.session.commit()
    flash(_("Team renamed “%(name)s”.", name=team.name), "success")
    return redirect(url_for("admin.users_teams"))


@bp.post("/users/teams/<int:team_id>/delete")
def users_teams_delete(team_id: int):
    team = _team(team_id)
    on_error(Conflict, lambda e: _teams_page(status=e.status, refusal=e.message))
    name = team.name
    user_svc.delete_team(db.session, _actor(), team)
    db.session.commit()
    flash(_("Team “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("admin.users_teams"))

