"""C9.1: reverting a conversion gives back the database as it was (table by table, except the
audit rows), names what cannot be undone cleanly (409, then keep_changed), once only, and only
for those allowed to."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.conftest import assert_unchanged, db_rows
from webapp.conversion.errors import ConversionDenied
from webapp.conversion.revert import AlreadyReverted, RevertBlocked, execute_revert, plan_revert
from webapp.errors import Conflict
from webapp.models import (
    Account,
    Address,
    Attachment,
    Campaign,
    CampaignMember,
    Contact,
    Conversion,
    Deal,
    Lead,
    LeadStatus,
    LineItem,
    Note,
    Product,
    Task,
    TimelineEvent,
)
from webapp.services import records
from webapp.services.custom_values import get_custom

DEAL = {"stage": "Qualification", "amount": "1250.00", "currency": "EUR", "closing_date": "2026-12-31"}
TASK = {"subject": "Call back", "due_date": "2026-12-01"}
EVERYTHING = {"deal": DEAL, "task": TASK, "attachments_to": "deal", "activities_to": "contact",
              "tags_to": ["contact", "deal", "account"]}
# The audit rows: what a conversion and its revert record about themselves (C1.5, C1.6).
AUDIT = {"timeline_events", "conversions", "audit_entries"}
COUNTERS = {"lead_counts", "lead_stats"}  # kept by triggers; a count gone back to 0 stays as a 0 row


def comparable(db) -> dict:
    """db_rows() without the audit tables, updated_at columns (a revert is an update) and the
    counters' zero rows."""
    rows = db_rows(db)
    out = {}
    for table in db.metadata.sorted_tables:
        if table.name in AUDIT:
            continue
        names = [c.name for c in table.columns if (table.name, c.name) != ("api_tokens", "last_used_at")]
        keep = [i for i, n in enumerate(names) if n != "updated_at"]
        values = [tuple(r[i] for i in keep) for r in rows[table.name]]
        if table.name in COUNTERS:
            assert names[-1] == "n"
            values = [v for v in values if v[-1] != 0]
        out[table.name] = values
    return out


def assert_same(before: dict, after: dict) -> None:
    changed = {t: {"before": before[t], "after": after.get(t)} for t in before if before[t] != after.get(t)}
    assert not changed, changed


@pytest.fixture
def fields(custom_field):
    """A carry-over lead custom field towards the contact's (C3.3): a merged contact gets it filled."""
    custom_field("lead", "budget", type="decimal", carry_over=True)
    custom_field("contact", "budget", type="decimal")
    custom_field("lead", "vat", label="VAT")


@pytest.fixture
def lead(db, fields, make_lead, make_note, make_task, sales, set_value):
    """A lead with every kind of related record (C6) and tags."""
    lead = make_lead(owner_id=sales.id, phone="01 23 45 67 89", lead_source="Trade fair", status="contacted",
                     industry="Software", website="https://zylker.example", tags=["vip", "fair"])
    set_value("lead", lead.id, "budget", "1500.50")
    for i in range(2):
        make_note(parent_id=lead.id, body=f"Note {i}", author_id=sales.id)
    make_task(parent_id=lead.id, subject="Open one", owner_id=sales.id)
    make_task(parent_id=lead.id, subject="Done one", status="done", owner_id=sales.id)
    campaign, product = Campaign(name="Fair 2026"), Product(name="Widget", unit_price=Decimal("10"))
    db.session.add_all([campaign, product])
    db.session.flush()
    db.session.add_all([
        Attachment(parent_type="lead", parent_id=lead.id, filename="brief.pdf", storage_name="s-brief"),
        CampaignMember(campaign_id=campaign.id, parent_type="lead", parent_id=lead.id),
        LineItem(parent_type="lead", parent_id=lead.id, product_id=product.id, quantity=2,
                 unit_price=Decimal("10")),
        Address(parent_type="lead", parent_id=lead.id, type="delivery", street="2 quai Rambaud", city="Lyon"),
    ])
    db.session.commit()
    return lead


