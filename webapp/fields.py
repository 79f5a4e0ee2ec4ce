"""What a value must be: one FieldSpec per column and per custom field, and its one parser.

Every limit lives here once: text lengths come from the model columns, money precision and
maximum from the Numeric column, the integer maximum from PostgreSQL's `integer`, custom
values from their storage column. `FieldSpec.parse(raw)` answers the typed, normalised value
(None for empty) or raises `FieldError` carrying an `errors.Problem` (a code and its
parameters). The API (schemas.py, the OpenAPI document), the forms, the services, the
conversion options and planner, and CSV import all ask this module, so a bad value gets
the same sentence everywhere. Flask-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Boolean, Date, Integer, Numeric, String, Text

from . import normalize
from .errors import N_, Problem
from .errors import Text as Sentence

INT_MAX = 2**31 - 1  # PostgreSQL `integer`: a larger value must never reach the database
TEXT_MAX = 10_000  # Text columns (description, notes...)
TAG_MAX = 60
TAGS_MAX = 50
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# A web address as people type it: a host with a dot, optionally a scheme and a path.
_URL_RE = re.compile(r"^(https?://)?[^\s/:?#]+\.[^\s/:?#]+(:\d{1,5})?([/?#]\S*)?$", re.IGNORECASE)
_EMPTY_IS_NULL = ("text", "textarea", "phone", "url")
# email_validator's usual reasons, in its English, marked for the catalogue so that a reader
# sees them in their language; a rarer reason is shown as the library words it.
EMAIL_REASONS = (
    N_("An email address must have an @-sign"),
    N_("There must be something before the @-sign"),
    N_("There must be something after the @-sign"),
    N_("The part after the @-sign is not valid. It should have a period"),
    N_("The part after the @-sign is not valid. It is not within a valid top-level domain"),
    N_("An email address cannot have two periods in a row"),
    N_("An email address cannot start with a period"),
    N_("An email address cannot have a period immediately before the @-sign"),
)
EMAIL_REASONS_WITH_CHARS = (
    N_("The email address contains invalid characters before the @-sign: {chars}"),
    N_("The part after the @-sign contains invalid characters: {chars}"),
)
_NUMBER_RE = re.compile(r"^[+-]?\d+(\.\d+)?$")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

# Kinds: text, textarea, email, phone, url, picklist (one of options), number (whole),
# decimal (bounded by minimum/maximum, `scale` decimals), date, checkbox, lookup:<table>
# (an id), currency (ISO 4217, one of options when given), tags (a list of names).
TEXT_KINDS = ("text", "textarea", "email", "phone", "url", "picklist")
_KIND_BY_NAME = {"email": "email", "phone": "phone", "mobile": "phone", "fax": "phone",
                 "website": "url", "currency": "currency"}


class FieldError(ValueError):
    """A refused value: `problem` is the errors.Problem (str(self) is its sentence)."""

    def __init__(self, code: str, **params):
        self.problem = Problem(code, **params)
        super().__init__(str(self.problem))


def _email_reason(message: str) -> str:
    """email_validator's reason, as a Sentence when the catalogue knows it."""
    message = message.rstrip(".")
    if message in EMAIL_REASONS:
        return Sentence(message)
    for template in EMAIL_REASONS_WITH_CHARS:
        head = template.partition("{chars}")[0]
        if message.startswith(head):
            return Sentence(template, chars=message[len(head):])
    return message


def _numeric_max(precision: int, scale: int) -> Decimal:
    """The largest value a Numeric(precision, scale) column holds (99999999999999.99 for 16, 2)."""
    return Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)


MONEY_MAX = _numeric_max(16, 2)  # the Money type of models/base.py
CUSTOM_NUMBER_MAX = _numeric_max(20, 6)  # custom_field_values.value_number


