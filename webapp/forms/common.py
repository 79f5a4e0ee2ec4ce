"""Shared form pieces: validators for e-mail, phone, tags; choices loaded from the database."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from wtforms import ValidationError

from ..extensions import db
from ..models import LeadStatus, User
from ..records import clean_tags


class Email:
    """A syntactically valid e-mail address (email-validator; no DNS look-up)."""

    def __call__(self, form, field):
        if field.data:
            try:
                field.data = validate_email(field.data.strip(), check_deliverability=False).normalized
            except EmailNotValidError as e:
                raise ValidationError(f"Enter a valid e-mail address ({e}).") from None


class Phone:
    """A phone number that phonenumbers can parse (national numbers read as French)."""

    def __call__(self, form, field):
        if field.data:
            try:
                parsed = phonenumbers.parse(field.data, "FR")
            except phonenumbers.NumberParseException:
                raise ValidationError("Enter a valid phone number, e.g. +33 1 23 45 67 89.") from None
            if not phonenumbers.is_possible_number(parsed):
                raise ValidationError("This phone number has the wrong number of digits.")


class Tags:
    """Comma-separated tags: each at most 60 characters."""

    def __call__(self, form, field):
        try:
            clean_tags(split_tags(field.data))
        except ValueError as e:
            raise ValidationError(str(e).capitalize() + ".") from None


def split_tags(value: str | None) -> list[str]:
    return [t for t in (value or "").split(",") if t.strip()]


def strip_filter(value):
    """Trim text input; empty becomes None so that nothing stores blank strings."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def status_choices() -> list[tuple[str, str]]:
    return [(s.key, s.label) for s in db.session.scalars(
        select(LeadStatus).where(LeadStatus.category != "converted").order_by(LeadStatus.position))]


def owner_choices(blank: str | None = None) -> list[tuple[str, str]]:
    users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.name))
    choices = [(str(u.id), u.display_name) for u in users]
    return ([("", blank)] if blank is not None else []) + choices
