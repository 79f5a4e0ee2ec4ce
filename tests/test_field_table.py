"""One field layer (issue 7): every field type x bad values, through the JSON API, the HTML form
and the conversion's `fields`, each refused with the same reason, nothing written, never a 500
(the suite runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.conftest import assert_unchanged, db_rows
from webapp.fields import FieldError, custom_spec, model_specs
from webapp.models import Account, Contact, CustomField, Lead

CUSTOM = [  # one custom field of each type on leads and contacts (same key)
    ("since", "date"), ("seats", "number"), ("budget", "decimal"), ("vip", "checkbox"),
    ("backup_email", "email"), ("hotline", "phone"), ("site", "url"), ("tier", "picklist"),
    ("motto", "text"),
]

# (lead field, conversion target, bad value as typed in a form (None: a browser cannot send it),
#  the same in JSON)
CASES = [
    ("first_name", "contact.first_name", "x" * 101, "x" * 101),          # too long
    ("first_name", "contact.first_name", "a\x00b", "a\x00b"),            # NUL
    ("last_name", "contact.last_name", None, "lone \ud800"),  # not encodable (no form can send it)
    ("email", "contact.email", "not-an-email", "not-an-email"),
    ("email", "contact.email", "a@" + "b" * 260 + ".com", "a@" + "b" * 260 + ".com"),
    ("phone", "contact.phone", "call me", "call me"),
    ("mobile", "contact.mobile", "12", "12"),                            # too few digits
    ("website", "account.website", "not a url", "not a url"),
    ("annual_revenue", "account.annual_revenue", "lots", "lots"),
    ("annual_revenue", "account.annual_revenue", "-1", "-1"),
    ("annual_revenue", "account.annual_revenue", "1" * 15, "1" * 15),    # out of range
    ("annual_revenue", "account.annual_revenue", "1.234", "1.234"),      # too many decimals
    ("employees", "account.employees", "many", "many"),
    ("employees", "account.employees", "99999999999", 99999999999),      # beyond integer
    ("employees", "account.employees", "1.5", 1.5),
    ("custom.since", "contact.custom.since", "31/12/2026", "31/12/2026"),
    ("custom.since", "contact.custom.since", "2026-02-30", "2026-02-30"),
    ("custom.seats", "contact.custom.seats", "lots", "lots"),
    ("custom.seats", "contact.custom.seats", "1" * 16, 10**16),
    ("custom.budget", "contact.custom.budget", "NaN", "NaN"),
    ("custom.budget", "contact.custom.budget", "1.1234567", "1.1234567"),
    ("custom.vip", "contact.custom.vip", None, "maybe"),  # a browser's checkbox sends its value
    ("custom.backup_email", "contact.custom.backup_email", "@nowhere", "@nowhere"),
    ("custom.hotline", "contact.custom.hotline", "call me", "call me"),
    ("custom.site", "contact.custom.site", "no site", "no site"),
    ("custom.tier", "contact.custom.tier", "platinum", "platinum"),
    ("custom.motto", "contact.custom.motto", "m" * 256, "m" * 256),
    ("custom.motto", "contact.custom.motto", "a\x00b", "a\x00b"),
]
# Only JSON can send a value of the wrong type.
JSON_ONLY = [
    ("first_name", "contact.first_name", 12),
    ("employees", "account.employees", "12"),
    ("email_opt_out", "contact.email_opt_out", "yes"),
    ("annual_revenue", "account.annual_revenue", True),
    ("custom.seats", "contact.custom.seats", [1]),
]


@pytest.fixture
def world(db, users, make_lead):
    for entity in ("lead", "contact"):
        for key, kind in CUSTOM:
            db.session.add(CustomField(entity=entity, key=key, label=key.replace("_", " ").title(),
                                       type=kind, options=["gold", "silver"] if kind == "picklist" else None))
    db.session.commit()
    return {"lead": make_lead(last_name="Table", company="Fieldco", owner_id=users["sales"].id)}


def _form_name(field: str) -> str:
    return "cf_" + field.split(".", 1)[1] if field.startswith("custom.") else field


def _api_body(field: str, value) -> dict:
    if field.startswith("custom."):
        return {"last_name": "Stone", "custom": {field[7:]: value}}
    return {"last_name": "Stone", field: value}


def _conversion_body(lead_id: int, target: str, value) -> dict:
    entity, _, name = target.partition(".")
    fields = {"custom": {name[7:]: value}} if name.startswith("custom.") else {name: value}
    return {"lead_id": lead_id, entity: {"action": "create", "fields": fields}}


def _api_reason(client, headers, field, value) -> str:
    r = client.post("/api/v1/leads", json=_api_body(field, value), headers=headers)
    assert r.status_code == 422, r.get_data(as_text=True)
    return r.json["errors"][field][0]


def _expected(field: str, value, db, strict: bool = True) -> str:
    """The reason the field layer itself gives (the domain level, no client)."""
    if field.startswith("custom."):
        definition = db.session.query(CustomField).filter_by(entity="lead", key=field[7:]).one()
        spec = custom_spec(definition)
    else:
        spec = model_specs(Lead)[field]
    with pytest.raises(FieldError) as e:
        spec.parse(value, strict=strict)
    return str(e.value.problem)


@pytest.mark.parametrize("field, target, form_value, json_value", CASES)
def test_bad_value_same_reason_everywhere(client, as_user, db, users, world, api_headers, field,
                                          target, form_value, json_value):
    headers = api_headers(users["sales"])
    before = db_rows(db)
    reason = _expected(field, json_value, db)
    # The JSON API.
    assert _api_reason(client, headers, field, json_value) == reason
    assert_unchanged(db, before)
    # The HTML form (values as text), the reason next to the field with its label.
    reason_in_form = None if form_value is None else reason
    data = {"last_name": "Stone", "status": "new", "currency": "EUR", _form_name(field): form_value}
    if reason_in_form is not None:
        page = as_user("sales").post("/leads/", data=data)
        assert page.status_code == 422
        html = page.get_data(as_text=True)
        error = re.search(rf'id="{_form_name(field)}-error"[^>]*>([^<]*)<', html)
        assert error, html[-1500:]
        assert unescape(error.group(1)).strip().endswith(f" {reason}.")
        assert_unchanged(db, before)
    # The conversion's fields (C7.5): the same reason under the target's key.
    r = client.post("/api/v1/lead-conversions", headers=headers,
                    json=_conversion_body(world["lead"].id, target, json_value))
    assert r.status_code == 422, r.get_data(as_text=True)
    assert reason in r.json["errors"][target], r.json
    assert_unchanged(db, before)


@pytest.mark.parametrize("field, target, value", JSON_ONLY)
def test_wrong_json_type_same_reason(client, db, users, world, api_headers, field, target, value):
    headers = api_headers(users["sales"])
    before = db_rows(db)
    reason = _expected(field, value, db)
    assert _api_reason(client, headers, field, value) == reason
    r = client.post("/api/v1/lead-conversions", headers=headers,
                    json=_conversion_body(world["lead"].id, target, value))
    assert r.status_code == 422 and reason in r.json["errors"][target], r.json
    assert_unchanged(db, before)


@pytest.mark.parametrize("path", ["/leads/", "/accounts/", "/contacts/", "/deals/"])
def test_nul_in_any_form_field_is_422_not_500(as_user, db, world, path):
    before = db_rows(db)
    data = {"name": "A\x00", "last_name": "B\x00", "first_name": "\x00", "company": "C\x00",
            "status": "new", "currency": "EUR", "description": "\x00", "tags": "t\x00"}
    r = as_user("sales").post(path, data=data)
    assert r.status_code == 422, r.get_data(as_text=True)[-500:]
    assert "NUL" in r.get_data(as_text=True)
    assert_unchanged(db, before)


@pytest.mark.parametrize("url", ["/contacts/?q=a%00b", "/accounts/?q=%00", "/deals/?q=x%00",
                                 "/leads/?q=a%00b", "/leads/board?q=%00", "/contacts/?tag=%00"])
def test_nul_in_a_search_is_not_a_500(as_user, world, url):
    assert as_user("sales").get(url).status_code in (200, 422)


@pytest.mark.parametrize("path, data, field", [
    ("/records/lead/{id}/notes", {"note-body": "a\x00b"}, "note-body"),
    ("/records/lead/{id}/tasks", {"task-subject": "a\x00b", "task-kind": "task"}, "task-subject"),
    ("/leads/{id}/addresses", {"type": "billing", "city": "a\x00b"}, "city"),
])
def test_nul_in_a_lead_page_form_is_422(as_user, db, world, path, data, field):
    before = db_rows(db)
    r = as_user("sales").post(path.format(id=world["lead"].id), data=data,
                              headers={"HX-Request": "true"})
    assert r.status_code == 422 and "must not contain NUL characters" in r.get_data(as_text=True)
    assert_unchanged(db, before)


def test_models_cover_every_case_kind():
    """The table above names a case for each kind the field layer knows (nothing untested)."""
    kinds = {model_specs(Lead)[f].kind for f, *_ in CASES if not f.startswith("custom.")}
    kinds |= {kind for key, kind in CUSTOM}
    assert {"text", "email", "phone", "url", "decimal", "number", "date", "checkbox",
            "picklist"} <= kinds
    assert model_specs(Account)["website"].kind == "url" and model_specs(Contact)["email"].kind == "email"
