"""The admin area (/admin): administrators only — anyone else gets 403, anonymous the login."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from ... import permissions
from ...errors import Forbidden, Text
from ...extensions import login_manager

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def admins_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not permissions.is_admin(current_user):
        raise Forbidden(Text("Only administrators may open the admin area."))
    return None


@bp.get("/")
def index():
    return redirect(url_for("admin.jobs"))


from . import jobs  # noqa: E402,F401  (views register on bp)
