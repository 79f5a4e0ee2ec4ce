"""Roles (issue 10): create, edit, delete, and restore a built-in role to its preset.

What a role grants is data (Role.scope, Role.permissions); webapp/permissions.py reads it and is
the one place that answers "may this user do X". Flask-free: functions take the session and
the acting administrator, add and flush, record the change in the settings audit (area
"role"), and never commit.

Decisions:
- The built-in roles (permissions.BUILTIN_ROLES) are presets: they cannot be deleted; the
  administrator's role ("admin") cannot be changed either (it keeps every permission, so the
  admin area can never lock itself out); the others may be edited and restored to their preset.
- A role's key (what users.role_key points to) is made once from its first label and never
  changes; the label may.
- "Delete" needs "Edit" on the same entity and "Convert leads" needs "Edit" on leads
  (permissions.can_delete and may_convert_lead ask for both): a role asking for one without the
  other is refused rather than saved with a right that can never be used.
- A role still given to users (active or not) cannot be deleted: Conflict with the count.
- Removing "Administration" from a role is refused when no active user would keep it.

Raises Forbidden (the actor is not an administrator), Invalid (field errors on "label", "scope",
"permissions"; nothing written), Conflict (codes role_locked, role_builtin, role_in_use,
last_admin).
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import func, select

from .. import permissions
from ..errors import N_, Conflict, Forbidden, Invalid, Problem, Text
from ..fields import FieldError, model_specs
from ..models import Role, User
from . import audit

AREA = "role"
KEY_MAX = 40  # roles.key
RESERVED_KEYS = {"new"}  # /admin/roles/new is the page of a new role

ROLE_PROBLEMS = {
    "role_label_taken": N_("is already the name of another role"),
    "unknown_permission": N_("name a permission this CRM does not know: {name}"),
    "delete_needs_edit": N_("must give “Edit” on {entity} along with “Delete” (deleting a record needs both)"),
    "convert_needs_edit": N_("must give “Edit” on leads along with “Convert leads” (a user converts only the "
                             "leads they may edit)"),
    "not_permission_list": N_("must be a list of permission names"),
}
ADMIN_ONLY = N_("Only administrators may change roles.")
LOCKED = N_("The “{label}” role is the administrators’ preset: it keeps every permission and cannot be changed.")
BUILTIN = N_("The “{label}” role is a built-in preset: it cannot be deleted.")
IN_USE = N_("The “{label}” role cannot be deleted: users with this role: {count}. Give them another role first.")
LAST_ADMIN = N_("At least one active user must keep the “Administration” permission.")
NOT_PRESET = N_("The “{label}” role is not a built-in preset: there is nothing to restore.")

FIELDS = ("label", "scope", "permissions")


def _problem(code: str, **params) -> Problem:
    return Problem(code, ROLE_PROBLEMS[code], **params)


def _require_admin(actor) -> None:
    if not permissions.is_admin(actor):
        raise Forbidden(Text(ADMIN_ONLY))


def is_builtin(role: Role) -> bool:
    return role.key in permissions.BUILTIN_ROLES


def is_locked(role: Role) -> bool:
    return role.key == permissions.LOCKED_ROLE


def usage(session, key: str) -> int:
    """How many users (active or not) have the role."""
    return session.scalar(select(func.count(User.id)).where(User.role_key == key)) or 0


def usage_counts(session) -> dict[str, int]:
    """{role key: number of users} in one query (the roles page)."""
    return dict(session.execute(select(User.role_key, func.count(User.id)).group_by(User.role_key)).all())


def roles(session) -> list[Role]:
    """Every role: the presets in their order, then the others by label."""
    order = {key: i for i, key in enumerate(permissions.BUILTIN_ROLES)}
    rows = list(session.scalars(select(Role)))
    return sorted(rows, key=lambda r: (order.get(r.key, len(order)), r.label.lower(), r.key))


def snapshot(role: Role) -> dict:
    return {"label": role.label, "scope": role.scope, "permissions": sorted(role.permissions or [])}


def admin_role_keys(session) -> set[str]:
    """The keys of the roles that grant "Administration"."""
    return {r.key for r in session.scalars(select(Role)) if "admin" in permissions.role_permissions(r)}


def active_admins(session, keys: set[str] | None = None, excluding_user_id: int | None = None) -> int:
    """How many active users have a role among `keys` (default: the roles granting "Administration")."""
    keys = admin_role_keys(session) if keys is None else keys
    if not keys:
        return 0
    stmt = select(func.count(User.id)).where(User.active.is_(True), User.role_key.in_(keys))
    if excluding_user_id is not None:
        stmt = stmt.where(User.id != excluding_user_id)
    return session.scalar(stmt) or 0


def _clean(session, data: dict, role: Role | None) -> tuple[str, str, list[str]]:
    """The checked (label, scope, permissions); raises Invalid with every problem at once."""
    errors: dict[str, list] = {}
    label = None
    try:
        label = model_specs(Role)["label"].parse(data.get("label"))
    except FieldError as e:
        errors["label"] = [e.problem]
    if label is None and "label" not in errors:
        errors["label"] = [Problem("required")]
    elif label is not None:
        taken = select(Role.key).where(func.lower(Role.label) == label.lower())
        if role is not None:
            taken = taken.where(Role.key != role.key)
        if session.scalar(taken.limit(1)) is not None:
            errors["label"] = [_problem("role_label_taken")]
    scope = data.get("scope")
    if scope not in permissions.SCOPES:
        errors["scope"] = [Problem("not_choice", choices=", ".join(permissions.SCOPES))]
    raw = data.get("permissions") or []
    perms: list[str] = []
    if not isinstance(raw, list | tuple) or not all(isinstance(p, str) for p in raw):
        errors["permissions"] = [_problem("not_permission_list")]
    else:
        problems = []
        for name in raw:
            if name not in permissions.ALL_PERMISSIONS:
                problems.append(_problem("unknown_permission", name=name[:80].replace("\x00", "")))
            elif name not in perms:
                perms.append(name)
        granted = set(perms)
        for entity in permissions.ENTITY_PERMS:
            if f"{entity}.delete" in granted and f"{entity}.edit" not in granted:
                problems.append(_problem("delete_needs_edit", entity=Text(permissions.ENTITY_LABELS[entity])))
        if "lead.convert" in granted and "lead.edit" not in granted:
            problems.append(_problem("convert_needs_edit"))
        if problems:
            errors["permissions"] = problems
    if errors:
        raise Invalid(errors=errors)
    return label, scope, sorted(perms)


def _new_key(session, label: str) -> str:
    """A key for a new role from its label: "Junior sales" -> "junior_sales" (unique)."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_")[:KEY_MAX - 4] or "role"
    taken = set(session.scalars(select(Role.key).where(Role.key.startswith(base)))) | RESERVED_KEYS
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def create_role(session, actor, data: dict) -> Role:
    """A new role from {"label", "scope", "permissions"}; raises Forbidden, Invalid."""
    _require_admin(actor)
    label, scope, perms = _clean(session, data, None)
    role = Role(key=_new_key(session, label), label=label, scope=scope, permissions=perms)
    session.add(role)
    session.flush()
    audit.record(session, actor, AREA, role.key, "created", after=snapshot(role))
    return role


