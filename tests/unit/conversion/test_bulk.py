"""Bulk conversion (conversion/bulk.py, C8.2-C8.5): the same decisions as the single path,
in-chunk and cross-chunk matches, skips with their reasons, writes identical to a single
conversion's, and a chunk whose write fails retried lead by lead.

The single path and the bulk engine are two paths through the same decision functions
(resolve, values, requirements, transfer's placements): `test_seed_004_*` runs every row of
seed 004's scenario tables (the setups of test_matching.py and test_matching_rules.py) through
both and compares the plans field by field; `test_writes_*` compares the rows each path writes.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from webapp.conversion.bulk import (
    BulkOptions,
    convert_chunk,
    plan_chunk,
    render_name,
    summarize,
    validate,
)
from webapp.conversion.errors import InvalidOptions
from webapp.conversion.executor import apply
from webapp.conversion.options import ConversionOptions
from webapp.conversion.planner import plan
from webapp.conversion.serialize import jsonable
from webapp.models import (
    Account,
    Attachment,
    Campaign,
    CampaignMember,
    Contact,
    Conversion,
    Deal,
    Lead,
    Note,
    Role,
    Task,
    TimelineEvent,
)

LEAD = {"first_name": "Charles", "last_name": "Stone", "company": "Zylker Inc.", "email": "charles.s@zylker.com"}
DEAL = {"stage": "Qualification", "amount": "100.00"}
FULL = {"deal": DEAL, "task": {"subject": "Call back"}, "tags_to": ["contact", "deal", "account"]}


@pytest.fixture
def lead_of(make_lead, sales):
    def build(**kw):
        return make_lead(**{**LEAD, "owner_id": sales.id, **kw})

    return build


@pytest.fixture
def restricted(db, make_user, users):
    """A custom role that converts but sees only its own accounts and contacts."""
    db.session.add(Role(key="restricted", label="Restricted", scope="own",
                        permissions=["lead.convert", "lead.edit", "account.create", "contact.create",
                                     "deal.create", "account.edit", "contact.edit"]))
    db.session.commit()
    return make_user("restricted", manager_id=users["manager"].id)


@pytest.fixture
def uniques(custom_field):
    """Contact SSN and account LinkedIn id are unique; the lead's fields carry over (C3.3)."""
    custom_field("lead", "ssn", carry_over=True)
    custom_field("lead", "linkedin_id", carry_over=True)
    custom_field("contact", "ssn", unique=True)
    custom_field("account", "linkedin_id", unique=True)


@pytest.fixture
def bulk(db):
    """bulk(actor, leads, **options) -> outcomes, committed."""

    def run(actor, leads, /, **body):
        outcomes = convert_chunk(db.session, actor, [lead.id for lead in leads], BulkOptions.from_dict(body))
        db.session.commit()
        return outcomes

    return run


# --- the single and bulk plans agree ------------------------------------------------------------
def _entity(p):
    return {"action": p.action, "record_id": p.record_id, "reason": p.reason, "label": p.label,
            "values": jsonable(p.values), "fills": jsonable(p.fills), "read_only": p.read_only}


def plan_fields(p) -> dict:
    """Everything a plan says, as plain data."""
    return {
        **{e.entity: _entity(e) for e in p.entities()},
        "candidates": {e: [(c.id, c.name, c.reason) for c in cs] for e, cs in p.candidates.items()},
        "moves": dict(p.moves), "missing": p.missing,
        "destinations": {k: [str(x) for x in v] for k, v in p.destinations.items()},
        "warnings": [str(w) for w in p.warnings], "blocked": None if p.blocked is None else str(p.blocked),
        "not_updated": p.not_updated(), "fields_written": p.fields_written(),
    }


@pytest.fixture
def same_plan(db):
    """same_plan(actor, lead, **options): the single planner and plan_chunk agree on `lead`, field by
    field, or refuse it for the same reason (the bulk outcome: skipped with the refusal's code)."""

    def check(actor, lead, /, **body):
        try:
            single = plan(db.session, actor, lead.id, ConversionOptions.from_dict(body))
            single.check()
        except Exception as error:  # noqa: BLE001 - compared below
            refused = error
        else:
            refused = None
        [outcome] = plan_chunk(db.session, actor, [lead.id], BulkOptions.from_dict(body))
        db.session.rollback()
        if refused is not None:
            assert (outcome.outcome, outcome.code) == ("skipped", refused.code)
            assert str(refused.message) in str(outcome.reason)
            return outcome
        assert outcome.outcome == "converted", outcome.reason
        assert plan_fields(outcome.plan) == plan_fields(single)
        return single

    return check


