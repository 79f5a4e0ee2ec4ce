"""Accounts pages: rights per role, validation (422, nothing written), htmx fragments, keyset
pagination, search and filters, the detail page, and the Flask-free services behind them."""

from __future__ import annotations

import re
from html import unescape as html_unescape

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, csrf_token_from, db_rows
from webapp.errors import BadRequest, Forbidden, Invalid
from webapp.models import Account, CustomField, TimelineEvent
from webapp.services import records as svc

ROLES = ("admin", "manager", "sales", "viewer", "anonymous")


def count(db, model=Account) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def owned(users, make_account):
    """An account owned by the sales rep (who reports to the manager)."""
    return make_account(name="Zylker Inc.", owner_id=users["sales"].id, team_id=users["sales"].team_id)


# ------------------------------------------------------------------ rights per role


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 200, 302), strict=True))
def test_list_is_readable_by_every_signed_in_role(as_user, owned, role, status):
    response = as_user(role).get("/accounts/")
    assert response.status_code == status
    if status == 302:
        assert "/login" in response.headers["Location"]
    else:
        assert "Zylker Inc." in response.get_data(as_text=True)


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 200, 302), strict=True))
def test_detail_is_readable_by_every_signed_in_role(as_user, owned, role, status):
    assert as_user(role).get(f"/accounts/{owned.id}").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 403, 302), strict=True))
def test_new_form_needs_create_right(as_user, role, status):
    assert as_user(role).get("/accounts/new").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (303, 303, 303, 403, 302), strict=True))
def test_create_needs_create_right(as_user, db, role, status):
    response = as_user(role).post("/accounts/", data={"name": "Acme"})
    assert response.status_code == status
    assert count(db) == (1 if status == 303 else 0)


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 403, 302), strict=True))
def test_edit_form_needs_edit_right_on_the_record(as_user, owned, role, status):
    assert as_user(role).get(f"/accounts/{owned.id}/edit").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (303, 303, 303, 403, 302), strict=True))
def test_update_needs_edit_right_on_the_record(as_user, db, owned, role, status):
    response = as_user(role).post(f"/accounts/{owned.id}", data={"name": "Renamed"})
    assert response.status_code == status
    db.session.expire_all()
    assert (db.session.get(Account, owned.id).name == "Renamed") == (status == 303)


def test_sales_may_not_edit_someone_elses_account(as_user, db, users, make_account):
    theirs = make_account(name="Theirs", owner_id=users["other_sales"].id)
    client = as_user("sales")
    assert client.get(f"/accounts/{theirs.id}/edit").status_code == 403
    assert client.post(f"/accounts/{theirs.id}", data={"name": "Mine now"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Account, theirs.id).name == "Theirs"


def test_manager_may_not_edit_outside_team(as_user, users, make_account):
    outside = make_account(name="Outside", owner_id=users["other_sales"].id)
    assert as_user("manager").get(f"/accounts/{outside.id}/edit").status_code == 403


def test_buttons_the_user_may_not_use_are_hidden(as_user, owned):
    viewer_page = as_user("viewer").get(f"/accounts/{owned.id}").get_data(as_text=True)
    assert f"/accounts/{owned.id}/edit" not in viewer_page and "New contact" not in viewer_page
    assert "New account" not in as_user("viewer").get("/accounts/").get_data(as_text=True)
    sales_page = as_user("sales").get(f"/accounts/{owned.id}").get_data(as_text=True)
    assert f"/accounts/{owned.id}/edit" in sales_page


@pytest.mark.parametrize("url", ["/accounts/999", "/accounts/999/edit"])
def test_unknown_account_is_404(as_user, url):
    assert as_user("admin").get(url).status_code == 404


def test_update_of_unknown_account_is_404(as_user, db, make_account):
    make_account(name="Kept")
    before = db_rows(db)
    assert as_user("admin").post("/accounts/999", data={"name": "x"}).status_code == 404
    assert_unchanged(db, before)


# ------------------------------------------------------------------ CSRF


@pytest.mark.csrf
def test_create_without_csrf_token_is_refused(as_user, db):
    assert as_user("sales").post("/accounts/", data={"name": "Acme"}).status_code == 400
    assert count(db) == 0


@pytest.mark.csrf
def test_update_without_csrf_token_is_refused(as_user, db, owned):
    assert as_user("sales").post(f"/accounts/{owned.id}", data={"name": "Nope"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Account, owned.id).name == "Zylker Inc."


@pytest.mark.csrf
def test_create_with_csrf_token(as_user, db):
    client = as_user("sales")
    token = csrf_token_from(client.get("/accounts/new").get_data(as_text=True))
    assert client.post("/accounts/", data={"name": "Acme", "csrf_token": token}).status_code == 303
    assert count(db) == 1


# ------------------------------------------------------------------ create and update


def test_create_writes_fields_tags_owner_and_timeline(as_user, db, users, make_account):
    parent = make_account(name="Group")
    response = as_user("sales").post("/accounts/", data={
        "name": "  Acme  ", "industry": "Retail", "website": "https://acme.example", "phone": "+33 1 23 45 67 89",
        "annual_revenue": "1250.5", "employees": "42", "parent_id": str(parent.id), "tags": "vip, Partner, vip",
        "billing_city": "Lyon", "shipping_country": "France"})
    assert response.status_code == 303
    account = db.session.scalar(select(Account).where(Account.name == "Acme"))
    assert response.headers["Location"].endswith(f"/accounts/{account.id}")
    assert account.parent_id == parent.id and account.employees == 42
    assert str(account.annual_revenue) == "1250.50"
    assert account.owner_id == users["sales"].id and account.team_id == users["sales"].team_id
    assert account.name_norm == "acme"
    from webapp.services.tags import get_tags

    assert get_tags(db.session, "account", account.id) == ["Partner", "vip"]
    events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.parent_type == "account",
                                                            TimelineEvent.parent_id == account.id)).all()
    assert [e.message for e in events] == ["Account created"]


