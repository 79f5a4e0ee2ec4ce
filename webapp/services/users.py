"""Users: creation, the password policy, sign-in checks, password change, session versions;
and what administrators do to people (issue 10): add and edit users, managers (no cycles),
deactivate and reactivate, reassign a user's records in one step, teams, API tokens.

The one place a password is judged (`password_problems`): the CLI, the demo data, the admin
pages and the profile page all go through `create_user`, `add_user` or `change_password`.
Flask-free: callers pass the SQLAlchemy session and commit. Every administrator's change is
recorded in the settings audit (areas "user", "team", "api_token") in the same transaction.

Decisions:
- Deactivating a user ends their sessions (session_version rotates: a reactivated user signs
  in again) and revokes their API tokens (deleted: a token does not come back to life with a
  reactivation); sign-in, the session loader and the API refuse inactive users anyway. Their
  records stay theirs unless reassigned in the same step.
- Reassigning moves the records a person acts on: leads not converted (converted ones are
  archives, C1.4), accounts, contacts, deals and open tasks; each record takes the new owner's
  team, as when its owner is changed in its form; each moved record's timeline says so. One
  multi-row UPDATE (and one INSERT ... SELECT of timeline events) per kind.
- At least one active user keeps the "Administration" permission: deactivating them or giving
  them a role without it is refused (Conflict last_admin); nobody deactivates themselves.
- A team with members cannot be deleted (Conflict with the count); records that still name it
  (nobody's team any more, so no team scope reads them through it) lose their team.
"""

from __future__ import annotations

import re

from sqlalchemy import JSON, DateTime, and_, delete, func, insert, literal, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from .. import permissions
from ..errors import N_, Conflict, Forbidden, Invalid, NotFound, Problem, Text
from ..fields import INT_MAX, FieldError, model_specs
from ..models import (
    Account,
    ApiToken,
    Contact,
    Deal,
    Lead,
    Role,
    Task,
    Team,
    TimelineEvent,
    User,
    utcnow,
)
from ..models.users import LANGUAGES
from . import audit
from .roles import active_admins, admin_role_keys

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200  # the login form's limit
# zxcvbn scores 0-4; 0 and 1 are top-list passwords and close variants ("password123",
# "qwertyuiop", "letmein1234"): refused. 2 ("demo-password") is accepted with the length rule.
MIN_PASSWORD_SCORE = 2
# zxcvbn's cost grows with the length; its verdict does not change past this many characters.
_ZXCVBN_MAX_CHARS = 64

# The sentences, in one place (templates of errors.Problem, translated when shown).
PASSWORD_PROBLEMS = {
    "password_too_short": N_("must be at least {min} characters long"),
    "password_too_long": N_("must be at most {max} characters long"),
    "password_nul": N_("must not contain NUL characters"),
    "password_is_email": N_("must not be your e-mail address"),
    "password_common": N_("is too common or too easy to guess: use a few unrelated words"),
    "password_unchanged": N_("must differ from the current password"),
    "password_wrong": N_("is not your current password"),
    "email_taken": N_("a user with e-mail {email} already exists"),
    "unknown_role": N_("unknown role {role}; choose one of {choices}"),
    "unknown_language": N_("must be one of: {choices}"),
    "unknown_timezone": N_("is not a time zone, e.g. Europe/Paris"),
    "manager_self": N_("cannot be the user themselves"),
    "manager_cycle": N_("would make a cycle: {name} already reports to this user"),
    "not_active_user": N_("is not an active user"),
    "reassign_same": N_("must be someone else than the user whose records move"),
    "team_taken": N_("a team named {name} already exists"),
}


def _problem(code: str, **params) -> Problem:
    return Problem(code, PASSWORD_PROBLEMS[code], **params)


class InvalidUser(Invalid, ValueError):
    """A refused user or password. Also a ValueError: the CLI reports ValueErrors as errors."""

    def __init__(self, errors: dict[str, list[str]]):
        message = "; ".join(f"{field.replace('_', ' ')}: {'; '.join(map(str, reasons))}"
                            for field, reasons in errors.items())
        super().__init__(message, errors)


