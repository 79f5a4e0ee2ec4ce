"""Leads pages (being built)."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("leads", __name__, url_prefix="/leads")


@bp.get("/")
@login_required
def index():
    return "leads"


@bp.get("/board")
@login_required
def board():
    return "board"
