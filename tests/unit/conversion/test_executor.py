"""The executor: one transaction (C1.3), idempotency, concurrency, and the API shapes (api.md)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from webapp.conversion.errors import AlreadyConverted, IdempotencyConflict
from webapp.conversion.executor import STEP_NAMES, STEPS, apply
from webapp.conversion.options import ConversionOptions
from webapp.conversion.serialize import conversion_as_dict
from webapp.models import Account, Attachment, Contact, Conversion, Lead

from .conftest import snapshot

FULL = {"deal": {"stage": "Qualification", "amount": "10.00"}, "task": {"subject": "Call"},
        "tags_to": ["contact", "deal", "account"]}


@pytest.fixture
def busy_lead(db, make_lead, make_note, make_task, make_contact, sales, custom_field, set_value):
    """A lead that exercises every step: merge with fills, custom values, notes, tasks, tags."""
    custom_field("lead", "vat", carry_over=True)
    custom_field("contact", "vat")
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", phone=None)
    lead = make_lead(owner_id=sales.id, phone="0123456789", tags=["vip"])
    set_value("lead", lead.id, "vat", "FR1")
    make_note(parent_id=lead.id)
    make_task(parent_id=lead.id)
    db.session.add(Attachment(parent_type="lead", parent_id=lead.id, filename="a", storage_name="s1"))
    db.session.commit()
    return lead


def test_steps_are_an_explicit_tuple_of_functions():
    assert all(callable(step) for step in STEPS)
    assert STEP_NAMES == ("resolve", "write_lead", "write_account", "write_contact", "write_deal",
                          "write_task", "transfer", "record", "mark_converted")


@pytest.mark.parametrize("step", STEP_NAMES)
def test_c1_3_a_fault_after_any_step_leaves_no_trace(step, busy_lead, db, sales):
    """Atomicity: each step is made to fail right after it ran (through apply's after_step seam);
    the caller's rollback must leave every table exactly as it was, table by table."""
    seen = []

    def fault(name, run):
        seen.append(name)
        if name == step:
            raise RuntimeError(f"fault after {step}")

    before = snapshot(db)
    with pytest.raises(RuntimeError, match=f"fault after {step}"):
        apply(db.session, sales, busy_lead.id, ConversionOptions.from_dict(FULL), after_step=fault)
    assert seen == list(STEP_NAMES[:STEP_NAMES.index(step) + 1])
    db.session.rollback()
    db.session.expire_all()
    after = snapshot(db)
    for table in before:
        assert after[table] == before[table], table


def test_c1_3_full_run_touches_every_step(busy_lead, db, sales):
    c = apply(db.session, sales, busy_lead.id, ConversionOptions.from_dict(FULL))
    db.session.commit()
    assert (c.account_action, c.contact_action, c.deal_action, c.task_action) == (
        "created", "merged", "created", "created")
    assert c.fields_written["contact"]["custom.vat"] == "FR1"
    assert c.moved["notes"] == 1 and c.moved["activities"] == 1 and c.moved["attachments"] == 1


# --- idempotency -------------------------------------------------------------------------------
def test_idempotency_same_key_same_body_replays(make_lead, db, sales):
    lead = make_lead(owner_id=sales.id)
    first = apply(db.session, sales, lead.id, ConversionOptions.from_dict(FULL), "key-1")
    db.session.commit()
    before = snapshot(db)
    again = apply(db.session, sales, lead.id, ConversionOptions.from_dict(FULL), "key-1")
    db.session.commit()
    assert again.id == first.id and snapshot(db) == before


def test_idempotency_same_key_other_body_conflicts(make_lead, db, sales):
    lead = make_lead(owner_id=sales.id)
    apply(db.session, sales, lead.id, ConversionOptions.from_dict(FULL), "key-1")
    db.session.commit()
    with pytest.raises(IdempotencyConflict) as e:
        apply(db.session, sales, lead.id, ConversionOptions.from_dict({}), "key-1")
    assert e.value.http_status == 409


def test_idempotency_keys_belong_to_their_user(make_lead, db, sales, users):
    """Another user's key with the same text is another key."""
    a = make_lead(owner_id=sales.id)
    b = make_lead(owner_id=users["admin"].id, email="b@x.com", company="B")
    apply(db.session, sales, a.id, ConversionOptions(), "k")
    c = apply(db.session, users["admin"], b.id, ConversionOptions(), "k")
    db.session.commit()
    assert c.lead_id == b.id


def test_without_key_a_second_conversion_is_409(make_lead, db, sales):
    lead = make_lead(owner_id=sales.id)
    apply(db.session, sales, lead.id, ConversionOptions())
    db.session.commit()
    with pytest.raises(AlreadyConverted):
        apply(db.session, sales, lead.id, ConversionOptions())


def test_mark_converted_is_conditional(make_lead, db, sales):
    """Even when the up-front check was passed (a concurrent winner committed meanwhile), the
    final UPDATE matches nothing and raises AlreadyConverted with the winner's id."""
    lead = make_lead(owner_id=sales.id)

    def winner_sneaks_in(step, run):
        if step == "record":
            db.session.execute(Lead.__table__.update().where(Lead.id == lead.id).values(
                converted=True, conversion_id=run.conversion.id))

    with pytest.raises(AlreadyConverted):
        apply(db.session, sales, lead.id, ConversionOptions(), after_step=winner_sneaks_in)
    db.session.rollback()


# --- concurrency -------------------------------------------------------------------------------
def test_c1_3_concurrent_conversions_yield_exactly_one(app, db, make_lead, sales):
    """Two threads, each with its own session, convert the same lead, 50 times over: exactly one
    Conversion and one AlreadyConverted each time, and never two accounts."""
    sales_id = sales.id
    for i in range(50):
        lead_id = make_lead(owner_id=sales_id, company=f"Race {i}", email=f"race{i}@x.com").id
        accounts_before = db.session.scalar(select(func.count(Account.id)))
        db.session.commit()
        barrier = threading.Barrier(2)
        outcomes: list = []

        def worker(barrier=barrier, lead_id=lead_id, outcomes=outcomes):
            with app.app_context():
                session = db.session
                actor = session.get(type(sales), sales_id)
                barrier.wait()
                try:
                    apply(session, actor, lead_id, ConversionOptions.from_dict({"deal": {"stage": "Won"}}))
                    session.commit()
                    outcomes.append("converted")
                except AlreadyConverted:
                    session.rollback()
                    outcomes.append("already")
                except Exception as e:  # noqa: BLE001 — reported in the assertion below
                    session.rollback()
                    outcomes.append(repr(e))
                finally:
                    session.remove()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["already", "converted"], outcomes
        db.session.expire_all()
        assert db.session.scalar(select(func.count(Conversion.id)).where(Conversion.lead_id == lead_id)) == 1
        assert db.session.scalar(select(func.count(Account.id))) == accounts_before + 1


# --- shapes ------------------------------------------------------------------------------------
def test_api_201_shape(make_lead, make_contact, db, sales, users):
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", phone=None,
                 owner_id=users["other_sales"].id)
    lead = make_lead(owner_id=sales.id, phone="0123")
    c = apply(db.session, sales, lead.id, ConversionOptions.from_dict(FULL))
    db.session.commit()
    body = conversion_as_dict(c)
    assert set(body) == {"id", "lead_id", "created_by", "created_at", "reverted_at", "account", "contact",
                         "deal", "task", "fields_written", "not_updated", "moved"}
    assert body["contact"] == {"id": c.contact_id, "action": "linked", "reason": "email"}
    assert body["account"]["action"] == "created" and body["reverted_at"] is None
    assert body["not_updated"] == [{"entity": "contact", "id": c.contact_id, "reason": "read_only"}]
    assert set(body["moved"]) >= {"notes", "attachments", "activities", "campaigns"}