def outcome_of(p):
    return (p.account.action, p.account.reason, p.contact.action, p.contact.reason)


def test_seed_004_use_case_1_email_matches_contact(lead_of, make_contact, make_account, same_plan, sales):
    account = make_account(name="Other Corp")
    make_contact(first_name="C.", last_name="Stone", email="Charles.S@Zylker.com ", account_id=account.id)
    assert outcome_of(same_plan(sales, lead_of(), **FULL)) == ("linked", "contact_account", "merged", "email")


def test_seed_004_use_case_1_create_new_contact(lead_of, make_contact, same_plan, sales):
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com")
    assert outcome_of(same_plan(sales, lead_of(), contact={"action": "create"})) == (
        "created", None, "created", None)


def test_seed_004_use_case_2_company_matches_account(lead_of, make_account, make_contact, same_plan, sales):
    account = make_account(name="ZYLKER")
    make_contact(first_name="Ann", last_name="Other", email="ann@zylker.com", account_id=account.id)
    assert outcome_of(same_plan(sales, lead_of(), **FULL)) == ("merged", "company_name", "created", None)
    assert outcome_of(same_plan(sales, lead_of(), account={"action": "create"})) == ("created", None, "created", None)


def test_seed_004_use_case_3_name_is_a_suggestion(lead_of, make_contact, same_plan, sales):
    make_contact(first_name="CHARLES", last_name="Stone", email="other@example.com")
    p = same_plan(sales, lead_of())
    assert outcome_of(p) == ("created", None, "created", None) and p.candidates["contact"]


def test_seed_004_nothing_exists(lead_of, same_plan, sales):
    assert outcome_of(same_plan(sales, lead_of(), **FULL)) == ("created", None, "created", None)


@pytest.mark.parametrize("exists", [True, False])
def test_seed_004_name_alone_decides_without_email_and_company(exists, lead_of, make_contact, same_plan, sales):
    if exists:
        make_contact(first_name="Charles", last_name="Stone", title="CEO")
    p = same_plan(sales, lead_of(company=None, email=None, title="Intern", phone="0123456789"))
    assert p.contact.action == ("merged" if exists else "created")


@pytest.mark.parametrize("name_matches", [True, False])
def test_seed_004_name_and_company_email_not(name_matches, lead_of, make_account, make_contact, same_plan, sales):
    account = make_account(name="Zylker")
    if name_matches:
        make_contact(first_name="Charles", last_name="Stone", account_id=account.id)
    assert outcome_of(same_plan(sales, lead_of(email=None))) == ("merged", "company_name", "created", None)


@pytest.mark.parametrize("match", ["email", "name", "none"])
def test_seed_004_name_and_email_company_not(match, lead_of, make_contact, same_plan, sales):
    if match == "email":
        make_contact(first_name="Chuck", last_name="S", email="charles.s@zylker.com")
    elif match == "name":
        make_contact(first_name="Charles", last_name="Stone", email="cs@else.com")
    same_plan(sales, lead_of(company=None))


def test_seed_004_contact_with_account_keeps_it(lead_of, make_account, make_contact, same_plan, sales):
    mine = make_account(name="Acme")
    make_account(name="Zylker")
    make_contact(first_name="C", last_name="S", email="charles.s@zylker.com", account_id=mine.id)
    assert same_plan(sales, lead_of()).account.record_id == mine.id


@pytest.mark.parametrize("account_exists", [True, False])
@pytest.mark.parametrize("company", ["Zylker Inc.", None])
def test_seed_004_contact_without_account(account_exists, company, lead_of, make_account, make_contact,
                                          same_plan, sales):
    if account_exists:
        make_account(name="zylker")
    make_contact(first_name="C", last_name="S", email="charles.s@zylker.com")
    same_plan(sales, lead_of(company=company), **FULL)


@pytest.mark.parametrize("email_contact", [True, False])
def test_seed_004_account_match_searches_its_contacts(email_contact, lead_of, make_account, make_contact,
                                                     same_plan, sales):
    account = make_account(name="Zylker Inc")
    elsewhere = make_account(name="Elsewhere")
    if email_contact:
        make_contact(first_name="Charlie", last_name="S", email="CHARLES.S@zylker.com", account_id=account.id)
    make_contact(first_name="Zed", last_name="Z", email="zed@zylker.com", account_id=elsewhere.id)
    same_plan(sales, lead_of(), **FULL)


