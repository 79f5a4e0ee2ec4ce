"""/lead-conversions: convert a lead (or dry-run it), list and read conversion records (api.md, C8.8).

The web layer only checks the request against the documented schema, parses the options
with ConversionOptions.from_dict and hands them to the domain (planner.plan for a dry
run, executor.apply otherwise); domain errors carry their HTTP status. One POST = one
apply() = one commit.
"""

from __future__ import annotations

import jsonschema_rs
from flask import jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from ... import permissions
from ...conversion.executor import apply
from ...conversion.options import (
    ACTIONS,
    ACTIVITY_TARGETS,
    ATTACHMENT_TARGETS,
    TARGETS,
    ConversionOptions,
)
from ...conversion.planner import plan
from ...conversion.revert import execute_revert, plan_revert
from ...conversion.serialize import conversion_as_dict
from ...entities import check_id, noun
from ...errors import Conflict, Invalid, NotFound, Problem, Text
from ...extensions import db
from ...fields import CURRENCY_RE, INT_MAX, model_specs
from ...i18n import translate
from ...models import Conversion, Deal, Lead
from . import bp
from .core import (
    current_user,
    get_or_404,
    json_body,
    paginate,
    query_int,
    reject_unknown_args,
)
from .openapi import add_operation, add_schema, body, json_content, path_id, query, ref, responses

REVERT_ONLY = (Conversion.options, Conversion.previous_values, Conversion.moved_records, Conversion.lead_before,
               Conversion.revert_report)
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_PATTERN = "^[!-~]{1,255}$"  # visible ASCII, e.g. a UUID
LIST_FILTERS = ("lead_id", "account_id", "contact_id", "deal_id", "created_by")
NO_NUL = "^[^\\u0000]*$"  # PostgreSQL refuses NUL in text


# ---------------------------------------------------------------- JSON Schemas


def _text(limit: int, nullable: bool = True) -> dict:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": limit, "pattern": NO_NUL}


ID = {"type": "integer", "minimum": 1, "maximum": INT_MAX}
ID_OR_NULL = {"type": ["integer", "null"], "minimum": 1, "maximum": INT_MAX}
DATE_OR_NULL = {"type": ["string", "null"], "format": "date"}
SCALAR = {"type": ["string", "number", "boolean", "null"], "maxLength": 10_000, "pattern": NO_NUL}
FIELDS = {
    "type": ["object", "null"],
    "description": "Override or complete the mapped values: standard field names, and custom "
                   'fields under "custom" ({"custom": {"vat": "FR12"}}) or as "custom.<key>" (C7.4).',
    "properties": {"custom": {"type": "object", "additionalProperties": SCALAR}},
    "additionalProperties": SCALAR,
}


def _choice(entity: str) -> dict:
    props = {"action": {"type": "string", "enum": list(ACTIONS), "default": "auto"},
             "id": {**ID_OR_NULL, "description": 'The record to link to (action "link").'},
             "fields": FIELDS}
    if entity == "account":
        props["parent_id"] = {**ID_OR_NULL, "description": "The parent account (C2.3)."}
    return {"type": ["object", "null"], "properties": props, "additionalProperties": False}


