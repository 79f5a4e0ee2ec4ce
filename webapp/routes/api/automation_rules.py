"""/automation-rules: the rules that convert a lead when it enters a status (api.md Settings, C8.6).

Administrators only (403 for every other role, 401 without a token). The web layer reads the
body and hands it to services.automation, which checks every value through the field layer
and the conversion options parser (422 with the field errors, nothing written); one request,
one commit. The request and response schemas below say exactly what the service enforces.
"""

from __future__ import annotations

from flask import jsonify, request, url_for
from sqlalchemy.exc import IntegrityError

from ...entities import lead_statuses
from ...errors import Conflict, Problem, Text
from ...extensions import db
from ...fields import INT_MAX, model_specs
from ...models import AutomationRule
from ...schemas import iso
from ...services import automation
from . import bp
from .conversions import ID_OR_NULL, NO_NUL, REQUEST_SCHEMA
from .core import current_user, json_body, paginate, query_bool, reject_unknown_args
from .openapi import add_operation, add_schema, body, path_id, query, ref, responses

LIST_PARAMS = ("on_status", "active", "limit", "cursor")


def as_json(rule: AutomationRule) -> dict:
    """A rule as the API answers it."""
    return {"id": rule.id, "name": rule.name, "on_status": rule.on_status,
            "conditions": [{"field": c.get("field"), "op": c.get("op"), "value": c.get("value")}
                           for c in rule.conditions or []],
            "options": rule.options or {}, "active": bool(rule.active), "position": rule.position,
            "created_by": rule.created_by, "created_at": iso(rule.created_at), "updated_at": iso(rule.updated_at)}


def _save(write):
    """write() (a service call), then one commit; returns what write() returned. The unique name
    taken by a concurrent request (after the service's own check) is a 409, nothing saved."""
    try:
        result = write()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(Text("This change conflicts with another rule saved at the same time; nothing was saved."),
                       {"name": [Problem("name_taken", automation.NAME_TAKEN)]}) from None
    return result


def _one(rule: AutomationRule, status: int = 200):
    response = jsonify(as_json(rule))
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.automation_rules_show", id=rule.id)
    return response


# ---------------------------------------------------------------- views


@bp.get("/automation-rules")
def automation_rules_index():
    """The rules, newest first, by cursor; ?on_status= and ?active= filter them."""
    user = current_user()
    automation.require_admin(user)  # before anything else: a rep learns nothing of the rules
    reject_unknown_args(LIST_PARAMS)
    errors: dict = {}
    on_status = request.args.get("on_status")
    if on_status is not None and on_status not in lead_statuses(db.session):
        errors["on_status"] = [Problem("not_choice", choices=", ".join(lead_statuses(db.session)))]
        on_status = None
    active = query_bool("active", errors, default=None) if "active" in request.args else None
    stmt = automation.list_rules(db.session, user, on_status=on_status, active=active)
    rows, next_cursor = paginate(stmt, AutomationRule.id, errors)
    return jsonify(items=[as_json(r) for r in rows], next_cursor=next_cursor)


@bp.post("/automation-rules")
def automation_rules_create():
    """Create a rule (201)."""
    user = current_user()
    automation.require_admin(user)
    reject_unknown_args()
    data = json_body()
    rule = _save(lambda: automation.create_rule(db.session, user, data))
    return _one(rule, 201)


@bp.get("/automation-rules/<int:id>")
def automation_rules_show(id: int):
    user = current_user()
    automation.require_admin(user)
    reject_unknown_args()
    return _one(automation.get_rule(db.session, user, id))


def _write(id: int, replace_all: bool):
    user = current_user()
    automation.require_admin(user)
    reject_unknown_args()
    data = json_body()
    rule = automation.get_rule(db.session, user, id)
    _save(lambda: automation.update_rule(db.session, user, rule, data, replace_all=replace_all))
    return _one(db.session.get(AutomationRule, id))


@bp.put("/automation-rules/<int:id>")
def automation_rules_replace(id: int):
    """Replace a rule: name and on_status required; absent conditions / options / active back to
    their defaults; the position kept unless given."""
    return _write(id, True)


@bp.patch("/automation-rules/<int:id>")
def automation_rules_update(id: int):
    """Change the fields sent."""
    return _write(id, False)


@bp.delete("/automation-rules/<int:id>")
def automation_rules_delete(id: int):
    user = current_user()
    automation.require_admin(user)
    reject_unknown_args()
    rule = automation.get_rule(db.session, user, id)
    _save(lambda: automation.delete_rule(db.session, user, rule))
    return "", 204


