"""Leads: detail views (being built)."""

from flask_login import login_required

from . import bp
