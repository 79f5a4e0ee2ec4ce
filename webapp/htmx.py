"""htmx helpers: detect a fragment request (HX-Request only, never by element id) and respond."""

from __future__ import annotations

import json

from flask import Response, make_response, request


def is_htmx() -> bool:
    # A history restore (back button after hx-push-url, cache miss) needs the whole page.
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def vary(response: Response) -> Response:
    """Output differs for htmx: tell caches (django-htmx's advice)."""
    response.vary.add("HX-Request")
    return response


def render(full: str, fragment: str, status: int = 200, **context) -> Response:
    """The fragment for an htmx request, the full page otherwise; one markup source."""
    from flask import render_template

    template = fragment if is_htmx() else full
    return vary(make_response(render_template(template, **context), status))


def trigger(response: Response, events: dict) -> Response:
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site (a ?next= or a form's next), else the home page:
    never another site (an open redirect)."""
    from urllib.parse import urlsplit

    from flask import url_for

    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not urlsplit(target).netloc):
        return target
    return url_for("dashboard.index")


def redirect(url: str) -> Response:
    """A redirect that works for htmx (HX-Redirect) and plain requests (303)."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    from flask import redirect as flask_redirect

    return flask_redirect(url, 303)
