"""Contacts pages: rights per role, validation (422, nothing written), htmx rows, search,
filters (account), keyset pagination, the detail page (account, deals, timeline)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from webapp.errors import Invalid
from webapp.models import Contact, TimelineEvent
from webapp.services import records as svc

ROLES = ("admin", "manager", "sales", "viewer", "anonymous")


def count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Contact))


@pytest.fixture
def owned(users, make_contact, make_account):
    account = make_account(name="Zylker Inc.")
    return make_contact(first_name="Ada", last_name="Lovelace", email="ada@zylker.com",
                        account_id=account.id, owner_id=users["sales"].id)


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 200, 302), strict=True))
def test_list_status_per_role(as_user, owned, role, status):
    response = as_user(role).get("/contacts/")
    assert response.status_code == status
    if status == 302:
        assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 200, 302), strict=True))
def test_detail_status_per_role(as_user, owned, role, status):
    assert as_user(role).get(f"/contacts/{owned.id}").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 403, 302), strict=True))
def test_new_status_per_role(as_user, role, status):
    assert as_user(role).get("/contacts/new").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (303, 303, 303, 403, 302), strict=True))
def test_create_status_per_role(as_user, db, role, status):
    assert as_user(role).post("/contacts/", data={"last_name": "Stone"}).status_code == status
    assert count(db) == (1 if status == 303 else 0)


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 403, 302), strict=True))
def test_edit_status_per_role(as_user, owned, role, status):
    assert as_user(role).get(f"/contacts/{owned.id}/edit").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (303, 303, 303, 403, 302), strict=True))
def test_update_status_per_role(as_user, db, owned, role, status):
    response = as_user(role).post(f"/contacts/{owned.id}", data={"last_name": "Byron"})
    assert response.status_code == status
    db.session.expire_all()
    assert (db.session.get(Contact, owned.id).last_name == "Byron") == (status == 303)


def test_other_sales_rep_gets_403(client, users, owned):
    from tests.conftest import login

    login(client, users["other_sales"])
    assert client.get(f"/contacts/{owned.id}").status_code == 200  # reads all contacts
    assert client.get(f"/contacts/{owned.id}/edit").status_code == 403


@pytest.mark.csrf
def test_post_without_csrf_is_refused(as_user, db, owned):
    client = as_user("sales")
    assert client.post("/contacts/", data={"last_name": "Stone"}).status_code == 400
    assert client.post(f"/contacts/{owned.id}", data={"last_name": "X"}).status_code == 400
    assert count(db) == 1


@pytest.mark.parametrize("url", ["/contacts/999", "/contacts/999/edit"])
def test_unknown_is_404(as_user, url):
    assert as_user("sales").get(url).status_code == 404


def test_create_links_the_account_and_records_the_event(as_user, db, owned):
    response = as_user("sales").post("/contacts/", data={
        "salutation": "Dr.", "first_name": "Grace", "last_name": "Hopper", "email": " Grace@Navy.MIL ",
        "phone": "01 23 45 67 89", "account_id": owned.account_id, "email_opt_out": "y", "tags": "vip"})
    assert response.status_code == 303
    grace = db.session.scalar(select(Contact).where(Contact.last_name == "Hopper"))
    assert grace.account_id == owned.account_id and grace.email_opt_out is True
    assert grace.email_norm == "grace@navy.mil" and grace.phone_e164 == "+33123456789"
    assert db.session.scalar(select(TimelineEvent.message).where(TimelineEvent.parent_id == grace.id,
                                                                 TimelineEvent.parent_type == "contact")) == "Contact created"
    page = as_user("sales").get(f"/accounts/{owned.account_id}").get_data(as_text=True)
    assert "Grace Hopper" in page


@pytest.mark.parametrize("field, value, message", [
    ("last_name", "", "Last name is required."),
    ("last_name", "x" * 101, "Last name is at most 100 characters."),
    ("email", "not-an-email", "E-mail is not a valid e-mail address"),
    ("email", "a@" + "b" * 260 + ".com", "E-mail is at most 254 characters."),
    ("phone", "12", "Phone has the wrong number of digits"),
    ("mobile", "call me", "Mobile is not a valid phone number"),
    ("account_id", "9999", "Account is not a known account (id 9999)."),
    ("account_id", "x", "Account must be a whole number."),
    ("salutation", "x" * 21, "Salutation is at most 20 characters."),
])
def test_bad_input_is_422_and_writes_nothing(as_user, db, field, value, message):
    response = as_user("sales").post("/contacts/", data={"last_name": "Stone", field: value})
    assert response.status_code == 422
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', response.get_data(as_text=True))
    assert error and message.lower() in unescape(error.group(1)).lower()
    assert count(db) == 0


def test_markup_is_escaped(as_user, users, make_contact):
    evil = "<img src=x onerror=alert(1)>"
    contact = make_contact(first_name=evil, description=evil, linkedin="javascript:alert(1)", owner_id=users["sales"].id)
    client = as_user("sales")
    for url in ("/contacts/", f"/contacts/{contact.id}"):
        html = client.get(url).get_data(as_text=True)
        assert evil not in html and "&lt;img" in html
        assert 'href="javascript:' not in html


def test_htmx_gets_rows_only(as_user, owned):
    response = as_user("sales").get("/contacts/?q=ada", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Ada Lovelace" in html and "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("q, found", [("ada", True), ("ADA LOVE", True), ("ada@zyl", True), ("Ådå", True),
                                      ("lovelace", False), ("%", False), ("bob", False)])
def test_search_prefix_on_name_or_email(as_user, owned, q, found):
    html = as_user("viewer").get("/contacts/", query_string={"q": q}, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert ("Ada Lovelace" in html) is found


def test_filter_by_account_shows_a_chip(as_user, owned, make_contact):
    make_contact(first_name="Bob", last_name="Other")
    client = as_user("viewer")
    html = client.get(f"/contacts/?account_id={owned.account_id}").get_data(as_text=True)
    assert "Ada Lovelace" in html and "Bob Other" not in html and "Account: Zylker Inc." in html
    assert "Bob Other" in client.get("/contacts/?account_id=oops").get_data(as_text=True)


def test_pagination_walks_all_rows(as_user, db):
    db.session.add_all([Contact(first_name="Same", last_name="Name") for _ in range(75)]
                       + [Contact(last_name=f"Person {i:02}") for i in range(30)])
    db.session.commit()
    client = as_user("viewer")
    seen, url = [], "/contacts/"
    while url:
        html = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        seen += re.findall(r'data-href="/contacts/(\d+)"', html)
        more = re.search(r'hx-get="([^"]+)"[^>]*>Load more', html)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert len(seen) == 105 and len(set(seen)) == 105


def test_detail_shows_account_and_deals(as_user, owned, make_deal):
    deal = make_deal(name="Engine", contact_id=owned.id, account_id=owned.account_id, contact_role="Buyer")
    html = as_user("viewer").get(f"/contacts/{owned.id}").get_data(as_text=True)
    assert f"/accounts/{owned.account_id}" in html and f"/deals/{deal.id}" in html and "Buyer" in html
    assert f"/records/contact/{owned.id}/activity" in html


def test_lookup(as_user, owned):
    html = as_user("sales").get("/contacts/lookup?q=ada").get_data(as_text=True)
    assert f'value="{owned.id}"' in html and "<html" not in html


def test_service_requires_last_name_and_checks_email(db, users):
    with pytest.raises(Invalid) as info:
        svc.create_contact(db.session, users["sales"], {"email": "nope", "email_opt_out": "yes"})
    assert set(info.value.errors) == {"last_name", "email"}  # "yes" is a checkbox's true
