"""Domain errors of the conversion: each carries an HTTP status so routes translate generically."""

from __future__ import annotations


class ConversionError(Exception):
    """Base: a sentence for a person, errors per field ({"contact.last_name": ["is required"]}),
    a machine code (the API's "error") and the HTTP status a route should answer with."""

    http_status = 400
    code = "conversion_error"

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})
        if code:
            self.code = code

    def as_dict(self) -> dict:
        """The API error body: {"error", "message", "errors"}."""
        return {"error": self.code, "message": self.message, "errors": self.errors}


class ConversionDenied(ConversionError):
    """C7.1/C7.2: missing "Convert leads", a create permission, or the lead is not editable."""

    http_status = 403
    code = "forbidden"


class DuplicatesHidden(ConversionDenied):
    """C4.8: the only duplicates are records the actor may not see; the message names who can convert."""

    code = "duplicates_hidden"

    def __init__(self, message: str, errors=None, code=None, who: list | None = None):
        super().__init__(message, errors, code)
        self.who = list(who or [])  # the users who may convert it (User objects)


class AlreadyConverted(ConversionError):
    """C1.4: the lead was converted already (carries the existing conversion_id)."""

    http_status = 409
    code = "already_converted"

    def __init__(self, message: str = "This lead has already been converted.", errors=None, code=None,
                 conversion_id: int | None = None):
        super().__init__(message, errors, code)
        self.conversion_id = conversion_id

    def as_dict(self) -> dict:
        return {**super().as_dict(), "conversion_id": self.conversion_id}


class IdempotencyConflict(ConversionError):
    """The same Idempotency-Key was used with another request body (or is being processed)."""

    http_status = 409
    code = "idempotency_conflict"


class MissingRequired(ConversionError):
    """C7.4: required fields still empty, per field: {"contact.last_name": ["is required"]}."""

    http_status = 422
    code = "missing_required"


class InvalidOptions(ConversionError):
    """C7.5: malformed or invalid options, per field: {"deal.amount": ["must be a number"]}."""

    http_status = 422
    code = "invalid"

    def __init__(self, message: str = "Some options are not valid.", errors=None, code=None):
        super().__init__(message, errors, code)


class RecordNotFound(ConversionError):
    """The lead, or a record named in the options, does not exist or is not visible to the actor."""

    http_status = 404
    code = "not_found"