def _guard_admins(session, role: Role, perms: list[str]) -> None:
    """Refuse taking "Administration" away from the role when no active user would keep it."""
    if "admin" in permissions.role_permissions(role) and "admin" not in perms:
        if active_admins(session, admin_role_keys(session) - {role.key}) == 0:
            raise Conflict(Text(LAST_ADMIN), code="last_admin")


def update_role(session, actor, role: Role, data: dict) -> Role:
    """Change a role's label, scope and permissions; raises Forbidden, Invalid, Conflict."""
    _require_admin(actor)
    if is_locked(role):
        raise Conflict(Text(LOCKED, label=Text(role.label)), code="role_locked")
    label, scope, perms = _clean(session, data, role)
    _guard_admins(session, role, perms)
    before = snapshot(role)
    role.label, role.scope, role.permissions = label, scope, perms
    session.flush()
    audit.record(session, actor, AREA, role.key, "updated", before, snapshot(role))
    return role


def reset_role(session, actor, role: Role) -> Role:
    """Give a built-in role its preset's label, scope and permissions again; raises Forbidden,
    Conflict (not a preset, or the locked administrators' role)."""
    _require_admin(actor)
    if not is_builtin(role):
        raise Conflict(Text(NOT_PRESET, label=Text(role.label)), code="not_preset")
    if is_locked(role):
        raise Conflict(Text(LOCKED, label=Text(role.label)), code="role_locked")
    label, scope, perms = permissions.BUILTIN_ROLES[role.key]
    _guard_admins(session, role, list(perms))
    before = snapshot(role)
    role.label, role.scope, role.permissions = label, scope, sorted(perms)
    session.flush()
    audit.record(session, actor, AREA, role.key, "updated", before, snapshot(role))
    return role


def delete_role(session, actor, role: Role) -> None:
    """Delete a role nobody has; raises Forbidden, Conflict (a preset, or users have it: with
    their count)."""
    _require_admin(actor)
    if is_builtin(role):
        raise Conflict(Text(BUILTIN, label=Text(role.label)), code="role_builtin")
    count = usage(session, role.key)
    if count:
        raise Conflict(Text(IN_USE, label=Text(role.label), count=count), code="role_in_use", count=count)
    before = snapshot(role)
    session.delete(role)
    session.flush()
    audit.record(session, actor, AREA, role.key, "deleted", before=before)
