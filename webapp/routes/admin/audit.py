"""The audit log: every settings change, newest first, by area, keyset pages."""

from __future__ import annotations

from flask import request
from sqlalchemy import select

from ...extensions import db
from ...htmx import render
from ...i18n import _l
from ...models import User
from ...services import audit
from . import bp
from .jobs import PAGE_SIZE, _int_arg

AREA_LABELS = {
    "lead_status": _l("Lead status"), "pipeline": _l("Pipeline"), "custom_field": _l("Custom field"),
    "conversion_mapping": _l("Conversion mapping"), "layout": _l("Layout"), "role": _l("Role"),
    "user": _l("User"), "team": _l("Team"), "automation_rule": _l("Automation rule"),
    "currency": _l("Currency"), "list_view": _l("List view"), "api_token": _l("API token"),
}
ACTION_LABELS = {"created": _l("Created"), "updated": _l("Changed"), "deleted": _l("Deleted")}


@bp.get("/audit")
def audit_log():
    """?area= one kind of setting; ?before= an entry id (older pages)."""
    area = request.args.get("area") if request.args.get("area") in audit.AREAS else None
    before = _int_arg("before")
    rows = list(db.session.scalars(audit.entries(area, before).limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    ids = {r.actor_id for r in rows if r.actor_id}
    people = ({u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
              if ids else {})
    return render("admin/audit.html", "admin/_audit.html", entries=rows, people=people, area=area,
                  before=before, older=rows[-1].id if more else None,
                  areas=[(a, AREA_LABELS[a]) for a in audit.AREAS], area_labels=AREA_LABELS,
                  action_labels=ACTION_LABELS)
