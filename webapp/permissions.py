"""Roles, record visibility and "may X do Y to Z": the one place, used by pages, API and domain.

A role (models.Role, edited on /admin/roles) stores its record scope and a list of
permissions; every answer below reads them, never a role's key. The permissions:

- `<entity>.create`, `<entity>.edit`, `<entity>.delete` for the records (lead, account,
  contact, deal) and what hangs on them (task, note, attachment). Edit and delete reach the
  records within the scope: own (the user's), team (theirs, their team's, their reports',
  at every level) or all. Delete also needs edit.
- `<entity>.read` for the records: read every record of that kind, whatever the scope.
  Without it a user reads the records within their scope. Notes, tasks and attachments
  are read with the record they hang on.
- `lead.convert` ("Convert leads", C7.1), `conversion.revert` ("Revert conversions"),
  `admin` (the admin area).

The built-in roles (presets, issue 3): admin (everything), manager (everything on the
records of their team and their reports, reads every account, contact and deal), sales
(creates records, edits their own, reads every account / contact / deal but only their own
leads, may convert), viewer (reads everything, changes nothing, may not convert).
Never imports Flask.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import event, false, or_, select, true
from sqlalchemy.orm import Session

from .errors import N_, Text
from .models import RECORD_MODELS, Lead, Note, Role, Task, User

# The records (a row each in the matrix, with every action) and what hangs on them (read
# with their record: no read of their own).
RECORD_ENTITIES = ("lead", "account", "contact", "deal")
ENTITY_PERMS = (*RECORD_ENTITIES, "task", "note", "attachment")
ACTIONS = ("create", "read", "edit", "delete")
SCOPES = ("own", "team", "all")
SPECIAL_PERMISSIONS = ("lead.convert", "conversion.revert", "admin")


def entity_actions(entity: str) -> tuple[str, ...]:
    """The actions a role may be given on `entity` (no `read` for tasks, notes, attachments)."""
    return ACTIONS if entity in RECORD_ENTITIES else ("create", "edit", "delete")


ALL_PERMISSIONS = sorted(
    [f"{e}.{a}" for e in ENTITY_PERMS for a in entity_actions(e)] + list(SPECIAL_PERMISSIONS))
ENTITY_LABELS = {"lead": N_("Leads"), "account": N_("Accounts"), "contact": N_("Contacts"), "deal": N_("Deals"),
                 "task": N_("Tasks"), "note": N_("Notes"), "attachment": N_("Attachments")}
ACTION_LABELS = {"create": N_("Create"), "read": N_("Read all"), "edit": N_("Edit"), "delete": N_("Delete")}
SCOPE_LABELS = {"own": N_("Own records"), "team": N_("Team's records"), "all": N_("All records")}
PERMISSION_LABELS = {"lead.convert": N_("Convert leads"), "conversion.revert": N_("Revert conversions"),
                     "admin": N_("Administration")}

# Names stored before per-entity reads and deletes existed, and what they stand for (the
# migration e7f8a9b0c1d2 rewrites stored roles; roles written by old code still work).
LEGACY_PERMISSIONS = {
    "record.read_all": ("account.read", "contact.read", "deal.read"),
    "record.delete": tuple(f"{e}.delete" for e in ENTITY_PERMS),
}

BUILTIN_ROLES = {
    # The labels are stored as they are here (English); pages show them with |t.
    "admin": (N_("Administrator"), "all", ALL_PERMISSIONS),
    "manager": (N_("Manager"), "team", [p for p in ALL_PERMISSIONS if p not in ("admin", "lead.read")]),
    "sales": (
        N_("Sales"),
        "own",
        [f"{e}.create" for e in ENTITY_PERMS]
        + [f"{e}.edit" for e in ENTITY_PERMS]
        + ["lead.convert", "conversion.revert", "account.read", "contact.read", "deal.read"],
    ),
    "viewer": (N_("Viewer"), "all", [f"{e}.read" for e in RECORD_ENTITIES]),
}
ROLE_KEYS = tuple(BUILTIN_ROLES)
# The preset that always has every permission (the admin area cannot lock itself out).
LOCKED_ROLE = "admin"


def ensure_roles(session) -> None:
    """Create the built-in roles that are missing (never overwrites an edited role)."""
    existing = set(session.scalars(select(Role.key)))
    for key, (label, scope, perms) in BUILTIN_ROLES.items():
        if key not in existing:
            session.add(Role(key=key, label=label, scope=scope, permissions=list(perms)))


@lru_cache(maxsize=256)
def expand(stored: tuple[str, ...]) -> frozenset[str]:
    """A role's stored permissions as the names this module asks for (legacy names expanded)."""
    out: set[str] = set()
    for name in stored:
        out.update(LEGACY_PERMISSIONS.get(name, (name,)))
    return frozenset(out)