# ---------------------------------------------------------------- JSON Schemas


def _spec_schema(name: str) -> dict:
    return model_specs(AutomationRule)[name].json_schema()


CONDITION = {
    "type": "object", "required": ["field", "op"], "additionalProperties": False,
    "description": "All conditions of a rule must hold. `field`: a lead field (not status) or "
                   "`custom.<key>`; `value`: typed like that field (a list of such values for `in`, a "
                   "part of the text for `contains`, left out or null for `empty` / `not_empty`). "
                   "Text compares without case, accents or punctuation.",
    "properties": {
        "field": {"type": "string", "minLength": 1, "maxLength": automation.FIELD_NAME_MAX, "pattern": NO_NUL},
        "op": {"type": "string", "enum": list(automation.OPS)},
        "value": {},
    },
}
CONDITION_OUT = {
    "type": "object", "required": ["field", "op", "value"], "additionalProperties": False,
    "properties": {"field": {"type": "string"}, "op": {"type": "string", "enum": list(automation.OPS)},
                   "value": {}},
}
_ACTION = {"type": "string", "enum": list(automation.RULE_ACTIONS), "default": "auto"}


def _options_in() -> dict:
    props = {k: v for k, v in REQUEST_SCHEMA["properties"].items() if k in automation.OPTION_KEYS}
    props["account"] = {"type": ["object", "null"], "additionalProperties": False,
                        "properties": {"action": _ACTION,
                                       "parent_id": {**ID_OR_NULL, "description": "The parent account (C2.3)."}}}
    props["contact"] = {"type": ["object", "null"], "additionalProperties": False, "properties": {"action": _ACTION}}
    deal = dict(props["deal"])
    deal["properties"] = {**deal["properties"], "name": {
        **deal["properties"]["name"],
        "description": "May be a template: " + ", ".join(f"{{{p}}}" for p in automation.DEAL_NAME_PLACEHOLDERS)
                       + " (default: the company, else the person's name)."}}
    props["deal"] = deal
    return {"type": "object", "additionalProperties": False, "properties": props,
            "description": "The conversion options of POST /lead-conversions for many leads (api.md Bulk): "
                           "no lead_id, no account.id / contact.id, no per-lead fields, no dry_run; the "
                           "conversion is non-interactive (C4.3)."}


def _nullable(kind: str) -> list[str]:
    return [kind, "null"]


OPTIONS_OUT = {
    "type": "object", "additionalProperties": False,
    "required": ["account", "contact", "deal", "task", "attachments_to", "activities_to", "tags_to", "owner_id"],
    "properties": {
        "account": {"type": "object", "required": ["action", "parent_id"], "additionalProperties": False,
                    "properties": {"action": _ACTION, "parent_id": {"type": _nullable("integer")}}},
        "contact": {"type": "object", "required": ["action"], "additionalProperties": False,
                    "properties": {"action": _ACTION}},
        "deal": {"type": ["object", "null"], "additionalProperties": False,
                 "required": ["name", "pipeline_id", "stage", "amount", "currency", "closing_date", "contact_role",
                              "campaign_id", "owner_id", "fields"],
                 "properties": {"name": {"type": _nullable("string")}, "pipeline_id": {"type": _nullable("integer")},
                                "stage": {"type": _nullable("string")}, "amount": {"type": _nullable("string")},
                                "currency": {"type": _nullable("string")},
                                "closing_date": {"type": _nullable("string"), "format": "date"},
                                "contact_role": {"type": _nullable("string")},
                                "campaign_id": {"type": _nullable("integer")},
                                "owner_id": {"type": _nullable("integer")}, "fields": {"type": "object"}}},
        "task": {"type": ["object", "null"], "additionalProperties": False,
                 "required": ["subject", "due_date", "owner_id"],
                 "properties": {"subject": {"type": "string"},
                                "due_date": {"type": _nullable("string"), "format": "date"},
                                "owner_id": {"type": _nullable("integer")}}},
        "attachments_to": {"type": "string"}, "activities_to": {"type": "string"},
        "tags_to": {"type": "array", "items": {"type": "string"}},
        "owner_id": {"type": _nullable("integer")},
    },
}


