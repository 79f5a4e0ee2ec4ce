"""Deals pages (being built)."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("deals", __name__, url_prefix="/deals")


@bp.get("/")
@login_required
def index():
    return "deals"
