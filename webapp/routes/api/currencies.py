"""The company currency and the exchange rates (issue 10 item 8, C5.3), in the style of api.md
"Settings" (the contract names no currency endpoint; these names conflict with none of it):

- `GET|PUT /settings/currency`: `{"currency": "EUR"}`; a PUT may send `"delete_rates": true`
  to confirm that the rates (quoted in the old currency) are deleted: without it, a change while
  rates exist is a 409 `rates_exist` with their count in `rates`.
- `/currency-rates`: `{"id", "currency", "rate", "valid_from"}` — one unit of `currency` is
  worth `rate` units of the company currency from `valid_from` until the next rate of that
  currency. `GET` list (newest first by id, `?currency=`), `POST`, `GET|PATCH|DELETE /{id}`.

Reads for every user (amounts are shown converted to everyone), writes for administrators
(403 otherwise). services.currencies checks every value (422 per field, nothing written) and
records each change in the settings audit; one request, one commit.
"""

from __future__ import annotations

from decimal import Decimal

from flask import jsonify, request, url_for

from ...errors import Problem
from ...extensions import db
from ...fields import FieldError, model_specs
from ...models.catalog import ExchangeRate
from ...services import currencies as svc
from . import bp
from .core import current_user, json_body, paginate, reject_unknown_args
from .openapi import add_operation, add_schema, body, path_id, query, ref, responses

RATE_SCALE = 8  # Numeric(18, 8)


def rate_json(rate: ExchangeRate) -> dict:
    return {"id": rate.id, "currency": rate.currency,
            "rate": format(Decimal(rate.rate).quantize(Decimal(1).scaleb(-RATE_SCALE)), "f"),
            "valid_from": rate.valid_from.isoformat()}


def _one(rate: ExchangeRate, status: int = 200):
    response = jsonify(rate_json(rate))
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.currency_rates_show", id=rate.id)
    return response


def _currency_arg(errors: dict) -> str | None:
    raw = request.args.get("currency")
    if raw is None:
        return None
    try:
        value = model_specs(ExchangeRate)["currency"].parse(raw)
    except FieldError as e:
        errors["currency"] = [e.problem]
        return None
    if value is None or value not in svc.accepted_codes(db.session):
        errors["currency"] = [Problem("bad_currency")]
        return None
    return value


# ---------------------------------------------------------------- views


@bp.get("/settings/currency")
def settings_currency_show():
    """The company currency."""
    current_user()
    reject_unknown_args()
    return jsonify(currency=svc.company_currency(db.session))


@bp.put("/settings/currency")
def settings_currency_replace():
    """Change the company currency (administrators)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    code = svc.set_company_currency(db.session, user, json_body())
    db.session.commit()
    return jsonify(currency=code)


@bp.get("/currency-rates")
def currency_rates_index():
    """The rates, newest first (by id); ?currency= one currency's."""
    current_user()
    reject_unknown_args(("currency", "limit", "cursor"))
    errors: dict = {}
    currency = _currency_arg(errors)
    rows, next_cursor = paginate(svc.rates_statement(currency), ExchangeRate.id, errors)
    return jsonify(items=[rate_json(r) for r in rows], next_cursor=next_cursor)


@bp.post("/currency-rates")
def currency_rates_create():
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    rate = svc.add_rate(db.session, user, json_body())
    db.session.commit()
    return _one(rate, 201)


@bp.get("/currency-rates/<int:id>")
def currency_rates_show(id: int):
    current_user()
    reject_unknown_args()
    return _one(svc.find_rate(db.session, id))