REQUEST_SCHEMA = {
    "type": "object",
    "required": ["lead_id"],
    "additionalProperties": False,
    "properties": {
        "lead_id": ID,
        "lead": {
            "type": ["object", "null"],
            "description": "C7.4: lead fields to fill before converting (e.g. a required custom field no "
                           "target has): validated like a lead edit, written on the lead first, mapped "
                           "like its other fields and restored by a revert.",
            "additionalProperties": False,
            "properties": {"fields": FIELDS},
        },
        "account": _choice("account"),
        "contact": _choice("contact"),
        "deal": {
            "type": ["object", "null"],
            "description": "null or absent: no deal (C5.1).",
            "required": ["stage"],
            "additionalProperties": False,
            "properties": {
                "name": _text(255), "pipeline_id": ID_OR_NULL,
                "stage": {**_text(100, nullable=False), "minLength": 1,
                          "description": "Falls back to the pipeline's first stage when not in it (C5.2)."},
                "amount": {**model_specs(Deal)["amount"].json_schema(),
                           "type": ["string", "number", "null"],
                           "description": 'A decimal amount, e.g. "1250.00".'},
                "currency": {"type": ["string", "null"], "pattern": CURRENCY_RE.pattern},
                "closing_date": DATE_OR_NULL, "contact_role": _text(100), "campaign_id": ID_OR_NULL,
                "owner_id": ID_OR_NULL, "fields": FIELDS,
            },
        },
        "task": {
            "type": ["object", "null"],
            "description": "null or absent: no follow-up task (C5.4).",
            "required": ["subject"],
            "additionalProperties": False,
            "properties": {"subject": {**_text(255, nullable=False), "minLength": 1},
                           "due_date": DATE_OR_NULL, "owner_id": ID_OR_NULL},
        },
        "attachments_to": {"type": ["string", "null"], "enum": [*ATTACHMENT_TARGETS, None]},
        "activities_to": {"type": ["string", "null"], "enum": [*ACTIVITY_TARGETS, None]},
        "tags_to": {"type": ["array", "null"], "items": {"type": "string", "enum": list(TARGETS)}},
        "owner_id": {**ID_OR_NULL, "description": "Owner of every created record; default the lead's owner."},
        "dry_run": {"type": "boolean", "default": False},
    },
}


def _outcome(actions: tuple[str, ...]) -> dict:
    return {"type": "object", "required": ["id", "action", "reason"], "additionalProperties": False,
            "properties": {"id": {"type": ["integer", "null"]}, "action": {"type": "string", "enum": list(actions)},
                           "reason": {"type": ["string", "null"]}}}


RECORD_ACTIONS = ("created", "merged", "linked", "none")
CONVERSION_PROPERTIES = {
    "id": {"type": "integer"},
    "lead_id": {"type": "integer"},
    "created_by": {"type": ["integer", "null"]},
    "created_at": {"type": "string", "format": "date-time"},
    "reverted_at": {"type": ["string", "null"], "format": "date-time"},
    "account": _outcome(RECORD_ACTIONS),
    "contact": _outcome(RECORD_ACTIONS),
    "deal": _outcome(("created", "none")),
    "task": _outcome(("created", "none")),
    "fields_written": {"type": "object", "additionalProperties": {"type": "object"},
                       "description": "Values written into empty fields of merged records, per entity (C3.5), "
                                      'and under "lead" the lead fields filled from the request (C7.4).'},
    "not_updated": {"type": "array", "items": {
        "type": "object", "required": ["entity", "id", "reason"],
        "properties": {"entity": {"type": "string"}, "id": {"type": ["integer", "null"]},
                       "reason": {"type": "string"}}}},
    "moved": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
}
CANDIDATES = {"type": "array", "items": {
    "type": "object", "required": ["id", "name", "reason"], "additionalProperties": False,
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "reason": {"type": "string"}}}}
DRY_RUN_PROPERTIES = {
    **CONVERSION_PROPERTIES,
    "id": {"type": "null"}, "created_by": {"type": "null"}, "created_at": {"type": "null"},
    "reverted_at": {"type": "null"}, "dry_run": {"const": True},
    "candidates": {"type": "object", "required": ["account", "contact"], "additionalProperties": False,
                   "properties": {"account": CANDIDATES, "contact": CANDIDATES}},
}


def _object(props: dict) -> dict:
    return {"type": "object", "required": list(props), "additionalProperties": False, "properties": props}


add_schema("LeadConversionRequest", REQUEST_SCHEMA)
add_schema("LeadConversion", _object(CONVERSION_PROPERTIES))
add_schema("LeadConversionDryRun", _object(DRY_RUN_PROPERTIES))
add_schema("LeadConversionList", _object({"items": {"type": "array", "items": ref("LeadConversion")},
                                          "next_cursor": {"type": ["string", "null"]}}))

