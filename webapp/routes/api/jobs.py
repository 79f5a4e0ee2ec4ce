"""Bulk conversions and background jobs (api.md "Bulk", C8.5): POST /lead-conversions/bulk
starts a bulk_convert job (202 {"job_id"}); /jobs/{id} its progress, /jobs/{id}/results one row
per lead (JSON pages, or CSV with Accept: text/csv or /results.csv), /jobs/{id}/cancel.

A job is visible to its creator and to administrators only: anyone else gets 404, as for a
job that does not exist (no leak). The web layer checks the body's keys against the documented
schema and hands the rest to services.bulk (the one validator of the options and the selection:
422 with every field error, nothing written).
"""

from __future__ import annotations

import csv
import io

from flask import Response, current_app, jsonify, request, url_for
from sqlalchemy import select

from ... import jobs as queue
from ... import permissions
from ...conversion.bulk import PLACEHOLDERS, BulkOptions, summarize, validate
from ...errors import Forbidden, Invalid, NotFound, Problem, Text
from ...extensions import db
from ...fields import INT_MAX
from ...i18n import translate
from ...models import Job, JobResult, Lead
from ...models.jobs import JOB_STATUSES
from ...services import bulk
from ...services.leads import filter_clauses, lead_statuses
from . import bp
from .conversions import ID, ID_OR_NULL, NO_NUL, REQUEST_SCHEMA
from .core import current_user, encode_cursor, json_body, page_params, reject_unknown_args
from .openapi import add_operation, add_schema, body, path_id, query, ref, responses

RESULT_PAGE = 1000  # rows read at a time for the CSV
CSV_COLUMNS = ("lead_id", "outcome", "conversion_id", "reason")

# ---------------------------------------------------------------- JSON Schemas

_CONVERSION = REQUEST_SCHEMA["properties"]


def _bulk_choice(entity: str) -> dict:
    props = {"action": {"type": "string", "enum": ["auto", "create", "none"], "default": "auto"}}
    if entity == "account":
        props["parent_id"] = {**ID_OR_NULL, "description": "The parent account of the accounts created (C2.3)."}
    return {"type": ["object", "null"], "properties": props, "additionalProperties": False}


def _text_filter(key: str, description: str | None = None) -> dict:
    schema = {"type": "string", "maxLength": bulk.TEXT_MAX[key], "pattern": NO_NUL}
    return {**schema, "description": description} if description else schema


def _instant_filter(description: str) -> dict:
    return {"type": "string", "format": "date-time",
            "description": description + " (ISO 8601 with an offset, e.g. 2026-01-31T09:00:00+01:00)."}


def _request_schema(session) -> dict:
    statuses = ["", "all", *(s.key for s in lead_statuses(session))]
    deal = dict(_CONVERSION["deal"])
    deal["properties"] = {**deal["properties"], "name": {
        **deal["properties"]["name"],
        "description": "A name, or a template: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                       + " (the lead's values; nothing left: the default name, C5.1)."}}
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "The leads (lead_ids, or a filter of the lead list: the leads it matches when the job "
                       "starts, within your sight) and the options of POST /lead-conversions except "
                       "account.id, contact.id and the per-record fields (C8.4).",
        "oneOf": [{"required": ["lead_ids"]}, {"required": ["filter"]}],
        "properties": {
            "lead_ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": bulk.MAX_IDS},
            "filter": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "status": {"type": "string", "enum": statuses,
                               "description": '"" open statuses only, "all" (default) open and closed.'},
                    "owner_id": {**ID_OR_NULL, "description": "The leads' owner (null: anyone)."},
                    "q": _text_filter("q"),
                    "tag": _text_filter("tag"),
                    "converted": {"type": "boolean"},
                    "source": _text_filter("source", "The lead source, exactly (the list's Source filter)."),
                    "team_id": {**ID_OR_NULL, "description": "The leads' team (null: any team)."},
                    "created_from": _instant_filter("Leads created at or after this instant"),
                    "created_before": _instant_filter("Leads created before this instant"),
                },
            },
            "account": _bulk_choice("account"),
            "contact": _bulk_choice("contact"),
            "deal": deal,
            **{k: _CONVERSION[k] for k in ("task", "attachments_to", "activities_to", "tags_to", "owner_id")},
            "dry_run": {"type": "boolean", "default": False,
                        "description": "Answer 200 with what the job would do (the bulk panel's summary); "
                                       "nothing is written, no job is started."},
        },
    }