def role_permissions(role: Role | None) -> frozenset[str]:
    """The permissions a role grants (empty for none)."""
    if role is None:
        return frozenset()
    return expand(tuple(p for p in (role.permissions or ()) if isinstance(p, str)))


def _real(user):
    """The User behind Flask-Login's `current_user` proxy (resolved once, not per attribute:
    a list page asks may_convert for each of its 50 rows)."""
    resolve = getattr(user, "_get_current_object", None)
    return resolve() if resolve is not None else user


def has_perm(user: User | None, perm: str) -> bool:
    user = _real(user)
    if user is None or not user.is_active:
        return False
    return perm in role_permissions(user.role)


def is_admin(user: User | None) -> bool:
    return has_perm(user, "admin")


def can_create(user: User | None, entity: str) -> bool:
    return has_perm(user, f"{entity}.create")


def can_read_all(user: User | None, entity: str) -> bool:
    """May the user read every record of `entity`, beyond their scope (`<entity>.read`)?"""
    return has_perm(user, f"{entity}.read")


def can_convert(user: User | None) -> bool:
    """C7.1: the role permission "Convert leads"."""
    return has_perm(user, "lead.convert")


def can_revert(user: User | None) -> bool:
    """C9.1: the role permission "Revert conversions"."""
    return has_perm(user, "conversion.revert")


def _scope(user: User) -> str:
    return user.role.scope if user.role else "own"


_TEAM_CACHE = "permissions.team_user_ids"


def team_user_ids(session, user: User) -> frozenset[int]:
    """The user, their reports (all levels) and the members of their team.

    Remembered in the session until its next flush, commit or rollback (a list page asks for
    its count, its rows and each row's rights: 3 queries each time); not while the session
    holds unflushed changes, which could be a user's new manager or team.
    """
    pending = session.new or session.dirty or session.deleted
    cache = session.info.setdefault(_TEAM_CACHE, {})
    if not pending and user.id in cache:
        return cache[user.id]
    ids = _team_user_ids(session, user)
    if not pending:
        cache[user.id] = ids
    return ids


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_teams(session, *args) -> None:
    session.info.pop(_TEAM_CACHE, None)


def _team_user_ids(session, user: User) -> frozenset[int]:
    ids = {user.id}
    frontier = {user.id}
    while frontier:
        reports = set(session.scalars(select(User.id).where(User.manager_id.in_(frontier))))
        frontier = reports - ids
        ids |= reports
    if user.team_id:
        ids |= set(session.scalars(select(User.id).where(User.team_id == user.team_id)))
    return frozenset(ids)


def assignable_owners_clause(session, actor: User):
    """SQL on User: the active users `actor` may hand a record to — anyone (scope all), their
    team and reports (team), or only themselves (own). Forms list these; services check them."""
    clause = User.active.is_(True)
    scope = _scope(actor)
    if scope == "own":
        return clause & (User.id == actor.id)
    if scope == "team":
        return clause & User.id.in_(team_user_ids(session, actor))
    return clause


def owner_problem(session, actor: User, owner_id: int | None, current_owner_id: int | None = None):
    """Why `actor` may not make `owner_id` the owner, as an errors.Problem, or None.

    Keeping the record's current owner is always allowed (editing other fields of a record
    owned by someone else is not a re-assignment)."""
    from .errors import Problem

    if owner_id is None or owner_id == current_owner_id:
        return None
    user = session.get(User, owner_id)
    if user is None or not user.active:
        return Problem("no_user", id=owner_id)
    if owner_id == actor.id or session.scalar(select(User.id).where(
            User.id == owner_id, assignable_owners_clause(session, actor))) is not None:
        return None
    return Problem("owner_not_allowed_team" if _scope(actor) == "team" else "owner_not_allowed")