# C9.1: the revert's request, its answer (the conversion, reverted) and its dry run (the preview).
REVERT_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "keep_changed": {"type": "boolean", "default": False,
                         "description": "Keep what changed since the conversion (the blockers a 409 names) "
                                        "as it is, and revert everything else."},
        "dry_run": {"type": "boolean", "default": False,
                    "description": "Answer what the revert would do and what blocks it; nothing is written."},
    },
}
REVERT_STEP = {"type": "object", "required": ["action", "type", "id", "label"], "properties": {
    "action": {"type": "string", "enum": ["restore_lead", "restore_field", "keep_existing", "move_back",
                                          "remove_copy", "remove_tag", "delete"]},
    "type": {"type": "string"}, "id": {"type": ["integer", "null"]}, "label": {"type": "string"},
    "field": {"type": "string"}, "place": {"type": "array"}, "to": {"type": "array"},
    "deal_id": {"type": "integer"}, "value": {}, "current": {}}}
REVERT_BLOCKER = _object({"type": {"type": "string"}, "id": {"type": ["integer", "null"]},
                          "label": {"type": "string"}, "field": {"type": ["string", "null"]},
                          "reason": {"type": "string"}, "message": {"type": "string"}})
REVERT_REPORT = {"type": ["object", "null"], "description": "What the revert did (C9.1).", "properties": {
    "keep_changed": {"type": "boolean"},
    "steps": {"type": "array", "items": REVERT_STEP, "description": "What was done."},
    "kept": {"type": "array", "items": REVERT_STEP, "description": "What a blocker kept as it was."},
    "blockers": {"type": "array", "items": REVERT_BLOCKER}}}
add_schema("LeadConversionRevertRequest", REVERT_REQUEST)
add_schema("LeadConversionReverted", _object({
    **CONVERSION_PROPERTIES,
    "reverted_at": {"type": "string", "format": "date-time"},
    "reverted_by": {"type": ["integer", "null"]},
    "revert": REVERT_REPORT,
}))
add_schema("LeadConversionRevertPreview", _object({
    "conversion_id": {"type": "integer"}, "lead_id": {"type": "integer"}, "dry_run": {"const": True},
    "steps": {"type": "array", "items": REVERT_STEP},
    "blockers": {"type": "array", "items": REVERT_BLOCKER},
}))


# ---------------------------------------------------------------- request handling


def _idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not jsonschema_rs.is_valid({"type": "string", "pattern": IDEMPOTENCY_PATTERN}, key):
        raise Invalid(Text("The Idempotency-Key header must be 1 to 255 visible ASCII characters."),
                      {IDEMPOTENCY_HEADER: [Text("must be 1 to 255 visible ASCII characters, e.g. a UUID")]})
    return key


def as_json(conversion: Conversion) -> dict:
    """The api.md shape (conversion_as_dict gives timestamps ISO 8601 with offset)."""
    return conversion_as_dict(conversion)


def _visible(stmt):
    """Only conversions of leads the caller may see."""
    user = current_user()
    return stmt.where(Conversion.lead_id.in_(
        select(Lead.id).where(permissions.visible_clause(db.session, user, Lead))))


# ---------------------------------------------------------------- views


