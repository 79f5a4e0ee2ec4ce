"""Users: creation, the password policy, sign-in checks, password change, session versions.

The one place a password is judged (`password_problems`): the CLI, the demo data and the
profile page all go through `create_user` or `change_password`. Flask-free: callers pass
the SQLAlchemy session and commit.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from ..errors import N_, Invalid, Problem
from ..models import Team, User
from ..models.users import LANGUAGES
from ..permissions import ROLE_KEYS

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
    if role not in ROLE_KEYS:
        errors["role"] = [_problem("unknown_role", role=repr(role), choices=", ".join(ROLE_KEYS))]
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
