"""Deals pages: rights per role, validation (stage must belong to the pipeline, amount >= 0,
known account/contact), htmx rows, filters, keyset pagination, the stage progress bar."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import func, select

from webapp.errors import Invalid
from webapp.models import Deal, Pipeline, Stage
from webapp.services import records as svc

ROLES = ("admin", "manager", "sales", "viewer", "anonymous")


def count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Deal))


@pytest.fixture
def pipeline(db):
    return db.session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))


@pytest.fixture
def other_pipeline(db):
    p = Pipeline(name="Renewals", stages=[Stage(name="Due", position=0), Stage(name="Renewed", position=1)])
    db.session.add(p)
    db.session.commit()
    return p


@pytest.fixture
def owned(users, make_deal, make_account, make_contact):
    account = make_account(name="Zylker Inc.")
    contact = make_contact(account_id=account.id)
    return make_deal(name="Zylker deal", account_id=account.id, contact_id=contact.id, amount=Decimal("1000"),
                     stage="Proposal", owner_id=users["sales"].id)


def valid(pipeline, **kw):
    return {"name": "New deal", "pipeline_id": pipeline.id, "stage": "Qualification", "currency": "EUR",
            "amount": "250.00", **kw}


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 200, 302), strict=True))
def test_list_status_per_role(as_user, owned, role, status):
    assert as_user(role).get("/deals/").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 200, 302), strict=True))
def test_detail_status_per_role(as_user, owned, role, status):
    assert as_user(role).get(f"/deals/{owned.id}").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 403, 302), strict=True))
def test_new_status_per_role(as_user, role, status):
    assert as_user(role).get("/deals/new").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (303, 303, 303, 403, 302), strict=True))
def test_create_status_per_role(as_user, db, pipeline, role, status):
    assert as_user(role).post("/deals/", data=valid(pipeline)).status_code == status
    assert count(db) == (1 if status == 303 else 0)


@pytest.mark.parametrize("role, status", zip(ROLES, (200, 200, 200, 403, 302), strict=True))
def test_edit_status_per_role(as_user, owned, role, status):
    assert as_user(role).get(f"/deals/{owned.id}/edit").status_code == status


@pytest.mark.parametrize("role, status", zip(ROLES, (303, 303, 303, 403, 302), strict=True))
def test_update_status_per_role(as_user, db, owned, pipeline, role, status):
    response = as_user(role).post(f"/deals/{owned.id}", data=valid(pipeline, name="Zylker deal", stage="Won"))
    assert response.status_code == status
    db.session.expire_all()
    assert (db.session.get(Deal, owned.id).stage == "Won") == (status == 303)


def test_other_sales_rep_may_not_edit(client, db, users, owned, pipeline):
    from tests.conftest import assert_unchanged, db_rows, login

    login(client, users["other_sales"])
    assert client.get(f"/deals/{owned.id}/edit").status_code == 403
    before = db_rows(db)
    assert client.post(f"/deals/{owned.id}", data=valid(pipeline)).status_code == 403
    assert_unchanged(db, before)


@pytest.mark.csrf
def test_post_without_csrf_is_refused(as_user, db, owned, pipeline):
    client = as_user("sales")
    assert client.post("/deals/", data=valid(pipeline)).status_code == 400
    assert client.post(f"/deals/{owned.id}", data=valid(pipeline)).status_code == 400
    assert count(db) == 1


@pytest.mark.parametrize("url", ["/deals/999", "/deals/999/edit"])
def test_unknown_is_404(as_user, url):
    assert as_user("sales").get(url).status_code == 404


def test_create_writes_everything(as_user, db, owned, pipeline, users):
    response = as_user("sales").post("/deals/", data=valid(
        pipeline, account_id=owned.account_id, contact_id=owned.contact_id, contact_role="Decision maker",
        amount="1250.5", currency="USD", closing_date="2026-12-31", tags="q4"))
    assert response.status_code == 303
    deal = db.session.scalar(select(Deal).where(Deal.name == "New deal"))
    assert (deal.amount, deal.currency, deal.stage, str(deal.closing_date)) == (Decimal("1250.50"), "USD", "Qualification", "2026-12-31")
    assert deal.owner_id == users["sales"].id


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "Deal name is required."),
    ("name", "d" * 256, "Deal name is at most 255 characters."),
    ("stage", "Due", "Stage is not a stage of the “Sales” pipeline"),
    ("stage", "<b>x</b>", "Stage is not a stage"),
    ("amount", "-1", "Amount must be zero or more."),
    ("amount", "ten", 'Amount must be a decimal amount, e.g. "1250.00".'),
    ("amount", "1e20", "Amount must be a decimal amount"),
    ("amount", "100000000000000", "Amount must be at most 99999999999999.99."),
    ("closing_date", "31/12/2026", "Closing date must be a date (YYYY-MM-DD)."),
    ("account_id", "9999", "Account is not a known account (id 9999)."),
    ("contact_id", "9999", "Contact is not a known contact (id 9999)."),
    ("currency", "XXX", "Currency is not a currency of this CRM"),
    ("pipeline_id", "9999", "Pipeline is not a known pipeline (id 9999)."),
    ("campaign_id", "9999", "Campaign is not a known campaign (id 9999)."),
])
def test_bad_input_is_422_and_writes_nothing(as_user, db, pipeline, other_pipeline, field, value, message):
    response = as_user("sales").post("/deals/", data=valid(pipeline, **{field: value}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    assert error, html[-2000:]
    assert message.lower() in unescape(error.group(1)).lower()
    assert count(db) == 0


def test_stage_must_belong_to_the_chosen_pipeline(as_user, db, other_pipeline):
    client = as_user("sales")
    assert client.post("/deals/", data=valid(other_pipeline, stage="Qualification")).status_code == 422
    assert count(db) == 0
    assert client.post("/deals/", data=valid(other_pipeline, stage="Renewed")).status_code == 303


def test_contact_of_another_account_is_refused(as_user, db, owned, pipeline, make_account):
    elsewhere = make_account(name="Elsewhere")
    response = as_user("sales").post("/deals/", data=valid(pipeline, account_id=elsewhere.id, contact_id=owned.contact_id))
    assert response.status_code == 422
    assert "Contact belongs to another account." in response.get_data(as_text=True)
    assert count(db) == 1  # only `owned`


def test_stage_options_follow_the_pipeline(as_user, other_pipeline):
    html = as_user("sales").get(f"/deals/stages?pipeline_id={other_pipeline.id}").get_data(as_text=True)
    assert "<html" not in html and ">Due<" in html and ">Renewed<" in html and "Proposal" not in html


def test_detail_shows_stage_progress(as_user, owned):
    html = as_user("viewer").get(f"/deals/{owned.id}").get_data(as_text=True)
    assert "Sales pipeline" in html and "€1,000.00" in html
    done = re.findall(r'class="stage stage-done[^"]*"', html)
    current = re.findall(r'class="stage stage-current[^"]*"[^>]*aria-current="step"', html)
    assert len(done) == 2 and len(current) == 1  # Incoming, Qualification passed; Proposal current
    assert f"/records/deal/{owned.id}/activity" in html


def test_markup_is_escaped(as_user, users, make_deal):
    evil = "<svg onload=alert(1)>"
    deal = make_deal(name=evil, contact_role=evil, owner_id=users["sales"].id)
    for url in ("/deals/", f"/deals/{deal.id}"):
        html = as_user("sales").get(url).get_data(as_text=True)
        assert evil not in html and "&lt;svg" in html


def test_htmx_rows_and_filters(as_user, owned, make_deal, other_pipeline):
    make_deal(name="Renewal", pipeline_id=other_pipeline.id, stage="Due")
    client = as_user("viewer")

    def names(**args):
        html = client.get("/deals/", query_string=args, headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "<html" not in html
        return re.findall(r'class="row-link"[^>]*>([^<]+)<', html)

    assert names(stage="Proposal") == ["Zylker deal"]
    assert names(pipeline_id=other_pipeline.id) == ["Renewal"]
    assert names(account_id=owned.account_id) == ["Zylker deal"]
    assert names(contact_id=owned.contact_id) == ["Zylker deal"]
    assert names(q="zylker") == ["Zylker deal"]
    assert names(q="ren") == ["Renewal"]
    assert names(q="100%") == []
    assert names(sort="-amount") == ["Zylker deal", "Renewal"]


def test_pagination_walks_all_rows(as_user, db, pipeline):
    db.session.add_all([Deal(name=f"D{i}", pipeline_id=pipeline.id, stage="Won", amount=Decimal(i % 3)) for i in range(110)])
    db.session.commit()
    client = as_user("viewer")
    for sort in ("-created", "name", "-amount"):
        seen, url = [], f"/deals/?sort={sort}"
        while url:
            html = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
            seen += re.findall(r'data-href="/deals/(\d+)"', html)
            more = re.search(r'hx-get="([^"]+)"[^>]*>Load more', html)
            url = more.group(1).replace("&amp;", "&") if more else None
        assert len(seen) == 110 and len(set(seen)) == 110, sort


def test_cursor_of_another_sort_is_400(as_user, db, pipeline):
    cursor = svc.encode_cursor("name", 1)
    assert as_user("viewer").get(f"/deals/?sort=-created&cursor={cursor}").status_code == 400


def test_service_defaults_pipeline_and_first_stage(db, users):
    deal = svc.create_deal(db.session, users["sales"], {"name": "Quick"})
    assert deal.pipeline.is_default and deal.stage == "Incoming" and deal.currency == "EUR"


def test_service_types(db, users):
    with pytest.raises(Invalid) as info:
        svc.create_deal(db.session, users["sales"], {"name": "X", "amount": "abc", "closing_date": "tomorrow",
                                                     "currency": 5, "owner_id": 999})
    assert set(info.value.errors) == {"amount", "closing_date", "currency", "owner_id"}
