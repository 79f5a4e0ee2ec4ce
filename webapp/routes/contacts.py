"""Contacts pages (being built)."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


@bp.get("/")
@login_required
def index():
    return "contacts"
