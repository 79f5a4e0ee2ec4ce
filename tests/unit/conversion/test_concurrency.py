"""Concurrent conversions sharing a match key (C4, issue 7): the duplicate look-up and the insert
must not race. Ten leads of one new company (or with one e-mail) converted at the same moment,
each in its own thread, session and transaction, give one account (one contact): the first
conversion creates it, the nine others find it and merge into it. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from webapp.conversion.executor import apply
from webapp.conversion.options import ConversionOptions
from webapp.conversion.resolve import key_hash, match_keys
from webapp.models import Account, Contact, Conversion, User

N = 10


def _convert_in_parallel(app, db, actor_id: int, lead_ids: list[int], body: dict) -> list[str]:
    """Convert each lead in its own thread (own app context, session, connection), all released
    at once by a barrier; returns the outcomes."""
    barrier = threading.Barrier(len(lead_ids))
    outcomes: list[str] = []

    def worker(lead_id: int) -> None:
        with app.app_context():
            session = db.session
            try:
                actor = session.get(User, actor_id)
                barrier.wait()
                apply(session, actor, lead_id, ConversionOptions.from_dict(body))
                session.commit()
                outcomes.append("converted")
            except Exception as e:  # noqa: BLE001 — reported by the assertion
                session.rollback()
                outcomes.append(repr(e))
            finally:
                session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in lead_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_c4_parallel_conversions_of_one_new_company_create_one_account(app, db, make_lead, sales):
    lead_ids = [make_lead(owner_id=sales.id, company="Brand New Widgets Ltd", first_name=f"Person{i}",
                          last_name=f"Number{i}", email=f"person{i}@example{i}.com").id for i in range(N)]
    outcomes = _convert_in_parallel(app, db, sales.id, lead_ids, {"deal": {"stage": "Qualification"}})
    assert outcomes == ["converted"] * N, outcomes
    db.session.expire_all()
    accounts = db.session.scalars(select(Account)).all()
    assert len(accounts) == 1, [a.name for a in accounts]
    conversions = db.session.scalars(select(Conversion).order_by(Conversion.id)).all()
    assert {c.account_id for c in conversions} == {accounts[0].id}
    assert sorted(c.account_action for c in conversions) == ["created"] + ["merged"] * (N - 1)
    assert db.session.scalar(select(func.count(Contact.id))) == N  # ten different people


def test_c4_parallel_conversions_of_one_email_create_one_contact(app, db, make_lead, sales):
    lead_ids = [make_lead(owner_id=sales.id, company=None, first_name="Charles", last_name=f"Stone{i}",
                          email="Charles.Stone@Example.com").id for i in range(N)]
    outcomes = _convert_in_parallel(app, db, sales.id, lead_ids, {})
    assert outcomes == ["converted"] * N, outcomes
    db.session.expire_all()
    contacts = db.session.scalars(select(Contact)).all()
    assert len(contacts) == 1
    conversions = db.session.scalars(select(Conversion)).all()
    assert {(c.contact_id, c.contact_reason) for c in conversions if c.contact_action == "merged"} == {
        (contacts[0].id, "email")}
    assert sorted(c.contact_action for c in conversions) == ["created"] + ["merged"] * (N - 1)


def test_c4_parallel_conversions_sharing_a_unique_field_create_one_account(app, db, make_lead, sales,
                                                                              custom_field, set_value):
    """C4.1 b: ten leads of ten companies, one LinkedIn id (a unique account field the leads carry
    over): the unique value is a locked key too, so the first creates the account and the nine
    others find it by that field."""
    custom_field("lead", "linkedin_id", carry_over=True)
    custom_field("account", "linkedin_id", unique=True)
    lead_ids = []
    for i in range(N):
        lead = make_lead(owner_id=sales.id, company=f"Subsidiary {i} Holdings", first_name=f"Person{i}",
                         last_name=f"Number{i}", email=f"person{i}@example{i}.com")
        set_value("lead", lead.id, "linkedin_id", "Zylker-Group")
        lead_ids.append(lead.id)
    outcomes = _convert_in_parallel(app, db, sales.id, lead_ids, {})
    assert outcomes == ["converted"] * N, outcomes
    db.session.expire_all()
    accounts = db.session.scalars(select(Account)).all()
    assert len(accounts) == 1, [a.name for a in accounts]
    conversions = db.session.scalars(select(Conversion)).all()
    assert sorted((c.account_action, c.account_reason) for c in conversions) == (
        [("created", None)] + [("merged", "unique:linkedin_id")] * (N - 1))


def test_match_keys_are_normalised_sorted_and_hash_stably(db, make_lead, sales):
    """The locked keys are the normalised ones (two spellings of a company lock the same key)."""
    from webapp.conversion.plan import Planning

    a = make_lead(owner_id=sales.id, company="ACME S.A.S.", email="X@Acme.com")
    b = make_lead(owner_id=sales.id, company="Acme SAS", email="x@acme.com ")
    keys = []
    for lead in (a, b):
        p = Planning(db.session, sales, ConversionOptions())
        p.source, p.overrides = lead, {"account": {}, "contact": {}}
        keys.append(match_keys(p))
    assert keys[0] == keys[1] == sorted(keys[0])
    assert {k.split(":")[0] for k in keys[0]} == {"company", "email", "name"}
    assert key_hash("company:acme") == key_hash("company:acme") != key_hash("company:acme2")
    assert -(2**63) <= key_hash("email:x@acme.com") < 2**63


@pytest.mark.parametrize("dry_run", [True])
def test_a_preview_takes_no_lock(db, make_lead, sales, preview, dry_run):
    """plan() without lock (the modal's preview, a dry run) leaves the transaction untouched: on
    SQLite nothing is begun, so a preview never waits behind a running conversion."""
    lead = make_lead(owner_id=sales.id)
    db.session.commit()
    preview(sales, lead, dry_run=dry_run)
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        assert not connection.connection.driver_connection.in_transaction
    db.session.rollback()
