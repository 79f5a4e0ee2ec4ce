"""Records API: every endpoint × role with exact statuses, conflicts (C1.4), hostile input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.models import Account, Lead, LeadStatus, Note, TimelineEvent
from webapp.services.tags import get_tags

ROLES = ("admin", "manager", "sales", "viewer", "no_token", "bad_token")


@pytest.fixture
def call(client, users, api_headers):
    """call(role, method, path, json=None): a request as that role ("no_token", "bad_token")."""
    cache: dict[str, dict] = {}

    def request(role, method, path, json=None):
        if role == "no_token":
            headers = {}
        elif role == "bad_token":
            headers = {"Authorization": "Bearer crm_not-a-token"}
        else:
            headers = cache.setdefault(role, api_headers(users[role]))
        return client.open(path, method=method, headers=headers, json=json)

    return request


@pytest.fixture
def world(users, make_lead, make_account, make_contact, make_deal, make_note, make_task):
    """Records owned by the sales user (in the manager's team) and by another sales user."""
    sales, other = users["sales"], users["other_sales"]
    lead = make_lead(owner_id=sales.id)
    account = make_account(owner_id=sales.id)
    other_account = make_account(name="Other Corp", owner_id=other.id)
    contact = make_contact(owner_id=sales.id, account_id=account.id)
    deal = make_deal(owner_id=sales.id)
    other_lead = make_lead(last_name="Else", owner_id=other.id)
    note = make_note(parent_type="lead", parent_id=lead.id, author_id=sales.id)
    task = make_task(parent_type="account", parent_id=account.id, owner_id=sales.id)
    return {"lead": lead, "account": account, "other_account": other_account, "contact": contact,
            "deal": deal, "other_lead": other_lead, "note": note, "task": task}


CREATE = {
    "leads": {"last_name": "Stone", "company": "Zylker"},
    "accounts": {"name": "Acme"},
    "contacts": {"last_name": "Doe"},
    "deals": {"name": "Big deal", "amount": "1250.00", "currency": "EUR"},
}


@pytest.mark.parametrize("plural", ["leads", "accounts", "contacts", "deals", "tasks", "notes"])
@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 200, 401, 401), strict=True))
def test_list_by_role(call, world, plural, role, status):
    r = call(role, "GET", f"/api/v1/{plural}")
    assert r.status_code == status
    if status == 200:
        assert set(r.json) == {"items", "next_cursor"}


@pytest.mark.parametrize("plural", list(CREATE))
@pytest.mark.parametrize("role, status", zip(ROLES, (201, 201, 201, 403, 401, 401), strict=True))
def test_create_by_role(call, world, plural, role, status):
    r = call(role, "POST", f"/api/v1/{plural}", CREATE[plural])
    assert r.status_code == status, r.json
    if status == 201:
        assert r.headers["Location"].endswith(f"/api/v1/{plural}/{r.json['id']}")
    if status == 403:
        assert f"{plural[:-1]}.create" in r.json["message"]  # says which permission is missing


@pytest.mark.parametrize("kind, role, status", [
    # Leads follow the owner scope (the viewer reads all); accounts... are read by everyone.
    ("lead", "admin", 200), ("lead", "manager", 200), ("lead", "sales", 200), ("lead", "viewer", 200),
    ("other_lead", "sales", 403), ("other_lead", "manager", 403), ("other_lead", "viewer", 200),
    ("account", "sales", 200), ("other_account", "sales", 200), ("other_account", "viewer", 200),
    ("contact", "viewer", 200), ("deal", "manager", 200), ("note", "sales", 200),
    ("task", "viewer", 200), ("lead", "no_token", 401), ("lead", "bad_token", 401),
])
def test_show_by_role(call, world, kind, role, status):
    obj = world[kind]
    plural = {"other_lead": "leads", "other_account": "accounts"}.get(kind, f"{kind}s")
    r = call(role, "GET", f"/api/v1/{plural}/{obj.id}")
    assert r.status_code == status
    if status == 200:
        assert r.json["id"] == obj.id


@pytest.mark.parametrize("kind, body", [
    ("lead", {"title": "CEO"}), ("account", {"industry": "Energy"}), ("contact", {"title": "CTO"}),
    ("deal", {"amount": 99}), ("note", {"body": "edited"}), ("task", {"status": "done"}),
])
@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 403, 401, 401), strict=True))
def test_update_by_role(call, world, kind, body, role, status):
    r = call(role, "PATCH", f"/api/v1/{kind}s/{world[kind].id}", body)
    assert r.status_code == status, r.json
    if status == 403:
        assert ".edit" in r.json["message"]