def password_problems(password: str, email: str = "") -> list[Problem]:
    """Why `password` may not be used by the user with `email` (empty: it may)."""
    if "\x00" in password:
        return [_problem("password_nul")]
    if len(password) < MIN_PASSWORD_LENGTH:
        return [_problem("password_too_short", min=MIN_PASSWORD_LENGTH)]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [_problem("password_too_long", max=MAX_PASSWORD_LENGTH)]
    email = email.strip().lower()
    lowered = password.strip().lower()
    local = email.split("@", 1)[0]
    if email and (lowered == email or lowered == local or email in lowered):
        return [_problem("password_is_email")]
    # zxcvbn ranks these first: "rep-example-1" for rep@example.com is a weak password.
    hints = [email, *re.split(r"[@._+-]+", email)] if email else []
    if zxcvbn(password[:_ZXCVBN_MAX_CHARS], user_inputs=[h for h in hints if h])["score"] < MIN_PASSWORD_SCORE:
        return [_problem("password_common")]
    return []


def check_password_policy(password: str, email: str = "", field: str = "password") -> None:
    """Raise InvalidUser({field: [...]}) when the policy refuses `password`."""
    problems = password_problems(password, email)
    if problems:
        raise InvalidUser({field: problems})


def find_by_email(session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(email: str, password: str, role: str = "sales", name: str = "",
                manager: User | None = None, team_name: str | None = None,
                session=None) -> User:
    """Add and flush (not commit) a user. Raises InvalidUser (a ValueError too) when the
    role is unknown, the e-mail taken or the password refused by the policy."""
    if session is None:
        from ..extensions import db

        session = db.session
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    role_problem = _role_problem(session, role)
    if role_problem is not None:
        errors["role"] = [role_problem]
    if session.scalar(select(User.id).where(func.lower(User.email) == email)):
        errors["email"] = [_problem("email_taken", email=email)]
    problems = password_problems(password, email)
    if problems:
        errors["password"] = problems
    if errors:
        raise InvalidUser(errors)
    team = None
    if team_name:
        team = session.scalar(select(Team).where(Team.name == team_name)) or Team(name=team_name)
    user = User(email=email, name=name or email.split("@")[0].replace(".", " ").title(),
                role_key=role, manager=manager, team=team)
    user.set_password(password)
    session.add(user)
    session.flush()
    return user


def _role_problem(session, key) -> Problem | None:
    """Why `key` is not a role of this CRM (None: it is one)."""
    if isinstance(key, str) and "\x00" not in key and len(key) <= 40 and \
            session.scalar(select(Role.key).where(Role.key == key)) is not None:
        return None
    choices = ", ".join(session.scalars(select(Role.key).order_by(Role.key)))
    return _problem("unknown_role", role=repr(key)[:60], choices=choices)


# --- signing in --------------------------------------------------------------------------

_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    """A hash of nothing, made with the method real passwords use (so it costs the same)."""
    method = User.password_method
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("not a password of anyone", method=method)
    return _DUMMY_HASHES[method]


def authenticate(session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None.

    Takes as long for an unknown e-mail (or an inactive user) as for a wrong password: a
    hash is always verified, so the timing does not tell which e-mails have an account.
    """
    user = find_by_email(session, email)
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password):
        return None
    return user if user.active else None


def load_session_user(session, user_id: str) -> User | None:
    """Flask-Login's user_loader: the user a cookie's "id:version" names, if still valid.

    A bare "id" (a cookie written before session versions existed) stands for version 0,
    the value every user has until their first logout or password change.
    """
    ident, _, version = user_id.partition(":")
    if not ident.isdigit() or int(ident) > 2**31 - 1 or not (version or "0").isdigit():
        return None
    user = session.get(User, int(ident))
    if user is None or not user.active or user.session_version != int(version or "0"):
        return None
    return user


def end_sessions(user: User) -> None:
    """Logout everywhere: sessions and remember-me cookies issued so far stop working."""
    user.rotate_session_version()


def password_change_errors(user: User, current: str, new: str) -> dict[str, list[Problem]]:
    """What change_password would refuse, without changing anything (empty: nothing)."""
    errors: dict[str, list[Problem]] = {}
    if not user.check_password(current or ""):
        errors["current_password"] = [_problem("password_wrong")]
    problems = password_problems(new or "", user.email)
    if not problems and current and new == current:
        problems = [_problem("password_unchanged")]
    if problems:
        errors["new_password"] = problems
    return errors


def change_password(session, user: User, current: str, new: str) -> None:
    """Check `current`, judge `new` by the policy, store it and end the user's other sessions.

    Raises InvalidUser with errors on `current_password` and/or `new_password` (all found
    at once); nothing is changed then. The caller commits and signs the current session
    in again with the new version.
    """
    errors = password_change_errors(user, current, new)
    if errors:
        raise InvalidUser(errors)
    user.set_password(new)
    end_sessions(user)
    session.flush()


_UNSET = object()


def set_preferences(user: User, language=_UNSET, timezone=_UNSET) -> None:
    """Change the user's language and/or time zone ("" or None: follow the browser / the
    DEFAULT_TIMEZONE setting). Raises InvalidUser with every refused field."""
    import pytz

    errors: dict[str, list[Problem]] = {}
    if language is not _UNSET:
        language = language or None
        if language is not None and language not in LANGUAGES:
            errors["language"] = [_problem("unknown_language", choices=", ".join(LANGUAGES))]
    if timezone is not _UNSET:
        timezone = timezone or None
        if timezone is not None and timezone not in pytz.all_timezones_set:
            errors["timezone"] = [_problem("unknown_timezone")]
    if errors:
        raise InvalidUser(errors)
    if language is not _UNSET:
        user.language = language
    if timezone is not _UNSET:
        user.timezone = timezone


# --- what administrators do to people (issue 10) ----------------------------------------

USER_AREA, TEAM_AREA, TOKEN_AREA = "user", "team", "api_token"
PAGE_SIZE = 25
ADMIN_ONLY = N_("Only administrators may manage users and teams.")
LAST_ADMIN = N_("At least one active user must keep the “Administration” permission.")
NOT_YOURSELF = N_("You cannot deactivate yourself: ask another administrator.")
ALREADY_INACTIVE = N_("{name} is already deactivated.")
ALREADY_ACTIVE = N_("{name} is already active.")
TEAM_HAS_MEMBERS = N_("The team “{name}” still has members: {count}. Move them to another team first.")
NO_SUCH_TOKEN = N_("There is no such API token.")
OWNER_CHANGED = N_("Owner changed from {old} to {new}: records reassigned by {actor}")
# What a reassignment moves, in the order the pages list them.
REASSIGNED = ("leads", "accounts", "contacts", "deals", "tasks")
USER_FIELDS = ("email", "name", "role_key", "team_id", "manager_id", "active")


def _require_admin(actor) -> None:
    if not permissions.is_admin(actor):
        raise Forbidden(Text(ADMIN_ONLY))


def user_snapshot(user: User) -> dict:
    """What the audit keeps of a user (never the password hash or the session version)."""
    return audit.snapshot(user, *USER_FIELDS)


def _parse(model, name: str, raw, errors: dict, required: bool = False):
    """One value through the field layer (fields.py); a reason goes into `errors`."""
    try:
        value = model_specs(model)[name].parse(raw)
    except FieldError as e:
        errors[name] = [e.problem]
        return None
    if value is None and required:
        errors[name] = [Problem("required")]
    return value


def _id(raw, name: str, errors: dict) -> int | None:
    """An optional row id (a select's value): None when blank; a reason when not an id."""
    if raw in (None, ""):
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.strip().isdigit() and len(raw.strip()) <= 10:
        value = int(raw)
    else:
        errors[name] = [Problem("choose_from_list")]
        return None
    if not 0 < value <= INT_MAX:
        errors[name] = [Problem("choose_from_list")]
        return None
    return value


def _team(session, raw, errors: dict) -> Team | None:
    ident = _id(raw, "team_id", errors)
    team = session.get(Team, ident) if ident else None
    if ident and team is None:
        errors["team_id"] = [Problem("choose_from_list")]
    return team


def manager_problem(session, user: User | None, manager_id: int | None) -> Problem | None:
    """Why `manager_id` may not be `user`'s manager (None: it may): themselves, someone who
    already reports to them (at any level: a cycle), or no active user."""
    if manager_id is None:
        return None
    if user is not None and manager_id == user.id:
        return _problem("manager_self")
    manager = session.get(User, manager_id)
    if manager is None or not manager.active:
        return _problem("not_active_user")
    if user is None or user.id is None:
        return None
    seen, current = set(), manager
    while current is not None and current.id not in seen:
        if current.manager_id == user.id:
            return _problem("manager_cycle", name=manager.display_name)
        seen.add(current.id)
        current = session.get(User, current.manager_id) if current.manager_id else None
    return None


def _clean_user(session, data: dict, user: User | None) -> tuple[dict, dict]:
    """(values, errors) of the posted user fields present in `data` (all of them for a new user)."""
    errors: dict[str, list] = {}
    values: dict = {}
    new = user is None
    if new or "email" in data:
        email = _parse(User, "email", data.get("email"), errors, required=True)
        if email is not None:
            email = email.lower()
            taken = select(User.id).where(func.lower(User.email) == email)
            if user is not None:
                taken = taken.where(User.id != user.id)
            if session.scalar(taken.limit(1)) is not None:
                errors["email"] = [_problem("email_taken", email=email)]
            values["email"] = email
    if new or "name" in data:
        values["name"] = _parse(User, "name", data.get("name"), errors) or ""
    if new or "role_key" in data:
        problem = _role_problem(session, data.get("role_key"))
        if problem is not None:
            errors["role_key"] = [problem]
        else:
            values["role_key"] = data["role_key"]
    if new or "team_id" in data:
        team = _team(session, data.get("team_id"), errors)
        values["team_id"] = team.id if team else None
    if new or "manager_id" in data:
        manager_id = _id(data.get("manager_id"), "manager_id", errors)
        if "manager_id" not in errors:
            problem = manager_problem(session, user, manager_id)
            if problem is not None:
                errors["manager_id"] = [problem]
            values["manager_id"] = manager_id
    return values, errors


def add_user(session, actor, data: dict) -> User:
    """A new user from {"email", "name", "password", "role_key", "team_id", "manager_id"}.

    Raises Forbidden, InvalidUser (every refused field at once; nothing written)."""
    _require_admin(actor)
    values, errors = _clean_user(session, data, None)
    password = data.get("password") or ""
    problems = password_problems(password, values.get("email") or "") if isinstance(password, str) \
        else [Problem("not_text")]
    if problems:
        errors["password"] = problems
    if errors:
        raise InvalidUser(errors)
    if not values["name"]:
        values["name"] = values["email"].split("@")[0].replace(".", " ").title()
    user = User(**values)
    user.set_password(password)
    session.add(user)
    session.flush()
    audit.record(session, actor, USER_AREA, user.email, "created", after=user_snapshot(user))
    return user


def update_user(session, actor, user: User, data: dict) -> User:
    """Change the fields of `data` among email, name, role_key, team_id, manager_id.

    Raises Forbidden, InvalidUser, Conflict (last_admin: the last active administrator would
    lose "Administration")."""
    _require_admin(actor)
    values, errors = _clean_user(session, data, user)
    if errors:
        raise InvalidUser(errors)
    role_key = values.get("role_key", user.role_key)
    if user.active and role_key != user.role_key:
        admin_keys = admin_role_keys(session)
        if user.role_key in admin_keys and role_key not in admin_keys and \
                active_admins(session, admin_keys, excluding_user_id=user.id) == 0:
            raise Conflict(Text(LAST_ADMIN), code="last_admin")
    before = user_snapshot(user)
    for name, value in values.items():
        setattr(user, name, value)
    session.flush()
    audit.record(session, actor, USER_AREA, user.email, "updated", before, user_snapshot(user))
    return user


def set_manager(session, actor, user: User, manager_id: int | None) -> User:
    """Give `user` a manager (None: none); raises Forbidden, InvalidUser (themselves, a cycle,
    an inactive user)."""
    return update_user(session, actor, user, {"manager_id": manager_id})


def owned_counts(session, user: User) -> dict[str, int]:
    """What a reassignment of `user`'s records would move, per kind (REASSIGNED)."""
    return {kind: session.scalar(select(func.count()).select_from(model).where(clause)) or 0
            for kind, model, clause in _movable(user.id)}


def _movable(owner_id: int):
    """(kind, model, where-clause) of the records a reassignment moves."""
    return (
        ("leads", Lead, and_(Lead.owner_id == owner_id, Lead.converted.is_(False))),
        ("accounts", Account, Account.owner_id == owner_id),
        ("contacts", Contact, Contact.owner_id == owner_id),
        ("deals", Deal, Deal.owner_id == owner_id),
        ("tasks", Task, and_(Task.owner_id == owner_id, Task.status == "open")),
    )


def reassign_records(session, actor, from_user: User, to_user_id) -> dict[str, int]:
    """Give `from_user`'s leads (not converted), accounts, contacts, deals and open tasks to
    another active user, in one multi-row UPDATE per kind; returns {kind: count}.

    Raises Forbidden, Invalid on "reassign_to" (not an active user, or the same user)."""
    _require_admin(actor)
    errors: dict[str, list] = {}
    ident = _id(to_user_id, "reassign_to", errors)
    to_user = session.get(User, ident) if ident else None
    if not errors:
        if to_user is None or not to_user.active:
            errors["reassign_to"] = [_problem("not_active_user") if ident else Problem("required")]
        elif to_user.id == from_user.id:
            errors["reassign_to"] = [_problem("reassign_same")]
    if errors:
        raise Invalid(errors=errors)
    counts = _move(session, actor, from_user, to_user)
    audit.record(session, actor, USER_AREA, from_user.email, "updated", {"records_reassigned_to": None},
                 {"records_reassigned_to": to_user.email, **counts})
    return counts


def _move(session, actor, from_user: User, to_user: User) -> dict[str, int]:
    now = utcnow()
    message = Text(OWNER_CHANGED, old=from_user.display_name, new=to_user.display_name,
                   actor=getattr(actor, "display_name", ""))
    data = {"text": message.to_json(), "fields": ["owner_id"]}
    events = TimelineEvent.__table__
    counts: dict[str, int] = {}
    for kind, model, clause in _movable(from_user.id):
        if model is not Task:
            # The moved records' timelines, before the UPDATE changes what the clause selects.
            session.execute(insert(events).from_select(
                ["parent_type", "parent_id", "kind", "message", "data", "actor_id", "created_at"],
                select(literal(kind[:-1]), model.id, literal("owner_reassigned"), literal(str(message)[:500]),
                       literal(data, JSON), literal(getattr(actor, "id", None)),
                       literal(now, DateTime(timezone=True))).where(clause)))
        values = {"owner_id": to_user.id}
        if hasattr(model, "team_id"):
            values["team_id"] = to_user.team_id
        if hasattr(model, "updated_at"):
            values["updated_at"] = now
        result = session.execute(update(model).where(clause).values(**values)
                                 .execution_options(synchronize_session=False))
        counts[kind] = result.rowcount or 0
    session.expire_all()
    return counts


def deactivate_user(session, actor, user: User, reassign_to=None) -> dict[str, int] | None:
    """Deactivate `user`: they cannot sign in, their sessions end and their API tokens are
    revoked, at once; with `reassign_to` (a user id) their records go to that user in the same
    transaction (the counts are returned).

    Raises Forbidden, Conflict (themselves, already inactive, the last administrator), Invalid
    on "reassign_to"."""
    _require_admin(actor)
    if user.id == getattr(actor, "id", None):
        raise Conflict(Text(NOT_YOURSELF), code="deactivate_self")
    if not user.active:
        raise Conflict(Text(ALREADY_INACTIVE, name=user.display_name), code="already_inactive")
    admin_keys = admin_role_keys(session)
    if user.role_key in admin_keys and active_admins(session, admin_keys, excluding_user_id=user.id) == 0:
        raise Conflict(Text(LAST_ADMIN), code="last_admin")
    counts = None
    if reassign_to not in (None, ""):
        counts = reassign_records(session, actor, user, reassign_to)
    before = user_snapshot(user)
    tokens = session.execute(delete(ApiToken).where(ApiToken.user_id == user.id)
                             .execution_options(synchronize_session=False)).rowcount or 0
    user.active = False
    end_sessions(user)
    session.flush()
    audit.record(session, actor, USER_AREA, user.email, "updated", {**before, "api_tokens_revoked": None},
                 {**user_snapshot(user), "api_tokens_revoked": tokens})
    return counts


def reactivate_user(session, actor, user: User) -> User:
    """Let a deactivated user sign in again (with their password; no old session or token
    comes back). Raises Forbidden, Conflict (already active)."""
    _require_admin(actor)
    if user.active:
        raise Conflict(Text(ALREADY_ACTIVE, name=user.display_name), code="already_active")
    before = user_snapshot(user)
    user.active = True
    session.flush()
    audit.record(session, actor, USER_AREA, user.email, "updated", before, user_snapshot(user))
    return user


def get_user(session, ident: int) -> User:
    """The user by id; raises NotFound."""
    user = session.get(User, ident) if 0 < ident <= INT_MAX else None
    if user is None:
        raise NotFound(Text("There is no such user."))
    return user


def list_users(session, *, q: str | None = None, role: str | None = None, team_id: int | None = None,
               manager_id: int | None = None, active: bool | None = None, after: int | None = None,
               limit: int = PAGE_SIZE) -> tuple[list[User], int | None]:
    """One keyset page of users by name (then id) and the id to continue after (None: last page)."""
    stmt = select(User)
    if q:
        text_q = " ".join(q.split()).lower()
        stmt = stmt.where(or_(func.lower(User.name).contains(text_q, autoescape=True),
                              func.lower(User.email).contains(text_q, autoescape=True)))
    if role:
        stmt = stmt.where(User.role_key == role)
    if team_id is not None:
        stmt = stmt.where(User.team_id == team_id) if team_id else stmt.where(User.team_id.is_(None))
    if manager_id is not None:
        stmt = stmt.where(User.manager_id == manager_id)
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    if after is not None:
        found = session.execute(select(User.name).where(User.id == after)).first()
        if found is not None:
            stmt = stmt.where(or_(User.name > found[0], and_(User.name == found[0], User.id > after)))
    rows = list(session.scalars(stmt.order_by(User.name, User.id).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


# --- teams ---------------------------------------------------------------------------------

def _team_name(session, raw, team: Team | None) -> str:
    errors: dict[str, list] = {}
    name = _parse(Team, "name", raw, errors, required=True)
    if name is not None:
        taken = select(Team.id).where(func.lower(Team.name) == name.lower())
        if team is not None:
            taken = taken.where(Team.id != team.id)
        if session.scalar(taken.limit(1)) is not None:
            errors["name"] = [_problem("team_taken", name=name)]
    if errors:
        raise InvalidUser(errors)
    return name


def team_members(session, team_ids: list[int]) -> dict[int, int]:
    """{team id: number of users in it} for these teams."""
    if not team_ids:
        return {}
    return dict(session.execute(select(User.team_id, func.count(User.id))
                                .where(User.team_id.in_(team_ids)).group_by(User.team_id)).all())


def list_teams(session, after: int | None = None, limit: int = 50) -> tuple[list[Team], int | None]:
    """One keyset page of teams by name (then id) and the id to continue after (None: last page)."""
    stmt = select(Team)
    if after is not None:
        found = session.execute(select(Team.name).where(Team.id == after)).first()
        if found is not None:
            stmt = stmt.where(or_(Team.name > found[0], and_(Team.name == found[0], Team.id > after)))
    rows = list(session.scalars(stmt.order_by(Team.name, Team.id).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def create_team(session, actor, name) -> Team:
    """A new team; raises Forbidden, InvalidUser on "name" (empty, too long, taken)."""
    _require_admin(actor)
    team = Team(name=_team_name(session, name, None))
    session.add(team)
    session.flush()
    audit.record(session, actor, TEAM_AREA, team.name, "created", after=audit.snapshot(team))
    return team


def rename_team(session, actor, team: Team, name) -> Team:
    """Rename a team; raises Forbidden, InvalidUser on "name"."""
    _require_admin(actor)
    new = _team_name(session, name, team)
    before = audit.snapshot(team)
    team.name = new
    session.flush()
    audit.record(session, actor, TEAM_AREA, str(team.id), "updated", before, audit.snapshot(team))
    return team


def delete_team(session, actor, team: Team) -> None:
    """Delete a team without members (its records lose their team); raises Forbidden,
    Conflict (team_has_members, with the count)."""
    _require_admin(actor)
    count = session.scalar(select(func.count(User.id)).where(User.team_id == team.id)) or 0
    if count:
        raise Conflict(Text(TEAM_HAS_MEMBERS, name=team.name, count=count), code="team_has_members", count=count)
    for model in (Lead, Account, Contact, Deal):
        session.execute(update(model).where(model.team_id == team.id).values(team_id=None)
                        .execution_options(synchronize_session=False))
    before = audit.snapshot(team)
    session.delete(team)
    session.flush()
    session.expire_all()
    audit.record(session, actor, TEAM_AREA, before["name"], "deleted", before=before)


# --- API tokens ------------------------------------------------------------------------------

def _token_key(token: ApiToken) -> str:
    return f"{token.user.email} · {token.name or token.id}"


def _token_snapshot(token: ApiToken) -> dict:
    return {"user": token.user.email, "name": token.name, "created_at": token.created_at}


def tokens_of(session, user: User) -> list[ApiToken]:
    """A user's API tokens, newest first."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def issue_token(session, actor, name: str = "") -> tuple[ApiToken, str]:
    """A new API token of `actor` (the clear token is returned once, never stored)."""
    row, token = ApiToken.issue(actor, name)
    session.add(row)
    session.flush()
    audit.record(session, actor, TOKEN_AREA, _token_key(row), "created", after=_token_snapshot(row))
    return row, token


def revoke_token(session, actor, token_id: int, owner: User | None = None) -> ApiToken:
    """Delete an API token: the actor's own, or anyone's for an administrator (`owner`, when
    given, must be the token's user). Scripts using it get 401 from the next request.

    Raises NotFound (no such token, or not the actor's and the actor is no administrator: not
    theirs to see)."""
    row = session.get(ApiToken, token_id) if 0 < token_id <= INT_MAX else None
    mine = row is not None and row.user_id == getattr(actor, "id", None)
    if row is None or (owner is not None and row.user_id != owner.id) or \
            not (mine or permissions.is_admin(actor)):
        raise NotFound(Text(NO_SUCH_TOKEN))
    before = _token_snapshot(row)
    key = _token_key(row)
    session.delete(row)
    session.flush()
    audit.record(session, actor, TOKEN_AREA, key, "deleted", before=before)
    return row
