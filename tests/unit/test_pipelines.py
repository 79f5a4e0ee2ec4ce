"""Pipelines and stages (issue 10, item 5), the domain: services.pipelines — one default at any
time, the stage rules (names unique in a pipeline, probabilities 0-100, contiguous positions),
a stage's deals follow its rename and must be moved before it is deleted, every change audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import assert_unchanged, db_rows
from webapp.conversion.values import pipeline_and_stages
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.models import DEFAULT_STAGES, AuditEntry, AutomationRule, Deal, Pipeline, Stage
from webapp.services import automation
from webapp.services import pipelines as svc


@pytest.fixture
def admin(users):
    return users["admin"]


@pytest.fixture
def sales_pipeline(db):
    return db.session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))


def names(pipeline) -> list[str]:
    return [s.name for s in svc.ordered(pipeline)]


def defaults(db) -> list[str]:
    return list(db.session.scalars(select(Pipeline.name).where(Pipeline.is_default.is_(True))))


def entries(db, action=None) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.area == "pipeline").order_by(AuditEntry.id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(db.session.scalars(stmt))


def create(db, admin, **data) -> Pipeline:
    pipeline = svc.create_pipeline(db.session, admin, data, strict=True)
    db.session.commit()
    return pipeline


def refused(db, error, call):
    """`call` raises `error`; nothing is written (every table as it was)."""
    before = db_rows(db)
    with pytest.raises(error) as info:
        call()
    db.session.rollback()
    assert_unchanged(db, before)
    return info.value


# ---------------------------------------------------------------- pipelines


def test_a_new_pipeline_gets_the_default_stages_and_is_audited(db, admin):
    pipeline = create(db, admin, name="Renewals")
    assert names(pipeline) == list(DEFAULT_STAGES)
    assert [s.probability for s in svc.ordered(pipeline)] == [10, 20, 40, 60, 100, 0]
    assert [s.position for s in svc.ordered(pipeline)] == [0, 1, 2, 3, 4, 5]
    assert not pipeline.is_default and defaults(db) == ["Sales"]
    [entry] = entries(db, "created")
    assert (entry.key, entry.actor_id, entry.after["name"], entry.after["default"]) == \
        ("Renewals", admin.id, "Renewals", False)
    assert entry.after["stages"][0] == {"name": "Incoming", "probability": 10}


def test_a_new_pipeline_with_its_own_stages_in_order(db, admin):
    pipeline = create(db, admin, name="Partners", stages=[
        {"name": "Signed", "probability": 100, "position": 2}, {"name": "Intro", "position": 0},
        {"name": "Talks", "probability": 50, "position": 1}])
    assert names(pipeline) == ["Intro", "Talks", "Signed"]  # by position
    assert svc.as_dict(pipeline)["stages"] == [
        {"name": "Intro", "position": 0, "probability": 0}, {"name": "Talks", "position": 1, "probability": 50},
        {"name": "Signed", "position": 2, "probability": 100}]


@pytest.mark.parametrize(("data", "field"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": None}, "name"),
    ({}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "Bad\x00name"}, "name"),
    ({"name": "sales"}, "name"),  # taken, whatever the case
    ({"name": "P", "stages": []}, "stages"),
    ({"name": "P", "stages": "Intro"}, "stages"),
    ({"name": "P", "stages": [{"name": "A"}] * 51}, "stages"),
    ({"name": "P", "stages": ["Intro"]}, "stages.0"),
    ({"name": "P", "stages": [{"name": "A"}, {"name": "a"}]}, "stages.1.name"),
    ({"name": "P", "stages": [{"name": "A", "probability": 101}]}, "stages.0.probability"),
    ({"name": "P", "stages": [{"name": "A", "probability": -1}]}, "stages.0.probability"),
    ({"name": "P", "stages": [{"name": "A", "probability": "50"}]}, "stages.0.probability"),  # JSON: a number
    ({"name": "P", "stages": [{"name": "A", "probability": 10**30}]}, "stages.0.probability"),
    ({"name": "P", "stages": [{"name": "A", "colour": "red"}]}, "stages.0.colour"),
    ({"name": "P", "stages": [{"probability": 5}]}, "stages.0.name"),
    ({"name": "P", "default": "yes"}, "default"),
    ({"name": "P", "default": None}, "default"),
    ({"name": "P", "id": 9}, "id"),
    ({"name": "P", "owner": 1}, "owner"),
])
def test_bad_pipeline_values_are_refused_by_field_and_nothing_is_written(db, admin, data, field):
    error = refused(db, Invalid, lambda: svc.create_pipeline(db.session, admin, data, strict=True))
    assert field in error.errors, error.errors


def test_probability_bounds_come_from_the_field_layer(db, admin):
    error = refused(db, Invalid, lambda: svc.create_pipeline(
        db.session, admin, {"name": "P", "stages": [{"name": "A", "probability": 150}]}, strict=True))
    assert error.errors["stages.0.probability"] == ["must be a whole number between 0 and 100"]
    # Form text is read as typed; the same bounds.
    pipeline = svc.create_pipeline(db.session, admin, {"name": "P", "stages": [{"name": "A", "probability": "100"}]})
    assert pipeline.stages[0].probability == 100


def test_there_is_always_exactly_one_default(db, admin, sales_pipeline):
    other = create(db, admin, name="Partners", default=True)
    assert defaults(db) == ["Partners"] and not sales_pipeline.is_default
    svc.set_default(db.session, admin, sales_pipeline)
    db.session.commit()
    assert defaults(db) == ["Sales"]
    # The default cannot stop being it, nor be deleted.
    error = refused(db, Conflict, lambda: svc.update_pipeline(db.session, admin, sales_pipeline, {"default": False},
                                                              strict=True))
    assert error.code == "default_pipeline" and "default" in error.errors
    error = refused(db, Conflict, lambda: svc.delete_pipeline(db.session, admin, sales_pipeline))
    assert error.code == "default_pipeline"
    # false on another one is no change.
    svc.update_pipeline(db.session, admin, other, {"default": False}, strict=True)
    db.session.commit()
    assert defaults(db) == ["Sales"]
    # The change of default is audited on both pipelines.
    changes = {(e.key, e.after.get("default")) for e in entries(db, "updated")}
    assert {("Sales", False), ("Sales", True), ("Partners", False)} <= changes


def test_the_conversion_follows_the_new_default(db, admin, sales_pipeline):
    other = create(db, admin, name="Partners", stages=[{"name": "Intro"}, {"name": "Signed"}])
    svc.set_default(db.session, admin, other)
    db.session.commit()
    assert pipeline_and_stages(db.session, None) == (other.id, "Partners", ["Intro", "Signed"])


def test_the_first_pipeline_is_the_default(db, admin, sales_pipeline):
    db.session.query(Stage).delete()
    db.session.query(Pipeline).delete()
    db.session.commit()
    assert create(db, admin, name="Only one").is_default


def test_the_database_refuses_two_defaults(db, sales_pipeline):
    db.session.add(Pipeline(name="Second", is_default=True, stages=[Stage(name="A", position=0)]))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_rename_a_pipeline(db, admin, sales_pipeline):
    create(db, admin, name="Partners")
    svc.rename_pipeline(db.session, admin, sales_pipeline, "  Direct   sales ")
    db.session.commit()
    assert sales_pipeline.name == "Direct sales"
    assert entries(db, "updated")[-1].before == {"name": "Sales"}
    error = refused(db, Invalid, lambda: svc.rename_pipeline(db.session, admin, sales_pipeline, "PARTNERS"))
    assert error.errors["name"] == ["is already the name of another pipeline"]
    # Its own name in another case is fine.
    svc.rename_pipeline(db.session, admin, sales_pipeline, "DIRECT SALES")
    db.session.commit()


def test_delete_a_pipeline_refused_while_deals_or_rules_use_it(db, admin, make_deal, users):
    other = create(db, admin, name="Partners", stages=[{"name": "Intro"}, {"name": "Signed"}])
    for _ in range(3):
        make_deal(pipeline_id=other.id, stage="Intro")
    error = refused(db, Conflict, lambda: svc.delete_pipeline(db.session, admin, other))
    assert error.code == "pipeline_in_use" and error.extra() == {"deals": 3}
    assert error.message == "Deals in the pipeline “Partners”: 3. Move them to another pipeline before deleting it."
    db.session.query(Deal).delete()
    rule = automation.create_rule(db.session, admin, {"name": "To partners", "on_status": "qualified", "options": {
        "deal": {"pipeline_id": other.id, "stage": "Signed"}}})
    db.session.commit()
    error = refused(db, Conflict, lambda: svc.delete_pipeline(db.session, admin, other))
    assert error.extra() == {"rules": 1}
    db.session.delete(rule)
    db.session.commit()
    svc.delete_pipeline(db.session, admin, other)
    db.session.commit()
    assert db.session.get(Pipeline, other.id) is None
    assert db.session.scalar(select(func.count()).select_from(Stage).where(Stage.pipeline_id == other.id)) == 0
    entry = entries(db, "deleted")[-1]
    assert entry.key == "Partners" and [s["name"] for s in entry.before["stages"]] == ["Intro", "Signed"]


def test_only_administrators_change_pipelines(db, users, sales_pipeline):
    stage = sales_pipeline.stages[0]
    calls = (lambda user: svc.create_pipeline(db.session, user, {"name": "X"}),
             lambda user: svc.set_default(db.session, user, sales_pipeline),
             lambda user: svc.add_stage(db.session, user, sales_pipeline, {"name": "X"}),
             lambda user: svc.update_stage(db.session, user, stage, {"name": "X"}),
             lambda user: svc.move_stage(db.session, user, stage, 1),
             lambda user: svc.delete_stage(db.session, user, stage),
             lambda user: svc.delete_pipeline(db.session, user, sales_pipeline))
    for role in ("manager", "sales", "viewer"):
        for call in calls:
            refused(db, Forbidden, lambda call=call, user=users[role]: call(user))


def test_unknown_ids_and_names(db, sales_pipeline):
    for bad in (0, -1, 2**31, 999, "1", None):
        with pytest.raises(NotFound):
            svc.get_pipeline(db.session, bad)
        with pytest.raises(NotFound):
            svc.get_stage(db.session, bad)
    with pytest.raises(NotFound):
        svc.stage_named(sales_pipeline, "won")  # exact name
    with pytest.raises(NotFound):
        svc.stage_named(sales_pipeline, "Won\x00")
    assert svc.stage_named(sales_pipeline, "Won").probability == 100


# ---------------------------------------------------------------- stages


def test_add_a_stage_at_a_place(db, admin, sales_pipeline):
    stage = svc.add_stage(db.session, admin, sales_pipeline, {"name": "Demo", "probability": 30, "position": 2},
                          strict=True)
    db.session.commit()
    assert names(sales_pipeline) == ["Incoming", "Qualification", "Demo", "Proposal", "Negotiation", "Won", "Lost"]
    assert [s.position for s in svc.ordered(sales_pipeline)] == list(range(7))
    svc.add_stage(db.session, admin, sales_pipeline, {"name": "Archive", "position": 999}, strict=True)
    db.session.commit()
    assert names(sales_pipeline)[-1] == "Archive" and sales_pipeline.stages[-1].probability == 0
    entry = entries(db, "created")[0]
    assert (entry.key, entry.after) == ("Sales / Demo", {"name": "Demo", "position": 2, "probability": 30})
    assert stage.id


@pytest.mark.parametrize(("data", "field", "reason"), [
    ({"name": "won"}, "name", "is already the name of another stage of this pipeline"),
    ({"name": ""}, "name", "is required"),
    ({"probability": 5}, "name", "is required"),
    ({"name": "Demo", "probability": 101}, "probability", "must be a whole number between 0 and 100"),
    ({"name": "Demo", "probability": 2.5}, "probability", "must be a whole number"),
    ({"name": "Demo", "probability": None}, "probability", "is required"),
    ({"name": "Demo", "position": -1}, "position", None),
    ({"name": "Demo", "position": 2**31}, "position", None),
    ({"name": "Demo", "kind": "x"}, "kind", "is not a field of this record"),
])
def test_bad_stage_values(db, admin, sales_pipeline, data, field, reason):
    error = refused(db, Invalid, lambda: svc.add_stage(db.session, admin, sales_pipeline, data, strict=True))
    assert field in error.errors
    if reason:
        assert error.errors[field] == [reason]


def test_a_pipeline_holds_at_most_50_stages(db, admin):
    pipeline = create(db, admin, name="Long", stages=[{"name": f"S{i}"} for i in range(50)])
    error = refused(db, Conflict, lambda: svc.add_stage(db.session, admin, pipeline, {"name": "One more"}))
    assert error.code == "too_many_stages"


def test_renaming_a_stage_keeps_its_deals_in_the_same_transaction(db, admin, sales_pipeline, make_deal):
    other = create(db, admin, name="Partners", stages=[{"name": "Proposal"}, {"name": "Signed"}])
    mine = [make_deal(stage="Proposal") for _ in range(2)]
    theirs = make_deal(pipeline_id=other.id, stage="Proposal")
    rule = automation.create_rule(db.session, admin, {"name": "Hot", "on_status": "qualified",
                                                      "options": {"deal": {"stage": "Proposal"}}})
    db.session.commit()
    stage = svc.stage_named(sales_pipeline, "Proposal")
    svc.update_stage(db.session, admin, stage, {"name": "Offer", "probability": 45}, strict=True)
    db.session.commit()
    db.session.expire_all()
    assert [db.session.get(Deal, d.id).stage for d in mine] == ["Offer", "Offer"]
    assert db.session.get(Deal, theirs.id).stage == "Proposal"  # another pipeline's stage of that name
    assert db.session.get(AutomationRule, rule.id).options["deal"]["stage"] == "Offer"  # the default pipeline's
    entry = entries(db, "updated")[-1]
    assert entry.key == "Sales / Proposal"
    assert (entry.before, entry.after) == ({"name": "Proposal", "probability": 40, "deals renamed": None},
                                           {"name": "Offer", "probability": 45, "deals renamed": 2})
    # A new case of its own name is a rename too.
    svc.update_stage(db.session, admin, stage, {"name": "OFFER"}, strict=True)
    db.session.commit()
    assert {db.session.get(Deal, d.id).stage for d in mine} == {"OFFER"}


def test_a_rename_that_fails_renames_no_deal(db, admin, sales_pipeline, make_deal):
    deal = make_deal(stage="Proposal")
    stage = svc.stage_named(sales_pipeline, "Proposal")
    refused(db, Invalid, lambda: svc.update_stage(db.session, admin, stage, {"name": "Won"}))
    assert db.session.get(Deal, deal.id).stage == "Proposal"


def test_reorder_with_up_and_down_and_positions(db, admin, sales_pipeline):
    won = svc.stage_named(sales_pipeline, "Won")
    svc.move_stage(db.session, admin, won, -1)
    db.session.commit()
    assert names(sales_pipeline) == ["Incoming", "Qualification", "Proposal", "Won", "Negotiation", "Lost"]
    moved = {(e.key, e.after["position"]) for e in entries(db, "updated")}
    assert moved == {("Sales / Won", 3), ("Sales / Negotiation", 4)}
    first = svc.stage_named(sales_pipeline, "Incoming")
    svc.move_stage(db.session, admin, first, -1)  # already first: nothing
    svc.move_stage(db.session, admin, svc.stage_named(sales_pipeline, "Lost"), 1)  # already last
    db.session.commit()
    assert len(entries(db)) == 2
    svc.update_stage(db.session, admin, first, {"position": 99}, strict=True)
    db.session.commit()
    assert names(sales_pipeline)[-1] == "Incoming"
    assert [s.position for s in svc.ordered(sales_pipeline)] == list(range(6))
    # The conversion's stage fallback (C5.2) takes the new first stage.
    assert pipeline_and_stages(db.session, None)[2][0] == "Qualification"


def test_the_deals_of_a_stage_must_be_moved_before_it_is_deleted(db, admin, sales_pipeline, make_deal):
    deals = [make_deal(stage="Proposal") for _ in range(3)]
    proposal = svc.stage_named(sales_pipeline, "Proposal")
    error = refused(db, Conflict, lambda: svc.delete_stage(db.session, admin, proposal))
    assert error.code == "stage_in_use" and error.extra() == {"deals": 3}
    assert error.message == "Deals in the stage “Proposal”: 3. Choose the stage they move to, then delete it."
    assert "move_to" in error.errors
    # Where they would go must be another stage of the pipeline.
    error = refused(db, Invalid, lambda: svc.delete_stage(db.session, admin, proposal, "Dreaming"))
    assert error.errors["move_to"][0].code == "not_stage"
    refused(db, Invalid, lambda: svc.delete_stage(db.session, admin, proposal, "proposal"))
    refused(db, Invalid, lambda: svc.delete_stage(db.session, admin, proposal, "x\x00"))
    # One call moves them and deletes the stage.
    assert svc.delete_stage(db.session, admin, proposal, "Negotiation") == 3
    db.session.commit()
    db.session.expire_all()
    assert {db.session.get(Deal, d.id).stage for d in deals} == {"Negotiation"}
    assert names(sales_pipeline) == ["Incoming", "Qualification", "Negotiation", "Won", "Lost"]
    assert [s.position for s in svc.ordered(sales_pipeline)] == list(range(5))
    entry = entries(db, "deleted")[-1]
    assert entry.key == "Sales / Proposal"
    assert entry.before == {"name": "Proposal", "position": 2, "probability": 40, "deals moved": 3,
                            "moved to": "Negotiation"}


def test_an_empty_stage_is_deleted_and_the_last_one_stays(db, admin):
    pipeline = create(db, admin, name="Short", stages=[{"name": "A"}, {"name": "B"}])
    assert svc.delete_stage(db.session, admin, pipeline.stages[0]) == 0
    db.session.commit()
    assert names(pipeline) == ["B"] and pipeline.stages[0].position == 0
    error = refused(db, Conflict, lambda: svc.delete_stage(db.session, admin, pipeline.stages[0]))
    assert error.code == "last_stage"


def test_replacing_the_stage_list(db, admin, sales_pipeline, make_deal):
    deal = make_deal(stage="Proposal")
    items = [{"name": "Incoming"}, {"name": "proposal", "probability": 45}, {"name": "Demo", "probability": 30},
             {"name": "Won"}, {"name": "Lost"}]
    # Qualification and Negotiation are left out: empty, they go.
    svc.update_pipeline(db.session, admin, sales_pipeline, {"stages": items}, strict=True)
    db.session.commit()
    db.session.expire_all()
    assert names(sales_pipeline) == ["Incoming", "proposal", "Demo", "Won", "Lost"]
    assert db.session.get(Deal, deal.id).stage == "proposal"  # a new case renames, the deal follows
    assert [s.probability for s in svc.ordered(sales_pipeline)] == [10, 45, 30, 100, 0]
    # Leaving out a stage that holds deals is refused, naming it.
    error = refused(db, Conflict, lambda: svc.update_pipeline(
        db.session, admin, sales_pipeline, {"stages": [{"name": "Incoming"}]}, strict=True))
    assert error.code == "stage_in_use" and error.extra() == {"deals": 1}
    assert error.errors["stages"] == ["“proposal” holds deals (1)"]


def test_form_stages_one_a_line():
    assert svc.form_stages("  \n") is None
    assert svc.form_stages("Intro\r\n\r\n Signed ") == [{"name": "Intro"}, {"name": " Signed "}]