@bp.patch("/currency-rates/<int:id>")
def currency_rates_update(id: int):
    """Change the fields sent."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    rate = svc.get_rate(db.session, user, id)
    svc.update_rate(db.session, user, rate, data)
    db.session.commit()
    return _one(db.session.get(ExchangeRate, id))


@bp.delete("/currency-rates/<int:id>")
def currency_rates_delete(id: int):
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    svc.delete_rate(db.session, user, svc.get_rate(db.session, user, id))
    db.session.commit()
    return "", 204


# ---------------------------------------------------------------- JSON Schemas


def _codes(session) -> list[str]:
    return sorted(svc.accepted_codes(session))


def _rate_in(session, required: tuple[str, ...]) -> dict:
    rate = model_specs(ExchangeRate)["rate"].json_schema()
    rate.pop("minimum", None)
    rate["exclusiveMinimum"] = 0
    schema = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "currency": {"type": "string", "enum": _codes(session),
                         "description": "ISO 4217 (in use); not the company currency, whose rate is always 1."},
            "rate": {**rate, "description": "Units of the company currency one unit of `currency` is worth "
                                            f"(more than 0, at most {RATE_SCALE} decimals)."},
            "valid_from": {"type": "string", "format": "date",
                           "description": "The first day it applies; one rate per currency and day."},
        },
    }
    if required:
        schema["required"] = list(required)
    return schema


RATE_OUT = {
    "type": "object", "additionalProperties": False, "required": ["id", "currency", "rate", "valid_from"],
    "properties": {"id": {"type": "integer"}, "currency": {"type": "string"},
                   "rate": {"type": "string", "pattern": r"^[0-9]+\.[0-9]{8}$"},
                   "valid_from": {"type": "string", "format": "date"}},
}
COMPANY_OUT = {"type": "object", "additionalProperties": False, "required": ["currency"],
               "properties": {"currency": {"type": "string"}}}

add_schema("CurrencyRate", RATE_OUT)
add_schema("CurrencyRateCreate", lambda s: _rate_in(s, svc.RATE_FIELDS))
add_schema("CurrencyRateUpdate", lambda s: _rate_in(s, ()))
add_schema("CurrencyRateList", {
    "type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
    "properties": {"items": {"type": "array", "items": ref("CurrencyRate")},
                   "next_cursor": {"type": ["string", "null"]}}})
add_schema("CompanyCurrency", COMPANY_OUT)
add_schema("CompanyCurrencyChange", lambda s: {
    "type": "object", "additionalProperties": False, "required": ["currency"],
    "properties": {"currency": {"type": "string", "enum": _codes(s)},
                   "delete_rates": {"type": "boolean", "default": False,
                                    "description": "Confirms that every exchange rate (quoted in the old "
                                                   "currency) is deleted with the change."}}})

# ---------------------------------------------------------------- OpenAPI

TAGS = ["currencies"]
READ = "Every user may read."
ADMIN = "Administrators only: 403 for any other role."
WRITE = " 422: errors per field; nothing is written."

add_operation("/settings/currency", "get", {
    "tags": TAGS, "summary": "The company currency", "operationId": "get_company_currency",
    "description": READ + " Exchange rates convert other currencies into it (C5.3).",
    "responses": responses({200: ("The company currency", ref("CompanyCurrency"))}, (401, 422)),
})
add_operation("/settings/currency", "put", {
    "tags": TAGS, "summary": "Change the company currency", "operationId": "set_company_currency",
    "description": ADMIN + " The rates are quoted in the old currency: while any exists the change is a 409 "
                           "(`rates_exist`, their count in `rates`) unless `delete_rates` is true, which "
                           "deletes them all with the change." + WRITE,
    "requestBody": body(ref("CompanyCurrencyChange")),
    "responses": responses({200: ("The company currency", ref("CompanyCurrency"))}, (400, 401, 403, 409, 422)),
})
add_operation("/currency-rates", "get", lambda s: {
    "tags": TAGS, "summary": "List exchange rates", "operationId": "list_currency_rates",
    "description": READ + " Newest first (by id).",
    "parameters": [query("currency", {"type": "string", "enum": _codes(s)}),
                   query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                   query("cursor", {"type": "string"}, "Opaque: the next_cursor of the previous page.")],
    "responses": responses({200: ("A page of rates", ref("CurrencyRateList"))}, (401, 422)),
})
add_operation("/currency-rates", "post", {
    "tags": TAGS, "summary": "Add an exchange rate", "operationId": "create_currency_rate",
    "description": ADMIN + WRITE, "requestBody": body(ref("CurrencyRateCreate")),
    "responses": responses({201: ("The new rate", ref("CurrencyRate"))}, (400, 401, 403, 422)),
})
add_operation("/currency-rates/{id}", "get", {
    "tags": TAGS, "summary": "Get an exchange rate", "operationId": "get_currency_rate",
    "description": READ, "parameters": [path_id()],
    "responses": responses({200: ("The rate", ref("CurrencyRate"))}, (401, 404, 422)),
})
add_operation("/currency-rates/{id}", "patch", {
    "tags": TAGS, "summary": "Change an exchange rate (only the fields sent)", "operationId": "update_currency_rate",
    "description": ADMIN + WRITE, "parameters": [path_id()], "requestBody": body(ref("CurrencyRateUpdate")),
    "responses": responses({200: ("The rate", ref("CurrencyRate"))}, (400, 401, 403, 404, 422)),
})
add_operation("/currency-rates/{id}", "delete", {
    "tags": TAGS, "summary": "Delete an exchange rate", "operationId": "delete_currency_rate",
    "description": ADMIN + " The previous rate of its currency applies again from its day.",
    "parameters": [path_id()],
    "responses": responses({204: ("Deleted", None)}, (401, 403, 404, 422)),
})