def revert(db, actor, conversion_id: int, keep_changed: bool = False):
    """Like the route: one call, one commit (or a rollback on a refusal)."""
    conversion = db.session.get(Conversion, conversion_id)
    try:
        plan = execute_revert(db.session, actor, conversion, keep_changed=keep_changed)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    db.session.expire_all()
    return plan


SCENARIOS = {
    # account created, contact created, deal, task, every kind of record moved, copies made.
    "created": lambda f: {"account": {"action": "create"}, "contact": {"action": "create"}},
    # an existing account and contact: their empty fields filled (C3.5), the contact given the
    # account (C4.4), a carry-over custom field filled (C3.3).
    "merged": lambda f: {"account": {"action": "link", "id": f["account"].id},
                         "contact": {"action": "link", "id": f["contact"].id}},
    # an account the sales rep may only read: linked, nothing written (C7.3); contact created.
    "linked": lambda f: {"account": {"action": "link", "id": f["foreign"].id}, "contact": {"action": "create"}},
}


@pytest.fixture
def existing(make_account, make_contact, users):
    return {"account": make_account(name="Zylker Inc.", industry=None, website=None),
            "contact": make_contact(first_name="Charles", last_name="Stone", email="charles.s@zylker.com",
                                    phone=None),
            "foreign": make_account(name="Zylker Group", owner_id=users["other_sales"].id)}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_c9_1_revert_gives_back_the_database_as_it_was(scenario, db, lead, existing, convert, sales):
    before = comparable(db)
    c = convert(sales, lead, lead={"fields": {"custom.vat": "FR42", "rating": "Hot"}},
                **EVERYTHING, **SCENARIOS[scenario](existing))
    expected = {"created": ("created", "created"), "merged": ("merged", "merged"),
                "linked": ("linked", "created")}[scenario]
    assert (c.account_action, c.contact_action, c.deal_action, c.task_action) == (*expected, "created", "created")
    moved = {m["type"] for m in c.moved_records}
    assert moved >= {"note", "attachment", "activity", "campaign_member", "line_item", "tag"}
    assert any(m.get("copy") and m["type"] == "note" for m in c.moved_records)
    if scenario != "linked":
        assert "address" in moved
    if scenario == "merged":
        assert c.fields_written["contact"].keys() >= {"phone", "account_id", "custom.budget"}
    assert comparable(db) != before

    plan = revert(db, sales, c.id)

    assert not plan.blockers
    assert_same(before, comparable(db))
    lead_row = db.session.get(Lead, lead.id)
    assert (lead_row.converted, lead_row.status, lead_row.conversion_id, lead_row.converted_at) == \
        (False, "contacted", None, None)
    c = db.session.get(Conversion, c.id)
    assert c.reverted_at is not None and c.reverted_by == sales.id
    assert c.revert_report["keep_changed"] is False and not c.revert_report["blockers"]
    deleted = {(s["type"], s["id"]) for s in c.revert_report["steps"] if s["action"] == "delete"}
    assert ("deal", None) not in deleted and len([d for d in deleted if d[0] == "deal"]) == 1
    assert c.deal_id is None and c.task_id is None  # deleted: the references go, the report keeps them
    events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "conversion_reverted")).all()
    assert f"Conversion reverted by {sales.display_name}" in {e.message for e in events}
    assert ("lead", lead.id) in {(e.parent_type, e.parent_id) for e in events}
    if scenario != "created":
        assert ("account", existing[{"merged": "account", "linked": "foreign"}[scenario]].id) in \
            {(e.parent_type, e.parent_id) for e in events}


def test_c9_1_preview_names_every_step_and_writes_nothing(db, lead, existing, convert, sales):
    c = convert(sales, lead, **EVERYTHING, **SCENARIOS["merged"](existing))
    before = db_rows(db)
    plan = plan_revert(db.session, sales, c)
    db.session.rollback()
    assert_unchanged(db, before)
    actions = {(s.action, s.type) for s in plan.steps}
    assert {("restore_lead", "lead"), ("restore_field", "contact"), ("restore_field", "account"),
            ("move_back", "note"), ("move_back", "attachment"), ("move_back", "activity"),
            ("move_back", "campaign_member"), ("move_back", "line_item"), ("move_back", "address"),
            ("remove_copy", "note"), ("remove_tag", "tag"), ("delete", "deal"), ("delete", "task")} <= actions
    assert plan.as_dict()["dry_run"] is True and plan.blockers == []