def test_update_records_what_changed_on_the_timeline(as_user, db, owned):
    client = as_user("sales")
    client.post(f"/accounts/{owned.id}", data={"name": "Zylker Inc.", "industry": "Software", "tags": "new"})
    event = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "updated")).one()
    assert event.message == "Account updated: industry, tags"
    page = client.get(f"/accounts/{owned.id}").get_data(as_text=True)
    assert "Account updated: Industry, Tags" in page  # the page names the fields as the form does


def test_update_without_change_records_nothing(as_user, db, owned):
    as_user("sales").post(f"/accounts/{owned.id}", data={"name": "Zylker Inc."})
    assert db.session.scalar(select(func.count()).where(TimelineEvent.kind == "updated")) == 0


def test_edit_form_is_prefilled(as_user, owned, db):
    from webapp.services.tags import set_tags

    set_tags(db.session, "account", owned.id, ["gold"])
    db.session.commit()
    page = as_user("sales").get(f"/accounts/{owned.id}/edit").get_data(as_text=True)
    assert 'value="Zylker Inc."' in page and 'value="gold"' in page


# ------------------------------------------------------------------ bad input: 422, nothing written


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "Account name is required."),
    ("name", "x" * 256, "Account name is at most 255 characters."),
    ("industry", "x" * 101, "Industry is at most 100 characters."),
    ("billing_postal_code", "9" * 101, "Postal code is at most 100 characters."),
    ("employees", "many", "Employees must be a whole number."),
    ("employees", "-3", "Employees must be a whole number between 0 and 2147483647."),
    ("annual_revenue", "lots", 'Annual revenue must be a decimal amount, e.g. "1250.00".'),
    ("annual_revenue", "-1", "Annual revenue must be zero or more."),
    ("phone", "12", "Phone has the wrong number of digits for a phone number."),
    ("website", "not a url", "Website is not a valid web address."),
    ("parent_id", "abc", "Parent account must be a whole number."),
    ("parent_id", "9999", "Parent account is not a known account (id 9999)."),
    ("owner_id", "9999", "Owner is not an active user (id 9999)."),
    ("tags", "x" * 61, "Tags has a tag longer than 60 characters."),
])
def test_bad_input_is_422_next_to_the_field_and_writes_nothing(as_user, db, field, value, message):
    data = {"name": "Acme", field: value}
    response = as_user("sales").post("/accounts/", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    assert error, html
    assert message.lower() in html_unescape(error.group(1)).lower()
    assert count(db) == 0


def test_account_cannot_be_its_own_parent(as_user, db, owned):
    response = as_user("sales").post(f"/accounts/{owned.id}", data={"name": "Zylker Inc.", "parent_id": owned.id})
    assert response.status_code == 422
    assert "Parent account an account cannot be its own parent." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Account, owned.id).parent_id is None


def test_parent_cycle_is_refused(as_user, db, users, make_account):
    top = make_account(name="Top", owner_id=users["sales"].id)
    middle = make_account(name="Middle", parent_id=top.id)
    bottom = make_account(name="Bottom", parent_id=middle.id)
    response = as_user("sales").post(f"/accounts/{top.id}", data={"name": "Top", "parent_id": bottom.id})
    assert response.status_code == 422
    assert "would make a cycle" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Account, top.id).parent_id is None


