"""Notes, tasks and attachments on any record (being built)."""

from flask import Blueprint

bp = Blueprint("activities", __name__)