@pytest.mark.parametrize("ssn_available", [True, False])
@pytest.mark.parametrize("linkedin_available", [True, False])
@pytest.mark.parametrize("exists", [True, False])
def test_seed_004_unique_fields_table(ssn_available, linkedin_available, exists, uniques, lead_of, make_account,
                                      make_contact, set_value, same_plan, sales):
    make_contact(first_name="E", last_name="Mail", email="charles.s@zylker.com")
    make_account(name="Zylker")
    if exists:
        ssn_contact = make_contact(first_name="S", last_name="Sn")
        set_value("contact", ssn_contact.id, "ssn", "1-85-05-78")
        li_account = make_account(name="LinkedIn Corp")
        set_value("account", li_account.id, "linkedin_id", "zylker-inc")
        make_contact(first_name="Charles", last_name="Stone", account_id=li_account.id)
    lead = lead_of()
    if ssn_available:
        set_value("lead", lead.id, "ssn", "1 85 05 78")
    if linkedin_available:
        set_value("lead", lead.id, "linkedin_id", "Zylker-Inc")
    p = same_plan(sales, lead, **FULL)
    if exists and ssn_available:
        assert p.contact.reason == "unique:ssn"
    elif exists and linkedin_available:
        assert p.account.reason == "unique:linkedin_id"


def test_seed_004_unique_contact_with_account_keeps_it(uniques, lead_of, make_account, make_contact, set_value,
                                                       same_plan, sales):
    home = make_account(name="Home")
    contact = make_contact(first_name="S", last_name="Sn", account_id=home.id)
    set_value("contact", contact.id, "ssn", "42")
    lead = lead_of()
    set_value("lead", lead.id, "ssn", "42")
    assert same_plan(sales, lead).account.reason == "contact_account"


def test_seed_004_unique_account_without_matching_contact(uniques, lead_of, make_account, set_value, same_plan,
                                                          sales):
    account = make_account(name="LinkedIn Corp")
    set_value("account", account.id, "linkedin_id", "zy")
    lead = lead_of(email="nobody@x.com", first_name="No", last_name="Body")
    set_value("lead", lead.id, "linkedin_id", "zy")
    assert same_plan(sales, lead).contact.values["account_id"] == account.id


def test_seed_004_hidden_duplicates_refused_the_same_way(restricted, users, make_lead, make_contact, same_plan):
    """C4.8: the single path refuses (403 naming who can convert); bulk skips with that sentence."""
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    outcome = same_plan(restricted, make_lead(**{**LEAD, "company": None}, owner_id=restricted.id))
    assert outcome.code == "duplicates_hidden" and "Admin" in str(outcome.reason)


def test_seed_004_missing_required_refused_the_same_way(lead_of, custom_field, same_plan, sales):
    custom_field("deal", "budget", "decimal", required=True)
    outcome = same_plan(sales, lead_of(), deal=DEAL)
    assert outcome.code == "missing_required" and "BUDGET" in str(outcome.reason)  # the field by its label


def test_same_plan_with_everything_that_moves(lead_of, make_note, make_task, make_contact, db, same_plan, sales):
    lead = lead_of(tags=["vip", "hot"], phone="0123456789")
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", phone=None)
    make_note(parent_id=lead.id)
    make_task(parent_id=lead.id)
    db.session.add(Attachment(parent_type="lead", parent_id=lead.id, filename="a", storage_name="s-moves"))
    db.session.commit()
    for body in (FULL, {"tags_to": ["account"], "attachments_to": "account"}, {"account": {"action": "none"}}):
        same_plan(sales, lead, **body)


# --- writes identical to a single conversion ------------------------------------------------------
COMPARED = ("accounts", "contacts", "deals", "tasks", "notes", "attachments", "taggings", "campaign_members",
            "custom_field_values", "conversions", "timeline_events", "leads")
NOT_COMPARED = {"created_at", "updated_at", "converted_at"}


def written(db, run) -> dict:
    """The rows of COMPARED after `run()`, in a savepoint rolled back after (ids restarted)."""
    savepoint = db.session.begin_nested()
    run()
    db.session.flush()
    rows = {}
    for name in COMPARED:
        table = db.metadata.tables[name]
        columns = [c for c in table.columns if c.name not in NOT_COMPARED]
        rows[name] = [dict(r._mapping) for r in db.session.execute(select(*columns).order_by(table.c.id))]
    savepoint.rollback()
    db.session.expire_all()
    if db.engine.dialect.name == "postgresql":
        for name in COMPARED:
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                    f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"))
    return rows


