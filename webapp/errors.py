"""One error hierarchy for every refusal, and the two handlers that render it (registered once).

A `DomainError` carries a machine code, its parameters and, for `Invalid`, the errors per
field. Services and the conversion core raise them (never Flask exceptions); the app turns
them into JSON under /api/ and into a page or an htmx fragment elsewhere. Nothing here
imports Flask at module level, so the conversion core may raise these.

Every sentence is a `Text`: a `str` (the English sentence, what tests and logs compare) that
also keeps its template and params, so the renderer translates it in the reader's language
(`i18n.translate`) without parsing the sentence. Field errors are `Problem`s: a `Text` with a
machine `code` (stable in the API, the reason of a bulk report).
"""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a sentence for the catalogue (pybabel extracts N_) without translating it here."""
    return text


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Marks a singular and its plural for the catalogue (pybabel extracts N_plural:1,2), to
    be given to ngettext with the count when shown."""
    return singular, plural


class Text(str):
    """A sentence for a person: the English text, plus its template and params for translation.

    The template uses str.format placeholders: Text("Lead {id} was converted", id=3). Params
    that are Texts themselves are translated too.
    """

    template: str
    params: dict

    def __new__(cls, template: str, **params):
        self = super().__new__(cls, template.format(**params) if params else template)
        self.template = template
        self.params = params
        return self

    def to_json(self) -> dict:
        """What a stored sentence keeps (a timeline event's data): template and params."""
        return {"t": self.template,
                "p": {k: v.to_json() if isinstance(v, Text) else v if isinstance(v, (int, float, str)) or v is None
                      else str(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: dict) -> Text:
        return cls(data["t"], **{k: cls.from_json(v) if isinstance(v, dict) else v for k, v in data["p"].items()})

    def translate(self, gettext, write=None) -> str:
        """This sentence through `gettext` (a catalogue lookup of the template); `write`, when
        given, puts each other param in the reader's words (a date in their format)."""
        params = {k: v.translate(gettext, write) if isinstance(v, Text) else write(v) if write else v
                  for k, v in self.params.items()}
        text = gettext(self.template)
        return text.format(**params) if params else text


# Field problems: code -> English sentence (placeholders are the params).
PROBLEMS: dict[str, str] = {
    "required": N_("is required"),
    "not_null": N_("must not be null"),
    "too_long": N_("is at most {max} characters"),
    "nul": N_("must not contain NUL characters"),
    "bad_unicode": N_("is not valid Unicode text"),
    "not_text": N_("must be text"),
    "not_bool": N_("must be true or false"),
    "not_integer": N_("must be a whole number"),
    "int_range": N_("must be a whole number between {min} and {max}"),
    "not_number": N_("must be a number"),
    "not_money": N_('must be a decimal amount, e.g. "1250.00"'),
    "money_negative": N_("must be zero or more"),
    "money_max": N_("must be at most {max}"),
    "money_decimals": N_("must have at most 2 decimals"),
    "too_many_decimals": N_("must have at most {scale} decimals"),
    "number_max": N_("must be between {min} and {max}"),
    "not_date": N_("must be a date (YYYY-MM-DD)"),
    "bad_email": N_("is not a valid e-mail address ({reason})"),
    "bad_phone": N_("is not a valid phone number, e.g. +33 1 23 45 67 89"),
    "phone_digits": N_("has the wrong number of digits for a phone number"),
    "bad_url": N_("is not a valid web address"),
    "not_choice": N_("must be one of: {choices}"),
    "bad_currency": N_("must be an ISO 4217 code of 3 capital letters, e.g. EUR"),
    "unknown_currency": N_("is not a currency of this CRM: {choices}"),
    "not_list": N_("must be a list of strings"),
    "too_many": N_("at most {max} items"),
    "tag_too_long": N_("has a tag longer than {max} characters"),
    "unknown_field": N_("is not a field of this record"),
    "read_only": N_("is read-only"),
    "create_only": N_("cannot be changed once the record exists"),
    "no_record": N_("is not a known {kind} (id {id})"),
    "no_user": N_("is not an active user (id {id})"),
    "owner_not_allowed": N_("must be yourself: your role assigns records only to you"),
    "owner_not_allowed_team": N_("must be you or someone in your team"),
    "one_of": N_("is required when {others} is empty"),
    "not_object": N_("must be an object"),
    "status_converted": N_("a lead becomes converted only through a lead conversion"),
    "unknown_option": N_("is not a known option"),
    "bad_key": N_("has a key that is not valid text"),
    "address_empty": N_("is empty: fill at least one line of the address"),
    "quantity_positive": N_("must be more than 0"),
    "choose_from_list": N_("must be chosen from the list"),
    "already_in_campaign": N_("already has this lead"),
    "no_file": N_("is missing: choose a file to upload"),
    "file_empty": N_("is empty"),
    "file_too_large": N_("is too large"),
    "contact_other_account": N_("belongs to another account"),
    "not_stage": N_("is not a stage of the “{pipeline}” pipeline ({choices})"),
    "own_parent": N_("an account cannot be its own parent"),
    "parent_cycle": N_("would make a cycle: this account is above the chosen parent"),
    "invalid": N_("is not valid"),
}


class Problem(Text):
    """One reason a field was refused: a Text (PROBLEMS[code] unless `text` is given: the
    template, formatted with the params) with its machine code."""

    code: str

    def __new__(cls, code: str, text: str | None = None, **params):
        self = super().__new__(cls, text if text is not None else PROBLEMS.get(code, code), **params)
        self.code = code
        return self


class DomainError(Exception):
    """Base of every refusal: `status` (HTTP), `code`, a sentence for a person, field errors."""

    status = 400
    code = "error"
    default_message = N_("The request could not be carried out.")

    def __init__(self, message: str | None = None, errors: dict[str, list[str]] | None = None,
                 code: str | None = None, **params):
        self.message = message or Text(self.default_message)
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

    def as_dict(self, translate=str) -> dict:
        """The API error body: {"error", "message", "errors", ...extra}; `translate` turns each
        sentence into the reader's language (i18n.translate; the keys and codes stay)."""
        return {"error": self.code, "message": translate(self.message),
                "errors": {k: [translate(m) for m in v] for k, v in self.errors.items()}, **self.extra()}


class Unauthorized(DomainError):
    """No credentials, or credentials that are not (or no longer) valid (API tokens)."""

    status = 401
    code = "unauthorized"
    default_message = N_("Authentication is required.")


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = N_("There is nothing here.")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = N_("You do not have permission to do this.")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = N_("This conflicts with the current state of the record.")


class Invalid(DomainError):
    """Bad input: `errors` maps each field to its Problems. Nothing was written."""

    status = 422
    code = "invalid"
    default_message = N_("Some fields need attention.")

    @classmethod
    def on(cls, field: str, problem: str, message: str | None = None) -> Invalid:
        """One field's problem (a Problem or a sentence)."""
        return cls(message or problem, {field: [problem]})


class ReadOnlyRecord(Conflict):
    """C1.4: the record is a converted lead (or belongs to one): archived and read-only."""

    code = "read_only"
    default_message = N_("This lead was converted: it is read-only.")


class BadRequest(DomainError):
    """A request that cannot be understood (a malformed cursor, a body that is not JSON)."""

    status = 400
    code = "bad_request"
    default_message = N_("The request could not be understood.")


def register(app) -> None:
    """The app-level handlers: DomainError as JSON under /api/, as a page or fragment elsewhere."""
    from .routes.errors import render_domain_error

    app.register_error_handler(DomainError, render_domain_error)
