"""/admin/pipelines (issue 10, item 5): the pipelines with their stages in order, probabilities,
deals and default badge; a form for each change (htmx fragments, plain posts without
JavaScript); refusals next to the field (422) or on the pipeline's card (409), nothing written.
The permission matrix of every /admin page is tests/routes/test_admin_area.py."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import assert_unchanged, db_rows
from webapp.models import AuditEntry, Deal, Pipeline, Stage
from webapp.services import pipelines as svc

HX = {"HX-Request": "true"}
URL = "/admin/pipelines"


@pytest.fixture
def admin(as_user):
    return as_user("admin")


@pytest.fixture
def sales(db) -> Pipeline:
    return db.session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))


def stage(db, pipeline: Pipeline, name: str) -> Stage:
    return db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id, Stage.name == name))


def names(db, pipeline: Pipeline) -> list[str]:
    return list(db.session.scalars(select(Stage.name).where(Stage.pipeline_id == pipeline.id)
                                   .order_by(Stage.position)))


def text(response) -> str:
    return response.get_data(as_text=True)


def test_the_page_lists_pipelines_with_their_stages_in_order(admin, db, sales, make_deal, users):
    make_deal(stage="Proposal")
    make_deal(stage="Proposal")
    svc.create_pipeline(db.session, users["admin"], {"name": "Partners", "stages": [{"name": "Intro"}]})
    db.session.commit()
    r = admin.get(URL)
    page = text(r)
    assert r.status_code == 200 and "<h1>Pipelines</h1>" in page
    assert 'aria-current="page"' in page and 'href="/admin/pipelines"' in page  # the section in the nav
    sales_card = page[page.index('id="pipeline-1"'):page.index('id="pipeline-2"')]
    assert "badge-default" in sales_card and "badge-default" not in page[page.index('id="pipeline-2"'):]
    order = re.findall(r'name="s\d+-name"[^>]*value="([^"]+)"', sales_card)
    assert order == ["Incoming", "Qualification", "Proposal", "Negotiation", "Won", "Lost"]
    assert re.findall(r'name="s\d+-probability"[^>]*value="(\d+)"', sales_card) == ["10", "20", "40", "60", "100", "0"]
    assert "2 deals" in sales_card and "/deals/?pipeline_id=1&amp;stage=Proposal" in sales_card
    # The stage with deals offers to move them; an empty one a plain Delete.
    assert "Move its 2 deals and delete" in sales_card
    proposal = stage(db, sales, "Proposal")
    delete_form = sales_card[sales_card.index(f'id="d{proposal.id}-move_to"'):]
    assert re.match(r'[^>]*>\s*<option value="Incoming">Incoming</option>\s*<option value="Qualification">'
                    r'Qualification</option>\s*<option selected value="Negotiation">', delete_form)  # the next one
    # Keyboard reordering: up / down buttons with a name each; the ends say they cannot move.
    assert 'aria-label="Move “Won” up"' in sales_card and 'aria-label="Move “Incoming” up"' in sales_card
    assert re.search(r'id="s1-up"\s+aria-disabled="true"', sales_card)


def test_the_page_in_french(admin, db):
    admin.post("/profile/language", data={"language": "fr"})
    page = text(admin.get(URL))
    assert '<html lang="fr"' in page and "Ventes" in page and "Par défaut" in page


def test_create_a_pipeline_with_htmx(admin, db):
    r = admin.post(URL, data={"name": "Renewals", "stages": ""}, headers=HX)
    assert r.status_code == 200
    fragment = text(r)
    assert "<html" not in fragment and 'id="pipelines"' in fragment
    assert "Pipeline “Renewals” created." in fragment
    pipeline = db.session.scalar(select(Pipeline).where(Pipeline.name == "Renewals"))
    assert names(db, pipeline)[0] == "Incoming" and not pipeline.is_default
    r = admin.post(URL, data={"name": "Channel", "stages": "Intro\nSigned\n", "default": "y"}, headers=HX)
    channel = db.session.scalar(select(Pipeline).where(Pipeline.name == "Channel"))
    assert names(db, channel) == ["Intro", "Signed"] and channel.is_default
    assert db.session.scalar(select(AuditEntry.key).where(AuditEntry.action == "created")
                             .order_by(AuditEntry.id.desc()).limit(1)) == "Channel"


def test_bad_input_is_shown_next_to_the_field_and_nothing_is_written(admin, db, sales):
    before = db_rows(db)
    r = admin.post(URL, data={"name": "sales"}, headers=HX)
    assert r.status_code == 422
    assert "Name is already the name of another pipeline." in text(r)
    r = admin.post(URL, data={"name": "x\x00y"})
    assert r.status_code == 422 and "must not contain NUL characters" in text(r)
    r = admin.post(f"{URL}/{sales.id}/stages", data={"a1-name": "Demo", "a1-probability": "150"}, headers=HX)
    assert r.status_code == 422
    assert "must be a whole number between 0 and 100" in text(r) and 'id="a1-probability-error"' in text(r)
    assert 'aria-invalid="true"' in text(r)
    r = admin.post(f"{URL}/{sales.id}/stages", data={"a1-name": "y" * 5000, "a1-probability": "9" * 400})
    assert r.status_code == 422 and "<html" in text(r)
    s = stage(db, sales, "Won")
    r = admin.post(f"{URL}/stages/{s.id}", data={f"s{s.id}-name": "lost", f"s{s.id}-probability": "10"}, headers=HX)
    assert r.status_code == 422 and "is already the name of another stage of this pipeline" in text(r)
    assert 'value="lost"' in text(r)  # the posted value is shown again
    assert_unchanged(db, before)


def test_add_a_stage_then_it_is_a_choice_of_the_deal_form(admin, db, sales):
    r = admin.post(f"{URL}/{sales.id}/stages",
                   data={"a1-name": "Demo", "a1-probability": "35", "a1-position": "2"}, headers=HX)
    assert r.status_code == 200
    fragment = text(r)
    assert "<html" not in fragment and 'id="pipeline-1"' in fragment
    assert "Stage “Demo” added." in fragment
    assert names(db, sales)[:3] == ["Incoming", "Qualification", "Demo"]
    form = text(admin.get("/deals/new"))
    assert '<option value="Demo">Demo</option>' in form
    assert "Demo" in text(admin.get(f"/deals/stages?pipeline_id={sales.id}"))


def test_rename_a_stage_keeps_its_deals(admin, db, sales, make_deal):
    deal = make_deal(stage="Proposal")
    s = stage(db, sales, "Proposal")
    r = admin.post(f"{URL}/stages/{s.id}", data={f"s{s.id}-name": "Offer", f"s{s.id}-probability": "45"},
                   headers=HX)
    assert r.status_code == 200 and "Stage “Offer” saved." in text(r)
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage == "Offer" and db.session.get(Stage, s.id).probability == 45


def test_move_a_stage_up_and_down(admin, db, sales):
    won = stage(db, sales, "Won")
    r = admin.post(f"{URL}/stages/{won.id}/move", data={"direction": "up"}, headers=HX)
    assert r.status_code == 200 and f'id="s{won.id}-up"' in text(r)  # the pressed button is there again
    assert "“Won” is now at place 4." in text(r)
    assert names(db, sales)[3:5] == ["Won", "Negotiation"]
    admin.post(f"{URL}/stages/{won.id}/move", data={"direction": "down"}, headers=HX)
    assert names(db, sales)[3:5] == ["Negotiation", "Won"]
    # Without JavaScript: the page again.
    r = admin.post(f"{URL}/stages/{won.id}/move", data={"direction": "down"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"{URL}#pipeline-{sales.id}")
    assert names(db, sales)[-1] == "Won"


def test_a_stage_with_deals_needs_where_they_go(admin, db, sales, make_deal):
    deals = [make_deal(stage="Proposal") for _ in range(3)]
    s = stage(db, sales, "Proposal")
    before = db_rows(db)
    r = admin.post(f"{URL}/stages/{s.id}/delete", data={}, headers=HX)
    assert r.status_code == 409
    assert "Deals in the stage “Proposal”: 3. Choose the stage they move to, then delete it." in text(r)
    assert_unchanged(db, before)
    r = admin.post(f"{URL}/stages/{s.id}/delete", data={f"d{s.id}-move_to": "Negotiation"}, headers=HX)
    assert r.status_code == 200
    assert "Stage “Proposal” deleted; its deals moved to “Negotiation”." in text(r)
    db.session.expire_all()
    assert {db.session.get(Deal, d.id).stage for d in deals} == {"Negotiation"}
    assert "Proposal" not in names(db, sales)
    lost = stage(db, sales, "Lost")
    r = admin.post(f"{URL}/stages/{lost.id}/delete", data={}, headers=HX)
    assert r.status_code == 200 and "Stage “Lost” deleted." in text(r)


def test_make_default_and_delete_a_pipeline(admin, db, sales, users, make_deal):
    other = svc.create_pipeline(db.session, users["admin"], {"name": "Partners", "stages": [{"name": "Intro"}]})
    db.session.commit()
    r = admin.post(f"{URL}/{other.id}/default", headers=HX)
    assert r.status_code == 200 and "“Partners” is now the default pipeline." in text(r)
    db.session.expire_all()
    assert [p.name for p in db.session.scalars(select(Pipeline).where(Pipeline.is_default.is_(True)))] == ["Partners"]
    # The default cannot be deleted; a pipeline with deals neither.
    r = admin.post(f"{URL}/{other.id}/delete", headers=HX)
    assert r.status_code == 409 and "The default pipeline cannot be deleted" in text(r)
    make_deal(pipeline_id=sales.id, stage="Won")
    r = admin.post(f"{URL}/{sales.id}/delete", headers=HX)
    assert r.status_code == 409 and "Deals in the pipeline “Sales”: 1." in text(r)
    db.session.query(Deal).delete()
    db.session.commit()
    r = admin.post(f"{URL}/{sales.id}/delete", headers=HX)
    assert r.status_code == 200 and "Pipeline “Sales” deleted." in text(r)
    assert db.session.get(Pipeline, sales.id) is None


def test_rename_a_pipeline_without_javascript(admin, db, sales):
    r = admin.post(f"{URL}/{sales.id}/rename", data={f"p{sales.id}-name": "Direct sales"})
    assert r.status_code == 303
    assert "Pipeline renamed “Direct sales”." in text(admin.get(r.headers["Location"]))
    r = admin.post(f"{URL}/{sales.id}/rename", data={f"p{sales.id}-name": ""})
    assert r.status_code == 422 and "Pipeline name is required." in text(r)


def test_the_pipelines_page_by_page(admin, db, users):
    for i in range(12):
        svc.create_pipeline(db.session, users["admin"], {"name": f"Pipeline {i:02}", "stages": [{"name": "A"}]})
    db.session.commit()
    page = text(admin.get(URL))
    assert "Pipeline 08" in page and "Pipeline 09" not in page and "More pipelines" in page
    more = re.search(r'href="(/admin/pipelines\?after=\d+)"', page).group(1)
    second = text(admin.get(more))
    assert "Pipeline 09" in second and "Pipeline 11" in second and "First pipelines" in second
    assert "Pipeline 08" not in second


def test_unknown_ids_are_404(admin):
    assert admin.post(f"{URL}/999/rename", data={"p999-name": "x"}).status_code == 404
    assert admin.post(f"{URL}/stages/999/move", data={"direction": "up"}).status_code == 404
    assert admin.post(f"{URL}/stages/999/delete").status_code == 404


@pytest.mark.csrf
def test_the_forms_carry_their_csrf_token(app, as_user, db, sales):
    from tests.conftest import csrf_token_from

    client = as_user("admin")
    page = text(client.get(URL))
    token = csrf_token_from(page)
    s = stage(db, sales, "Won")
    assert client.post(f"{URL}/stages/{s.id}/move", data={"direction": "up"}).status_code == 400
    r = client.post(f"{URL}/stages/{s.id}/move", data={"direction": "up", "csrf_token": token})
    assert r.status_code == 303


def test_a_name_taken_at_the_same_time_is_a_409(admin, db, monkeypatch):
    # Another administrator saved "Sales" between the service's check and the write: the unique
    # index refuses it, the page says so, nothing is saved.
    monkeypatch.setattr(svc, "_pipeline_name_taken", lambda *a: False)
    before = db_rows(db)
    r = admin.post(URL, data={"name": "Sales"}, headers=HX)
    assert r.status_code == 409 and "saved at the same time; nothing was saved." in text(r)
    assert_unchanged(db, before)