@pytest.fixture
def busy_leads(db, lead_of, make_contact, make_account, make_note, make_task, custom_field, set_value, sales):
    """Leads that exercise every write: a merge with fills and a custom value, a new company
    shared by two leads, notes, tasks (open and done), an attachment, a campaign, tags."""
    custom_field("lead", "vat", carry_over=True)
    custom_field("contact", "vat")
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", phone=None)
    make_account(name="Acme SAS", phone=None)
    campaign = Campaign(name="Fair")
    db.session.add(campaign)
    db.session.commit()
    leads = [lead_of(phone="0123456789", tags=["vip"]),
             lead_of(first_name="Ann", last_name="Lee", email="ann@acme.fr", company="ACME", phone="0102030405"),
             lead_of(first_name="Bo", last_name="Ng", email="bo@newco.fr", company="NewCo"),
             lead_of(first_name="Cy", last_name="Ng", email="cy@newco.fr", company="NewCo SARL", tags=["vip"]),
             lead_of(first_name="Di", last_name="Lu", email=None, company=None)]
    set_value("lead", leads[0].id, "vat", "FR1")
    for lead in leads:
        make_note(parent_id=lead.id, body=f"About {lead.first_name}")
        make_task(parent_id=lead.id, subject="Open")
        make_task(parent_id=lead.id, subject="Done", status="done")
    db.session.add(Attachment(parent_type="lead", parent_id=leads[1].id, filename="a", storage_name="s-busy"))
    db.session.add(CampaignMember(campaign_id=campaign.id, parent_type="lead", parent_id=leads[2].id))
    db.session.commit()
    return leads


@pytest.mark.parametrize("body", [FULL, {"tags_to": ["account"], "attachments_to": "deal", "activities_to": "account"},
                                  {"deal": {"stage": "Nope", "name": "{company} – {full_name}"}}],
                         ids=["deal and task", "no deal", "template and stage fallback"])
def test_writes_equal_the_single_conversions_one_after_the_other(body, busy_leads, db, sales):
    """The same leads converted one by one by executor.apply, then as one bulk chunk: the very
    same rows (conversion records, timeline events, moves, merges, keys) but for timestamps."""
    bulk_options = BulkOptions.from_dict(body)

    def singles():
        for lead in busy_leads:
            apply(db.session, sales, lead.id, bulk_options.for_lead(lead))

    def chunk():
        outcomes = convert_chunk(db.session, sales, [lead.id for lead in busy_leads], bulk_options)
        assert [o.outcome for o in outcomes] == ["converted"] * len(busy_leads), [o.reason for o in outcomes]

    one_by_one = written(db, singles)
    at_once = written(db, chunk)
    for table in COMPARED:
        assert at_once[table] == one_by_one[table], table


def test_writes_merge_into_an_account_an_earlier_lead_of_the_chunk_created(busy_leads, db, sales, bulk):
    """NewCo and NewCo SARL: one account, created by the first lead, merged by the second."""
    outcomes = bulk(sales, busy_leads, **FULL)
    first, second = (db.session.get(Conversion, o.conversion_id) for o in outcomes[2:4])
    assert (first.account_action, second.account_action, second.account_reason) == (
        "created", "merged", "company_name")
    assert first.account_id == second.account_id
    assert db.session.scalar(select(func.count()).select_from(Account).where(Account.name_norm == "newco")) == 1


# --- in-chunk and cross-chunk matches ------------------------------------------------------------------
def test_in_chunk_same_email_gives_one_contact(lead_of, db, sales, bulk):
    leads = [lead_of(first_name="A", last_name="B", email="same@x.com", company=None) for _ in range(3)]
    outcomes = bulk(sales, leads)
    conversions = [db.session.get(Conversion, o.conversion_id) for o in outcomes]
    assert [c.contact_action for c in conversions] == ["created", "merged", "merged"]
    assert len({c.contact_id for c in conversions}) == 1
    assert [c.contact_reason for c in conversions[1:]] == ["email", "email"]


