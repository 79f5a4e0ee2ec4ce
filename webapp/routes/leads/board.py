"""Leads: board views (being built)."""

from flask_login import login_required

from . import bp


@bp.get("/board")
@login_required
def board():
    return "board"
