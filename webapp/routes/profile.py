"""The signed-in user's profile: their API tokens (list, create — shown once — and revoke)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..extensions import db
from ..forms.common import strip_filter
from ..htmx import redirect, render
from ..models import ApiToken

bp = Blueprint("profile", __name__, url_prefix="/profile")


class TokenForm(FlaskForm):
    name = StringField("Token name", [DataRequired("Name the token, e.g. the script that uses it."),
                                      Length(max=80)], filters=[strip_filter])


def _tokens() -> list[ApiToken]:
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.created_at.desc(),
                                                                            ApiToken.id.desc())))


def _page(form: TokenForm, status: int = 200, new_token: str | None = None):
    return render("profile/show.html", "profile/_tokens.html", status,
                  form=form, tokens=_tokens(), new_token=new_token)


@bp.get("/")
@login_required
def show():
    """The profile page with the user's API tokens."""
    return _page(TokenForm())


@bp.post("/tokens")
@login_required
def create_token():
    """Issue a token; its clear value is shown this once and never stored."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    row, token = ApiToken.issue(current_user, form.name.data)
    db.session.add(row)
    db.session.commit()
    return _page(TokenForm(formdata=None), 201, new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Delete one of the user's own tokens (another user's is a 404: not theirs to see)."""
    row = db.session.get(ApiToken, token_id) if token_id <= 2**31 - 1 else None
    if row is None or row.user_id != current_user.id:
        abort(404)
    name = row.name
    db.session.delete(row)
    db.session.commit()
    flash(f"Token “{name}” revoked: scripts using it now get 401.", "success")
    return redirect(url_for("profile.show"))