def _owned_clause(session, user: User, model):
    """SQL: the records of `model` within the user's edit scope."""
    scope = _scope(user)
    if scope == "all":
        return true()
    if scope == "team":
        clause = model.owner_id.in_(team_user_ids(session, user))
        if user.team_id and hasattr(model, "team_id"):
            clause = or_(clause, model.team_id == user.team_id)
        return clause
    return model.owner_id == user.id


def _in_scope(session, user: User, obj) -> bool:
    scope = _scope(user)
    if scope == "all":
        return True
    if scope == "team":
        if user.team_id and getattr(obj, "team_id", None) == user.team_id:
            return True
        return obj.owner_id in team_user_ids(session, user)
    return obj.owner_id == user.id


def visible_clause(session, user: User | None, model):
    """SQL where-clause: the rows of `model` (a record model) this user may see: every row
    with the role's `<entity>.read`, else those within the role's scope."""
    if user is None or not user.is_active:
        return false()
    if can_read_all(user, model.__name__.lower()):
        return true()
    return _owned_clause(session, user, model)


def parent_of(session, obj):
    """The record a note, task or attachment hangs on."""
    model = RECORD_MODELS.get(obj.parent_type)
    return session.get(model, obj.parent_id) if model else None


def can_view(session, user: User | None, obj) -> bool:
    user = _real(user)
    if user is None or not user.is_active or obj is None:
        return False
    if obj.__class__.__name__ in ("Note", "Task", "Attachment"):
        return can_view(session, user, parent_of(session, obj))
    return can_read_all(user, obj.__class__.__name__.lower()) or _in_scope(session, user, obj)


def can_edit(session, user: User | None, obj) -> bool:
    """May the user change this record? Converted leads are read-only for everyone (C1.4)."""
    user = _real(user)
    if user is None or not user.is_active or obj is None:
        return False
    kind = obj.__class__.__name__.lower()
    if not has_perm(user, f"{kind}.edit"):
        return False
    if isinstance(obj, Lead) and obj.converted:
        return False
    if isinstance(obj, Note | Task) or kind == "attachment":
        mine = getattr(obj, "author_id", None) == user.id or getattr(obj, "owner_id", None) == user.id
        mine = mine or getattr(obj, "uploaded_by", None) == user.id
        return mine or can_edit(session, user, parent_of(session, obj))
    return _in_scope(session, user, obj)


def can_delete(session, user: User | None, obj) -> bool:
    """May the user delete this record (or note, task, attachment)? `<kind>.delete` and
    everything can_edit asks."""
    return has_perm(user, f"{obj.__class__.__name__.lower()}.delete") and can_edit(session, user, obj)


def can_add_to(session, user: User | None, parent, kind: str) -> bool:
    """May the user add a note / task / attachment to this record? Anyone who can see it and
    has the create permission, except on a converted lead (read-only, C1.4)."""
    if isinstance(parent, Lead) and parent.converted:
        return False
    return can_create(user, kind) and can_view(session, user, parent)


def may_convert_lead(session, user: User | None, lead: Lead) -> tuple[bool, str | None]:
    """C7.1/C7.2: (allowed, reason). Only leads the user may edit, with "Convert leads"."""
    user = _real(user)
    if not can_convert(user):
        return False, Text("Your role lacks the “Convert leads” permission.")
    if not can_edit(session, user, lead):
        return False, Text("You may only convert leads you can edit.")
    return True, None


def who_can_edit(session, obj) -> list[User]:
    """People who may edit `obj`: its owner, the owner's managers up the chain, admins."""
    people: list[User] = []
    owner = session.get(User, obj.owner_id) if obj.owner_id else None
    seen = set()
    while owner is not None and owner.id not in seen:
        seen.add(owner.id)
        if has_perm(owner, f"{obj.__class__.__name__.lower()}.edit"):
            people.append(owner)
        owner = owner.manager
    admins = session.scalars(
        select(User).join(Role).where(Role.scope == "all", User.active.is_(True))
    ).all()
    people += [a for a in admins if is_admin(a) and a.id not in seen]
    return people