def test_in_chunk_shared_company_and_email_keep_the_contact_account(lead_of, db, sales, bulk):
    """The second lead matches the first one's new contact by e-mail: it keeps its (new) account (C4.4)."""
    leads = [lead_of(email="same@newco.fr", company="NewCo"), lead_of(email="same@newco.fr", company="Other")]
    a, b = (db.session.get(Conversion, o.conversion_id) for o in bulk(sales, leads))
    assert (b.contact_action, b.contact_id, b.account_action, b.account_reason, b.account_id) == (
        "merged", a.contact_id, "linked", "contact_account", a.account_id)
    assert db.session.scalar(select(func.count()).select_from(Account)) == 1


def test_cross_chunk_shared_company_gives_one_account(lead_of, db, sales):
    leads = [lead_of(first_name=f"P{i}", email=f"p{i}@mega.fr", company="Mega Corp" if i % 2 else "MEGA CORP SAS")
             for i in range(6)]
    options = BulkOptions.from_dict({"deal": DEAL})
    for start in range(0, 6, 2):  # three chunks of two
        convert_chunk(db.session, sales, [lead.id for lead in leads[start:start + 2]], options)
        db.session.commit()
    conversions = db.session.scalars(select(Conversion).order_by(Conversion.id)).all()
    assert [c.account_action for c in conversions] == ["created"] + ["merged"] * 5
    assert len({c.account_id for c in conversions}) == 1
    assert db.session.scalar(select(func.count()).select_from(Deal)) == 6


def test_in_chunk_fill_seen_by_the_next_lead(lead_of, make_contact, db, sales, bulk):
    """Two leads merge into one existing contact: the second fills only what the first left empty
    (C3.5), and records what it found, as it would one conversion after the other."""
    contact = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", phone=None, title=None)
    leads = [lead_of(phone="0123456789", title=None, company=None), lead_of(phone="0999999999", title="CEO",
                                                                          company=None)]
    a, b = (db.session.get(Conversion, o.conversion_id) for o in bulk(sales, leads))
    assert a.fields_written["contact"]["phone"] == "0123456789"
    assert "phone" not in b.fields_written["contact"] and b.fields_written["contact"]["title"] == "CEO"
    db.session.expire_all()
    merged = db.session.get(Contact, contact.id)
    assert (merged.phone, merged.title, merged.phone_e164) == ("0123456789", "CEO", "+33123456789")


# --- skips, with their reasons ---------------------------------------------------------------------------
def test_refused_leads_are_skipped_with_their_reason_before_anything_is_written(
        lead_of, make_lead, make_contact, restricted, users, custom_field, db, sales, bulk):
    make_contact(first_name="X", last_name="Y", email="hidden@x.com", owner_id=users["admin"].id)
    ok = lead_of()
    converted = lead_of(email="again@x.com")
    bulk(sales, [converted])
    theirs = make_lead(**LEAD, owner_id=users["other_sales"].id)
    nameless = lead_of(first_name=None, last_name=None, company=None, email="n@x.com")
    outcomes = {o.lead_id: o for o in bulk(sales, [ok, converted, theirs, nameless, Lead(id=99999)], deal=DEAL)}
    assert outcomes[ok.id].outcome == "converted"
    assert (outcomes[converted.id].outcome, outcomes[converted.id].code) == ("skipped", "already_converted")
    assert outcomes[converted.id].conversion_id == db.session.get(Lead, converted.id).conversion_id
    assert outcomes[theirs.id].code == "not_found"  # another rep's lead: out of a sales rep's sight
    assert outcomes[nameless.id].code == "missing_required" and "contact.last_name" in str(outcomes[nameless.id].reason)
    assert outcomes[99999].code == "not_found"
    hidden_lead = make_lead(**{**LEAD, "email": "hidden@x.com", "company": None}, owner_id=restricted.id)
    [hidden] = bulk(restricted, [hidden_lead])
    assert (hidden.outcome, hidden.code) == ("skipped", "duplicates_hidden")
    [viewer] = bulk(users["viewer"], [theirs])
    assert viewer.code == "forbidden" and "Convert leads" in str(viewer.reason)
    assert not db.session.get(Lead, theirs.id).converted and not db.session.get(Lead, hidden_lead.id).converted
    assert db.session.scalar(select(func.count()).select_from(Conversion)) == 2