def _input(session, required: tuple[str, ...]) -> dict:
    props = {
        "name": {**_spec_schema("name"), "minLength": 1, "description": "Unique (case does not count)."},
        "on_status": {"type": "string", "enum": lead_statuses(session),
                      "description": "The status whose entry fires the rule (open or closed; never converted)."},
        "conditions": {"type": "array", "maxItems": automation.CONDITIONS_MAX, "items": CONDITION},
        "options": ref("AutomationRuleOptions"),
        "active": {"type": "boolean", "default": True},
        "position": {**_spec_schema("position"),
                     "description": "Evaluation order among the rules of a status (then id); default: last."},
    }
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


RULE_OUT = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "name", "on_status", "conditions", "options", "active", "position", "created_by",
                 "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "on_status": {"type": "string"},
        "conditions": {"type": "array", "items": CONDITION_OUT}, "options": ref("AutomationRuleOptionsOut"),
        "active": {"type": "boolean"}, "position": {"type": "integer", "minimum": 0, "maximum": INT_MAX},
        "created_by": {"type": _nullable("integer")},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}

add_schema("AutomationRuleOptions", lambda s: _options_in())
add_schema("AutomationRuleOptionsOut", OPTIONS_OUT)
add_schema("AutomationRule", RULE_OUT)
add_schema("AutomationRuleCreate", lambda s: _input(s, ("name", "on_status")))
add_schema("AutomationRuleReplace", lambda s: _input(s, ("name", "on_status")))
add_schema("AutomationRuleUpdate", lambda s: _input(s, ()))
add_schema("AutomationRuleList", {
    "type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
    "properties": {"items": {"type": "array", "items": ref("AutomationRule")},
                   "next_cursor": {"type": ["string", "null"]}}})

# ---------------------------------------------------------------- OpenAPI

TAGS = ["automation-rules"]
ADMIN = "Administrators only: 403 for any other role (C8.6)."
WRITE = (" 422: errors per field, keyed like the body (`conditions.0.value`, `options.deal.pipeline_id`); "
         "nothing is written.")

add_operation("/automation-rules", "get", lambda s: {
    "tags": TAGS, "summary": "List automation rules", "operationId": "list_automation_rules",
    "description": ADMIN + " Newest first; a rule fires in `position` order.",
    "parameters": [query("on_status", {"type": "string", "enum": lead_statuses(s)}),
                   query("active", {"type": "boolean"}),
                   query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                   query("cursor", {"type": "string"}, "Opaque: the next_cursor of the previous page.")],
    "responses": responses({200: ("A page of rules", ref("AutomationRuleList"))}, (401, 403, 422)),
})
add_operation("/automation-rules", "post", lambda s: {
    "tags": TAGS, "summary": "Create an automation rule", "operationId": "create_automation_rule",
    "description": ADMIN + WRITE, "requestBody": body(ref("AutomationRuleCreate")),
    "responses": responses({201: ("The new rule", ref("AutomationRule"))}, (400, 401, 403, 409, 422)),
})
add_operation("/automation-rules/{id}", "get", lambda s: {
    "tags": TAGS, "summary": "Get an automation rule", "operationId": "get_automation_rule",
    "description": ADMIN, "parameters": [path_id()],
    "responses": responses({200: ("The rule", ref("AutomationRule"))}, (401, 403, 404, 422)),
})
add_operation("/automation-rules/{id}", "put", lambda s: {
    "tags": TAGS, "summary": "Replace an automation rule", "operationId": "replace_automation_rule",
    "description": ADMIN + " Absent conditions, options and active go back to their defaults; the position "
                   "is kept unless given." + WRITE,
    "parameters": [path_id()], "requestBody": body(ref("AutomationRuleReplace")),
    "responses": responses({200: ("The rule", ref("AutomationRule"))}, (400, 401, 403, 404, 409, 422)),
})
add_operation("/automation-rules/{id}", "patch", lambda s: {
    "tags": TAGS, "summary": "Change an automation rule (only the fields sent)",
    "operationId": "update_automation_rule", "description": ADMIN + WRITE,
    "parameters": [path_id()], "requestBody": body(ref("AutomationRuleUpdate")),
    "responses": responses({200: ("The rule", ref("AutomationRule"))}, (400, 401, 403, 404, 409, 422)),
})
add_operation("/automation-rules/{id}", "delete", lambda s: {
    "tags": TAGS, "summary": "Delete an automation rule", "operationId": "delete_automation_rule",
    "description": ADMIN + " Leads it converted stay converted.", "parameters": [path_id()],
    "responses": responses({204: ("Deleted", None)}, (401, 403, 404, 422)),
})
