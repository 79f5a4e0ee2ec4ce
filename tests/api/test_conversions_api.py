"""POST / GET /api/v1/lead-conversions (api.md "Conversions", C8.8): statuses, roles, shapes,
idempotent replay and dry runs, through the test client with bearer tokens."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, db_rows
from webapp.models import (
    Account,
    Contact,
    Conversion,
    CustomField,
    Deal,
    Lead,
    Note,
    Role,
    Task,
    TimelineEvent,
)

URL = "/api/v1/lead-conversions"
ROLES = ("admin", "manager", "sales", "viewer", "other_sales", "anonymous")
DEAL = {"name": "Zylker deal", "stage": "Qualification", "amount": "1000.00", "currency": "EUR",
        "closing_date": "2026-12-31", "contact_role": "Decision maker"}
CONVERSION_KEYS = {"id", "lead_id", "created_by", "created_at", "reverted_at", "account", "contact",
                   "deal", "task", "fields_written", "not_updated", "moved"}
DRY_RUN_KEYS = CONVERSION_KEYS | {"dry_run", "candidates"}
ACTIONS = {"created", "merged", "linked", "none"}


@pytest.fixture
def tokens(users, api_headers):
    """Bearer headers per role ("anonymous": none), made once per test."""
    made = {role: api_headers(user) for role, user in users.items()}
    made["anonymous"] = {}
    return made


@pytest.fixture
def sales_lead(users, make_lead):
    """A lead of the sales rep (who reports to the manager and shares the manager's team)."""
    return make_lead(owner_id=users["sales"].id, team_id=users["sales"].team_id)


def post(client, headers, payload, key=None, **kw):
    headers = dict(headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(URL, json=payload, headers=headers, **kw)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counts(db) -> dict[str, int]:
    return {m.__name__: count(db, m) for m in (Account, Contact, Deal, Task, Note, Conversion, TimelineEvent)}


def assert_error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    data = response.get_json()
    assert {"error", "message", "errors"} <= set(data)
    assert isinstance(data["message"], str) and data["message"]
    for f in fields:
        assert f in data["errors"], data
    return data


def assert_conversion_shape(data: dict, dry_run: bool = False) -> None:
    """Keys and types exactly as api.md."""
    assert set(data) == (DRY_RUN_KEYS if dry_run else CONVERSION_KEYS)
    if dry_run:
        assert data["id"] is None and data["created_by"] is None and data["created_at"] is None
        assert data["dry_run"] is True
        assert set(data["candidates"]) == {"account", "contact"}
        for entity in ("account", "contact"):
            for c in data["candidates"][entity]:
                assert set(c) == {"id", "name", "reason"}
                assert isinstance(c["id"], int) and isinstance(c["name"], str) and isinstance(c["reason"], str)
    else:
        assert isinstance(data["id"], int) and isinstance(data["created_by"], int)
        assert isinstance(data["created_at"], str) and data["created_at"][-6] in "+-"  # ISO with offset
    assert isinstance(data["lead_id"], int)
    assert data["reverted_at"] is None
    for entity in ("account", "contact", "deal", "task"):
        part = data[entity]
        assert set(part) == {"id", "action", "reason"}
        assert part["action"] in ACTIONS
        assert part["id"] is None or isinstance(part["id"], int)
        assert (part["id"] is None) == (part["action"] == "none") or dry_run
    assert isinstance(data["fields_written"], dict)
    assert all(isinstance(v, dict) for v in data["fields_written"].values())
    assert isinstance(data["not_updated"], list)
    assert isinstance(data["moved"], dict) and all(isinstance(v, int) for v in data["moved"].values())


# ---------------------------------------------------------------- POST: roles


EXPECTED_CONVERT = {"admin": 201, "manager": 201, "sales": 201, "viewer": 403, "other_sales": 404,
                    "anonymous": 401}


@pytest.mark.parametrize("role", ROLES)
def test_convert_by_role(client, db, tokens, sales_lead, role):
    """C7.1/C7.2: admin (all), manager (team), owner convert; viewer lacks "Convert leads" (403);
    another rep cannot see the lead (404); no token (401). Refusals write nothing."""
    before = counts(db)
    response = post(client, tokens[role], {"lead_id": sales_lead.id})
    assert response.status_code == EXPECTED_CONVERT[role], response.get_data(as_text=True)
    if response.status_code == 201:
        data = response.get_json()
        assert_conversion_shape(data)
        assert data["lead_id"] == sales_lead.id
        assert response.headers["Location"].endswith(f"{URL}/{data['id']}")
        db.session.expire_all()
        assert db.session.get(Lead, sales_lead.id).converted
    else:
        assert_error(response, EXPECTED_CONVERT[role])
        assert counts(db) == before
    if role == "viewer":
        assert "Convert leads" in response.get_json()["message"]
    if role == "anonymous":
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ROLES)
def test_dry_run_by_role(client, db, tokens, sales_lead, role):
    """C8.7: the dry run answers 200 (id null, dry_run true) for whoever may convert; same refusals."""
    expected = {**EXPECTED_CONVERT, "admin": 200, "manager": 200, "sales": 200}[role]
    before = counts(db)
    response = post(client, tokens[role], {"lead_id": sales_lead.id, "dry_run": True})
    assert response.status_code == expected
    if expected == 200:
        assert_conversion_shape(response.get_json(), dry_run=True)
    assert counts(db) == before


def test_bad_token_is_401(client, sales_lead):
    response = post(client, {"Authorization": "Bearer nope"}, {"lead_id": sales_lead.id})
    assert_error(response, 401)


def test_missing_create_permission_is_403_naming_it(client, db, make_user, api_headers, make_lead):
    """C7.1: "Convert leads" is not enough; the create permission of each created entity is needed."""
    db.session.add(Role(key="converter", label="Converter", scope="all",
                        permissions=["lead.convert", "lead.edit", "contact.create"]))
    db.session.commit()
    user = make_user("converter")
    lead = make_lead(owner_id=user.id)
    response = post(client, api_headers(user), {"lead_id": lead.id})
    data = assert_error(response, 403)
    assert "account" in data["message"]
    assert count(db, Conversion) == 0


# ---------------------------------------------------------------- POST: the conversion itself


def test_convert_with_deal_and_task_creates_every_record(client, db, tokens, sales_lead, make_note):
    """C1.1, C5: account, contact, deal and task created; notes move (C6.2); the response says so."""
    make_note(parent_type="lead", parent_id=sales_lead.id)
    payload = {"lead_id": sales_lead.id, "deal": DEAL,
               "task": {"subject": "Call back", "due_date": "2026-12-01"}}
    response = post(client, tokens["sales"], payload)
    assert response.status_code == 201
    data = response.get_json()
    assert_conversion_shape(data)
    assert {e: data[e]["action"] for e in ("account", "contact", "deal", "task")} == {
        "account": "created", "contact": "created", "deal": "created", "task": "created"}
    assert data["moved"]["notes"] == 1
    deal = db.session.get(Deal, data["deal"]["id"])
    assert (deal.name, str(deal.amount), deal.account_id) == ("Zylker deal", "1000.00", data["account"]["id"])
    assert db.session.get(Contact, data["contact"]["id"]).account_id == data["account"]["id"]
    assert data["created_by"] == db.session.get(Lead, sales_lead.id).owner_id


def test_amount_as_json_number_stays_exact(client, db, tokens, sales_lead):
    """Money: a JSON number is read exactly (no float rounding)."""
    response = post(client, tokens["admin"], {"lead_id": sales_lead.id,
                                               "deal": {**DEAL, "amount": 1234.56}})
    assert response.status_code == 201
    assert str(db.session.get(Deal, response.get_json()["deal"]["id"]).amount) == "1234.56"


def test_merge_into_contact_found_by_email(client, db, tokens, sales_lead, make_contact):
    """C4.1(c), C3.5: the contact with the lead's e-mail is merged; only its empty fields are filled."""
    sales_lead.phone = "+33 1 23 45 67 89"
    db.session.commit()
    contact = make_contact(email="Charles.S@zylker.com", first_name="Charlie")
    response = post(client, tokens["admin"], {"lead_id": sales_lead.id})
    assert response.status_code == 201
    data = response.get_json()
    assert data["contact"] == {"id": contact.id, "action": "merged", "reason": "email"}
    assert data["fields_written"]["contact"]["phone"] == "+33 1 23 45 67 89"
    assert "first_name" not in data["fields_written"]["contact"]
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).first_name == "Charlie"


