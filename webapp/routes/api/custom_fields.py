"""/custom-fields: custom field definitions (api.md Settings; issue 10, item 2).

`{"id", "entity", "key", "label", "type", "length", "options", "required", "unique",
"carry_over", "position"}`. Reading is for every API user (integrations need the definitions to
write records' `custom` values; the OpenAPI document, public, lists them already); writing for
administrators (403 for any other role, 401 without a token). services.custom_fields checks every
value through the field layer (422 with the field errors, nothing written) and refuses what the
saved values forbid (409: values that do not fit a new type / length / options, with how many
records hold what; a field holding values deleted without ?confirm=true, with their number in
`values`); one request, one commit. A lead field created with `counterparts` is created on
those entities too and mapped to them in the conversion mapping, in the same request.
"""

from __future__ import annotations

from flask import jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, Invalid, Text
from ...extensions import db
from ...fields import CUSTOM_LENGTHS, INT_MAX
from ...models import ENTITIES, FIELD_TYPES, CustomField
from ...services import custom_fields as svc
from . import bp
from .conversions import NO_NUL
from .core import current_user, json_body, paginate, query_bool, reject_unknown_args
from .openapi import add_operation, add_schema, body, path_id, query, ref, responses

CONCURRENT = Text("This change conflicts with another change to the custom fields saved at the same time; "
                  "nothing was saved.")


def _save(write):
    """write() (a service call), then one commit; a key taken by a concurrent request is a 409."""
    try:
        result = write()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(CONCURRENT) from None
    return result


def _one(field: CustomField, status: int = 200):
    response = jsonify(svc.as_dict(field))
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.custom_fields_show", id=field.id)
    return response


# ---------------------------------------------------------------- views


@bp.get("/custom-fields")
def custom_fields_index():
    """Every definition (or one entity's: ?entity=), newest first, by cursor (every user)."""
    current_user()
    reject_unknown_args(("limit", "cursor", "entity"))
    errors: dict = {}
    stmt = select(CustomField)
    entity = request.args.get("entity")
    if entity is not None:
        if entity not in ENTITIES:
            errors["entity"] = [Text("must be one of: {choices}", choices=", ".join(ENTITIES))]
        else:
            stmt = stmt.where(CustomField.entity == entity)
    rows, next_cursor = paginate(stmt, CustomField.id, errors)
    return jsonify(items=[svc.as_dict(f) for f in rows], next_cursor=next_cursor)


@bp.post("/custom-fields")
def custom_fields_create():
    """Create a field (201); with `counterparts`, also on those entities, mapped from it."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    field = _save(lambda: svc.create(db.session, user, data, strict=True))
    return _one(field, 201)


@bp.get("/custom-fields/<int:id>")
def custom_fields_show(id: int):
    current_user()
    reject_unknown_args()
    return _one(svc.get_field(db.session, id))


@bp.patch("/custom-fields/<int:id>")
def custom_fields_update(id: int):
    """Change the attributes sent (entity and key never change)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    field = svc.get_field(db.session, id)
    _save(lambda: svc.update_field(db.session, user, field, data, strict=True))
    return _one(field)


