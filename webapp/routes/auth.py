"""Log in and out (fields email and password, CSRF-protected), throttled per IP and account."""

from __future__ import annotations

import math
import time

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ..extensions import db, limiter
from ..htmx import safe_next
from ..i18n import _l
from ..security import LOGIN_LIMIT_PER_ACCOUNT, LOGIN_LIMIT_PER_IP
from ..services.users import authenticate, end_sessions

bp = Blueprint("auth", __name__)

class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)],
                       render_kw={"autofocus": True, "autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Keep me signed in"))


def _account_key() -> str:
    """The throttling key of one account tried from one address."""
    email = (request.form.get("email") or "").strip().lower()[:254]
    return f"{get_remote_address()}|{email}"


def _failed(response) -> bool:
    """Only attempts that checked a password and failed count: not a successful sign-in (a
    303), nor a refused one (429: no password was checked, the wait does not grow)."""
    return response.status_code not in (303, 429)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_ACCOUNT, key_func=_account_key, methods=["POST"], deduct_when=_failed,
               scope="login-account")
@limiter.limit(LOGIN_LIMIT_PER_IP, methods=["POST"], deduct_when=_failed, scope="login-ip")
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")), 303)
        form.password.errors = [_("Wrong e-mail or password.")]
        status = 422
    elif form.is_submitted():
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(e: RateLimitExceeded):
    """429 on the sign-in page itself, saying how long to wait (and Retry-After)."""
    limit = limiter.current_limit
    # window[0]: when the oldest counted failure leaves the moving window.
    seconds = max(1, math.ceil(limit.window[0] - time.time())) if limit else 60
    minutes = max(1, round(seconds / 60))
    form = LoginForm()
    form.email.data = (request.form.get("email") or "")[:254]
    response = render_template("auth/login.html", form=form,
                               throttled=ngettext("Too many failed sign-in attempts. Wait a minute and try again.",
                                                  "Too many failed sign-in attempts. Wait %(num)d minutes and try again.",
                                                  minutes))
    return response, 429, {"Retry-After": str(seconds)}


@bp.post("/logout")
@login_required
def logout():
    """Sign out everywhere: the session and remember-me cookies issued so far stop working."""
    end_sessions(current_user)
    db.session.commit()
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"), 303)

