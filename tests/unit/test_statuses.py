"""Lead statuses, the service (issue 10 item 4, C9.2, C9.3): keys made from labels, the value
rules, the order in category blocks, the system-managed `converted`, deletion with the move of
its leads in one call (timeline, counts, no automation rules), the audit of every change, and
the per-transaction status cache that the board and the filters read."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.models import AuditEntry, AutomationRule, Lead, LeadStatus, TimelineEvent
from webapp.services import statuses as svc
from webapp.services.leads import (
    LeadFilters,
    board_statuses,
    change_status,
    create_lead,
    default_status_key,
    lead_statuses,
    status_counts,
)


@pytest.fixture
def admin(users):
    return users["admin"]


def order(db) -> list[str]:
    return [s.key for s in svc.ordered(db.session)]


def positions(db) -> list[tuple[str, int]]:
    return [(s.key, s.position) for s in db.session.scalars(select(LeadStatus).order_by(LeadStatus.position))]


def add(db, admin, **data) -> LeadStatus:
    status = svc.add_status(db.session, admin, data)
    db.session.commit()
    return status


def audits(db, key=None) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.area == "lead_status")
    if key:
        stmt = stmt.where(AuditEntry.key == key)
    return list(db.session.scalars(stmt.order_by(AuditEntry.id)))


def problem(excinfo, field: str) -> str:
    return excinfo.value.errors[field][0].code


# --- keys and values ----------------------------------------------------------------------------

@pytest.mark.parametrize(("label", "key"), [
    ("Nurturing", "nurturing"), ("Non joignable", "non_joignable"), ("Écarté — doublon", "ecarte_doublon"),
    ("  Call   back ", "call_back"), ("3rd try", "s_3rd_try"), ("日本", "status"), ("All", "all_2"),
    ("New", "new_2"), ("x" * 80, "x" * 40),
])
def test_the_key_is_made_from_the_label(label, key):
    assert svc.key_from(label, {"new", "contacted", "qualified", "disqualified", "converted"}) == key


def test_a_made_key_gets_a_suffix_within_its_length():
    taken = {"a" * 40, "a" * 38 + "_2"}
    assert svc.key_from("a" * 50, taken) == "a" * 38 + "_3"


def test_add_derives_a_unique_key_and_goes_last_of_its_block(db, admin):
    s = add(db, admin, label="Nurturing")
    assert (s.key, s.label, s.category) == ("nurturing", "Nurturing", "open")
    assert order(db) == ["new", "contacted", "qualified", "nurturing", "disqualified", "converted"]
    lost = add(db, admin, label="Lost", category="closed")
    assert order(db)[-3:] == ["disqualified", "lost", "converted"]
    assert [p for _, p in positions(db)] == list(range(7))  # dense
    assert lost.position == 5
    entry = audits(db, "lost")[-1]
    assert entry.action == "created" and entry.after == {"key": "lost", "label": "Lost", "category": "closed",
                                                         "position": 5}
    assert entry.actor_id == admin.id


def test_a_given_position_is_kept_within_the_category_block(db, admin):
    add(db, admin, label="First", position=0)
    assert order(db)[0] == "first"
    svc.add_status(db.session, admin, {"label": "Way down", "position": 99}, strict=True)
    assert order(db)[-3:] == ["way_down", "disqualified", "converted"]
    svc.add_status(db.session, admin, {"label": "Closed early", "category": "closed", "position": 0}, strict=True)
    db.session.commit()
    assert order(db)[-3:] == ["closed_early", "disqualified", "converted"]


def test_a_given_key_is_checked(db, admin):
    add(db, admin, label="Call back", key="callback")
    assert db.session.get(LeadStatus, "callback").label == "Call back"
    for key, code in [("callback", "key_taken"), ("new", "key_taken"), ("converted", "key_taken"),
                      ("all", "key_reserved"), ("Bad Key", "key_format"), ("1st", "key_format"),
                      ("é", "key_format"), ("k" * 41, "too_long"), ("a\x00b", "nul")]:
        with pytest.raises(Invalid) as e:
            svc.add_status(db.session, admin, {"label": f"Label {key!r}", "key": key})
        assert problem(e, "key") == code, key
    # JSON says exactly what it sends: no trimming into shape.
    with pytest.raises(Invalid) as e:
        svc.add_status(db.session, admin, {"label": "Spaced", "key": " spaced"}, strict=True)
    assert problem(e, "key") == "key_format"
    with pytest.raises(Invalid) as e:
        svc.add_status(db.session, admin, {"label": "Nullkey", "key": None}, strict=True)
    assert problem(e, "key") == "not_null"
    # A form's blank key: made from the label.
    assert svc.add_status(db.session, admin, {"label": "Blank key", "key": "  "}).key == "blank_key"


def test_labels_follow_the_column_rules_and_are_unique(db, admin):
    cases = [(None, "required"), ("   ", "required"), ("x" * 81, "too_long"), ("a\x00", "nul"),
             ("new", "label_taken"), ("QUALIFIED", "label_taken"), (12, "not_text")]
    for label, code in cases:
        with pytest.raises(Invalid) as e:
            svc.add_status(db.session, admin, {"label": label})
        assert problem(e, "label") == code, label
    assert svc.add_status(db.session, admin, {"label": "x" * 80}).label == "x" * 80
    with pytest.raises(Invalid) as e:
        svc.add_status(db.session, admin, {"label": " " + "y" * 80}, strict=True)
    assert problem(e, "label") == "too_long"
    assert db.session.scalar(select(func.count()).select_from(LeadStatus)) == 6


def test_bad_bodies_say_every_field(db, admin):
    with pytest.raises(Invalid) as e:
        svc.add_status(db.session, admin, {"label": "", "category": "converted", "position": -1, "colour": "red"},
                       strict=True)
    assert {k: v[0].code for k, v in e.value.errors.items()} == {
        "label": "required", "category": "not_choice", "position": "int_range", "colour": "unknown_field"}
    with pytest.raises(Invalid):
        svc.add_status(db.session, admin, ["not", "an", "object"])
    with pytest.raises(Invalid) as e:
        svc.add_status(db.session, admin, {"label": "P", "position": "3"}, strict=True)
    assert problem(e, "position") == "not_integer"


def test_there_is_a_maximum(db, admin, monkeypatch):
    monkeypatch.setattr(svc, "STATUSES_MAX", 6)
    add(db, admin, label="Sixth")
    with pytest.raises(Conflict):
        svc.add_status(db.session, admin, {"label": "Seventh"})


def test_writes_are_for_administrators(db, users):
    status = db.session.get(LeadStatus, "new")
    calls = (lambda actor: svc.add_status(db.session, actor, {"label": "X"}),
             lambda actor: svc.rename_status(db.session, actor, status, "X"),
             lambda actor: svc.set_category(db.session, actor, status, "closed"),
             lambda actor: svc.move_status(db.session, actor, status, "down"),
             lambda actor: svc.reorder(db.session, actor, order(db)),
             lambda actor: svc.delete_status(db.session, actor, status, "contacted"))
    for role in ("manager", "sales", "viewer"):
        for call in calls:
            with pytest.raises(Forbidden):
                call(users[role])
    assert order(db) == ["new", "contacted", "qualified", "disqualified", "converted"]
    assert db.session.get(LeadStatus, "new").label == "New"


def test_get_status(db):
    assert svc.get_status(db.session, "new").key == "new"
    for key in ("nope", "", None, "a\x00", "x" * 41, 3):
        with pytest.raises(NotFound):
            svc.get_status(db.session, key)


# --- rename, category, order ----------------------------------------------------------------------

def test_rename_keeps_the_key_and_is_audited(db, admin):
    status = db.session.get(LeadStatus, "contacted")
    assert svc.rename_status(db.session, admin, status, "  Reached  ") is True
    db.session.commit()
    assert (status.key, status.label) == ("contacted", "Reached")
    entry = audits(db, "contacted")[-1]
    assert (entry.action, entry.before, entry.after) == ("updated", {"label": "Contacted"}, {"label": "Reached"})
    assert svc.rename_status(db.session, admin, status, "Reached") is False  # nothing changed, nothing recorded
    db.session.commit()
    assert len(audits(db, "contacted")) == 1
    assert svc.rename_status(db.session, admin, status, "reached") is True  # its own label, another case
    with pytest.raises(Invalid) as e:
        svc.rename_status(db.session, admin, status, "New")
    assert problem(e, "label") == "label_taken"
    with pytest.raises(Invalid) as e:
        svc.update_status(db.session, admin, status, {"key": "other"})
    assert problem(e, "key") == "create_only"


def test_category_moves_to_the_block_boundary(db, admin):
    contacted = db.session.get(LeadStatus, "contacted")
    assert svc.set_category(db.session, admin, contacted, "closed") is True
    db.session.commit()
    assert order(db) == ["new", "qualified", "contacted", "disqualified", "converted"]
    assert [s.key for s in board_statuses(db.session)] == ["new", "qualified", "contacted", "disqualified"]
    assert audits(db, "contacted")[-1].after == {"category": "closed", "position": 2}
    disqualified = db.session.get(LeadStatus, "disqualified")
    svc.set_category(db.session, admin, disqualified, "open")
    db.session.commit()
    assert order(db) == ["new", "qualified", "disqualified", "contacted", "converted"]
    assert svc.set_category(db.session, admin, disqualified, "open") is False
    with pytest.raises(Invalid) as e:
        svc.set_category(db.session, admin, disqualified, "converted")
    assert problem(e, "category") == "not_choice"


def test_the_last_open_status_stays_open(db, admin):
    for key in ("contacted", "qualified"):
        svc.set_category(db.session, admin, db.session.get(LeadStatus, key), "closed")
    db.session.commit()
    with pytest.raises(Conflict, match="last open status"):
        svc.set_category(db.session, admin, db.session.get(LeadStatus, "new"), "closed")
    with pytest.raises(Conflict, match="last open status"):
        svc.delete_status(db.session, admin, db.session.get(LeadStatus, "new"))


def test_move_up_and_down_within_the_block(db, admin):
    qualified = db.session.get(LeadStatus, "qualified")
    assert svc.move_status(db.session, admin, qualified, "up") is True
    db.session.commit()
    assert order(db) == ["new", "qualified", "contacted", "disqualified", "converted"]
    assert audits(db, "qualified")[-1].before == {"position": 2} and audits(db, "qualified")[-1].after == {
        "position": 1}
    assert audits(db, "contacted") == []  # the neighbour's shift is implied
    svc.move_status(db.session, admin, qualified, "up")
    assert svc.move_status(db.session, admin, qualified, "up") is False  # first already
    contacted = db.session.get(LeadStatus, "contacted")
    assert svc.move_status(db.session, admin, contacted, "down") is False  # the closed block starts below
    assert svc.move_status(db.session, admin, db.session.get(LeadStatus, "disqualified"), "up") is False
    db.session.commit()
    assert order(db) == ["qualified", "new", "contacted", "disqualified", "converted"]
    with pytest.raises(Invalid):
        svc.move_status(db.session, admin, contacted, "sideways")


def test_reorder_takes_the_whole_order(db, admin):
    assert svc.reorder(db.session, admin, ["qualified", "contacted", "new", "disqualified"]) is True
    db.session.commit()
    assert order(db) == ["qualified", "contacted", "new", "disqualified", "converted"]
    assert {e.key for e in audits(db)} == {"qualified", "new"}
    for bad in (["new", "contacted"], ["new", "new", "contacted", "qualified", "disqualified"],
                ["disqualified", "new", "contacted", "qualified"], "new", [1, 2]):
        with pytest.raises(Invalid):
            svc.reorder(db.session, admin, bad)
    with pytest.raises(Invalid):  # converted stays last
        svc.reorder(db.session, admin, ["converted", "new", "contacted", "qualified", "disqualified"])
    assert svc.reorder(db.session, admin, ["qualified", "contacted", "new", "disqualified", "converted"]) is False


def test_a_position_through_update(db, admin):
    new = db.session.get(LeadStatus, "new")
    svc.update_status(db.session, admin, new, {"position": 2, "label": "Fresh"}, strict=True)
    db.session.commit()
    assert order(db) == ["contacted", "qualified", "new", "disqualified", "converted"]
    entry = audits(db, "new")[-1]
    assert entry.before == {"label": "New", "position": 0} and entry.after == {"label": "Fresh", "position": 2}
    svc.update_status(db.session, admin, new, {"position": 50}, strict=True)  # the end of the open block
    assert order(db)[2] == "new"


# --- converted is the system's ------------------------------------------------------------------

def test_converted_is_system_managed(db, admin):
    converted = db.session.get(LeadStatus, "converted")
    with pytest.raises(Invalid):
        svc.add_status(db.session, admin, {"label": "Won", "category": "converted"})
    with pytest.raises(Conflict, match="managed by the system"):
        svc.update_status(db.session, admin, converted, {"category": "open"})
    with pytest.raises(Conflict, match="managed by the system"):
        svc.update_status(db.session, admin, converted, {"position": 0})
    with pytest.raises(Conflict, match="managed by the system"):
        svc.move_status(db.session, admin, converted, "up")
    with pytest.raises(Conflict, match="managed by the system"):
        svc.delete_status(db.session, admin, converted, "new")
    # Its label may change; it stays last whatever is added.
    svc.update_status(db.session, admin, converted, {"label": "Won", "position": converted.position})
    add(db, admin, label="Later", category="closed")
    assert order(db)[-1] == "converted" and db.session.get(LeadStatus, "converted").label == "Won"


# --- delete ----------------------------------------------------------------------------------------

def test_delete_an_unused_status(db, admin):
    add(db, admin, label="Temp")
    assert svc.delete_status(db.session, admin, db.session.get(LeadStatus, "temp")) == 0
    db.session.commit()
    assert db.session.get(LeadStatus, "temp") is None
    assert [p for _, p in positions(db)] == list(range(5))
    entry = audits(db, "temp")[-1]
    assert entry.action == "deleted" and entry.before["label"] == "Temp" and entry.before["leads"] == 0


def test_a_status_leads_have_is_deleted_only_with_the_move(db, admin, make_lead, users):
    leads = [make_lead(status="contacted", owner_id=users["sales"].id) for _ in range(3)]
    other = make_lead(status="new")
    contacted = db.session.get(LeadStatus, "contacted")
    with pytest.raises(Conflict) as e:
        svc.delete_status(db.session, admin, contacted)
    assert e.value.params == {"leads": 3} and "Contacted" in e.value.message and "3" in e.value.message
    assert e.value.code == "status_has_leads"
    for bad in ("contacted", "converted", "nope", "a\x00b", 7):
        with pytest.raises(Invalid) as e:
            svc.delete_status(db.session, admin, contacted, bad)
        assert problem(e, "move_to") == "not_a_target"
    db.session.rollback()

    assert svc.delete_status(db.session, admin, db.session.get(LeadStatus, "contacted"), "disqualified") == 3
    db.session.commit()
    assert db.session.get(LeadStatus, "contacted") is None
    assert {db.session.get(Lead, lead.id).status for lead in leads} == {"disqualified"}
    assert db.session.get(Lead, other.id).status == "new"
    for lead in leads:
        event = db.session.scalars(select(TimelineEvent).where(
            TimelineEvent.parent_type == "lead", TimelineEvent.parent_id == lead.id,
            TimelineEvent.kind == "status_changed")).one()
        assert event.data["from"] == "contacted" and event.data["to"] == "disqualified"
        assert event.data["reason"] == "status_deleted" and event.actor_id == admin.id
        assert str(event.text) == "Status changed from Contacted to Disqualified: the status Contacted was deleted"
    entry = audits(db, "contacted")[-1]
    assert entry.before["leads"] == 3 and entry.before["leads_moved_to"] == "disqualified"
    # The board's counts (kept by triggers) follow.
    counts = status_counts(db.session, admin, LeadFilters())
    assert counts.get("disqualified") == 3 and "contacted" not in counts


def test_moved_leads_do_not_fire_automation_rules(db, admin, make_lead):
    rule = AutomationRule(name="Convert qualified", on_status="qualified", conditions=[], options={}, active=True)
    db.session.add(rule)
    db.session.commit()
    lead = make_lead(status="contacted")
    svc.delete_status(db.session, admin, db.session.get(LeadStatus, "contacted"), "qualified")
    db.session.commit()
    moved = db.session.get(Lead, lead.id)
    assert moved.status == "qualified" and moved.converted is False
    kinds = set(db.session.scalars(select(TimelineEvent.kind).where(TimelineEvent.parent_id == lead.id)))
    assert not kinds & {"rule_converted", "rule_not_converted"}


def test_a_status_rules_fire_on_cannot_be_deleted(db, admin):
    db.session.add_all([AutomationRule(name="Qualify me", on_status="qualified", options={}),
                        AutomationRule(name="Second", on_status="qualified", options={}, active=False)])
    db.session.commit()
    with pytest.raises(Conflict) as e:
        svc.delete_status(db.session, admin, db.session.get(LeadStatus, "qualified"), "new")
    assert "“Qualify me”, “Second”" in e.value.message and e.value.code == "status_has_rules"
    assert len(e.value.params["rules"]) == 2
    assert db.session.get(LeadStatus, "qualified") is not None


def test_deleting_the_default_moves_where_new_leads_start(db, admin, make_lead, users):
    make_lead(status="new")
    svc.move_status(db.session, admin, db.session.get(LeadStatus, "qualified"), "up")
    svc.delete_status(db.session, admin, db.session.get(LeadStatus, "new"), "contacted")
    db.session.commit()
    assert default_status_key(db.session) == "qualified"
    lead = create_lead(db.session, users["sales"], {"last_name": "Fresh", "company": "Nouvelle SARL"})
    db.session.commit()
    assert lead.status == "qualified"


# --- what the board and the filters read ----------------------------------------------------------

def test_the_status_cache_follows_every_change_in_the_same_transaction(db, admin):
    assert [s.key for s in lead_statuses(db.session)][:3] == ["new", "contacted", "qualified"]  # cached now
    svc.add_status(db.session, admin, {"label": "Nurturing", "position": 0})
    assert [s.key for s in lead_statuses(db.session)][0] == "nurturing"
    svc.move_status(db.session, admin, db.session.get(LeadStatus, "nurturing"), "down")
    assert [s.key for s in lead_statuses(db.session)][:2] == ["new", "nurturing"]
    svc.set_category(db.session, admin, db.session.get(LeadStatus, "nurturing"), "closed")
    assert [s.key for s in board_statuses(db.session)] == ["new", "contacted", "qualified", "nurturing",
                                                          "disqualified"]
    svc.delete_status(db.session, admin, db.session.get(LeadStatus, "nurturing"))
    assert "nurturing" not in [s.key for s in lead_statuses(db.session)]
    db.session.rollback()
    assert "nurturing" not in [s.key for s in lead_statuses(db.session)]


def test_a_lead_can_enter_a_new_status_and_leave_it(db, admin, make_lead, users):
    add(db, admin, label="Nurturing")
    lead = make_lead(status="new", owner_id=users["sales"].id)
    change_status(db.session, users["sales"], lead, "nurturing")
    db.session.commit()
    assert db.session.get(Lead, lead.id).status_ref.label == "Nurturing"