def test_api_timestamps_carry_their_offset(make_lead, db, sales):
    """api.md: ISO 8601 with offset, also when the database hands back naive datetimes (SQLite)."""
    from datetime import UTC, datetime

    c = apply(db.session, sales, make_lead(owner_id=sales.id).id, ConversionOptions())
    db.session.commit()
    db.session.expire_all()
    c = db.session.get(Conversion, c.id)
    c.reverted_at = datetime(2026, 11, 23, 10, 0)  # naive, as SQLite returns it
    body = conversion_as_dict(c)
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    assert body["reverted_at"] == "2026-11-23T10:00:00+00:00"
    c.reverted_at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert conversion_as_dict(c)["reverted_at"] == "2026-11-23T10:00:00+00:00"
    db.session.rollback()


def test_api_dry_run_shape_writes_nothing(make_lead, make_contact, db, sales, preview):
    contact = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", phone=None)
    lead = make_lead(owner_id=sales.id, phone="0123")
    before = snapshot(db)
    body = preview(sales, lead, dry_run=True, **FULL).as_dict()
    assert snapshot(db) == before
    assert body["id"] is None and body["dry_run"] is True
    assert body["contact"] == {"id": contact.id, "action": "merged", "reason": "email"}
    assert body["account"] == {"id": None, "action": "created", "reason": None}
    assert body["fields_written"] == {"contact": {"phone": "0123"}}
    assert body["candidates"]["contact"] == [{"id": contact.id, "name": "X Y", "reason": "email"}]
    assert body["candidates"]["account"] == []


def test_conversion_stores_contact_lookup(make_lead, db, sales):
    lead = make_lead(owner_id=sales.id)
    c = apply(db.session, sales, lead.id, ConversionOptions())
    db.session.commit()
    assert db.session.get(Contact, c.contact_id).email_norm == "charles.s@zylker.com"


def test_plan_and_apply_use_a_constant_number_of_queries(db, make_lead, make_contact, make_account, sales):
    """Performance: the number of statements does not grow with the data (indexed look-ups only)."""
    from sqlalchemy import event

    from webapp.conversion.planner import plan

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def measure(lead):
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            apply(db.session, sales, lead.id, ConversionOptions.from_dict(FULL))
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        db.session.rollback()
        return len(statements)

    small = measure(make_lead(owner_id=sales.id))
    for i in range(30):
        account = make_account(name="Zylker")
        make_contact(first_name="Charles", last_name="Stone", email=f"x{i}@zylker.com", account_id=account.id)
    assert measure(make_lead(owner_id=sales.id)) <= small + 3 <= 45
    statements.clear()
    event.listen(db.engine, "before_cursor_execute", count)
    plan(db.session, sales, make_lead(owner_id=sales.id).id, ConversionOptions.from_dict(FULL))
    event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) <= 20
