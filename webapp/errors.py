"""One error hierarchy for every refusal, and the two handlers that render it (registered once).

A `DomainError` carries a machine code, its parameters and, for `Invalid`, the errors per
field. Services and the conversion core raise them (never Flask exceptions); the app turns
them into JSON under /api/ and into a page or an htmx fragment elsewhere. Nothing here
imports Flask at module level, so the conversion core may raise these.

Field errors are `Problem`s: a `str` (the English sentence, what tests and old callers
compare) that also carries its `code` and `params`, so a later catalogue or a bulk report
can render the reason in another language without parsing the sentence.
"""

from __future__ import annotations

# Field problems: code -> English sentence (placeholders are the params).
PROBLEMS: dict[str, str] = {
    "required": "is required",
    "not_null": "must not be null",
    "too_long": "is at most {max} characters",
    "nul": "must not contain NUL characters",
    "bad_unicode": "is not valid Unicode text",
    "not_text": "must be text",
    "not_bool": "must be true or false",
    "not_integer": "must be a whole number",
    "int_range": "must be a whole number between {min} and {max}",
    "not_number": "must be a number",
    "not_money": 'must be a decimal amount, e.g. "1250.00"',
    "money_negative": "must be zero or more",
    "money_max": "must be at most {max}",
    "money_decimals": "must have at most 2 decimals",
    "too_many_decimals": "must have at most {scale} decimals",
    "number_max": "must be between {min} and {max}",
    "not_date": "must be a date (YYYY-MM-DD)",
    "bad_email": "is not a valid e-mail address ({reason})",
    "bad_phone": "is not a valid phone number, e.g. +33 1 23 45 67 89",
    "phone_digits": "has the wrong number of digits for a phone number",
    "bad_url": "is not a valid web address",
    "not_choice": "must be one of: {choices}",
    "bad_currency": "must be an ISO 4217 code of 3 capital letters, e.g. EUR",
    "unknown_currency": "is not a currency of this CRM: {choices}",
    "not_list": "must be a list of strings",
    "too_many": "at most {max} items",
    "tag_too_long": "has a tag longer than {max} characters",
    "unknown_field": "is not a field of this record",
    "read_only": "is read-only",
    "create_only": "cannot be changed once the record exists",
    "no_record": "is not a known {kind} (id {id})",
    "no_user": "is not an active user (id {id})",
    "owner_not_allowed": "must be yourself: your role assigns records only to you",
    "owner_not_allowed_team": "must be you or someone in your team",
    "one_of": "is required when {others} is empty",
    "not_object": "must be an object",
    "status_converted": "a lead becomes converted only through a lead conversion",
    "unknown_option": "is not a known option",
    "bad_key": "has a key that is not valid text",
    "address_empty": "is empty: fill at least one line of the address",
    "quantity_positive": "must be more than 0",
    "choose_from_list": "must be chosen from the list",
    "already_in_campaign": "already has this lead",
    "no_file": "is missing: choose a file to upload",
    "file_empty": "is empty",
    "file_too_large": "is too large",
    "contact_other_account": "belongs to another account",
    "not_stage": "is not a stage of the “{pipeline}” pipeline ({choices})",
    "own_parent": "an account cannot be its own parent",
    "parent_cycle": "would make a cycle: this account is above the chosen parent",
    "invalid": "is not valid",
}


class Problem(str):
    """One reason a field was refused: the English sentence, with its code and params."""

    code: str
    params: dict

    def __new__(cls, code: str, text: str | None = None, **params):
        sentence = text if text is not None else PROBLEMS.get(code, code).format(**params)
        self = super().__new__(cls, sentence)
        self.code = code
        self.params = params
        return self


class DomainError(Exception):
    """Base of every refusal: `status` (HTTP), `code`, a sentence for a person, field errors."""

    status = 400
    code = "error"
    default_message = "The request could not be carried out."

    def __init__(self, message: str | None = None, errors: dict[str, list[str]] | None = None,
                 code: str | None = None, **params):
        self.message = message or self.default_message
        super().__init__(self.message)
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        if code:
            self.code = code
        self.params = params

    # Older callers (and tests) read `http_status`: one attribute, two names.
    @property
    def http_status(self) -> int:
        return self.status

    @property
    def field(self) -> str | None:
        """The first field in error (where a form puts the sentence), or None."""
        return next(iter(self.errors), None)

    def extra(self) -> dict:
        """Fields the API body carries beyond error/message/errors: the keyword params
        (e.g. conversion_id)."""
        return dict(self.params)

    def as_dict(self) -> dict:
        """The API error body: {"error", "message", "errors", ...extra}."""
        return {"error": self.code, "message": self.message,
                "errors": {k: [str(m) for m in v] for k, v in self.errors.items()}, **self.extra()}


class Unauthorized(DomainError):
    """No credentials, or credentials that are not (or no longer) valid (API tokens)."""

    status = 401
    code = "unauthorized"
    default_message = "Authentication is required."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = "There is nothing here."


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = "You do not have permission to do this."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = "This conflicts with the current state of the record."


class Invalid(DomainError):
    """Bad input: `errors` maps each field to its Problems. Nothing was written."""

    status = 422
    code = "invalid"
    default_message = "Some fields need attention."

    @classmethod
    def on(cls, field: str, problem: str, message: str | None = None) -> Invalid:
        """One field's problem (a Problem or a sentence)."""
        return cls(message or str(problem), {field: [problem]})


class ReadOnlyRecord(Conflict):
    """C1.4: the record is a converted lead (or belongs to one): archived and read-only."""

    code = "read_only"
    default_message = "This lead was converted: it is read-only."


class BadRequest(DomainError):
    """A request that cannot be understood (a malformed cursor, a body that is not JSON)."""

    status = 400
    code = "bad_request"
    default_message = "The request could not be understood."


def register(app) -> None:
    """The app-level handlers: DomainError as JSON under /api/, as a page or fragment elsewhere."""
    from .routes.errors import render_domain_error

    app.register_error_handler(DomainError, render_domain_error)
