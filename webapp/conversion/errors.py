"""The conversion's refusals: subclasses of webapp.errors (one hierarchy, rendered by the app)."""

from __future__ import annotations

from ..errors import N_, Conflict, DomainError, Forbidden, Invalid, NotFound

# The base every conversion refusal shares (a DomainError: status, code, message, errors).
ConversionError = DomainError


class ConversionDenied(Forbidden):
    """C7.1/C7.2: missing "Convert leads", a create permission, or the lead is not editable."""


class DuplicatesHidden(ConversionDenied):
    """C4.8: the only duplicates are records the actor may not see; the message names who can convert."""

    code = "duplicates_hidden"

    def __init__(self, message: str, errors=None, code=None, who: list | None = None):
        super().__init__(message, errors, code)
        self.who = list(who or [])  # the users who may convert it (User objects)


class AlreadyConverted(Conflict):
    """C1.4: the lead was converted already (carries the existing conversion_id)."""

    code = "already_converted"
    default_message = N_("This lead has already been converted.")

    def __init__(self, message: str | None = None, errors=None, code=None,
                 conversion_id: int | None = None):
        super().__init__(message, errors, code)
        self.conversion_id = conversion_id

    def extra(self) -> dict:
        return {"conversion_id": self.conversion_id}


class IdempotencyConflict(Conflict):
    """The same Idempotency-Key was used with another request body (or is being processed)."""

    code = "idempotency_conflict"


class MissingRequired(Invalid):
    """C7.4: required fields still empty, per field: {"contact.last_name": ["is required"]}."""

    code = "missing_required"


class InvalidOptions(Invalid):
    """C7.5: malformed or invalid options, per field: {"deal.amount": ["must be a number"]}."""

    default_message = N_("Some options are not valid.")


class RecordNotFound(NotFound):
    """The lead, or a record named in the options, does not exist or is not visible to the actor."""
