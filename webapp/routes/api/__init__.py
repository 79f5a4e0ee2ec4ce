"""The JSON API v1 (api.md): bearer-token auth, JSON errors, records, OpenAPI document.

Modules:
  core.py     bearer auth (before_request; `current_user()`; `@public` to skip it), `json_body()`
              (400 on malformed JSON / not an object; fractions parsed as Decimal),
              `get_or_404`, query-parameter readers, `paginate()` (keyset on id).
  openapi.py  the document served at /api/v1/openapi.json, assembled from registrations.
  records.py  /leads /accounts /contacts /deals /tasks /notes: the services validate (webapp.entities),
              webapp.schemas documents.
  automation_rules.py  /automation-rules (administrators): services.automation validates (C8.6).
  jobs.py     /lead-conversions/bulk (a bulk_convert job, services.bulk) and /jobs/{id} (progress,
              results as JSON or CSV, cancel): a job is its creator's and the administrators'.

Adding an endpoint (e.g. conversions.py):
  1. Write the view on `bp` (from . import bp); read the caller with core.current_user(),
     the body with core.json_body(); refusals are webapp.errors.DomainError subclasses
     (Forbidden, NotFound, Conflict(msg, conversion_id=7), Invalid(errors=...)), raised by the
     services or the view and answered as JSON by the app's handler. Commit once in the view.
  2. Document it in the same module, at import time:
        from .openapi import add_operation, add_schema, body, path_id, query, ref, responses
        add_schema("LeadConversion", lambda session: {...JSON Schema...})
        add_operation("/lead-conversions", "post", lambda session: {
            "summary": "Convert a lead", "requestBody": body(ref("LeadConversionRequest")),
            "responses": responses({201: ("Converted", ref("LeadConversion"))},
                                   (400, 401, 403, 404, 409, 422))})
     Builders run when the document is served (app context), so they may read the database.
     Error responses are shared components (#/components/responses/E<status>).
  3. Import the module at the bottom of this file. tests/api/test_fuzz.py then fuzzes it
     with schemathesis automatically: every status the view can answer must be documented.
"""

from flask import Blueprint

from ...extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Only bearer requests are authenticated here (a cookie session never is), so there is
# nothing for a cross-site form to ride on.
csrf.exempt(bp)

from . import (  # noqa: E402,F401  (views and handlers register on bp)
    automation_rules,
    conversions,
    core,
    currencies,
    custom_fields,
    jobs,
    openapi,
    pipelines,
    records,
    statuses,
)
