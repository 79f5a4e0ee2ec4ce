"""The home page (GET /): the dashboard of the leads the reader may see, filtered by a GET form;
an htmx request gets the figures fragment only."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask_babel import get_timezone
from flask_login import current_user, login_required

from ..extensions import db
from ..htmx import render
from ..models import utcnow
from ..services.dashboard import PERIODS, dashboard, filter_options, parse_filters

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index():
    """The dashboard; refused filter values are named next to their field and ignored (422)."""
    options = filter_options(db.session, current_user)
    filters, errors = parse_filters(request.args, options)
    board = dashboard(db.session, current_user, filters, utcnow(), get_timezone())
    # Links keep the dashboard's owner, team, source and period (its first and last day).
    window = board.window
    kept = {k: v for k, v in (("owner", filters.owner_id), ("team", filters.team_id), ("source", filters.source),
                              ("created_from", window.first_day and window.first_day.isoformat()),
                              ("created_to", window.start and window.last_day.isoformat())) if v}

    def list_url(**params) -> str:
        """The lead list filtered on `params` and on the dashboard's filters."""
        return url_for("leads.index", **{**kept, **params})

    args = {k: v for k, v in request.args.items() if v}
    filtered = any(k in args for k in ("period", "from", "to", "owner", "team", "source"))
    return render("dashboard/index.html", "dashboard/_results.html", status=422 if errors else 200,
                  board=board, options=options, errors=errors, periods=PERIODS, list_url=list_url,
                  filtered=filtered, args=args)