def test_link_to_a_chosen_account(client, db, tokens, sales_lead, make_account):
    account = make_account(name="Another name")
    response = post(client, tokens["admin"], {"lead_id": sales_lead.id,
                                               "account": {"action": "link", "id": account.id}})
    assert response.status_code == 201
    data = response.get_json()
    assert data["account"]["id"] == account.id and data["account"]["reason"] == "chosen"
    assert data["account"]["action"] in ("merged", "linked")


# ---------------------------------------------------------------- POST: failures


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b"", b'"text"', b"{\"lead_id\": NaN}"])
def test_malformed_json_is_400(client, db, tokens, raw):
    response = client.post(URL, data=raw, headers={**tokens["admin"], "Content-Type": "application/json"})
    assert_error(response, 400)
    assert count(db, Conversion) == 0


def test_unknown_lead_is_404(client, db, tokens, users):
    before = db_rows(db)
    assert_error(post(client, tokens["admin"], {"lead_id": 999_999}), 404)
    assert_unchanged(db, before)


def test_lead_out_of_sight_is_404_like_a_missing_one(client, tokens, sales_lead):
    """C4.8 spirit: a lead the caller may not see is not revealed (same answer as a missing one)."""
    hidden = post(client, tokens["other_sales"], {"lead_id": sales_lead.id}).get_json()
    missing = post(client, tokens["other_sales"], {"lead_id": 999_999}).get_json()
    assert hidden["error"] == missing["error"] == "not_found"