# --- changes since the conversion: each case named (409, then keep_changed) ----------------------
def _later(db, model, rid, **values):
    db.session.execute(update(model).where(model.id == rid).values(**values))
    db.session.commit()


def _new_deal(db, c, sales):
    deal = Deal(name="Second deal", contact_id=c.contact_id, stage="Qualification", owner_id=sales.id)
    db.session.add(deal)
    db.session.commit()
    return ("contact", c.contact_id, None, "new_related")


def _field_edited(db, c, sales):
    _later(db, Contact, c.contact_id, phone="+33 6 00 00 00 00")
    return ("contact", c.contact_id, "phone", "field_changed")


def _account_edited(db, c, sales):
    records.update(db.session, sales, db.session.get(Account, c.account_id), {"industry": "Bakery"})
    db.session.commit()
    return ("account", c.account_id, None, "edited")


def _custom_value_edited(db, c, sales):
    """No column changes (updated_at stays): the timeline's "updated" event tells."""
    records.update(db.session, sales, db.session.get(Account, c.account_id), {"tags": ["gold"]})
    db.session.commit()
    return ("account", c.account_id, None, "edited")


def _note_added(db, c, sales):
    db.session.add(Note(body="Called again", parent_type="contact", parent_id=c.contact_id))
    db.session.commit()
    return ("contact", c.contact_id, None, "new_related")


def _note_moved(db, c, sales):
    note = next(m for m in c.moved_records if m["type"] == "note" and not m["copy"])
    other = Account(name="Elsewhere Ltd", owner_id=sales.id)
    db.session.add(other)
    db.session.flush()
    _later(db, Note, note["id"], parent_type="account", parent_id=other.id)
    return ("note", note["id"], None, "moved_since")


def _note_deleted(db, c, sales):
    note = next(m for m in c.moved_records if m["type"] == "activity")
    db.session.delete(db.session.get(Task, note["id"]))
    db.session.commit()
    return ("activity", note["id"], None, "deleted_since")


def _copy_edited(db, c, sales):
    copy = next(m for m in c.moved_records if m["type"] == "note" and m["copy"] and m["to"][0] == "account")
    later = db.session.get(Note, copy["id"]).updated_at + timedelta(seconds=5)
    _later(db, Note, copy["id"], body="Edited copy", updated_at=later)
    return ("note", copy["id"], None, "copy_edited")


def _task_done(db, c, sales):
    task = db.session.get(Task, c.task_id)
    task.status = "done"
    db.session.commit()
    return ("task", c.task_id, None, "edited")


def _subsidiary(db, c, sales):
    db.session.add(Account(name="Zylker Lyon", parent_id=c.account_id, owner_id=sales.id))
    db.session.commit()
    return ("account", c.account_id, None, "new_related")


def _linked_by_another(db, c, sales, make_lead=None):
    db.session.add(Conversion(lead_id=c.lead_id, created_by=sales.id, account_id=c.account_id,
                              account_action="linked"))
    db.session.commit()
    return ("account", c.account_id, None, "linked_since")


def _status_deleted(db, c, sales):
    db.session.get(LeadStatus, "contacted").category = "converted"
    db.session.commit()
    return ("lead", c.lead_id, "status", "status_gone")