@dataclass(frozen=True)
class FieldSpec:
    """What one field holds. `name` is the column ("phone") or "custom.<key>"."""

    name: str
    label: str
    kind: str
    length: int | None = None
    options: tuple = ()
    required: bool = False
    unique: bool = False
    carry_over: bool = False
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    scale: int = 0

    @property
    def custom(self) -> bool:
        return self.name.startswith("custom.")

    def with_options(self, options) -> FieldSpec:
        """The same spec with choices known only at run time (lead statuses, currencies)."""
        return replace(self, options=tuple(options))

    def parse(self, raw, *, strict: bool = False):
        """The typed value of `raw` (None when empty); raises FieldError.

        `strict` is for JSON: numbers and booleans must come as JSON numbers and booleans
        (a form sends every value as text). The sentence is the same either way."""
        if raw is None:
            return None
        if isinstance(raw, str):
            if "\x00" in raw:
                raise FieldError("nul")
            try:
                raw.encode("utf-8")
            except UnicodeEncodeError:
                raise FieldError("bad_unicode") from None
        kind = self.kind
        if kind == "checkbox":
            return _boolean(raw, strict)
        if kind == "tags":
            if strict and not isinstance(raw, list):
                raise FieldError("not_list")
            return clean_tags(raw)
        if isinstance(raw, str) and not raw.strip() and (not strict or kind in _EMPTY_IS_NULL):
            # A form's blank input is no value. JSON says null for that: there "" is a value,
            # refused by the kind's parser unless the kind is free text (as the schema says).
            return None
        if kind == "number" or kind.startswith("lookup:"):
            return _whole(raw, strict, self.minimum, self.maximum)
        if kind == "decimal":
            return _decimal(raw, strict, self.minimum, self.maximum, self.scale,
                            "not_money" if self.minimum == 0 else "not_number")
        if kind == "date":
            return _date(raw)
        if not isinstance(raw, str):
            raise FieldError("not_text")
        value = " ".join(raw.split()) if kind != "textarea" else raw.strip()
        if self.length and len(value) > self.length:
            raise FieldError("too_long", max=self.length)
        if kind == "email":
            try:
                return validate_email(value, check_deliverability=False).normalized
            except EmailNotValidError as e:
                raise FieldError("bad_email", reason=_email_reason(str(e))) from None
        if kind == "phone":
            _phone(value)
        elif kind == "url":
            if not _URL_RE.match(value):
                raise FieldError("bad_url")
            if "://" not in value:
                value = "https://" + value
                if self.length and len(value) > self.length:
                    raise FieldError("too_long", max=self.length)
        elif kind == "currency":
            if not CURRENCY_RE.match(value):
                raise FieldError("bad_currency")
            if self.options and value not in self.options:
                raise FieldError("unknown_currency", choices=", ".join(self.options))
        elif kind == "picklist" and self.options and value not in self.options:
            raise FieldError("not_choice", choices=", ".join(map(str, self.options)))
        return value

    def norm(self, value) -> str | None:
        """The normalised key of a parsed value (custom_field_values.value_norm), or None."""
        if value is None:
            return None
        if self.kind == "email":
            return normalize.norm_email(value)
        if self.kind == "phone":
            return normalize.norm_phone(value) or " ".join(normalize.words(value))
        if self.kind == "checkbox":
            value = value if isinstance(value, bool) else str(value).strip().lower() in _TRUE
            return "true" if value else "false"
        if self.kind in ("number", "decimal"):
            # One canonical form whether the value is typed ("12.5") or stored (12.500000).
            try:
                return format(Decimal(str(value)).normalize(), "f")
            except InvalidOperation:
                return None
        text = str(value)
        return " ".join(normalize.words(text))[:255] or text[:255]

    def json_schema(self) -> dict:
        """The JSON Schema of an accepted (non-null) input value."""
        kind = self.kind
        if kind == "checkbox":
            return {"type": "boolean"}
        if kind == "number" or kind.startswith("lookup:"):
            return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}
        if kind == "decimal":
            digits = len(str(int(self.maximum)))
            pattern = ("^-?" if self.minimum < 0 else "^") + \
                rf"[0-9]{{1,{digits}}}(\.[0-9]{{1,{self.scale}}})?$"
            return {"type": ["string", "number"], "pattern": pattern,
                    "minimum": float(self.minimum), "maximum": float(self.maximum)}
        if kind == "date":
            return {"type": "string", "format": "date"}
        if kind == "tags":
            return {"type": "array", "maxItems": TAGS_MAX,
                    "items": {"type": "string", "maxLength": TAG_MAX, "pattern": "^[^\\u0000]*$"}}
        schema: dict = {"type": "string", "pattern": "^[^\\u0000]*$"}
        if self.length:
            schema["maxLength"] = self.length
        if kind == "email":
            schema["format"] = "email"
        if kind in ("picklist", "currency") and self.options:
            schema["enum"] = list(self.options)
        return schema


# ---------------------------------------------------------------- the parsers of each kind


def _boolean(raw, strict: bool) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if not strict and isinstance(raw, str):
        low = raw.strip().lower()
        if low == "":
            return None
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
    raise FieldError("not_bool")