def test_link_to_unknown_account_is_404(client, db, tokens, sales_lead):
    response = post(client, tokens["admin"], {"lead_id": sales_lead.id,
                                               "account": {"action": "link", "id": 424242}})
    assert_error(response, 404, "account.id")
    assert count(db, Account) == 0


def test_already_converted_is_409_with_conversion_id(client, db, tokens, sales_lead):
    """C1.4: converting again is refused with the existing conversion's id."""
    first = post(client, tokens["admin"], {"lead_id": sales_lead.id}).get_json()
    before = counts(db)
    response = post(client, tokens["admin"], {"lead_id": sales_lead.id})
    data = assert_error(response, 409)
    assert data["conversion_id"] == first["id"]
    assert counts(db) == before
    # A dry run of a converted lead says the same.
    assert post(client, tokens["admin"], {"lead_id": sales_lead.id, "dry_run": True}).status_code == 409


@pytest.mark.parametrize(("payload", "fields"), [
    ({}, ["lead_id"]),
    ({"lead_id": "12"}, ["lead_id"]),
    ({"lead_id": 2**31}, ["lead_id"]),
    ({"lead_id": 1.0}, ["lead_id"]),
    ({"lead_id": 1, "colour": "blue"}, ["colour"]),
    ({"lead_id": 1, "interactive": True}, ["interactive"]),
    ({"lead_id": 1, "deal": {"name": "No stage"}}, ["deal.stage"]),
    ({"lead_id": 1, "deal": {"stage": "Qualification", "amount": "12.345"}}, ["deal.amount"]),
    ({"lead_id": 1, "deal": {"stage": "Qualification", "amount": -1}}, ["deal.amount"]),
    ({"lead_id": 1, "deal": {"stage": "Qualification", "closing_date": "31/12/2026"}}, ["deal.closing_date"]),
    ({"lead_id": 1, "deal": {"stage": "Qualification", "currency": "eur"}}, ["deal.currency"]),
    ({"lead_id": 1, "deal": {"stage": "x" * 101}}, ["deal.stage"]),
    ({"lead_id": 1, "task": {"due_date": "2026-12-01"}}, ["task.subject"]),
    ({"lead_id": 1, "account": {"action": "merge"}}, ["account.action"]),
    ({"lead_id": 1, "contact": {"action": "link"}}, ["contact.id"]),
    ({"lead_id": 1, "account": {"action": "none"}, "contact": {"action": "none"}}, ["contact.action"]),
    ({"lead_id": 1, "owner_id": 2**31}, ["owner_id"]),
    ({"lead_id": 1, "owner_id": 9999}, ["owner_id"]),
    ({"lead_id": 1, "tags_to": ["lead"]}, ["tags_to.0"]),
    ({"lead_id": 1, "contact": {"fields": {"phone": "not a phone"}}}, ["contact.phone"]),
    ({"lead_id": 1, "contact": {"fields": {"shoe_size": "42"}}}, ["contact.shoe_size"]),
    ({"lead_id": 1, "contact": {"fields": {"title": "a\x00b"}}}, ["contact.title"]),
])
def test_bad_options_are_422_per_field(client, db, tokens, make_lead, payload, fields):
    """C7.5: bad input is answered with the field and the reason, and nothing is written."""
    make_lead()
    before = counts(db)
    assert_error(post(client, tokens["admin"], payload), 422, *fields)
    assert counts(db) == before
    db.session.expire_all()
    assert not db.session.get(Lead, 1).converted


