"""e2e (issue 10, item 5): an administrator creates a pipeline, adds a stage to it and sees the
stage among the deal form's stage choices; moves it by keyboard (the focus stays on the pressed
button); deletes a stage holding a deal by moving the deal in the same step. Screenshots in
English and French (/tmp/shots/admin_pipelines_*.png) and axe on the page. The e2e database is
shared: the pipeline and deal made here have names no other test uses, and are deleted at the
end; the admin is back in English."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select

from e2e.test_a11y import axe_violations, readable
from webapp.models import Deal, Pipeline, Stage, User

SHOTS = Path("/tmp/shots")
NAME = "Quokka channel"
STAGE = "Quokka demo"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # The pages' Content-Security-Policy forbids injected scripts: let axe in (this module only).
    return {**browser_context_args, "bypass_csp": True}


@pytest.fixture
def cleanup(app_db):
    yield
    session = app_db.session
    session.expire_all()
    ids = list(session.scalars(select(Pipeline.id).where(Pipeline.name.like("Quokka%"))))
    session.execute(delete(Deal).where(Deal.name.like("Quokka%")))
    session.execute(delete(Stage).where(Stage.pipeline_id.in_(ids)))
    session.execute(delete(Pipeline).where(Pipeline.id.in_(ids)))
    session.query(User).filter(User.email == "admin@example.com").update({"language": None})
    session.commit()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar where it belongs on a full-page shot
    page.screenshot(path=str(SHOTS / f"admin_pipelines_{name}.png"), full_page=True)


def stage_names(card) -> list[str]:
    return card.locator("ol.stage-list input[name$='-name']").evaluate_all("els => els.map(e => e.value)")


def test_add_a_stage_and_see_it_in_the_deal_form(page, live_server, login, app_db, cleanup):
    login("admin@example.com")
    page.goto(f"{live_server}/admin/")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Pipelines").click()
    page.get_by_role("heading", name="Pipelines", level=1).wait_for()
    assert not (v := axe_violations(page)), readable("pipelines", v)

    # A new pipeline with its own stages (the form is folded away until opened).
    page.get_by_text("New pipeline").click()
    page.locator("#name").fill(NAME)
    page.get_by_label("Stages", exact=True).fill("Intro\nSigned")
    page.get_by_role("button", name="Create pipeline").click()
    expect(page.get_by_role("status").filter(has_text=f"Pipeline “{NAME}” created.")).to_be_visible()
    pipeline_id = app_db.session.scalar(select(Pipeline.id).where(Pipeline.name == NAME))
    card = page.locator(f"#pipeline-{pipeline_id}")
    assert stage_names(card) == ["Intro", "Signed"]

    # Add a stage by keyboard: name, probability, Enter.
    form = card.get_by_role("form", name=f"Add a stage to “{NAME}”")
    form.locator(f"#a{pipeline_id}-name").fill(STAGE)
    form.locator(f"#a{pipeline_id}-probability").fill("35")
    form.locator(f"#a{pipeline_id}-probability").press("Enter")
    expect(card.get_by_role("status").filter(has_text=f"Stage “{STAGE}” added.")).to_be_visible()
    assert stage_names(card) == ["Intro", "Signed", STAGE]

    # Move it up by keyboard: the focus stays on its button after the swap.
    stage_id = app_db.session.scalar(select(Stage.id).where(Stage.pipeline_id == pipeline_id, Stage.name == STAGE))
    up = page.locator(f"#s{stage_id}-up")
    up.focus()
    page.keyboard.press("Enter")
    expect(card.get_by_role("status").filter(has_text=f"“{STAGE}” is now at place 2.")).to_be_visible()
    expect(page.locator(f"#s{stage_id}-up")).to_be_focused()
    assert stage_names(card) == ["Intro", STAGE, "Signed"]
    assert not (v := axe_violations(page)), readable("pipelines after changes", v)
    shot(page, "en")

    # The deal form: choose the pipeline, its stages come, the new one among them.
    page.goto(f"{live_server}/deals/new")
    page.get_by_label("Pipeline").select_option(label=NAME)
    stage = page.get_by_label("Stage", exact=True)
    expect(stage.locator(f"option[value='{STAGE}']")).to_have_count(1)
    options = stage.locator("option").evaluate_all("els => els.map(e => e.value)")
    assert options == ["Intro", STAGE, "Signed"]
    page.get_by_label("Deal name").fill("Quokka first deal")
    stage.select_option(STAGE)
    page.get_by_role("button", name="Create deal").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Quokka first deal")
    expect(page.locator(".stage-current")).to_contain_text(STAGE)

    # French: the same page for a French administrator.
    page.goto(f"{live_server}/admin/pipelines")
    page.get_by_role("button", name="FR", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    shot(page, "fr")

    # Delete the stage holding the deal: choose where the deal goes, in the same step.
    card = page.locator(f"#pipeline-{pipeline_id}")
    card.locator(f"#d{stage_id}-move_to").select_option("Signed")
    card.locator(f"#s{stage_id}-delete").focus()
    page.keyboard.press("Enter")
    expect(card.get_by_role("status")).to_contain_text("Signed")
    assert stage_names(page.locator(f"#pipeline-{pipeline_id}")) == ["Intro", "Signed"]
    app_db.session.expire_all()
    assert app_db.session.scalar(select(Deal.stage).where(Deal.name == "Quokka first deal")) == "Signed"

    page.get_by_role("button", name="EN", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "en")
