"""The OpenAPI 3.1 document, built at request time from what each API module registered.

Modules call add_schema() and add_operation() at import time with *builders*: functions
called when the document is served, inside the app context, so schemas can list database
enums (lead statuses, stages, custom fields) and stay in step with the validators.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import jsonify

from ...extensions import db
from ..errors import MESSAGES
from . import bp
from .core import public

_SCHEMAS: dict[str, Callable[[object], dict]] = {}
_OPERATIONS: dict[tuple[str, str], Callable[[object], dict]] = {}
ERROR_STATUSES = (400, 401, 403, 404, 405, 409, 422)


def add_schema(name: str, builder: Callable[[object], dict] | dict) -> None:
    """Register components/schemas/<name>: a dict, or builder(session) -> dict."""
    _SCHEMAS[name] = builder if callable(builder) else (lambda session, b=builder: b)


def add_operation(path: str, method: str, builder: Callable[[object], dict] | dict) -> None:
    """Register an operation (path like "/leads/{id}", relative to /api/v1): builder(session) -> dict."""
    _OPERATIONS[(path, method.lower())] = builder if callable(builder) else (lambda session, b=builder: b)


def operations() -> list[tuple[str, str]]:
    """(method, full path) of every documented operation (no app context needed)."""
    return [(method, f"/api/v1{path}") for path, method in sorted(_OPERATIONS)]


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def body(schema: dict) -> dict:
    """A required JSON request body."""
    return {"required": True, **json_content(schema)}


def responses(ok: dict[int, tuple[str, dict | None]], errors=(401,)) -> dict:
    """Success responses {status: (description, schema or None)} plus error responses."""
    out = {}
    for status, (description, schema) in ok.items():
        out[str(status)] = {"description": description, **(json_content(schema) if schema else {})}
    for status in errors:
        out[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return out


def query(name: str, schema: dict, description: str | None = None) -> dict:
    param = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def path_id(name: str = "id") -> dict:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message", "errors"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "conversion_id": {"type": ["integer", "null"]},
    },
}


def document() -> dict:
    """The whole OpenAPI document (needs an app context)."""
    session = db.session
    paths: dict[str, dict] = {}
    for (path, method), builder in sorted(_OPERATIONS.items()):
        paths.setdefault(f"/api/v1{path}", {})[method] = builder(session)
    schemas = {"Error": ERROR_SCHEMA}
    schemas.update({name: builder(session) for name, builder in sorted(_SCHEMAS.items())})
    return {
        "openapi": "3.1.0",
        "info": {"title": "Leadway CRM API", "version": "1.0.0",
                 "description": "Records and lead conversions. Errors are "
                                '{"error", "message", "errors": {field: [reasons]}}.'},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                f"E{status}": {"description": MESSAGES[status], **json_content(ref("Error"))}
                for status in ERROR_STATUSES
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


add_operation("/openapi.json", "get", {
    "summary": "This document", "operationId": "openapi", "security": [],
    "responses": {"200": {"description": "The OpenAPI document", **json_content({"type": "object"})}},
})


@bp.get("/openapi.json")
@public
def openapi():
    """The OpenAPI document of the API (public: it holds no data)."""
    return jsonify(document())
