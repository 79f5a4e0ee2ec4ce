"""The signed-in user's profile: their API tokens (list, create — shown once — and revoke)
and the change-password form."""

from __future__ import annotations

import pytz
from flask import Blueprint, current_app, flash, g, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..errors import Invalid
from ..extensions import db, limiter
from ..forms.common import EditForm, strip_filter
from ..htmx import redirect, render, safe_next
from ..i18n import _l, translate
from ..models import ApiToken
from ..models.users import LANGUAGES
from ..security import PASSWORD_CHANGE_LIMIT
from ..services.users import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    change_password,
    issue_token,
    password_change_errors,
    set_preferences,
)
from ..services.users import revoke_token as revoke_api_token
from .errors import on_error

bp = Blueprint("profile", __name__, url_prefix="/profile")


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), [DataRequired(_l("Name the token, e.g. the script that uses it.")),
                                      Length(max=80)], filters=[strip_filter])


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), [DataRequired(_l("Enter your current password."))],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), [DataRequired(_l("Choose a new password.")),
                                                  Length(max=MAX_PASSWORD_LENGTH)],
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Confirm password"), [
        DataRequired(_l("Type the new password again.")),
        EqualTo("new_password", _l("The two new passwords differ."))],
        render_kw={"autocomplete": "new-password"})


class PreferencesForm(EditForm):
    """Widgets only: services.users.set_preferences judges the values."""

    language = SelectField(_l("Language"), validate_choice=False)
    timezone = SelectField(_l("Time zone"), validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = [("", _l("As my browser asks")), *LANGUAGES.items()]
        self.timezone.choices = [("", _l("Default ({zone})").format(zone=current_app.config["BABEL_DEFAULT_TIMEZONE"])),
                                 *((z, z.replace("_", " ")) for z in pytz.common_timezones)]
        if not self.is_submitted():
            self.language.data = current_user.language or ""
            self.timezone.data = current_user.timezone or ""


PASSWORD_HINT = _l("At least %(min)s characters; not your e-mail, not a common password.", min=MIN_PASSWORD_LENGTH)
TOO_MANY_PASSWORD_TRIES = _l("Too many wrong current passwords. Wait a few minutes and try again.")


def _tokens() -> list[ApiToken]:
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.created_at.desc(),
                                                                            ApiToken.id.desc())))


def _page(form: TokenForm, status: int = 200, new_token: str | None = None):
    return render("profile/show.html", "profile/_tokens.html", status,
                  form=form, tokens=_tokens(), new_token=new_token, password_form=PasswordForm(formdata=None),
                  password_hint=PASSWORD_HINT, preferences_form=PreferencesForm(formdata=None))


def _password_page(form: PasswordForm, status: int):
    return render("profile/show.html", "profile/_password.html", status,
                  form=TokenForm(formdata=None), tokens=_tokens(), password_form=form,
                  password_hint=PASSWORD_HINT, preferences_form=PreferencesForm(formdata=None))


@bp.get("/")
@login_required
def show():
    """The profile page with the user's API tokens."""
    return _page(TokenForm())


def _wrong_current_password(response) -> bool:
    return bool(g.get("wrong_current_password"))


def _user_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else "anonymous"


def _show_errors(form: PasswordForm, errors: dict) -> None:
    """The service's reasons next to their fields (a field the form already flagged keeps its own)."""
    g.wrong_current_password = "current_password" in errors
    for name, reasons in errors.items():
        target = form[name] if name in form else form.new_password
        if not target.errors:
            # A reason is a Problem ("is too short"): in the reader's language, as a sentence.
            texts = [translate(r) for r in reasons]
            target.errors = [t[0].upper() + t[1:] + "." for t in texts if t]


@bp.post("/password")
@login_required
@limiter.limit(PASSWORD_CHANGE_LIMIT, key_func=_user_key, deduct_when=_wrong_current_password,
               error_message=lambda: str(TOO_MANY_PASSWORD_TRIES))
def change_password_view():
    """Change one's password: every error at once, next to its field (422); on success the
    other sessions and remember-me cookies stop working, this one stays signed in."""
    form = PasswordForm()
    if not form.validate_on_submit():
        if form.current_password.data and form.new_password.data:
            _show_errors(form, password_change_errors(current_user, form.current_password.data,
                                                      form.new_password.data))
        return _password_page(form, 422)
    try:
        change_password(db.session, current_user, form.current_password.data, form.new_password.data)
    except Invalid as e:
        db.session.rollback()
        _show_errors(form, e.errors)
        return _password_page(form, 422)
    db.session.commit()
    # The session (and a remember-me cookie, if this browser has one) carries the new version.
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    login_user(current_user._get_current_object(), remember=remember_cookie in request.cookies)
    flash(_("Your password was changed. Your other sessions are signed out."), "success")
    return redirect(url_for("profile.show"))


@bp.post("/tokens")
@login_required
def create_token():
    """Issue a token; its clear value is shown this once and never stored."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    _row, token = issue_token(db.session, current_user._get_current_object(), form.name.data)
    db.session.commit()
    return _page(TokenForm(formdata=None), 201, new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Delete one of the user's own tokens (another user's is a 404: not theirs to see)."""
    row = revoke_api_token(db.session, current_user._get_current_object(), token_id, owner=current_user)
    name = row.name
    db.session.commit()
    flash(_("Token “%(name)s” revoked: scripts using it now get 401.", name=name), "success")
    return redirect(url_for("profile.show"))


@bp.post("/language")
@login_required
def language():
    """The top bar's switcher: the profile's language, then back to the page it was on."""
    set_preferences(current_user, language=request.form.get("language", ""))
    db.session.commit()
    return redirect(safe_next(request.form.get("next")))


@bp.post("/preferences")
@login_required
def preferences():
    """Language and time zone from the profile page ("": the browser's / the default); a
    refused value is shown next to its field (422)."""
    form = PreferencesForm()
    on_error(Invalid, lambda e: _preferences_page(form, e))
    set_preferences(current_user, language=form.language.data or "", timezone=form.timezone.data or "")
    db.session.commit()
    refresh()  # the flash below speaks the new language
    flash(_("Your preferences were saved."), "success")
    return redirect(url_for("profile.show"))


def _preferences_page(form: PreferencesForm, e: Invalid):
    form.apply_errors(e.errors)
    return render("profile/show.html", "profile/_preferences.html", 422, form=TokenForm(formdata=None),
                  tokens=_tokens(), password_form=PasswordForm(formdata=None), password_hint=PASSWORD_HINT,
                  preferences_form=form)
