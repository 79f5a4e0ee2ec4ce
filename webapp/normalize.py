"""Normalised keys for duplicate look-ups (C4.7): pure functions, used by models and matching."""

from __future__ import annotations

import re

import phonenumbers
from unidecode import unidecode

DEFAULT_REGION = "FR"  # set from the PHONE_REGION setting by create_app (set_default_region)


def set_default_region(region: str) -> None:
    """The region national phone numbers are read in; raises ValueError for an unknown one."""
    global DEFAULT_REGION
    region = (region or "").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"PHONE_REGION {region!r} is not a region phonenumbers knows")
    DEFAULT_REGION = region

# Legal forms dropped from company names so that "Zylker Inc." matches "ZYLKER".
LEGAL_FORMS = {
    "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc",
    "llp", "plc", "lp", "sarl", "sas", "sasu", "sa", "eurl", "sci", "snc", "scop", "gmbh",
    "ag", "kg", "ug", "bv", "nv", "srl", "spa", "sl", "oy", "ab", "as", "pty", "cie", "et",
}
_NON_WORD = re.compile(r"[^a-z0-9]+")


def words(value: str | None) -> list[str]:
    """Lower-case ASCII words: accents, case, punctuation and extra spaces ignored."""
    if not value:
        return []
    return [w for w in _NON_WORD.split(unidecode(value).lower()) if w]


def norm_name(*parts: str | None) -> str | None:
    """A person's full name as one key ("Élodie  D'Arc" -> "elodie d arc")."""
    key = " ".join(w for p in parts for w in words(p))
    return key or None


def norm_company(value: str | None) -> str | None:
    """A company name without legal forms ("Zylker, Inc." -> "zylker")."""
    ws = words(value)
    # "S.A.R.L." splits into single letters: glue runs of one-letter words back together.
    glued: list[str] = []
    run = ""
    for w in ws:
        if len(w) == 1:
            run += w
            continue
        if run:
            glued.append(run)
            run = ""
        glued.append(w)
    if run:
        glued.append(run)
    kept = [w for w in glued if w not in LEGAL_FORMS]
    key = " ".join(kept or glued)
    return key or None


def norm_email(value: str | None) -> str | None:
    """E-mail trimmed and lower-cased (C4.7)."""
    value = (value or "").strip().lower()
    return value or None


def norm_phone(value: str | None, region: str | None = None) -> str | None:
    """A phone number in E.164, or None when it cannot be parsed as a possible number."""
    if not value:
        return None
    try:  # blank or unreadable input raises: no number
        parsed = phonenumbers.parse(value, (region or DEFAULT_REGION).upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


_COUNTRY_REGIONS = {
    "france": "FR", "fr": "FR", "belgique": "BE", "belgium": "BE", "suisse": "CH",
    "switzerland": "CH", "germany": "DE", "allemagne": "DE", "deutschland": "DE",
    "united kingdom": "GB", "uk": "GB", "royaume uni": "GB", "united states": "US",
    "usa": "US", "us": "US", "etats unis": "US", "canada": "CA", "spain": "ES",
    "espagne": "ES", "italy": "IT", "italie": "IT",
}


def region_for(country: str | None) -> str:
    """The phone region for a country name or ISO code, defaulting to DEFAULT_REGION."""
    key = " ".join(words(country))
    if len(key) == 2 and key.upper() in phonenumbers.SUPPORTED_REGIONS:
        return key.upper()
    return _COUNTRY_REGIONS.get(key, DEFAULT_REGION)


def text_problem(value: str) -> str | None:
    """Why a text cannot be stored (PostgreSQL refuses NUL; lone surrogates cannot be encoded), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode()  # str.encode is always UTF-8
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None
