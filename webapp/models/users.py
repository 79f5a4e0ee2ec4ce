"""People and rights: users, teams, roles, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import utcnow

# The languages of the catalogues (webapp/translations), in the switcher's order: code -> its
# own name. A user's `language` is one of these codes.
LANGUAGES = {"en": "English", "fr": "Français"}


class Team(db.Model):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)


class Role(db.Model):
    """A role: its record scope and the set of permissions (see permissions.BUILTIN_ROLES)."""

    __tablename__ = "roles"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(80))
    # "all": every record; "team": own, team's and reports'; "own": own only.
    scope: Mapped[str] = mapped_column(String(10), default="own")
    permissions: Mapped[list] = mapped_column(JSON, default=list)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    # werkzeug's default (scrypt); tests lower it to keep the suite fast.
    password_method = "scrypt"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role_key: Mapped[str] = mapped_column(ForeignKey("roles.key"), default="sales")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Part of the login cookie's user id ("id:version"): changing it (logout, new password)
    # makes every session and remember-me cookie issued before unusable.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The profile's language ("en", "fr": i18n.LANGUAGES) and IANA time zone; None: the
    # browser's Accept-Language and the DEFAULT_TIMEZONE setting.
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))

    role: Mapped[Role] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship()
    manager: Mapped[User | None] = relationship(remote_side=[id])

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: what the session and remember-me cookies carry
        return f"{self.id}:{self.session_version}"

    def rotate_session_version(self) -> None:
        """End every session of this user: cookies carrying the old version stop working."""
        old = self.session_version
        while self.session_version == old:
            self.session_version = secrets.randbelow(2**31 - 1) + 1

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=self.password_method)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user: Mapped[User] = relationship()

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "") -> tuple[ApiToken, str]:
        """A new token row (not yet added) and the clear token to show once."""
        token = "crm_" + secrets.token_urlsafe(32)
        return cls(user=user, name=name, token_hash=cls.hash(token)), token


__all__ = ["Team", "Role", "User", "ApiToken"]
