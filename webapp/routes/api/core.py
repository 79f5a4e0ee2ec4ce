"""Helpers every API module shares: errors, bearer auth, JSON bodies, ids, cursor pagination."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal

from flask import g, request
from sqlalchemy import update
from sqlalchemy.orm import joinedload

from ...entities import noun
from ...errors import BadRequest, Invalid, NotFound, Problem, Text, Unauthorized
from ...extensions import db
from ...fields import INT_MAX
from ...models import ApiToken, User, utcnow
from . import bp

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# last_used_at is written at most this often per token: reads stay read-only.
LAST_USED_EVERY = timedelta(minutes=1)
_PUBLIC: set[str] = set()


def public(view):
    """Mark a view as answering without a token (the OpenAPI document)."""
    _PUBLIC.add(view.__name__)
    return view


def current_user() -> User:
    """The user the bearer token acts for (set by the blueprint's before_request)."""
    return g.api_user


@bp.before_request
def _authenticate():
    """Bearer tokens only: a cookie session never reaches the API (no CSRF risk)."""
    endpoint = (request.endpoint or "").rpartition(".")[2]
    if endpoint in _PUBLIC:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(Text("Send an API token: Authorization: Bearer <token>."))
    # The user (and its role, joined by User.role) in the same statement: one round trip.
    row = db.session.scalar(db.select(ApiToken).options(joinedload(ApiToken.user))
                            .where(ApiToken.token_hash == ApiToken.hash(token)))
    if row is None or not row.user.active:
        raise Unauthorized(Text("This API token is not valid (revoked, mistyped, or its user is inactive)."))
    g.api_user = row.user
    now = utcnow()
    last = row.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    if last is None or now - last > LAST_USED_EVERY:
        db.session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        db.session.commit()
    return None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_body() -> dict:
    """The request's JSON object; numbers with a fraction become Decimal (exact money).

    Raises BadRequest when the body is not JSON or not an object.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest(Text("Send a JSON object as the request body."))
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise BadRequest(Text("The body is not valid JSON: {error}.", error=str(e))) from None
    if not isinstance(data, dict):
        raise BadRequest(Text("The body must be a JSON object."))
    return data


def get_or_404(model, ident: int, label: str | None = None):
    """The row by id, or NotFound (ids beyond the integer range included)."""
    obj = db.session.get(model, ident) if 0 < ident <= INT_MAX else None
    if obj is None:
        raise NotFound(Text("There is no {kind} with id {id}.", kind=noun(label or model.__name__.lower()), id=ident))
    return obj


def reject_unknown_args(allowed=()) -> None:
    """Raises Invalid naming query parameters this operation does not know."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise Invalid(Text("Some query parameters are not known here."),
                      {name: [Text("is not a parameter of this operation")] for name in unknown})


def query_int(name: str, errors: dict, minimum: int = 1, maximum: int = INT_MAX) -> int | None:
    """An integer query parameter; a reason goes into `errors` when it is not one."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not minimum <= int(raw) <= maximum:
        errors[name] = [Text("must be an integer between {min} and {max}", min=minimum, max=maximum)]
        return None
    return int(raw)


def query_bool(name: str, errors: dict, default: bool = False) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        errors[name] = [Problem("not_bool")]
        return default
    return raw == "true"


def query_str(name: str, errors: dict, max_length: int) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if len(raw) > max_length or "\x00" in raw:
        errors[name] = [Text("must be at most {max} characters, without NUL", max=max_length)]
        return None
    return raw.strip() or None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> int:
    """The id a cursor continues after; raises ValueError when it was not made by encode_cursor."""
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        after = data["after"]
    except Exception:  # any garbage: not base64, not JSON, not an object, no key
        raise ValueError(Text("is not a cursor this API returned")) from None
    if isinstance(after, bool) or not isinstance(after, int) or not 0 < after <= INT_MAX + 1:
        raise ValueError(Text("is not a cursor this API returned"))
    return after


def query_limit(errors: dict) -> int:
    """?limit= (default 50, at most 500); a reason goes into `errors` when it is bad."""
    return query_int("limit", errors, 1, MAX_LIMIT) or DEFAULT_LIMIT


def page_params(errors: dict) -> tuple[int, int | None]:
    """(limit, id to continue before) from ?limit= and ?cursor=; reasons go into `errors`."""
    limit = query_limit(errors)
    after = None
    raw = request.args.get("cursor")
    if raw:
        try:
            after = decode_cursor(raw)
        except ValueError as e:
            errors["cursor"] = [e.args[0]]  # the Text (str(e) would drop its template)
    return limit, after


def paginate(stmt, id_column, errors: dict):
    """(rows, next_cursor): keyset pagination on id, newest first; never OFFSET.

    Raises Invalid with `errors` (the caller's query-parameter reasons included).
    """
    limit, before = page_params(errors)
    if errors:
        raise Invalid(Text("Some query parameters need attention."), errors)
    if before is not None:
        stmt = stmt.where(id_column < before)
    rows = list(db.session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
