"""The leads blueprint: list and board (listing.py, board.py), the lead page and its forms (detail.py)."""

from flask import Blueprint

bp = Blueprint("leads", __name__, url_prefix="/leads")

from . import board, bulk, detail, listing  # noqa: E402,F401  (views register on bp)