def test_required_custom_field_and_typed_values(as_user, db):
    db.session.add_all([
        CustomField(entity="account", key="duns", label="DUNS number", type="number", required=True),
        CustomField(entity="account", key="segment", label="Segment", type="picklist", options=["SMB", "Enterprise"]),
    ])
    db.session.commit()
    client = as_user("sales")
    page = client.get("/accounts/new").get_data(as_text=True)
    assert 'name="cf_duns"' in page and "DUNS number" in page
    response = client.post("/accounts/", data={"name": "Acme", "cf_segment": "Huge"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="cf_duns-error"[^>]*>DUNS number is required', html)
    assert re.search(r'id="cf_segment-error"[^>]*>Segment must be one of: SMB, Enterprise', html)
    assert count(db) == 0
    response = client.post("/accounts/", data={"name": "Acme", "cf_duns": "12.5"})
    assert re.search(r'id="cf_duns-error"[^>]*>DUNS number must be a whole number', response.get_data(as_text=True))
    response = client.post("/accounts/", data={"name": "Acme", "cf_duns": "123456", "cf_segment": "SMB"})
    assert response.status_code == 303
    from webapp.services.custom_values import get_custom

    account = db.session.scalar(select(Account))
    assert get_custom(db.session, "account", account.id) == {"duns": 123456, "segment": "SMB"}
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert "DUNS number" in page and "123456" in page


def test_markup_is_rendered_escaped(as_user, db, users, make_account):
    evil = '<script>alert("x")</script>'
    account = make_account(name=evil, industry=evil, website="javascript:alert(1)", owner_id=users["sales"].id)
    client = as_user("sales")
    for url in ("/accounts/", f"/accounts/{account.id}", f"/accounts/{account.id}/edit"):
        html = client.get(url).get_data(as_text=True)
        assert evil not in html
        assert "&lt;script&gt;" in html
    assert 'href="javascript:' not in client.get(f"/accounts/{account.id}").get_data(as_text=True)


# ------------------------------------------------------------------ list: htmx, search, filters, pagination


def test_htmx_request_gets_only_the_rows(as_user, owned):
    response = as_user("sales").get("/accounts/?q=zyl", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and "<tr" in html and "Zylker Inc." in html
    assert "HX-Request" in response.headers["Vary"]


def test_history_restore_gets_the_full_page(as_user, owned):
    response = as_user("sales").get("/accounts/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in response.get_data(as_text=True)


@pytest.mark.parametrize("q, found", [
    ("zyl", True), ("ZYLKER", True), ("Zylker, Inc", True), ("  zy ", True), ("ylker", False),
    ("%", False), ("<b>", False), ("é" * 300, False),
])
def test_search_is_a_prefix_on_the_normalised_name(as_user, owned, q, found):
    response = as_user("viewer").get("/accounts/", query_string={"q": q}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert ("Zylker Inc." in response.get_data(as_text=True)) is found


def test_filters_by_owner_and_tag(as_user, users, make_account):
    make_account(name="Alpha", owner_id=users["sales"].id, tags=["vip"])
    make_account(name="Beta", owner_id=users["manager"].id, tags=["VIP"])
    make_account(name="Gamma", owner_id=users["sales"].id)
    client = as_user("viewer")

    def names(**args):
        html = client.get("/accounts/", query_string=args, headers={"HX-Request": "true"}).get_data(as_text=True)
        return re.findall(r'class="row-link"[^>]*>([^<]+)<', html)

    assert names(owner_id=users["sales"].id) == ["Alpha", "Gamma"]
    assert names(tag="vip") == ["Alpha", "Beta"]
    assert names(tag="vip", owner_id=users["manager"].id) == ["Beta"]
    assert names(owner_id="nobody") == ["Alpha", "Beta", "Gamma"]  # a bad filter is ignored
    assert names(sort="-created") == ["Gamma", "Beta", "Alpha"]


@pytest.mark.parametrize("sort", ["name", "-created", "-updated"])
def test_keyset_pagination_walks_every_row_once(as_user, db, sort):
    # Ties on purpose: 60 accounts share one name, so the id must break them.
    db.session.add_all([Account(name="Same" if i % 2 else f"Account {i:03}") for i in range(120)])
    db.session.commit()
    client = as_user("viewer")
    seen: list[str] = []
    url = f"/accounts/?sort={sort}"
    pages = 0
    while url:
        html = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        seen += re.findall(r'data-href="/accounts/(\d+)"', html)
        more = re.search(r'hx-get="([^"]+)"[^>]*>Load more', html)
        url = more.group(1).replace("&amp;", "&") if more else None
        pages += 1
        assert "OFFSET" not in html
    assert pages == 3
    assert len(seen) == 120 and len(set(seen)) == 120


def test_page_size_is_50(as_user, db):
    db.session.add_all([Account(name=f"A{i}") for i in range(51)])
    db.session.commit()
    html = as_user("viewer").get("/accounts/").get_data(as_text=True)
    assert html.count('data-href="/accounts/') == 50 and "Load more" in html


@pytest.mark.parametrize("cursor", ["garbage", "eyJzIjoibmFtZSJ9", "eyJzIjoibmFtZSIsImlkIjo5OTk5fQ"])
def test_bad_cursor_is_400_with_a_message(as_user, owned, cursor):
    response = as_user("viewer").get("/accounts/", query_string={"cursor": cursor})
    assert response.status_code == 400
    assert "start again" in response.get_data(as_text=True)


def test_empty_state(as_user):
    html = as_user("sales").get("/accounts/").get_data(as_text=True)
    assert "No accounts yet." in html


def test_lookup_returns_options(as_user, owned, make_account):
    other = make_account(name="Zeta")
    html = as_user("sales").get(f"/accounts/lookup?q=z&exclude={other.id}").get_data(as_text=True)
    assert "<html" not in html and f'<option value="{owned.id}" selected>Zylker Inc.</option>' in html
    assert "Zeta" not in html


# ------------------------------------------------------------------ detail page


def test_detail_shows_contacts_deals_parent_subsidiaries_and_activity(as_user, db, owned, make_account,
                                                                      make_contact, make_deal):
    parent = make_account(name="Zylker Group")
    owned.parent_id = parent.id
    child = make_account(name="Zylker Labs", parent_id=owned.id)
    contact = make_contact(first_name="Ada", last_name="Lovelace", account_id=owned.id)
    deal = make_deal(name="Big deal", account_id=owned.id, amount=1500)
    db.session.commit()
    html = as_user("viewer").get(f"/accounts/{owned.id}").get_data(as_text=True)
    for needle in (f"/accounts/{parent.id}", f"/accounts/{child.id}", f"/contacts/{contact.id}",
                   f"/deals/{deal.id}", "Ada Lovelace", "Big deal", "€1,500.00",
                   f"/records/account/{owned.id}/activity"):
        assert needle in html


def test_timeline_shows_links_newest_first(as_user, db, owned, make_lead):
    from datetime import UTC, datetime, timedelta

    from webapp.models import record_event

    lead = make_lead()
    old = record_event(db.session, "account", owned.id, "note", "Old event")
    old.created_at = datetime.now(UTC) - timedelta(days=2)
    record_event(db.session, "account", owned.id, "converted", "Created from lead",
                 data={"links": [{"type": "lead", "id": lead.id, "label": "<b>Charles</b>"}]})
    db.session.commit()
    html = as_user("sales").get(f"/accounts/{owned.id}").get_data(as_text=True)
    assert html.index("Created from lead") < html.index("Old event")
    assert f'href="/leads/{lead.id}"' in html and "&lt;b&gt;Charles&lt;/b&gt;" in html


# ------------------------------------------------------------------ services without a client


def test_service_refuses_a_viewer(db, users):
    with pytest.raises(Forbidden):
        svc.create_account(db.session, users["viewer"], {"name": "Acme"})


def test_service_errors_use_api_field_names(db, users):
    with pytest.raises(Invalid) as info:
        svc.create_account(db.session, users["sales"], {
            "name": "", "employees": "ten", "annual_revenue": True, "parent_id": 42, "colour": "red",
            "tags": "not a list", "custom": {"nope": 1}})
    assert set(info.value.errors) == {"name", "employees", "annual_revenue", "parent_id", "colour", "custom.nope"}
    assert count(db) == 0


def test_service_update_is_partial(db, users, owned):
    svc.update(db.session, users["manager"], owned, {"industry": "Retail"})
    assert owned.name == "Zylker Inc." and owned.industry == "Retail"


def test_parent_problem_detects_cycles(db, make_account):
    a = make_account(name="A")
    b = make_account(name="B", parent_id=a.id)
    assert svc.parent_problem(db.session, a.id, b.id).startswith("would make a cycle")
    assert svc.parent_problem(db.session, a.id, a.id) == "an account cannot be its own parent"
    assert svc.parent_problem(db.session, b.id, a.id) is None
    assert svc.parent_problem(db.session, None, 999) == "is not a known account (id 999)"


def test_cursor_roundtrip_and_garbage():
    assert svc.decode_cursor(svc.encode_cursor("name", 7)) == ("name", 7)
    with pytest.raises(BadRequest):
        svc.decode_cursor("!!!")
