"""/lead-statuses: the steps of a lead (api.md Settings; issue 10 item 4, C9.2, C9.3).

`{"key", "label", "category": "open|closed|converted", "position"}`, addressed by key. Reading
is for every signed-in user (the lead `status` field takes these keys); writing for
administrators (403 for any other role, 401 without a token). services.statuses checks every
value through the field layer (422 with the field errors, nothing written) and refuses what the
state forbids (409: the system-managed `converted` status, the last open status, a status
automation rules fire on — their ids in `rules` —, or that leads have — their number in
`leads` — unless DELETE says where they go with ?move_to=); one request, one commit.
"""

from __future__ import annotations

import base64
import binascii
import json

from flask import jsonify, request, url_for
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, Invalid, Text
from ...extensions import db
from ...fields import INT_MAX
from ...models import LeadStatus
from ...services import statuses as svc
from . import bp
from .conversions import NO_NUL
from .core import current_user, json_body, query_limit, reject_unknown_args
from .openapi import add_operation, add_schema, body, query, ref, responses

CONCURRENT = Text("This change conflicts with another change to the lead statuses saved at the same time; "
                  "nothing was saved.")


def as_json(status: LeadStatus) -> dict:
    return {"key": status.key, "label": status.label, "category": status.category, "position": status.position}


def _save(write):
    """write() (a service call), then one commit; a key taken by a concurrent request (after the
    service's own check) is a 409, nothing saved."""
    try:
        result = write()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(CONCURRENT) from None
    return result


def _one(key: str, status: int = 200):
    row = svc.get_status(db.session, key)
    response = jsonify(as_json(row))
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.lead_statuses_show", key=row.key)
    return response