REQUEST_KEYS = {"lead_ids", "filter", "account", "contact", "deal", "task", "attachments_to", "activities_to",
                "tags_to", "owner_id", "dry_run"}
COUNT = {"type": "integer", "minimum": 0}
STAMP = {"type": ["string", "null"], "format": "date-time"}
JOB_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "kind", "status", "total", "processed", "converted", "skipped", "failed", "started_at",
                 "finished_at"],
    "properties": {"id": {"type": "integer"}, "kind": {"type": "string"},
                   "status": {"type": "string", "enum": list(JOB_STATUSES)},
                   "total": COUNT, "processed": COUNT, "converted": COUNT, "skipped": COUNT, "failed": COUNT,
                   "started_at": STAMP, "finished_at": STAMP},
}
RESULT_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["lead_id", "outcome", "conversion_id", "reason"],
    "properties": {"lead_id": {"type": "integer"}, "outcome": {"type": "string", "enum": list(bulk.OUTCOMES)},
                   "conversion_id": {"type": ["integer", "null"]}, "reason": {"type": ["string", "null"]}},
}
COUNTS = {"type": "object", "additionalProperties": COUNT}
SUMMARY_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["total", "converted", "skipped", "account", "contact", "deal", "task", "reasons", "examples"],
    "properties": {
        "total": COUNT, "converted": COUNT, "skipped": COUNT,
        "account": COUNTS, "contact": COUNTS, "deal": COUNTS, "task": COUNTS,
        "reasons": {**COUNTS, "description": "Skipped leads per reason."},
        "examples": {"type": "object", "additionalProperties": {"type": "array", "items": {
            "type": "object", "required": ["lead_id", "id", "name", "reason"],
            "properties": {"lead_id": {"type": "integer"}, "id": {"type": "integer"}, "name": {"type": "string"},
                           "reason": {"type": ["string", "null"]}}}}},
    },
}

add_schema("BulkConversionRequest", _request_schema)
add_schema("BulkConversionAccepted", {"type": "object", "required": ["job_id"], "additionalProperties": False,
                                      "properties": {"job_id": {"type": "integer"}}})
add_schema("BulkConversionDryRun", SUMMARY_SCHEMA)
add_schema("Job", JOB_SCHEMA)
add_schema("JobResult", RESULT_SCHEMA)
add_schema("JobResultList", {"type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
                             "properties": {"items": {"type": "array", "items": ref("JobResult")},
                                            "next_cursor": {"type": ["string", "null"]}}})


# ---------------------------------------------------------------- helpers


def job_as_dict(job: Job) -> dict:
    from ...conversion.serialize import when

    return {"id": job.id, "kind": job.kind, "status": job.status, "total": job.total or 0,
            "processed": job.processed or 0, "converted": job.converted or 0, "skipped": job.skipped or 0,
            "failed": job.failed or 0, "started_at": when(job.started_at), "finished_at": when(job.finished_at)}


def reason_of(row: JobResult) -> str | None:
    """The reason in the reader's language (its stored template), else as stored."""
    stored = (row.detail or {}).get("reason")
    if isinstance(stored, dict):
        try:
            return translate(Text.from_json(stored))
        except (KeyError, TypeError, ValueError):
            pass
    return row.reason


def result_as_dict(row: JobResult) -> dict:
    return {"lead_id": row.lead_id, "outcome": row.outcome, "conversion_id": row.conversion_id,
            "reason": reason_of(row)}


def visible_job(job_id: int) -> Job:
    """The job, when the caller created it or is an administrator; else 404 (as for none)."""
    job = db.session.get(Job, job_id) if 0 < job_id <= INT_MAX else None
    user = current_user()
    if job is None or (job.created_by != user.id and not permissions.is_admin(user)):
        raise NotFound(Text("There is no job with id {id}.", id=job_id))
    return job


