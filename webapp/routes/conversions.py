"""The conversion modal, its preview, and conversion records (being built)."""

from flask import Blueprint

bp = Blueprint("conversions", __name__)