@pytest.mark.parametrize("role, status", [("sales", 403), ("manager", 403), ("admin", 200)])
def test_update_outside_scope(call, world, role, status):
    """The other sales user's account: only the administrator's scope covers it."""
    r = call(role, "PATCH", f"/api/v1/accounts/{world['other_account'].id}", {"industry": "X"})
    assert r.status_code == status
    if status == 403:
        assert "scope" in r.json["message"]


@pytest.mark.parametrize("kind", ["lead", "account", "contact", "deal", "note", "task"])
@pytest.mark.parametrize("role, status", zip(ROLES, (204, 204, 403, 403, 401, 401), strict=True))
def test_delete_by_role(call, db, world, kind, role, status):
    obj = world[kind]
    if kind == "account":  # the contact hangs on it: detach first
        world["contact"].account_id = None
        db.session.commit()
    r = call(role, "DELETE", f"/api/v1/{kind}s/{obj.id}")
    assert r.status_code == status, r.data
    if status == 403:
        assert "record.delete" in r.json["message"] or ".edit" in r.json["message"]
    db.session.expire_all()
    assert (db.session.get(type(obj), obj.id) is None) == (status == 204)


def test_delete_refused_while_referenced(call, world, db):
    r = call("admin", "DELETE", f"/api/v1/accounts/{world['account'].id}")
    assert r.status_code == 409
    assert "contacts" in r.json["errors"]
    assert db.session.get(Account, world["account"].id) is not None


def test_delete_lead_removes_what_hangs_on_it(call, world, db):
    lead = world["lead"]
    assert call("admin", "DELETE", f"/api/v1/leads/{lead.id}").status_code == 204
    assert db.session.scalar(select(Note).where(Note.parent_type == "lead", Note.parent_id == lead.id)) is None


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("ident", [999, 2**31, 10**30])
def test_unknown_id_is_404(call, world, method, ident):
    r = call("admin", method, f"/api/v1/leads/{ident}", {} if method == "PATCH" else None)
    assert r.status_code == 404 and r.json["error"] == "not_found"


# ---------------------------------------------------------------- converted leads (C1.4)


@pytest.fixture
def converted(db, world):
    lead = world["lead"]
    lead.converted, lead.conversion_id, lead.status = True, 42, "converted"
    db.session.commit()
    return lead


@pytest.mark.parametrize("method, body", [("PATCH", {"title": "x"}), ("DELETE", None)])
def test_converted_lead_is_409_with_conversion_id(call, converted, method, body):
    """C1.4: a converted lead is read-only; the API answers 409 with conversion_id."""
    r = call("sales", method, f"/api/v1/leads/{converted.id}", body)
    assert r.status_code == 409
    assert r.json["conversion_id"] == 42 and "read-only" in r.json["message"]


@pytest.mark.parametrize("plural, body", [("notes", {"body": "x"}), ("tasks", {"subject": "x"})])
def test_adding_to_converted_lead_is_409(call, converted, plural, body):
    r = call("sales", "POST", f"/api/v1/{plural}", {**body, "parent_type": "lead", "parent_id": converted.id})
    assert r.status_code == 409


def test_note_of_converted_lead_is_read_only(call, converted, world):
    r = call("sales", "PATCH", f"/api/v1/notes/{world['note'].id}", {"body": "x"})
    assert r.status_code == 409


def test_converted_leads_hidden_by_default(call, converted, world):
    """C1.4: converted leads leave the default list; ?converted=true lists them."""
    ids = [i["id"] for i in call("admin", "GET", "/api/v1/leads").json["items"]]
    assert converted.id not in ids and world["other_lead"].id in ids
    ids = [i["id"] for i in call("admin", "GET", "/api/v1/leads?converted=true").json["items"]]
    assert ids == [converted.id]


# ---------------------------------------------------------------- behaviour


def test_status_change_goes_through_change_status(call, world, db):
    """The lead's timeline records the move (services.leads.change_status)."""
    r = call("sales", "PATCH", f"/api/v1/leads/{world['lead'].id}", {"status": "qualified"})
    assert r.status_code == 200 and r.json["status"] == "qualified"
    event = db.session.scalar(select(TimelineEvent).where(TimelineEvent.kind == "status_changed"))
    assert event is not None and event.parent_id == world["lead"].id


def test_status_converted_is_refused(call, world):
    r = call("sales", "PATCH", f"/api/v1/leads/{world['lead'].id}", {"status": "converted"})
    assert r.status_code == 422 and "conversion" in r.json["errors"]["status"][0]