def _outcome_param(errors: dict) -> str | None:
    raw = request.args.get("outcome")
    if raw is None:
        return None
    if raw not in bulk.OUTCOMES:
        errors["outcome"] = [Problem("not_choice", choices=", ".join(bulk.OUTCOMES))]
        return None
    return raw


def _results_csv(job: Job, outcome: str | None) -> Response:
    """Every result row as CSV, in lead order. The rows are read (plain columns, each distinct
    reason translated once) during the request; the text is streamed from them after."""
    r = JobResult.__table__.c
    stmt = select(r.lead_id, r.outcome, r.conversion_id, r.reason, r.detail).where(r.job_id == job.id)
    if outcome:
        stmt = stmt.where(r.outcome == outcome)
    words: dict[str, str | None] = {}
    rows = []
    for lead_id, kind, conversion_id, reason, detail in db.session.execute(stmt.order_by(r.lead_id)):
        key = repr((reason, detail))
        if key not in words:
            words[key] = reason_of(JobResult(reason=reason, detail=detail))
        rows.append((lead_id, kind, "" if conversion_id is None else conversion_id, words[key] or ""))

    def lines():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for start in range(0, len(rows), RESULT_PAGE):
            writer.writerows(rows[start:start + RESULT_PAGE])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        yield out.getvalue()

    response = Response(lines(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="job-{job.id}-results.csv"'
    return response


def _wants_csv() -> bool:
    """Accept: text/csv (preferred to JSON); anything else, or nothing, is JSON."""
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


# ---------------------------------------------------------------- views


@bp.post("/lead-conversions/bulk")
def bulk_conversions_create():
    """Start converting many leads in the background (202 {"job_id"}); or, with dry_run, what it
    would do (200, nothing written)."""
    reject_unknown_args()
    data = json_body()
    user = current_user()
    unknown = set(data) - REQUEST_KEYS
    if unknown:
        raise Invalid(errors={str(k): [Problem("unknown_option")] for k in sorted(unknown, key=str)})
    if not permissions.can_convert(user):
        message = Text("Your role lacks the “Convert leads” permission.")
        raise Forbidden(message, {"lead": [message]})
    dry_run = data.pop("dry_run", False)
    if not isinstance(dry_run, bool):
        raise Invalid(errors={"dry_run": [Problem("not_bool")]})
    if dry_run:
        return jsonify(_dry_run(user, data)), 200
    job = queue.start_bulk_convert(current_app._get_current_object(), user, data)
    response = jsonify(job_id=job.id)
    response.status_code = 202
    response.headers["Location"] = url_for("api.jobs_show", id=job.id)
    return response


def _dry_run(user, data: dict) -> dict:
    """The summary of what the job would do with this body (services.bulk validates it)."""
    session = db.session
    selection, errors = bulk.parse_selection(session, data)
    options = BulkOptions.parse({k: v for k, v in data.items() if k not in ("lead_ids", "filter")}, strict=True)
    for key, messages in options.errors.items():
        errors.setdefault(key, []).extend(messages)
    if errors:
        raise Invalid(Text("Some fields need attention."), errors)
    validate(session, user, options)
    if "lead_ids" in selection:
        ids = selection["lead_ids"]
    else:
        filters = bulk.lead_filters(selection["filter"])
        ids = list(session.scalars(select(Lead.id).where(*filter_clauses(session, user, filters, count=True))
                                   .order_by(Lead.id).limit(bulk.MAX_IDS)))
    summary = summarize(session, user, ids, options)
    session.rollback()
    summary["reasons"] = {translate(reason): n for reason, n in summary["reasons"].items()}
    return summary


@bp.get("/jobs/<int:id>")
def jobs_show(id: int):
    """A job's progress (its creator and administrators only)."""
    reject_unknown_args()
    return jsonify(job_as_dict(visible_job(id)))


@bp.get("/jobs/<int:id>/results")
def jobs_results(id: int):
    """The job's results, one per lead, in lead order: JSON pages, or CSV (Accept: text/csv)."""
    reject_unknown_args(["limit", "cursor", "outcome"])
    job = visible_job(id)
    errors: dict = {}
    outcome = _outcome_param(errors)
    if _wants_csv():
        if errors:
            raise Invalid(Text("Some query parameters need attention."), errors)
        return _results_csv(job, outcome)
    limit, after = page_params(errors)
    if errors:
        raise Invalid(Text("Some query parameters need attention."), errors)
    stmt = bulk.results_query(job.id, outcome)
    if after is not None:
        stmt = stmt.where(JobResult.lead_id > after)
    rows = list(db.session.scalars(stmt.order_by(JobResult.lead_id).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].lead_id) if len(rows) > limit else None
    response = jsonify(items=[result_as_dict(r) for r in rows[:limit]], next_cursor=next_cursor)
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/jobs/<int:id>/results.csv")
def jobs_results_csv(id: int):
    """The job's results as CSV (the same rows as /results)."""
    reject_unknown_args(["outcome"])
    job = visible_job(id)
    errors: dict = {}
    outcome = _outcome_param(errors)
    if errors:
        raise Invalid(Text("Some query parameters need attention."), errors)
    return _results_csv(job, outcome)


@bp.post("/jobs/<int:id>/cancel")
def jobs_cancel(id: int):
    """Cancel a queued or running job: what is converted stays converted, the rest is cancelled
    (409 when it has already ended)."""
    reject_unknown_args()
    job = visible_job(id)
    return jsonify(job_as_dict(bulk.cancel(db.session, job)))


# ---------------------------------------------------------------- OpenAPI

TAGS = ["jobs"]
JOB_404 = "404: no such job, or one you did not start (administrators see every job)."
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
OUTCOME_PARAM = query("outcome", {"type": "string", "enum": list(bulk.OUTCOMES)}, "Only the results of this outcome.")

add_operation("/lead-conversions/bulk", "post", lambda s: {
    "tags": ["lead-conversions"], "summary": "Convert many leads in the background (C8.3-C8.5)",
    "operationId": "convert_leads_in_bulk",
    "description": "202 with the job's id; the job converts each lead with the same rules as one conversion and "
                   "reports per lead (GET /jobs/{id}/results). 403: the role lacks Convert leads; 422: errors per "
                   "field, nothing written.",
    "requestBody": body(ref("BulkConversionRequest")),
    "responses": responses({202: ("The job was created (and queued)", ref("BulkConversionAccepted")),
                            200: ("dry_run: what the job would do; nothing written", ref("BulkConversionDryRun"))},
                           (400, 401, 403, 422)),
})
add_operation("/jobs/{id}", "get", lambda s: {
    "tags": TAGS, "summary": "A background job's progress", "operationId": "get_job", "description": JOB_404,
    "parameters": [path_id()], "responses": responses({200: ("The job", ref("Job"))}, (401, 404, 422)),
})
add_operation("/jobs/{id}/results", "get", lambda s: {
    "tags": TAGS, "summary": "A job's results, one per lead (JSON, or CSV with Accept: text/csv)",
    "operationId": "list_job_results", "description": JOB_404,
    "parameters": [path_id(), query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                   query("cursor", {"type": "string"}, "Opaque: the next_cursor of the previous page."),
                   OUTCOME_PARAM],
    "responses": {**responses({200: ("A page of results", ref("JobResultList"))}, (401, 404, 422)),
                  "200": {"description": "A page of results (JSON), or all of them (CSV)",
                          "content": {"application/json": {"schema": ref("JobResultList")}, **CSV_CONTENT}}},
})
add_operation("/jobs/{id}/results.csv", "get", lambda s: {
    "tags": TAGS, "summary": "A job's results as CSV", "operationId": "job_results_csv", "description": JOB_404,
    "parameters": [path_id(), OUTCOME_PARAM],
    "responses": {**responses({}, (401, 404, 422)),
                  "200": {"description": "lead_id, outcome, conversion_id, reason", "content": CSV_CONTENT}},
})
add_operation("/jobs/{id}/cancel", "post", lambda s: {
    "tags": TAGS, "summary": "Cancel a queued or running job", "operationId": "cancel_job",
    "description": JOB_404 + " 409: the job has already ended.",
    "parameters": [path_id()],
    "responses": responses({200: ("The job, cancelled", ref("Job"))}, (401, 404, 409, 422)),
})
