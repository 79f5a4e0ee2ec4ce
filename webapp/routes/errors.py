"""Error pages for people and JSON errors for the API: never a bare 500 for bad input."""

from __future__ import annotations

from flask import has_request_context, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..i18n import _l

MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Authentication is required."),
    403: _l("You do not have permission to do this."),
    404: _l("There is nothing here."),
    405: _l("This method is not allowed here."),
    409: _l("This conflicts with the current state of the record."),
    413: _l("The file is too large."),
    422: _l("Some fields need attention."),
}
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid"}


def wants_json() -> bool:
    """The API, or a script that asked for JSON only (the board's card moves)."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best
    return best == "application/json"


def error_response(status: int, message: str | None = None):
    # A str in the reader's language (MESSAGES holds lazy strings; jsonify needs a str).
    message = str(message or MESSAGES.get(status) or _("Something went wrong."))
    if wants_json():
        return jsonify(error=CODES.get(status, "error"), message=message, errors={}), status
    from ..htmx import is_htmx

    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, status=status, message=message), status


_VIEWS = "crm.error_views"


def on_error(error_class, view) -> None:
    """For the rest of this request, show a refusal of `error_class` with `view(error)` — e.g.
    the form again with each reason next to its field (422). The handler below calls it, so a
    route says how its refusals look without catching them."""
    # Kept on the request, not on g: an app context (and its g) may outlive one request (a test's,
    # a CLI's), and a view left from an earlier request must never answer for this one.
    request.environ.setdefault(_VIEWS, []).append((error_class, view))


def render_domain_error(e):
    """A DomainError from any service or the conversion core: nothing is kept, the reason is shown."""
    from ..extensions import db
    from ..i18n import translate

    db.session.rollback()
    if wants_json():
        response = jsonify(e.as_dict(translate))
        response.status_code = e.status
        if e.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    for error_class, view in reversed(request.environ.get(_VIEWS, []) if has_request_context() else []):
        if isinstance(e, error_class):
            return view(e)
    from ..htmx import is_htmx

    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    errors = {k: [translate(m) for m in v] for k, v in e.errors.items()}
    return render_template(template, status=e.status, message=translate(e.message), errors=errors), e.status


def register(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return error_response(400, _("The form expired or its security token is missing; reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        description = e.description if e.description and e.description != type(e).description else None
        body, status = error_response(e.code or 500, description)
        response = app.make_response((body, status))
        # Keep the exception's own headers (Allow on a 405, as RFC 9110 asks).
        if e.response is None:
            for name, value in e.get_headers():
                if name.lower() != "content-type":
                    response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        app.logger.exception("unhandled error")
        from ..extensions import db

        db.session.rollback()
        return error_response(500, _("Something went wrong on our side; nothing was saved."))
