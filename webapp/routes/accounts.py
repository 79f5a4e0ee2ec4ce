"""Accounts pages (being built)."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


@bp.get("/")
@login_required
def index():
    return "accounts"
