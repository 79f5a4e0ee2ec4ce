"""C8.6: a rule fires whatever moved the lead — the lead form, the board, the API — and when a
lead is created in its status (form or API); a refused conversion keeps the status change and
the reason shows on the lead's timeline."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.models import Conversion, Lead, Role, TimelineEvent
from webapp.services.automation import create_rule

HX = {"HX-Request": "true"}


@pytest.fixture
def rule(db, users):
    """A rule converting leads that enter "qualified" (and come from the web) into a deal."""
    r = create_rule(db.session, users["admin"], {
        "name": "Qualified web leads", "on_status": "qualified",
        "conditions": [{"field": "lead_source", "op": "equals", "value": "web"}],
        "options": {"deal": {"stage": "Qualification", "name": "{company}"}}})
    db.session.commit()
    return r


@pytest.fixture
def lead(make_lead, users):
    return make_lead(owner_id=users["sales"].id, lead_source="Web")


def form_data(**overrides) -> dict:
    data = {"first_name": "Charles", "last_name": "Stone", "company": "Zylker Inc.",
            "email": "charles.s@zylker.com", "status": "new", "currency": "EUR", "lead_source": "Web"}
    data.update(overrides)
    return data


def redirected(response, headers) -> str:
    """Where a saved form sends the reader: a 303, or for htmx a 204 with HX-Redirect."""
    if headers:
        assert response.status_code == 204
        return response.headers["HX-Redirect"]
    assert response.status_code == 303
    return response.headers["Location"]


def converted_by_rule(db, lead_id: int) -> bool:
    lead = db.session.get(Lead, lead_id)
    db.session.refresh(lead)
    kinds = set(db.session.scalars(select(TimelineEvent.kind).where(
        TimelineEvent.parent_type == "lead", TimelineEvent.parent_id == lead_id)))
    return lead.converted and "rule_converted" in kinds


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_c8_6_the_lead_form(as_user, db, rule, lead, headers):
    response = as_user("sales").post(f"/leads/{lead.id}", data=form_data(status="qualified"), headers=headers)
    assert redirected(response, headers).endswith(f"/leads/{lead.id}")
    assert converted_by_rule(db, lead.id)


def test_c8_6_the_board_move(as_user, db, rule, lead):
    response = as_user("sales").post(f"/leads/{lead.id}/status", data={"status": "qualified"},
                                     headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.get_json()["changed"] is True
    assert converted_by_rule(db, lead.id)


def test_c8_6_the_api_status_change(client, db, users, api_headers, rule, lead):
    r = client.patch(f"/api/v1/leads/{lead.id}", json={"status": "qualified"}, headers=api_headers(users["sales"]))
    assert r.status_code == 200 and r.get_json()["converted"] is True
    assert converted_by_rule(db, lead.id)


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_c8_6_a_lead_created_in_the_status_by_the_form(as_user, db, rule, headers):
    response = as_user("sales").post("/leads/", data=form_data(status="qualified"), headers=headers)
    lead_id = db.session.scalar(select(Lead.id))
    assert redirected(response, headers).endswith(f"/leads/{lead_id}")
    assert converted_by_rule(db, lead_id)


def test_c8_6_a_lead_created_in_the_status_by_the_api(client, db, users, api_headers, rule):
    r = client.post("/api/v1/leads", json={"last_name": "Stone", "company": "Zylker Inc.", "lead_source": "Web",
                                           "status": "qualified"}, headers=api_headers(users["sales"]))
    assert r.status_code == 201 and r.get_json()["converted"] is True and r.get_json()["status"] == "converted"
    assert converted_by_rule(db, r.get_json()["id"])


def test_c8_6_conditions_still_apply_on_every_path(as_user, client, db, users, api_headers, rule, make_lead):
    fair = make_lead(owner_id=users["sales"].id, lead_source="Trade show")
    as_user("sales").post(f"/leads/{fair.id}/status", data={"status": "qualified"})
    assert db.session.get(Lead, fair.id).status == "qualified" and not db.session.get(Lead, fair.id).converted
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 0


@pytest.fixture
def junior(db, make_user):
    """A rep who edits their leads but may not convert (no "Convert leads")."""
    db.session.add(Role(key="junior", label="Junior", scope="own", permissions=["lead.edit", "lead.create"]))
    db.session.commit()
    return make_user("junior")


def test_c8_6_a_refused_rule_keeps_the_move_and_the_timeline_says_why(client, db, junior, rule, make_lead):
    from tests.conftest import login

    lead = make_lead(owner_id=junior.id, lead_source="Web")
    login(client, junior)
    response = client.post(f"/leads/{lead.id}/status", data={"status": "qualified"})
    assert response.status_code == 200 and response.get_json()["status"] == "qualified"
    assert db.session.get(Lead, lead.id).status == "qualified" and not db.session.get(Lead, lead.id).converted
    timeline = client.get(f"/records/lead/{lead.id}/timeline", headers=HX)
    html = timeline.get_data(as_text=True)
    assert timeline.status_code == 200 and "<html" not in html
    assert "Rule “Qualified web leads” could not convert this lead" in html.replace("&#34;", '"')
    assert "Convert leads" in html


def test_c8_6_the_converted_lead_page_names_the_rule(as_user, db, rule, lead):
    client = as_user("sales")
    client.post(f"/leads/{lead.id}/status", data={"status": "qualified"})
    html = client.get(f"/records/lead/{lead.id}/timeline", headers=HX).get_data(as_text=True)
    assert "Converted by the rule “Qualified web leads”" in html