def test_c7_1_a_role_without_deal_creation_is_skipped(db, make_user, make_lead, bulk):
    db.session.add(Role(key="nodeal", label="No deals", scope="own",
                        permissions=["lead.convert", "lead.edit", "account.create", "contact.create",
                                     "record.read_all"]))
    db.session.commit()
    user = make_user("nodeal")
    [outcome] = bulk(user, [make_lead(owner_id=user.id)], deal=DEAL)
    assert outcome.code == "forbidden" and "may not create deals" in str(outcome.reason)


def test_c5_3_a_lead_currency_without_rate_is_skipped_with_the_reason(make_lead, db, sales, bulk):
    ok = make_lead(owner_id=sales.id, currency="EUR")
    odd = make_lead(owner_id=sales.id, currency="JPY", email="j@x.com", company="Nippon")
    outcomes = bulk(sales, [ok, odd], deal={"stage": "Qualification", "amount": "100.00"})
    assert [o.outcome for o in outcomes] == ["converted", "skipped"]
    assert "deal.amount" in str(outcomes[1].reason) and "JPY" in str(outcomes[1].reason)


def test_c5_2_stage_fallback_and_c5_3_named_currency(lead_of, db, sales, bulk):
    [outcome] = bulk(sales, [lead_of()], deal={"stage": "Nope", "amount": "12.50", "currency": "USD"})
    deal = db.session.get(Deal, db.session.get(Conversion, outcome.conversion_id).deal_id)
    assert (deal.stage, deal.amount, deal.currency) == ("Incoming", Decimal("12.50"), "USD")