@bp.post("/lead-conversions")
def lead_conversions_create():
    """Convert a lead (201), or dry-run it (200, nothing written); replays an Idempotency-Key."""
    reject_unknown_args()
    data = json_body()
    # The options parser is the one validator of the body (REQUEST_SCHEMA documents it).
    unknown = set(data) - set(REQUEST_SCHEMA["properties"])  # "interactive" is the modal's
    if unknown:
        raise Invalid(errors={str(k): [Problem("unknown_option")] for k in sorted(unknown, key=str)})
    lead_id = check_id(data.get("lead_id"), "lead_id")
    key = _idempotency_key()
    session, user = db.session, current_user()
    # Decimals as parsed: amounts stay exact. Every error of the body is reported by plan()
    # together with those only the database can tell (validation in one pass).
    options = ConversionOptions.parse(data, strict=True)
    if options.dry_run:
        # The key is ignored: a dry run writes nothing, so there is nothing to replay.
        result = plan(session, user, lead_id, options)
        result.check()  # a dry run fails as the conversion would (C7.4, C4.8)
        payload = result.as_dict()
        session.rollback()
        return jsonify(payload), 200
    try:
        conversion = apply(session, user, lead_id, options, idempotency_key=key)
        conversion_id = conversion.id
        session.commit()
    except IntegrityError:
        # A concurrent request committed first (the same Idempotency-Key, or the same lead).
        session.rollback()
        if key:
            raise Conflict(Text("A request with this Idempotency-Key was processed at the same time; retry to get "
                                "its response."), {IDEMPOTENCY_HEADER: [Text("is already in use")]}) from None
        raise Conflict(Text("This conversion conflicts with a concurrent change; nothing was saved.")) from None
    conversion = session.get(Conversion, conversion_id)
    response = jsonify(as_json(conversion))
    response.status_code = 201
    response.headers["Location"] = url_for("api.lead_conversions_show", id=conversion_id)
    return response


@bp.get("/lead-conversions")
def lead_conversions_index():
    """The conversions of leads the caller may see, newest first, filtered, by cursor."""
    reject_unknown_args([*LIST_FILTERS, "limit", "cursor"])
    errors: dict = {}
    # What only a revert reads (the request, previous values, moved records, the lead as it
    # was) stays in the database: four JSON documents a row that the list would parse for nothing.
    stmt = _visible(select(Conversion).options(*(defer(c) for c in REVERT_ONLY)))
    for name in LIST_FILTERS:
        value = query_int(name, errors)
        if value is not None:
            stmt = stmt.where(getattr(Conversion, name) == value)
    rows, next_cursor = paginate(stmt, Conversion.id, errors)
    return jsonify(items=[as_json(c) for c in rows], next_cursor=next_cursor)


@bp.get("/lead-conversions/<int:id>")
def lead_conversions_show(id: int):
    """One conversion record; 404 also when its lead is out of the caller's sight (no leak)."""
    reject_unknown_args()
    conversion = get_or_404(Conversion, id, "conversion")
    if db.session.scalar(_visible(select(Conversion.id).where(Conversion.id == id))) is None:
        raise NotFound(Text("There is no {kind} with id {id}.", kind=noun("conversion"), id=id))
    return jsonify(as_json(conversion))


def _revert_body() -> dict:
    """The revert's JSON body: absent or empty means {} (api.md: `{"keep_changed": true}` optional)."""
    if not request.get_data(cache=True).strip():
        return {}
    data = json_body()
    errors = {str(k): [Problem("unknown_option")] for k in sorted(set(data) - set(REVERT_REQUEST["properties"]), key=str)}
    for name in REVERT_REQUEST["properties"]:
        if name in data and not isinstance(data[name], bool):
            errors[name] = [Problem("not_bool")]
    if errors:
        raise Invalid(errors=errors)
    return data


def _report(report: dict | None) -> dict | None:
    """The stored revert report, its blockers' sentences in the caller's language."""
    if not report:
        return report
    blockers = []
    for b in report.get("blockers") or []:
        item = {k: v for k, v in b.items() if k != "text"}
        if isinstance(b.get("text"), dict):
            item["message"] = translate(Text.from_json(b["text"]))
        blockers.append(item)
    return {**report, "blockers": blockers}