def _cursor(status: LeadStatus) -> str:
    raw = json.dumps({"position": status.position, "key": status.key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(raw: str) -> tuple[int, str]:
    """(position, key) a cursor continues after; raises ValueError when this API did not make it."""
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        position, key = data["position"], data["key"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ValueError from None
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= INT_MAX \
            or not svc.well_formed(key):
        raise ValueError
    return position, key


# ---------------------------------------------------------------- views


@bp.get("/lead-statuses")
def lead_statuses_index():
    """Every status in its order (position), by cursor: any signed-in user."""
    current_user()
    reject_unknown_args(("limit", "cursor"))
    errors: dict = {}
    limit = query_limit(errors)
    stmt = select(LeadStatus).order_by(LeadStatus.position, LeadStatus.key)
    if request.args.get("cursor"):
        try:
            stmt = stmt.where(tuple_(LeadStatus.position, LeadStatus.key) > tuple_(*_after(request.args["cursor"])))
        except ValueError:
            errors["cursor"] = [Text("is not a cursor this API returned")]
    if errors:
        raise Invalid(Text("Some query parameters need attention."), errors)
    rows = list(db.session.scalars(stmt.limit(limit + 1)))
    next_cursor = _cursor(rows[limit - 1]) if len(rows) > limit else None
    return jsonify(items=[as_json(s) for s in rows[:limit]], next_cursor=next_cursor)


@bp.post("/lead-statuses")
def lead_statuses_create():
    """Add a status (201)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    status = _save(lambda: svc.add_status(db.session, user, data, strict=True))
    return _one(status.key, 201)


@bp.get("/lead-statuses/<key>")
def lead_statuses_show(key: str):
    current_user()
    reject_unknown_args()
    return _one(svc.get_status(db.session, key).key)


@bp.patch("/lead-statuses/<key>")
def lead_statuses_update(key: str):
    """Change the fields sent: label, category, position (the key never changes)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    status = svc.get_status(db.session, key)
    _save(lambda: svc.update_status(db.session, user, status, data, strict=True))
    return _one(key)


@bp.delete("/lead-statuses/<key>")
def lead_statuses_delete(key: str):
    """Delete a status; ?move_to= another status's key moves its leads there first (same request)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args(("move_to",))
    status = svc.get_status(db.session, key)
    _save(lambda: svc.delete_status(db.session, user, status, request.args.get("move_to")))
    return "", 204


# ---------------------------------------------------------------- JSON Schemas and OpenAPI

_KEY = {"type": "string", "minLength": 1, "maxLength": svc.KEY_MAX, "pattern": svc.KEY_PATTERN}
_LABEL = {"type": "string", "minLength": 1, "maxLength": svc.LABEL_MAX, "pattern": NO_NUL,
          "description": "Unique (case does not count). Stored as typed; the default statuses' English labels "
                         "are shown translated."}
_POSITION = {"type": "integer", "minimum": 0, "maximum": INT_MAX,
             "description": "Place in the order, 0 first. Open statuses come first, then closed ones, then "
                            "`converted`: a position outside the status's category block is brought to its "
                            "nearest end."}
_CATEGORY_IN = {"type": "string", "enum": list(svc.CATEGORIES),
                "description": "`closed`: a lead that ends without converting (C9.2). `converted` is the "
                               "system's own status: none can be added or made."}

add_schema("LeadStatus", {
    "type": "object", "additionalProperties": False, "required": ["key", "label", "category", "position"],
    "properties": {"key": {"type": "string"}, "label": {"type": "string"},
                   "category": {"type": "string", "enum": ["open", "closed", "converted"]},
                   "position": {"type": "integer", "minimum": 0, "maximum": INT_MAX}},
})
add_schema("LeadStatusCreate", {
    "type": "object", "additionalProperties": False, "required": ["label"],
    "properties": {
        "label": _LABEL,
        "key": {**_KEY, "description": "Letters a-z, digits and _, starting with a letter; unique; never "
                                       "changes. Default: made from the label. `all` is reserved."},
        "category": {**_CATEGORY_IN, "default": "open"},
        "position": {**_POSITION, "description": _POSITION["description"] + " Default: the end of its block."},
    },
})
add_schema("LeadStatusUpdate", {
    "type": "object", "additionalProperties": False,
    "properties": {"label": _LABEL, "category": _CATEGORY_IN, "position": _POSITION},
    "description": "`key` cannot change. Of `converted`, only the label may change.",
})
add_schema("LeadStatusList", {
    "type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
    "properties": {"items": {"type": "array", "items": ref("LeadStatus")},
                   "next_cursor": {"type": ["string", "null"]}}})
add_schema("LeadStatusConflict", {
    "allOf": [ref("Error")],
    "properties": {"leads": {"type": "integer", "description": "Leads that have the status (move them with "
                                                               "?move_to=)."},
                   "rules": {"type": "array", "items": {"type": "integer"},
                             "description": "Ids of the automation rules that fire on the status."}},
})

TAGS = ["lead-statuses"]
ADMIN = "Administrators only: 403 for any other role."
WRITE = " 422: errors per field, nothing written; 409: what the statuses' state forbids."


def _key_param() -> dict:
    return {"name": "key", "in": "path", "required": True, "schema": _KEY}


def _conflict(description: str) -> dict:
    return {"409": {"description": description,
                    "content": {"application/json": {"schema": ref("LeadStatusConflict")}}}}


add_operation("/lead-statuses", "get", {
    "tags": TAGS, "summary": "List lead statuses", "operationId": "list_lead_statuses",
    "description": "Every signed-in user. In their order (`position`): the board's columns and the list's "
                   "status filter follow it.",
    "parameters": [query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                   query("cursor", {"type": "string"}, "Opaque: the next_cursor of the previous page.")],
    "responses": responses({200: ("A page of statuses", ref("LeadStatusList"))}, (401, 422)),
})
add_operation("/lead-statuses", "post", {
    "tags": TAGS, "summary": "Add a lead status", "operationId": "create_lead_status",
    "description": ADMIN + WRITE, "requestBody": body(ref("LeadStatusCreate")),
    "responses": responses({201: ("The new status", ref("LeadStatus"))}, (400, 401, 403, 409, 422)),
})
add_operation("/lead-statuses/{key}", "get", {
    "tags": TAGS, "summary": "Get a lead status", "operationId": "get_lead_status",
    "description": "Every signed-in user.", "parameters": [_key_param()],
    "responses": responses({200: ("The status", ref("LeadStatus"))}, (401, 404, 422)),
})
add_operation("/lead-statuses/{key}", "patch", {
    "tags": TAGS, "summary": "Change a lead status (only the fields sent)", "operationId": "update_lead_status",
    "description": ADMIN + " A category change puts the status at the boundary of its new block (the end of the "
                   "open ones, the start of the closed ones)." + WRITE,
    "parameters": [_key_param()], "requestBody": body(ref("LeadStatusUpdate")),
    "responses": {**responses({200: ("The status", ref("LeadStatus"))}, (400, 401, 403, 404, 422)),
                  **_conflict("`converted` keeps its category and place; the last open status stays open.")},
})
add_operation("/lead-statuses/{key}", "delete", {
    "tags": TAGS, "summary": "Delete a lead status", "operationId": "delete_lead_status",
    "description": ADMIN + " A status that leads have is deleted only with `move_to`: its leads move there in "
                   "the same transaction (each lead's timeline records it; automation rules do not run). "
                   "Refused (409) for `converted`, the last open status, and a status automation rules fire on.",
    "parameters": [_key_param(),
                   query("move_to", {"type": "string", "maxLength": svc.KEY_MAX},
                         "Another open or closed status's key: where the leads of the deleted status go.")],
    "responses": {**responses({204: ("Deleted", None)}, (401, 403, 404, 422)),
                  **_conflict("Not deletable, or leads have it and `move_to` is missing (their number in "
                              "`leads`).")},
})