# --- a chunk whose write fails ---------------------------------------------------------------------------
@pytest.fixture
def boom_trigger(db):
    """The database refuses any contact named "Boom" (what a constraint added later might do)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("CREATE OR REPLACE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                "IF NEW.last_name = 'Boom' THEN RAISE EXCEPTION 'no Boom here'; END IF; "
                                "RETURN NEW; END $$"))
        db.session.execute(text("CREATE TRIGGER trg_boom BEFORE INSERT ON contacts FOR EACH ROW "
                                "EXECUTE FUNCTION boom()"))
    else:
        db.session.execute(text("CREATE TRIGGER trg_boom BEFORE INSERT ON contacts WHEN NEW.last_name = 'Boom' "
                                "BEGIN SELECT RAISE(ABORT, 'no Boom here'); END"))
    db.session.commit()
    yield
    if db.engine.dialect.name == "postgresql":
        db.session.rollback()
        db.session.execute(text("DROP TRIGGER IF EXISTS trg_boom ON contacts"))
        db.session.commit()


def test_a_chunk_whose_write_fails_is_retried_lead_by_lead(boom_trigger, lead_of, make_note, db, sales, bulk):
    leads = [lead_of(first_name=f"P{i}", last_name="Boom" if i == 2 else "Ok", email=f"p{i}@shared.fr",
                     company="Shared Co") for i in range(5)]
    for lead in leads:
        make_note(parent_id=lead.id)
    outcomes = bulk(sales, leads, **FULL)
    assert [o.outcome for o in outcomes] == ["converted", "converted", "failed", "converted", "converted"]
    assert "no Boom here" in str(outcomes[2].reason) and outcomes[2].code == "write_failed"
    assert not db.session.get(Lead, leads[2].id).converted
    assert db.session.scalar(select(Note.parent_type).where(Note.parent_id == leads[2].id,
                                                            Note.parent_type == "lead")) == "lead"
    # The others are whole conversions, still sharing one account (each one planned again).
    conversions = db.session.scalars(select(Conversion).order_by(Conversion.id)).all()
    assert len(conversions) == 4 and len({c.account_id for c in conversions}) == 1
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 4
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.kind == "converted")) == 4
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.subject == "Call back")) == 4


# --- options ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body,key", [
    ({"account": {"action": "link", "id": 3}}, "account.id"),
    ({"contact": {"fields": {"title": "x"}}}, "contact.fields"),
    ({"lead": {"fields": {"industry": "x"}}}, "lead"),
    ({"deal": {"stage": "Qualification", "name": "{nope}"}}, "deal.name"),
    ({"deal": {"stage": "Qualification", "name": "{company"}}, "deal.name"),
    ({"deal": {"stage": "Qualification", "name": "{company!r}"}}, "deal.name"),
    ({"tags_to": ["nowhere"]}, "tags_to.0"),
])
def test_options_not_for_bulk_are_refused(body, key):
    with pytest.raises(InvalidOptions) as e:
        BulkOptions.from_dict(body)
    assert key in e.value.errors


def test_options_the_database_refuses_are_refused_once(db, sales):
    with pytest.raises(InvalidOptions) as e:
        validate(db.session, sales, BulkOptions.from_dict({"owner_id": 999, "deal": {"stage": "Q", "pipeline_id": 98},
                                                           "task": {"subject": "x", "owner_id": 997}}))
    assert {"owner_id", "deal.pipeline_id", "task.owner_id"} <= set(e.value.errors)
    validate(db.session, sales, BulkOptions.from_dict(FULL))


@pytest.mark.parametrize("template,expect", [
    ("{company}", "Zylker Inc."), ("{full_name} at {company}", "Charles Stone at Zylker Inc."),
    ("Deal {first_name} {last_name}", "Deal Charles Stone"), ("Plain name", "Plain name"),
])
def test_deal_name_template(template, expect):
    assert render_name(template, Lead(**LEAD)) == expect


def test_deal_name_template_with_nothing_falls_back_to_the_default_name(lead_of, db, sales, bulk):
    lead = lead_of(company=None)
    [outcome] = bulk(sales, [lead], deal={"stage": "Qualification", "name": "{company}"})
    assert db.session.get(Deal, db.session.get(Conversion, outcome.conversion_id).deal_id).name == "Charles Stone"


def test_owner_one_user_for_all(lead_of, db, users, bulk):
    admin, manager = users["admin"], users["manager"]
    outcomes = bulk(admin, [lead_of(), lead_of(email="b@x.com", company="B")], owner_id=manager.id, deal=DEAL)
    for o in outcomes:
        c = db.session.get(Conversion, o.conversion_id)
        owners = {db.session.get(m, i).owner_id for m, i in ((Contact, c.contact_id), (Deal, c.deal_id))}
        assert owners == {manager.id}


# --- the dry run -----------------------------------------------------------------------------------------
def test_summary_counts_what_would_happen_and_writes_nothing(lead_of, make_account, db, sales):
    from .conftest import snapshot

    make_account(name="Zylker")
    leads = [lead_of(), lead_of(email="b@new.fr", company="New"), lead_of(email="c@new.fr", company="NEW"),
             lead_of(first_name=None, last_name=None, company=None, email="x@x.com")]
    before = snapshot(db)
    out = summarize(db.session, sales, [lead.id for lead in leads], BulkOptions.from_dict({"deal": DEAL}))
    assert snapshot(db) == before
    assert (out["total"], out["converted"], out["skipped"]) == (4, 3, 1)
    assert out["account"] == {"merged": 2, "created": 1}
    assert [e["name"] for e in out["examples"]["account"]] == ["Zylker"]
    assert list(out["reasons"]) == ["Fill the required fields before converting: contact.last_name, deal.name."]


# --- concurrency: chunks and single conversions at the same moment ---------------------------------------
def test_parallel_chunks_and_single_conversions_of_one_new_company_give_one_account(app, db, lead_of, sales):
    """Two bulk chunks and three single conversions, each in its own thread, session and
    transaction, released at once, all of one new company: one account (the match-key locks)."""
    import threading

    from webapp.models import User

    leads = [lead_of(first_name=f"P{i}", email=f"p{i}@brandnew.fr", company="Brand New Widgets Ltd")
             for i in range(13)]
    batches = [("chunk", [lead.id for lead in leads[:5]]), ("chunk", [lead.id for lead in leads[5:10]])]
    batches += [("single", [lead.id]) for lead in leads[10:]]
    barrier = threading.Barrier(len(batches))
    outcomes: list = []

    def worker(kind, ids):
        with app.app_context():
            session = db.session
            try:
                actor = session.get(User, sales.id)
                barrier.wait()
                if kind == "chunk":
                    done = convert_chunk(session, actor, ids, BulkOptions.from_dict({"deal": DEAL}))
                    outcomes.extend(o.outcome for o in done)
                else:
                    apply(session, actor, ids[0], ConversionOptions.from_dict({"deal": DEAL}))
                    outcomes.append("converted")
                session.commit()
            except Exception as e:  # noqa: BLE001 — reported by the assertion
                session.rollback()
                outcomes.append(repr(e))
            finally:
                session.remove()

    threads = [threading.Thread(target=worker, args=batch) for batch in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == ["converted"] * 13, outcomes
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Account)) == 1
    actions = sorted(c.account_action for c in db.session.scalars(select(Conversion)))
    assert actions == ["created"] + ["merged"] * 12
