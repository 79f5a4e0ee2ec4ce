"""The admin area (/admin): administrators only — anyone else gets 403, anonymous the login.

Its sections are listed once, in SECTIONS (the admin pages' side navigation and the overview
show those whose page exists)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from ... import permissions
from ...errors import Forbidden, Text
from ...extensions import login_manager
from ...i18n import _l

bp = Blueprint("admin", __name__, url_prefix="/admin")

# (endpoint, title, what it is for): the order of the navigation.
SECTIONS = (
    ("admin.statuses", _l("Lead statuses"), _l("The steps of a lead, their order and category.")),
    ("admin.pipelines", _l("Pipelines"), _l("Deal pipelines, their stages and probabilities.")),
    ("admin.custom_fields", _l("Custom fields"), _l("Your own fields on leads, accounts, contacts and deals.")),
    ("admin.mapping", _l("Conversion mapping"), _l("Which lead field fills which account, contact or deal field.")),
    ("admin.layouts", _l("Layouts"), _l("Named arrangements of each record's fields.")),
    ("admin.roles", _l("Roles"), _l("What each role may see and do.")),
    ("admin.users", _l("Users and teams"), _l("People, their managers and teams, their API tokens.")),
    ("admin.rules", _l("Automation rules"), _l("Convert leads automatically when they enter a status.")),
    ("admin.currencies", _l("Currencies"), _l("The company currency and exchange rates.")),
    ("admin.jobs", _l("Background jobs"), _l("Long tasks, their progress and results.")),
    ("admin.audit_log", _l("Audit log"), _l("Every settings change: who, when, before and after.")),
)


def sections() -> list[tuple]:
    """The sections whose page exists, for the navigation."""
    return [s for s in SECTIONS if s[0] in current_app.view_functions]


@bp.before_request
def admins_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not permissions.is_admin(current_user):
        raise Forbidden(Text("Only administrators may open the admin area."))
    return None


@bp.app_context_processor
def _admin_sections():
    return {"admin_sections": sections}


@bp.get("/")
def index():
    """The overview: a card per section."""
    return render_template("admin/index.html")


from . import audit, currencies, custom_fields, jobs, people, pipelines, rules, statuses  # noqa: E402,F401  (views register on bp)
