"""C5.4: the conversion's follow-up task is linked to the contact and the deal, and shows under
both: in the domain (activity panel and timeline data), on the record pages, in the API."""

from __future__ import annotations

import pytest

from webapp.models import Task
from webapp.services.activities import panel_data, timeline

FOLLOW_UP = "Send the quote to Charles"


@pytest.fixture
def converted(convert, make_lead, sales, db):
    """A lead converted with a deal and a follow-up task: (conversion, task)."""
    lead = make_lead(owner_id=sales.id)
    c = convert(sales, lead, deal={"stage": "Qualification"}, task={"subject": FOLLOW_UP})
    return c, db.session.get(Task, c.task_id)


# --- domain ------------------------------------------------------------------------------------
def test_c5_4_the_task_hangs_on_the_contact_and_is_linked_to_the_deal(converted):
    c, task = converted
    assert (task.parent_type, task.parent_id, task.deal_id) == ("contact", c.contact_id, c.deal_id)


def test_c5_4_the_deals_activity_panel_and_timeline_list_the_task(converted, db, sales):
    from webapp.models import Contact, Deal

    c, task = converted
    for record in (db.session.get(Deal, c.deal_id), db.session.get(Contact, c.contact_id)):
        data = panel_data(db.session, sales, record)
        assert [t.id for t in data["upcoming"]] == [task.id], record
        items, _ = timeline(db.session, type(record).__name__.lower(), record.id)
        assert task.id in [i.obj.id for i in items if i.kind == "task"], record


def test_c5_4_a_deal_lists_its_own_tasks_and_linked_ones_only(converted, db, sales, make_deal, make_task):
    """Another deal's linked task, or a task of the same contact without deal, stays off the deal."""
    from webapp.models import Deal

    c, task = converted
    other = make_deal(name="Other")
    own = make_task(subject="On the deal itself", parent_type="deal", parent_id=c.deal_id)
    make_task(subject="Contact only", parent_type="contact", parent_id=c.contact_id)
    make_task(subject="Other deal", parent_type="contact", parent_id=c.contact_id, deal_id=other.id)
    data = panel_data(db.session, sales, db.session.get(Deal, c.deal_id))
    assert sorted(t.id for t in data["upcoming"]) == sorted([task.id, own.id])


# --- pages -------------------------------------------------------------------------------------
def test_c5_4_the_task_shows_on_the_deal_page_and_the_contact_page(converted, as_user):
    c, _ = converted
    client = as_user("sales")
    for url in (f"/records/deal/{c.deal_id}/activity", f"/records/contact/{c.contact_id}/activity"):
        response = client.get(url, headers={"HX-Request": "true"})
        assert response.status_code == 200, url
        assert FOLLOW_UP in response.get_data(as_text=True), url
    # The record pages load that panel (htmx) from the same URL.
    for kind, url in (("deal", f"/deals/{c.deal_id}"), ("contact", f"/contacts/{c.contact_id}")):
        response = client.get(url)
        assert response.status_code == 200, url
        record_id = c.deal_id if kind == "deal" else c.contact_id
        assert f"/records/{kind}/{record_id}/activity" in response.get_data(as_text=True), url


# --- API ---------------------------------------------------------------------------------------
def test_c5_4_the_api_lists_the_task_under_the_deal_and_under_the_contact(converted, client, api_headers,
                                                                        sales):
    c, task = converted
    headers = api_headers(sales)
    for parent_type, parent_id in (("deal", c.deal_id), ("contact", c.contact_id)):
        response = client.get(f"/api/v1/tasks?parent_type={parent_type}&parent_id={parent_id}", headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        items = body["items"] if isinstance(body, dict) else body
        assert [t["id"] for t in items] == [task.id], parent_type
    response = client.get(f"/api/v1/tasks?parent_type=account&parent_id={c.account_id}", headers=headers)
    body = response.get_json()
    assert (body["items"] if isinstance(body, dict) else body) == []