def _number(raw, strict: bool, code: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise FieldError(code)
    if strict and code == "not_integer" and not isinstance(raw, int):
        raise FieldError(code)  # JSON: 12, not "12" nor 12.0
    if isinstance(raw, str) and not _NUMBER_RE.match(raw.strip()):
        raise FieldError(code)  # no exponents, no "NaN": digits as people type them
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise FieldError(code) from None
    if not value.is_finite():
        raise FieldError(code)
    return value


def _whole(raw, strict: bool, minimum, maximum) -> int:
    value = _number(raw, strict, "not_integer")
    if value != value.to_integral_value():
        raise FieldError("not_integer")
    low = 0 if minimum is None else minimum
    high = INT_MAX if maximum is None else maximum
    if not low <= value <= high:
        raise FieldError("int_range", min=low, max=high)
    return int(value)


def _decimal(raw, strict: bool, minimum, maximum, scale: int, code: str) -> Decimal:
    value = _number(raw, strict, code)
    # Bounds before quantize(): quantize itself fails beyond the decimal context's precision.
    if minimum is not None and value < minimum:
        raise FieldError("money_negative" if minimum == 0 else "number_max", min=minimum, max=maximum)
    if maximum is not None and value > maximum:
        raise FieldError("money_max" if minimum == 0 else "number_max", min=minimum, max=maximum)
    step = Decimal(1).scaleb(-scale)
    if value != value.quantize(step):
        raise FieldError("money_decimals" if scale == 2 else "too_many_decimals", scale=scale)
    return value.quantize(step)


def _date(raw) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
        raise FieldError("not_date")
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise FieldError("not_date") from None


def _phone(value: str) -> None:
    try:
        parsed = phonenumbers.parse(value, normalize.DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise FieldError("bad_phone") from None
    if not phonenumbers.is_possible_number(parsed):
        raise FieldError("phone_digits")


SEARCH_MAX = 200


def search_text(value: str | None) -> str:
    """A search box's text: printable characters only (PostgreSQL refuses NUL in a parameter,
    lone surrogates cannot be encoded), trimmed, at most SEARCH_MAX characters."""
    return "".join(ch for ch in (value or "") if ch.isprintable()).strip()[:SEARCH_MAX]


def clean_tags(names) -> list[str]:
    """Trimmed, de-duplicated (case-insensitive) tag names in their first spelling.

    Takes a list (JSON) or a comma-separated text (a form); raises FieldError."""
    if isinstance(names, str):
        names = names.split(",")
    if not isinstance(names, list | tuple):
        raise FieldError("not_list")
    if len(names) > TAGS_MAX:
        raise FieldError("too_many", max=TAGS_MAX)
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise FieldError("not_list")
        if "\x00" in name:
            raise FieldError("nul")
        name = " ".join(name.split())
        if not name:
            continue
        if len(name) > TAG_MAX:
            raise FieldError("tag_too_long", max=TAG_MAX)
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def parse_columns(model, raw: dict) -> tuple[dict, dict]:
    """Several values of `model`'s columns at once (form text): (values, Problems by name)."""
    specs, values, errors = model_specs(model), {}, {}
    for name, value in raw.items():
        try:
            values[name] = specs[name].parse(value)
        except FieldError as e:
            errors[name] = [e.problem]
    return values, errors


# ---------------------------------------------------------------- where specs come from


def column_spec(column) -> FieldSpec | None:
    """The spec of a model column (None for a kind no person types: DateTime, JSON...)."""
    label = column.name.replace("_", " ").capitalize()
    if column.name.endswith("_id") and column.foreign_keys:
        target = next(iter(column.foreign_keys)).column.table.name
        return FieldSpec(column.name, label, f"lookup:{target}", minimum=1, maximum=INT_MAX)
    t = column.type
    if isinstance(t, Boolean):
        return FieldSpec(column.name, label, "checkbox")
    if isinstance(t, Integer):
        return FieldSpec(column.name, label, "number", minimum=0, maximum=INT_MAX)
    if isinstance(t, Numeric):
        # Standard amounts (revenue, deal amount) are never negative, as in every form.
        return FieldSpec(column.name, label, "decimal", minimum=Decimal(0),
                         maximum=_numeric_max(t.precision, t.scale), scale=t.scale)
    if isinstance(t, Date):
        return FieldSpec(column.name, label, "date")
    if isinstance(t, Text):
        return FieldSpec(column.name, label, "textarea", TEXT_MAX)
    if isinstance(t, String):
        return FieldSpec(column.name, label, _KIND_BY_NAME.get(column.name, "text"), t.length)
    return None


@cache
def model_specs(model) -> dict[str, FieldSpec]:
    """{column: FieldSpec} of a model's columns (cached: columns do not change at run time)."""
    specs = {}
    for column in model.__table__.columns:
        spec = column_spec(column)
        if spec is not None:
            specs[column.name] = spec
    return specs


# Any record id (a picker's posted value).
ID_SPEC = FieldSpec("id", "Id", "lookup:any", minimum=1, maximum=INT_MAX)
# A deal stage's probability of winning, in percent (services/pipelines).
PROBABILITY_SPEC = FieldSpec("probability", "Probability", "number", minimum=0, maximum=100)

CUSTOM_LENGTHS = {"text": 255, "email": 254, "phone": 40, "url": 255, "textarea": TEXT_MAX,
                  "picklist": 255}


def custom_spec(field) -> FieldSpec:
    """The spec of a custom field definition (models.CustomField)."""
    kind = field.type
    bounds: dict = {}
    if kind == "number":
        bounds = {"minimum": -int(CUSTOM_NUMBER_MAX), "maximum": int(CUSTOM_NUMBER_MAX)}
    elif kind == "decimal":
        bounds = {"minimum": -CUSTOM_NUMBER_MAX, "maximum": CUSTOM_NUMBER_MAX, "scale": 6}
    return FieldSpec(f"custom.{field.key}", field.label, kind,
                     field.length or CUSTOM_LENGTHS.get(kind), tuple(field.options or ()),
                     bool(field.required), bool(field.unique), bool(field.carry_over), **bounds)


def parse_bool(raw) -> bool:
    """A checkbox value from JSON or a form ("true", "on", "0"...); raises FieldError."""
    value = _boolean(raw, strict=False)
    if value is None:
        raise FieldError("not_bool")
    return value