@bp.delete("/custom-fields/<int:id>")
def custom_fields_delete(id: int):
    """Delete a field; ?confirm=true when it holds values (they are deleted with it)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args(("confirm",))
    errors: dict = {}
    confirm = query_bool("confirm", errors)
    if errors:
        raise Invalid(Text("Some query parameters need attention."), errors)
    field = svc.get_field(db.session, id)
    _save(lambda: svc.delete_field(db.session, user, field, confirm=confirm))
    return "", 204


# ---------------------------------------------------------------- JSON Schemas

LABEL = {"type": "string", "minLength": 1, "maxLength": svc.LABEL_SPEC.length, "pattern": NO_NUL}
KEY = {"type": "string", "minLength": 1, "maxLength": svc.KEY_MAX, "pattern": svc.KEY_PATTERN,
       "description": "A slug, unique in its entity, not the name of a standard field; made from the label when "
                      "absent. Never changes."}
TYPE = {"type": "string", "enum": list(FIELD_TYPES)}
ENTITY = {"type": "string", "enum": list(ENTITIES)}
LENGTH = {"type": ["integer", "null"], "minimum": 1, "maximum": max(CUSTOM_LENGTHS.values()),
          "description": "Text types only (text, textarea, email, phone, url): at most "
                         + ", ".join(f"{t} {CUSTOM_LENGTHS[t]}" for t in svc.LENGTH_TYPES)
                         + " (the default). Shortening it below a saved value is a 409."}
OPTIONS = {"type": ["array", "null"], "maxItems": svc.OPTIONS_MAX, "uniqueItems": True,
           "items": {"type": "string", "minLength": 1, "maxLength": svc.OPTION_MAX, "pattern": NO_NUL},
           "description": "Picklists only (required there): trimmed, unique whatever the case. Removing one "
                          "that saved values hold is a 409."}
FLAGS = {
    "required": {"type": "boolean", "default": False,
                 "description": "Applies to new edits (create, and updates that send the field) and blocks "
                                "lead conversion until filled (C7.4)."},
    "unique": {"type": "boolean", "default": False,
               "description": "Used by duplicate matching (C4.1 a, b). Not for checkbox, textarea, picklist."},
    "carry_over": {"type": "boolean", "default": False,
                   "description": "Lead fields only: converted into the same-key field of account, contact, "
                                  "deal (C3.3)."},
}
POSITION = {"type": ["integer", "null"], "minimum": 0, "maximum": INT_MAX,
            "description": "The place in its entity's forms, from 0 (beyond the last, or null: last)."}
COUNTERPARTS = {"type": ["array", "null"], "uniqueItems": True, "maxItems": 3,
                "items": {"type": "string", "enum": ["account", "contact", "deal"]},
                "description": "Lead fields only: also create the field (same key, label, type, length, options, "
                               "unique) on these entities and map the lead field to each in the conversion "
                               "mapping, in the same request (C3.3)."}
FIELD_OUT = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "entity", "key", "label", "type", "length", "options", "required", "unique", "carry_over",
                 "position"],
    "properties": {
        "id": {"type": "integer"}, "entity": ENTITY, "key": {"type": "string"}, "label": {"type": "string"},
        "type": TYPE, "length": {"type": ["integer", "null"]},
        "options": {"type": ["array", "null"], "items": {"type": "string"}},
        "required": {"type": "boolean"}, "unique": {"type": "boolean"}, "carry_over": {"type": "boolean"},
        "position": {"type": "integer"},
    },
}
add_schema("CustomField", FIELD_OUT)
add_schema("CustomFieldCreate", {
    "type": "object", "additionalProperties": False, "required": ["entity", "label", "type"],
    "properties": {"entity": ENTITY, "key": {**KEY, "type": ["string", "null"]}, "label": LABEL, "type": TYPE, "length": LENGTH, "options": OPTIONS,
                   **FLAGS, "position": POSITION, "counterparts": COUNTERPARTS},
})
add_schema("CustomFieldUpdate", {
    "type": "object", "additionalProperties": False,
    "properties": {"entity": {**ENTITY, "description": "Never changes: only the field's own entity is accepted."},
                   "key": {**KEY, "description": "Never changes: only the field's own key is accepted."},
                   "label": LABEL, "type": {**TYPE, "description": "Saved values are converted to the new type; a 409 "
                                                                   "when some do not fit, with how many."},
                   "length": LENGTH, "options": OPTIONS, **FLAGS, "position": POSITION},
})
add_schema("CustomFieldList", {
    "type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
    "properties": {"items": {"type": "array", "items": ref("CustomField")},
                   "next_cursor": {"type": ["string", "null"]}}})

# ---------------------------------------------------------------- OpenAPI

TAGS = ["custom fields"]
ADMIN = "Administrators only: 403 for any other role."
WRITE = (" 422: errors per field (`options.2`...); 409: what the saved values forbid (`error` values_do_not_fit, "
         "with each field's reason naming how many records hold what); nothing is written.")

add_operation("/custom-fields", "get", {
    "tags": TAGS, "summary": "List custom field definitions", "operationId": "list_custom_fields",
    "description": "Every user (the definitions say what records' `custom` values take). Newest first; "
                   "`position` gives the forms' order.",
    "parameters": [query("entity", ENTITY, "Only this entity's fields."),
                   query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                   query("cursor", {"type": "string"}, "Opaque: the next_cursor of the previous page.")],
    "responses": responses({200: ("A page of definitions", ref("CustomFieldList"))}, (401, 422)),
})
add_operation("/custom-fields", "post", {
    "tags": TAGS, "summary": "Create a custom field", "operationId": "create_custom_field",
    "description": ADMIN + " Last in its entity unless `position` says otherwise." + WRITE,
    "requestBody": body(ref("CustomFieldCreate")),
    "responses": responses({201: ("The new field", ref("CustomField"))}, (400, 401, 403, 409, 422)),
})
add_operation("/custom-fields/{id}", "get", {
    "tags": TAGS, "summary": "Get a custom field", "operationId": "get_custom_field", "description": "Every user.",
    "parameters": [path_id()],
    "responses": responses({200: ("The field", ref("CustomField"))}, (401, 404, 422)),
})
add_operation("/custom-fields/{id}", "patch", {
    "tags": TAGS, "summary": "Change a custom field (only the attributes sent)", "operationId": "update_custom_field",
    "description": ADMIN + WRITE, "parameters": [path_id()], "requestBody": body(ref("CustomFieldUpdate")),
    "responses": responses({200: ("The field", ref("CustomField"))}, (400, 401, 403, 404, 409, 422)),
})
add_operation("/custom-fields/{id}", "delete", {
    "tags": TAGS, "summary": "Delete a custom field", "operationId": "delete_custom_field",
    "description": ADMIN + " While records hold values of the field, `confirm=true` is required (409 otherwise, "
                   "`error` field_has_values with their number in `values`): the values, and the conversion "
                   "mapping's pairs naming the field, are deleted with it. 409 `field_in_use` while automation "
                   "rules use it.",
    "parameters": [path_id(), query("confirm", {"type": "boolean", "default": False},
                                    "Delete the field's values with it.")],
    "responses": responses({204: ("Deleted", None)}, (401, 403, 404, 409, 422)),
})