def test_missing_required_field_is_422_then_filled_in_fields(client, db, tokens, sales_lead):
    """C7.4: a required deal field the lead lacks blocks the conversion until `fields` fills it."""
    db.session.add(CustomField(entity="deal", key="po", label="PO number", type="text", required=True))
    db.session.commit()
    payload = {"lead_id": sales_lead.id, "deal": DEAL}
    data = assert_error(post(client, tokens["admin"], payload), 422, "deal.custom.po")
    assert data["error"] == "missing_required"
    assert count(db, Conversion) == 0
    payload["deal"] = {**DEAL, "fields": {"custom": {"po": "PO-1"}}}
    assert post(client, tokens["admin"], payload).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "café"])
def test_bad_idempotency_key_is_422(client, db, tokens, sales_lead, key):
    before = db_rows(db)
    assert_error(post(client, tokens["admin"], {"lead_id": sales_lead.id}, key=key), 422, "Idempotency-Key")
    assert_unchanged(db, before)


def test_unknown_query_parameter_is_422(client, db, tokens, sales_lead):
    before = db_rows(db)
    response = client.post(f"{URL}?force=1", json={"lead_id": sales_lead.id}, headers=tokens["admin"])
    assert_error(response, 422, "force")
    assert_unchanged(db, before)


# ---------------------------------------------------------------- idempotency


def test_same_key_same_body_replays_the_first_response(client, db, tokens, sales_lead):
    """api.md: the same Idempotency-Key with the same body returns the first response; one conversion."""
    payload = {"lead_id": sales_lead.id, "deal": DEAL}
    first = post(client, tokens["sales"], payload, key="k-1")
    after_first = counts(db)
    again = post(client, tokens["sales"], payload, key="k-1")
    assert (again.status_code, again.get_json()) == (first.status_code, first.get_json()) == (201, first.get_json())
    assert counts(db) == after_first
    assert count(db, Conversion) == 1


def test_same_key_other_body_is_409(client, db, tokens, sales_lead, make_lead):
    other = make_lead(owner_id=sales_lead.owner_id, email="other@example.com", company="Other")
    post(client, tokens["sales"], {"lead_id": sales_lead.id}, key="k-2")
    before = counts(db)
    data = assert_error(post(client, tokens["sales"], {"lead_id": other.id}, key="k-2"), 409)
    assert data["error"] == "idempotency_conflict"
    assert counts(db) == before
    db.session.expire_all()
    assert not db.session.get(Lead, other.id).converted


def test_keys_belong_to_their_user(client, db, tokens, sales_lead, make_lead):
    """Another user's key is no replay: the manager's request with the sales rep's key converts."""
    other = make_lead(owner_id=sales_lead.owner_id, email="two@example.com", company="Two")
    post(client, tokens["sales"], {"lead_id": sales_lead.id}, key="shared")
    response = post(client, tokens["manager"], {"lead_id": other.id}, key="shared")
    assert response.status_code == 201
    assert count(db, Conversion) == 2


def test_without_key_a_second_post_is_409_not_a_replay(client, db, tokens, sales_lead):
    post(client, tokens["admin"], {"lead_id": sales_lead.id})
    before = db_rows(db)
    assert post(client, tokens["admin"], {"lead_id": sales_lead.id}).status_code == 409
    assert_unchanged(db, before)


# ---------------------------------------------------------------- dry run


def test_dry_run_writes_nothing_and_lists_candidates(client, db, tokens, sales_lead, make_account,
                                                     make_contact, make_note):
    """C8.7: the dry run is the preview: candidates with reasons, what moves; no row written."""
    account = make_account(name="ZYLKER")
    make_contact(email="charles.s@zylker.com", account_id=account.id)
    make_note(parent_type="lead", parent_id=sales_lead.id)
    before = counts(db)
    response = post(client, tokens["admin"], {"lead_id": sales_lead.id, "dry_run": True, "deal": DEAL},
                    key="dry")
    assert response.status_code == 200
    data = response.get_json()
    assert_conversion_shape(data, dry_run=True)
    assert data["contact"]["action"] == "merged" and data["contact"]["reason"] == "email"
    assert data["deal"] == {"id": None, "action": "created", "reason": None}
    assert [c["id"] for c in data["candidates"]["account"]] == [account.id]
    assert data["candidates"]["account"][0]["reason"] == "company_name"
    assert data["moved"]["notes"] == 1
    assert counts(db) == before
    db.session.expire_all()
    assert not db.session.get(Lead, sales_lead.id).converted
    # The key was not spent by the dry run: a real conversion with it works.
    assert post(client, tokens["admin"], {"lead_id": sales_lead.id, "deal": DEAL}, key="dry").status_code == 201