CHANGES = {
    "created contact got a new deal": _new_deal,
    "filled field edited since": _field_edited,
    "created account edited": _account_edited,
    "created account's tags edited": _custom_value_edited,
    "note added to the created contact": _note_added,
    "moved note moved elsewhere": _note_moved,
    "moved activity deleted": _note_deleted,
    "note copy edited": _copy_edited,
    "follow-up task done": _task_done,
    "created account got a subsidiary": _subsidiary,
    "created account linked by another conversion": _linked_by_another,
    "former status is a converted one now": _status_deleted,
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_c9_1_changes_since_are_named_then_kept(case, db, lead, existing, convert, sales):
    options = SCENARIOS["merged" if case == "filled field edited since" else "created"](existing)
    c = convert(sales, lead, **EVERYTHING, **options)
    kind, rid, field, code = CHANGES[case](db, c, sales)
    c = db.session.get(Conversion, c.id)

    preview = plan_revert(db.session, sales, c)
    db.session.rollback()
    named = {(b.type, b.id, b.field, b.code) for b in preview.blockers}
    assert (kind, rid, field, code) in named, named

    before = db_rows(db)
    with pytest.raises(RevertBlocked) as e:
        revert(db, sales, c.id)
    assert e.value.status == 409 and e.value.code == "revert_blocked"
    key = ".".join(str(p) for p in (kind, rid, field) if p is not None)
    assert key in e.value.errors and e.value.errors[key][0].startswith(("Kept", "Not "))
    body = e.value.as_dict()
    assert {(b["type"], b["id"], b["reason"]) for b in body["blockers"]} >= {(kind, rid, code)}
    assert_unchanged(db, before)  # refused: nothing written

    revert(db, sales, c.id, keep_changed=True)
    lead_row = db.session.get(Lead, lead.id)
    assert not lead_row.converted and lead_row.conversion_id is None
    c = db.session.get(Conversion, c.id)
    assert c.reverted_at is not None and c.revert_report["keep_changed"] is True
    assert {(b["type"], b["id"], b["reason"]) for b in c.revert_report["blockers"]} >= {(kind, rid, code)}
    # What blocked stays as it is.
    if code == "new_related" and kind == "contact":
        contact = db.session.get(Contact, rid)
        assert contact is not None and db.session.get(Account, contact.account_id) is not None  # kept with it
    if code == "field_changed":
        assert db.session.get(Contact, rid).phone == "+33 6 00 00 00 00"
        assert db.session.get(Contact, rid).account_id is None  # the other filled field is restored
        assert get_custom(db.session, "contact", rid) == {}
    if code == "moved_since":
        assert db.session.get(Note, rid).parent_type == "account"
    if code == "copy_edited":
        assert db.session.get(Note, rid).body == "Edited copy"
        assert db.session.get(Account, db.session.get(Note, rid).parent_id) is not None  # kept with it
    if code == "edited" and kind == "task":
        task = db.session.get(Task, rid)
        assert task.status == "done" and db.session.get(Contact, task.parent_id) is not None
    if code == "status_gone":
        assert lead_row.status == "new"
    # Everything not blocked was undone: the lead's own records are back on it.
    notes = db.session.scalars(select(Note).where(Note.parent_type == "lead", Note.parent_id == lead.id)).all()
    assert len(notes) == (1 if code == "moved_since" else 2)


def test_c9_1_kept_deal_keeps_its_account_and_contact(db, lead, convert, sales):
    c = convert(sales, lead, **EVERYTHING, account={"action": "create"}, contact={"action": "create"})
    records.update(db.session, sales, db.session.get(Deal, c.deal_id), {"amount": "9999.00"})
    db.session.commit()
    plan = plan_revert(db.session, sales, db.session.get(Conversion, c.id))
    db.session.rollback()
    codes = {(b.type, b.code) for b in plan.blockers}
    assert {("deal", "edited"), ("contact", "dependency"), ("account", "dependency")} <= codes
    ids = {e: getattr(c, f"{e}_id") for e in ("account", "contact", "deal", "task")}
    revert(db, sales, c.id, keep_changed=True)
    assert db.session.get(Deal, ids["deal"]) is not None
    assert db.session.get(Contact, ids["contact"]) is not None and db.session.get(Account, ids["account"]) is not None
    assert db.session.get(Task, ids["task"]) is None  # untouched: deleted
    c = db.session.get(Conversion, c.id)
    assert c.deal_id is not None and c.task_id is None


# --- once, and only for those allowed -------------------------------------------------------------
def test_c9_1_revert_twice_is_a_409(db, lead, convert, sales):
    c = convert(sales, lead, deal=DEAL)
    revert(db, sales, c.id)
    with pytest.raises(AlreadyReverted) as e:
        revert(db, sales, c.id)
    assert e.value.status == 409 and e.value.code == "already_reverted"
    with pytest.raises(AlreadyReverted):
        plan_revert(db.session, sales, db.session.get(Conversion, c.id))


def test_c9_1_a_concurrent_revert_loses_the_claim(db, lead, convert, sales):
    """The other revert committed between our read and our write: the conditional UPDATE tells."""
    c = convert(sales, lead)
    stale = db.session.get(Conversion, c.id)
    db.session.execute(update(Conversion.__table__).where(Conversion.__table__.c.id == c.id)
                       .values(reverted_at=stale.created_at))
    with pytest.raises(AlreadyReverted):
        execute_revert(db.session, sales, stale)
    db.session.rollback()


@pytest.mark.parametrize("role", ["viewer", "other_sales"])
def test_c9_1_permission_refused(role, db, lead, convert, sales, users):
    c = convert(sales, lead)
    before = db_rows(db)
    with pytest.raises(ConversionDenied) as e:
        revert(db, users[role], c.id)
    assert e.value.status == 403
    with pytest.raises(ConversionDenied):
        plan_revert(db.session, users[role], db.session.get(Conversion, c.id))
    assert_unchanged(db, before)


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_c9_1_admins_and_managers_revert_their_scope(role, db, lead, convert, sales, users):
    c = convert(sales, lead)
    revert(db, users[role], c.id)
    assert not db.session.get(Lead, lead.id).converted


def test_c9_1_lead_not_converted_by_it_is_a_conflict(db, lead, convert, sales):
    c = convert(sales, lead)
    _later(db, Lead, lead.id, conversion_id=None)
    with pytest.raises(Conflict):
        plan_revert(db.session, sales, db.session.get(Conversion, c.id))


def test_c9_1_reverted_lead_converts_again(db, lead, convert, sales):
    c = convert(sales, lead, **EVERYTHING)
    revert(db, sales, c.id)
    again = convert(sales, db.session.get(Lead, lead.id), **EVERYTHING)
    assert again.id != c.id and db.session.get(Lead, lead.id).conversion_id == again.id


def test_c9_1_a_bulk_conversion_reverts_the_same_way(db, lead, make_lead, sales):
    """bulk.py writes the very records the executor writes (C8): one of its conversions reverts too."""
    from webapp.conversion.bulk import BulkOptions, convert_chunk

    other = make_lead(owner_id=sales.id, first_name="Ana", last_name="Lima", company="Lima SA",
                      email="ana@lima.example", tags=["vip"])
    before = comparable(db)
    options = BulkOptions.from_dict({"deal": DEAL, "task": TASK, "attachments_to": "deal",
                                     "tags_to": ["contact", "deal", "account"]})
    outcomes = convert_chunk(db.session, sales, [lead.id, other.id], options)
    db.session.commit()
    assert {o.outcome for o in outcomes} == {"converted"}
    for outcome in outcomes:
        revert(db, sales, outcome.conversion_id)
    assert_same(before, comparable(db))


def test_c9_1_a_contact_added_concurrently_fails_the_revert_never_orphans(db, lead, convert, sales, monkeypatch):
    """PostgreSQL (SQLite serialises writers): a contact committed for the created account between
    the plan and the delete makes the foreign key refuse the revert; nothing is nulled silently."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from webapp.conversion import revert as module

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time: no concurrent insert to race with")
    c = convert(sales, lead, account={"action": "create"}, contact={"action": "create"})
    account_id = c.account_id
    build = module._Planner.build

    def build_then_race(self):
        plan = build(self)
        with db.engine.begin() as other:
            other.execute(insert(Contact).values(last_name="Racer", account_id=account_id, owner_id=sales.id))
        return plan

    monkeypatch.setattr(module._Planner, "build", build_then_race)
    with pytest.raises(IntegrityError):
        revert(db, sales, c.id)
    racer = db.session.scalar(select(Contact).where(Contact.last_name == "Racer"))
    assert racer.account_id == account_id and db.session.get(Account, account_id) is not None
    assert db.session.get(Lead, lead.id).converted
