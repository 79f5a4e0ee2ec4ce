"""The conversion modal (C8.1) with input the database cannot hold: a 422 fragment with the
reason, never a 500, nothing written (C7.5; engine follow-up, issue 4)."""

from __future__ import annotations

import pytest

from tests.routes.test_conversions import DEAL, HX, counts, modal_values
from webapp.models import Lead


@pytest.fixture
def lead(make_lead, users):
    return make_lead(owner_id=users["sales"].id, phone="+33 1 23 45 67 89")


@pytest.mark.parametrize("changes", [
    {"task_subject": "Call\x00back", "create_task": "y"},
    {"contact_last_name": "Stone\x00"},
    {"account_name": "\x00"},
    {**DEAL, "deal_name": "Big\x00deal"},
    {**DEAL, "deal_stage": "Qual\x00"},
    {"contact_choice": "link:99999999999999999999"},
    {"account_choice": "link:2147483648"},
    {"owner_id": "99999999999"},
    {**DEAL, "deal_pipeline_id": "2147483648"},
    {**DEAL, "deal_amount": "1e400"},
], ids=lambda c: next(k for k in c if k not in DEAL or k in ("deal_name", "deal_stage", "deal_pipeline_id",
                                                              "deal_amount")))
def test_c7_5_modal_refuses_what_the_database_cannot_hold(as_user, lead, db, changes):
    client = as_user("sales")
    before = counts(db)
    response = client.post(f"/leads/{lead.id}/convert", data=modal_values(client, lead.id, **changes), headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert "<html" not in html and "error" in html
    assert counts(db) == before and not db.session.get(Lead, lead.id).converted