def test_dry_run_reports_missing_required_like_the_conversion(client, db, tokens, sales_lead):
    db.session.add(CustomField(entity="contact", key="nid", label="National id", type="text", required=True))
    db.session.commit()
    assert_error(post(client, tokens["admin"], {"lead_id": sales_lead.id, "dry_run": True}), 422,
                 "contact.custom.nid")


# ---------------------------------------------------------------- GET


@pytest.fixture
def converted(client, tokens, users, make_lead):
    """Two conversions: one of a sales rep's lead (by the rep), one of an admin's lead."""
    mine = make_lead(owner_id=users["sales"].id, team_id=users["sales"].team_id)
    theirs = make_lead(owner_id=users["admin"].id, email="ada@example.com", company="Lovelace Ltd",
                       first_name="Ada", last_name="Lovelace")
    a = post(client, tokens["sales"], {"lead_id": mine.id, "deal": DEAL}).get_json()
    b = post(client, tokens["admin"], {"lead_id": theirs.id}).get_json()
    return a, b


EXPECTED_LIST = {"admin": 2, "manager": 1, "sales": 1, "viewer": 2, "other_sales": 0}


@pytest.mark.parametrize("role", ROLES)
def test_list_shows_only_conversions_of_visible_leads(client, tokens, converted, role):
    response = client.get(URL, headers=tokens[role])
    if role == "anonymous":
        assert_error(response, 401)
        return
    assert response.status_code == 200
    data = response.get_json()
    assert set(data) == {"items", "next_cursor"}
    assert len(data["items"]) == EXPECTED_LIST[role]
    for item in data["items"]:
        assert_conversion_shape(item)


@pytest.mark.parametrize("role", ROLES)
def test_show_by_role(client, tokens, converted, role):
    mine, _ = converted
    expected = {"admin": 200, "manager": 200, "sales": 200, "viewer": 200, "other_sales": 404,
                "anonymous": 401}[role]
    response = client.get(f"{URL}/{mine['id']}", headers=tokens[role])
    assert response.status_code == expected
    if expected == 200:
        assert response.get_json() == mine  # the same shape and values as the 201


def test_show_unknown_is_404(client, tokens):
    assert_error(client.get(f"{URL}/777", headers=tokens["admin"]), 404)
    assert client.get(f"{URL}/{2**40}", headers=tokens["admin"]).status_code == 404


def test_list_filters(client, tokens, converted, users):
    mine, theirs = converted
    cases = {
        f"lead_id={mine['lead_id']}": [mine["id"]],
        f"account_id={theirs['account']['id']}": [theirs["id"]],
        f"contact_id={mine['contact']['id']}": [mine["id"]],
        f"deal_id={mine['deal']['id']}": [mine["id"]],
        f"created_by={users['admin'].id}": [theirs["id"]],
        f"created_by={users['viewer'].id}": [],
    }
    for qs, ids in cases.items():
        data = client.get(f"{URL}?{qs}", headers=tokens["admin"]).get_json()
        assert [c["id"] for c in data["items"]] == ids, qs


def test_list_paginates_with_a_cursor(client, tokens, converted):
    first = client.get(f"{URL}?limit=1", headers=tokens["admin"]).get_json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = client.get(f"{URL}?limit=1&cursor={first['next_cursor']}", headers=tokens["admin"]).get_json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert first["items"][0]["id"] > second["items"][0]["id"]  # newest first


@pytest.mark.parametrize("qs", ["lead_id=abc", "lead_id=0", "limit=501", "cursor=garbage", "colour=red"])
def test_list_bad_query_is_422(client, tokens, qs):
    assert_error(client.get(f"{URL}?{qs}", headers=tokens["admin"]), 422)


# ---------------------------------------------------------------- OpenAPI


def test_openapi_documents_the_three_operations(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    post_op = doc["paths"][URL]["post"]
    assert post_op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LeadConversionRequest"}
    assert set(post_op["responses"]) == {"200", "201", "400", "401", "403", "404", "409", "422"}
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post_op["parameters"])
    assert set(doc["paths"][URL]["get"]["responses"]) == {"200", "401", "422"}
    assert set(doc["paths"][f"{URL}/{{id}}"]["get"]["responses"]) == {"200", "401", "404", "422"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["LeadConversion"]["required"]) == CONVERSION_KEYS
    assert set(schemas["LeadConversionDryRun"]["required"]) == DRY_RUN_KEYS
    assert schemas["LeadConversionRequest"]["required"] == ["lead_id"]
    json.dumps(doc)  # serialisable as is