@bp.post("/lead-conversions/<int:id>/revert")
def lead_conversions_revert(id: int):
    """C9.1: revert a conversion (200, the conversion with reverted_at), or preview it (dry_run);
    409 names every blocker unless keep_changed, and answers a second revert."""
    reject_unknown_args()
    data = _revert_body()
    conversion = get_or_404(Conversion, id, "conversion")
    session, user = db.session, current_user()
    # Out of sight: 404 (no leak). can_view() on the one lead, not _visible()'s subquery over all.
    if not permissions.can_view(session, user, session.get(Lead, conversion.lead_id)):
        raise NotFound(Text("There is no {kind} with id {id}.", kind=noun("conversion"), id=id))
    if data.get("dry_run"):
        preview = plan_revert(session, user, conversion)
        payload = preview.as_dict(translate)
        session.rollback()
        return jsonify(payload), 200
    try:
        execute_revert(session, user, conversion, keep_changed=bool(data.get("keep_changed")))
        session.commit()
    except IntegrityError:
        # A concurrent change (a deal added to a contact being deleted...) committed first.
        session.rollback()
        raise Conflict(Text("This revert conflicts with a concurrent change; nothing was saved. Retry.")) from None
    conversion = session.get(Conversion, id)
    return jsonify({**as_json(conversion), "reverted_by": conversion.reverted_by,
                    "revert": _report(conversion.revert_report)}), 200


# ---------------------------------------------------------------- OpenAPI

TAGS = ["lead-conversions"]
IDEMPOTENCY_PARAM = {
    "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_PATTERN},
    "description": "The same key with the same body returns the first response and converts nothing "
                   "more; with another body it is a 409. Ignored by a dry run (it writes nothing).",
}

add_operation("/lead-conversions", "post", lambda s: {
    "tags": TAGS, "summary": "Convert a lead, or preview it with dry_run (C8.7, C8.8)",
    "operationId": "convert_lead",
    "description": "403 names the missing permission (C7.1, C7.2) or who may convert when the only "
                   "duplicates are hidden (C4.8); 404: the lead, or a record named in the options, does "
                   "not exist or is out of sight; 409: the lead was converted already (conversion_id) or "
                   "the Idempotency-Key was used with another body; 422: errors per field (C7.4, C7.5).",
    "parameters": [IDEMPOTENCY_PARAM],
    "requestBody": body(ref("LeadConversionRequest")),
    "responses": responses({201: ("Converted (or the first response of this Idempotency-Key)",
                                  ref("LeadConversion")),
                            200: ("Dry run: what the conversion would do; nothing written",
                                  ref("LeadConversionDryRun"))},
                           (400, 401, 403, 404, 409, 422)),
})
add_operation("/lead-conversions", "get", lambda s: {
    "tags": TAGS, "summary": "List conversions (of the leads you may see)", "operationId": "list_lead_conversions",
    "parameters": [query(name, ID) for name in LIST_FILTERS] + [
        query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
        query("cursor", {"type": "string"}, "Opaque: the next_cursor of the previous page.")],
    "responses": responses({200: ("A page of conversions", ref("LeadConversionList"))}, (401, 422)),
})
add_operation("/lead-conversions/{id}", "get", lambda s: {
    "tags": TAGS, "summary": "Get a conversion", "operationId": "get_lead_conversion",
    "parameters": [path_id()],
    "responses": responses({200: ("The conversion", ref("LeadConversion"))}, (401, 404, 422)),
})
add_operation("/lead-conversions/{id}/revert", "post", lambda s: {
    "tags": TAGS, "summary": "Revert a conversion (C9.1), or preview the revert with dry_run",
    "operationId": "revert_lead_conversion",
    "description": "Restores the lead (status, the fields the form filled; converted false), moves every "
                   "moved record back, removes the copies, deletes the records the conversion created when "
                   "untouched since and restores the fields it filled on merged records unless changed "
                   "since. 409 with `errors` naming each record or field that cannot be undone cleanly "
                   "(keys like \"contact.9\", \"contact.9.phone\"; the body's `blockers` list them) unless "
                   "`keep_changed` is true; 409 too when already reverted. 403: the \"Revert "
                   "conversions\" permission, or a lead out of the caller's edit scope.",
    "parameters": [path_id()],
    "requestBody": {"required": False, **json_content(ref("LeadConversionRevertRequest"))},
    "responses": responses({200: ("Reverted: the conversion with reverted_at set, and what the revert did; "
                                  "with dry_run, the preview (nothing written)",
                                  {"oneOf": [ref("LeadConversionReverted"), ref("LeadConversionRevertPreview")]})},
                           (400, 401, 403, 404, 409, 422)),
})