def test_round_trip_of_every_field(call, db, world):
    body = {"salutation": "Mr", "first_name": "Élodie", "last_name": "D'Arc", "company": "Zylker",
            "email": "Elodie@Example.com", "phone": "+33 1 23 45 67 89", "annual_revenue": "1250.5",
            "employees": 12, "email_opt_out": True, "currency": "USD", "tags": ["vip", "VIP", " hot "],
            "description": "multi\nline", "status": "contacted"}
    r = call("sales", "POST", "/api/v1/leads", body)
    assert r.status_code == 201, r.json
    out = r.json
    assert out["annual_revenue"] == "1250.50" and out["employees"] == 12 and out["email_opt_out"] is True
    assert out["email"] == "Elodie@example.com" and out["tags"] == ["hot", "vip"]
    assert out["status"] == "contacted" and out["converted"] is False and out["conversion_id"] is None
    assert out["created_at"].endswith("+00:00")
    lead = db.session.get(Lead, out["id"])
    assert get_tags(db.session, "lead", lead.id) == ["hot", "vip"]


def test_markup_is_stored_and_returned_verbatim(call):
    hostile = '<script>alert("x")</script>&amp;'
    r = call("sales", "POST", "/api/v1/leads", {"last_name": hostile, "description": hostile})
    assert r.status_code == 201 and r.json["last_name"] == hostile and r.json["description"] == hostile
    assert r.mimetype == "application/json"


def test_sales_may_not_give_records_away(call, users):
    r = call("sales", "POST", "/api/v1/leads", {"last_name": "X", "owner_id": users["other_sales"].id})
    assert r.status_code == 422 and "owner_id" in r.json["errors"]
    r = call("manager", "POST", "/api/v1/leads", {"last_name": "X", "owner_id": users["sales"].id})
    assert r.status_code == 201


def test_notes_and_tasks_on_records(call, world):
    r = call("sales", "POST", "/api/v1/notes", {"body": "<b>hi</b>", "parent_type": "deal",
                                                "parent_id": world["deal"].id})
    assert r.status_code == 201 and r.json["body"] == "<b>hi</b>"
    r = call("sales", "POST", "/api/v1/tasks", {"subject": "Call", "due_date": "2026-12-01",
                                                "parent_type": "contact", "parent_id": world["contact"].id})
    assert r.status_code == 201 and r.json["status"] == "open" and r.json["due_date"] == "2026-12-01"
    r = call("sales", "GET", f"/api/v1/tasks?parent_type=contact&parent_id={world['contact'].id}")
    assert [t["subject"] for t in r.json["items"]] == ["Call"]


@pytest.mark.parametrize("parent", [("lead", 999), ("account", 999)])
def test_note_on_unknown_parent_is_422(call, world, parent):
    r = call("sales", "POST", "/api/v1/notes", {"body": "x", "parent_type": parent[0], "parent_id": parent[1]})
    assert r.status_code == 422 and "parent_id" in r.json["errors"]


def test_note_on_invisible_lead_is_422(call, world):
    """The other sales user's lead is out of sight: answered like a missing one."""
    r = call("sales", "POST", "/api/v1/notes", {"body": "x", "parent_type": "lead",
                                                "parent_id": world["other_lead"].id})
    assert r.status_code == 422


def test_notes_list_shows_only_visible_parents(call, world, make_note, users):
    hidden = make_note(parent_type="lead", parent_id=world["other_lead"].id)
    ids = [n["id"] for n in call("sales", "GET", "/api/v1/notes").json["items"]]
    assert world["note"].id in ids and hidden.id not in ids


def test_parent_cannot_change(call, world):
    r = call("sales", "PATCH", f"/api/v1/notes/{world['note'].id}", {"parent_id": world["lead"].id})
    assert r.status_code == 422 and "parent_id" in r.json["errors"]


def test_account_cycle_is_refused(call, world, make_account):
    child = make_account(name="Child", parent_id=world["account"].id)
    r = call("admin", "PATCH", f"/api/v1/accounts/{world['account'].id}", {"parent_id": child.id})
    assert r.status_code == 422 and "parent_id" in r.json["errors"]


def test_deal_stage_must_belong_to_pipeline(call, world):
    r = call("sales", "POST", "/api/v1/deals", {"name": "D", "stage": "Nope"})
    assert r.status_code == 422 and "stage" in r.json["errors"]
    r = call("sales", "POST", "/api/v1/deals", {"name": "D"})
    assert r.status_code == 201 and r.json["stage"] == "Incoming" and r.json["pipeline_id"]


def test_closed_status_leads_are_listed(call, db, world):
    """C9.2: the API list is not the board: closed (disqualified) leads stay listed."""
    world["lead"].status = "disqualified"
    db.session.commit()
    ids = [i["id"] for i in call("admin", "GET", "/api/v1/leads").json["items"]]
    assert world["lead"].id in ids
    ids = [i["id"] for i in call("admin", "GET", "/api/v1/leads?status=disqualified").json["items"]]
    assert ids == [world["lead"].id]
    assert db.session.get(LeadStatus, "disqualified").category == "closed"
