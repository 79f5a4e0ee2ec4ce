"""C4 rules pinned down one by one: each test states one rule of the duplicate search and fails
when matching.py breaks it (they were written against mutmut's survivors, `make mutation`).

Most go through Matcher directly (the finder, one query per step); those about what the
conversion then does with a match go through the planner (preview / convert)."""

from __future__ import annotations

import pytest

from webapp.conversion.errors import DuplicatesHidden
from webapp.conversion.mapping import custom_definitions
from webapp.conversion.matching import LIMIT, Matcher
from webapp.models import Account, Contact, Role

LEAD = {"first_name": "Charles", "last_name": "Stone", "company": "Zylker Inc.",
        "email": "charles.s@zylker.com"}
# A lead's custom SSN and LinkedIn id mapped to unique fields of contacts and accounts (C4.1 a/b).
UNIQUE_MAPPING = {"contact": {"custom.ssn": "custom.ssn"}, "account": {"custom.linkedin_id": "custom.linkedin_id"}}


@pytest.fixture
def lead_of(make_lead, sales):
    def build(**kw):
        return make_lead(**{**LEAD, "owner_id": sales.id, **kw})

    return build


@pytest.fixture
def uniques(custom_field):
    """Contact SSN and account LinkedIn id are unique; the lead's fields carry over (C3.3)."""
    custom_field("lead", "ssn", carry_over=True)
    custom_field("lead", "linkedin_id", carry_over=True)
    custom_field("contact", "ssn", unique=True)
    custom_field("account", "linkedin_id", unique=True)


@pytest.fixture
def finder(db):
    """finder(actor, lead, mapping=UNIQUE_MAPPING, **lead_custom) -> Matcher."""

    def build(actor, lead, mapping=None, **lead_custom):
        return Matcher(db.session, actor, lead, UNIQUE_MAPPING if mapping is None else mapping,
                       custom_definitions(db.session), lead_custom)

    return build


@pytest.fixture
def restricted(db, make_user, users):
    """A custom role that converts but sees only its own accounts and contacts."""
    db.session.add(Role(key="restricted", label="Restricted", scope="own",
                        permissions=["lead.convert", "lead.edit", "account.create", "contact.create",
                                     "deal.create", "account.edit", "contact.edit"]))
    db.session.commit()
    return make_user("restricted", manager_id=users["manager"].id)


def unordered_selects_reversed(db) -> None:
    """On SQLite, rows come in key order even without ORDER BY; this pragma reverses them (for the
    rest of the test's transaction), so that a missing ORDER BY shows. PostgreSQL: no such order."""
    if db.engine.dialect.name == "sqlite":
        db.session.connection().exec_driver_sql("PRAGMA reverse_unordered_selects = ON")


def found(matches):
    return [(m.id, m.reason, m.visible) for m in matches]


# --- C4.1 (a)/(b): unique fields --------------------------------------------------------------
def test_c4_6_unique_field_matches_only_an_equal_value(uniques, finder, lead_of, make_contact, set_value,
                                                       sales):
    """A unique field finds the record holding the lead's value, normalised (C4.7), and no other."""
    same = make_contact(first_name="S", last_name="Same")
    set_value("contact", same.id, "ssn", "1-85-05-78")
    other = make_contact(first_name="O", last_name="Other")
    set_value("contact", other.id, "ssn", "2-99-99-99")
    lead = lead_of()
    assert found(finder(sales, lead, ssn="1 85 05 78").unique("contact")) == [(same.id, "unique:ssn", True)]
    assert finder(sales, lead, ssn="3 00 00 00").unique("contact") == []


def test_c4_6_unique_search_reads_only_the_mapped_field(uniques, custom_field, finder, lead_of, make_contact,
                                                        set_value, sales):
    """The same value in another custom field of the contact is not a match."""
    custom_field("contact", "badge")
    holder = make_contact(first_name="B", last_name="Adge")
    set_value("contact", holder.id, "badge", "42")
    assert finder(sales, lead_of(), ssn="42").unique("contact") == []


def test_c4_6_a_field_that_is_not_unique_never_matches(custom_field, finder, lead_of, make_contact, set_value,
                                                       sales):
    """Only fields flagged unique identify a record: an equal value in a plain field is no duplicate."""
    custom_field("contact", "ssn")
    holder = make_contact(first_name="S", last_name="Sn")
    set_value("contact", holder.id, "ssn", "42")
    assert finder(sales, lead_of(), ssn="42").unique("contact") == []


def test_c4_6_unique_field_of_the_other_entity_is_not_used(uniques, finder, lead_of, make_account,
                                                           set_value, sales):
    """(a) reads the contact mapping, (b) the account one: an account's unique value is no contact match."""
    account = make_account(name="LinkedIn Corp")
    set_value("account", account.id, "linkedin_id", "zylker-inc")
    m = finder(sales, lead_of(), mapping={"contact": {"custom.linkedin_id": "custom.linkedin_id"}},
               linkedin_id="zylker-inc")
    assert m.unique("contact") == [] and m.unique("account") == []


def test_c4_6_only_custom_targets_are_unique_searches(uniques, finder, lead_of, make_contact, set_value, sales):
    """A pair mapping into a standard field is skipped, and does not stop the custom pairs after it."""
    holder = make_contact(first_name="S", last_name="Sn")
    set_value("contact", holder.id, "ssn", "42")
    mapping = {"contact": {"email": "email", "custom.ssn": "custom.ssn"}}
    assert found(finder(sales, lead_of(), mapping, ssn="42").unique("contact")) == [(holder.id, "unique:ssn", True)]


def test_c4_6_an_empty_lead_value_skips_only_its_own_field(custom_field, finder, lead_of, make_contact,
                                                           set_value, sales):
    """Two unique fields: the first is empty on the lead, the second still finds its record."""
    custom_field("contact", "passport", unique=True)
    custom_field("contact", "ssn", unique=True)
    holder = make_contact(first_name="S", last_name="Sn")
    set_value("contact", holder.id, "ssn", "42")
    mapping = {"contact": {"custom.passport": "custom.passport", "custom.ssn": "custom.ssn"}}
    for empty in (None, "", "   "):
        m = finder(sales, lead_of(), mapping, passport=empty, ssn="42")
        assert found(m.unique("contact")) == [(holder.id, "unique:ssn", True)]


def test_c4_6_every_unique_field_is_searched(custom_field, finder, lead_of, make_contact, set_value, sales):
    """Two unique fields, each matching a different contact: both are found, in mapping order."""
    custom_field("contact", "passport", unique=True)
    custom_field("contact", "ssn", unique=True)
    by_passport = make_contact(first_name="P", last_name="Ass")
    set_value("contact", by_passport.id, "passport", "P-1")
    by_ssn = make_contact(first_name="S", last_name="Sn")
    set_value("contact", by_ssn.id, "ssn", "42")
    mapping = {"contact": {"custom.passport": "custom.passport", "custom.ssn": "custom.ssn"}}
    assert found(finder(sales, lead_of(), mapping, passport="p 1", ssn="42").unique("contact")) == [
        (by_passport.id, "unique:passport", True), (by_ssn.id, "unique:ssn", True)]


def test_c4_6_an_unknown_target_field_is_skipped(uniques, finder, lead_of, make_contact, set_value, sales):
    holder = make_contact(first_name="S", last_name="Sn")
    set_value("contact", holder.id, "ssn", "42")
    mapping = {"contact": {"custom.gone": "custom.gone", "custom.ssn": "custom.ssn"}}
    assert [m.id for m in finder(sales, lead_of(), mapping, gone="42", ssn="42").unique("contact")] == [holder.id]


def test_c4_6_a_standard_lead_field_may_feed_a_unique_field(custom_field, finder, lead_of, make_contact,
                                                            set_value, sales):
    """The lead's value comes from its column when the mapped source is a standard field."""
    custom_field("contact", "work_email", type="email", unique=True)
    holder = make_contact(first_name="W", last_name="Mail")
    set_value("contact", holder.id, "work_email", "charles.s@zylker.com")
    mapping = {"contact": {"email": "custom.work_email"}}
    m = finder(sales, lead_of(email="  Charles.S@Zylker.com"), mapping)
    assert found(m.unique("contact")) == [(holder.id, "unique:work_email", True)]
    assert finder(sales, lead_of(email=None), mapping).unique("contact") == []


def test_c4_6_a_lead_field_that_is_gone_finds_nothing(uniques, finder, lead_of, make_contact, set_value, sales):
    """A pair whose source is no column of the lead (a stale mapping) gives no value, not an error."""
    holder = make_contact(first_name="S", last_name="Sn")
    set_value("contact", holder.id, "ssn", "42")
    mapping = {"contact": {"dropped_column": "custom.ssn"}}
    assert finder(sales, lead_of(), mapping, ssn="42").unique("contact") == []


def test_c4_6_checkbox_unique_field(custom_field, finder, lead_of, make_contact, set_value, sales):
    custom_field("contact", "vip", type="checkbox", unique=True)
    holder = make_contact(first_name="V", last_name="Ip")
    set_value("contact", holder.id, "vip", True)
    mapping = {"contact": {"custom.vip": "custom.vip"}}
    assert [m.id for m in finder(sales, lead_of(), mapping, vip=True).unique("contact")] == [holder.id]
    assert finder(sales, lead_of(), mapping, vip=False).unique("contact") == []


# --- C4.1 (c)-(e): system fields ------------------------------------------------------------------
def test_c4_7_a_lead_without_email_or_name_or_company_matches_nothing(finder, lead_of, make_contact,
                                                                      make_account, sales, db):
    """Empty keys are not keys: records without an e-mail, name or company are no duplicates of a
    lead without them."""
    make_contact(first_name=None, last_name=None, email=None)
    db.session.add(Account(name=" ", owner_id=sales.id))
    db.session.commit()
    lead = lead_of(first_name=None, last_name=None, email=None, company="  ")
    assert lead.email_norm is None and lead.name_norm is None and lead.company_norm is None
    m = finder(sales, lead)
    assert (m.contacts_by_email(), m.contacts_by_name(), m.accounts_by_name()) == ([], [], [])


def test_c4_5_contact_search_is_scoped_to_the_matched_account(finder, lead_of, make_account, make_contact,
                                                              sales):
    """An account's contacts are searched by e-mail and name among that account's contacts only."""
    home, elsewhere = make_account(name="Home"), make_account(name="Elsewhere")
    by_email_home = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", account_id=home.id)
    by_email_away = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com",
                                 account_id=elsewhere.id)
    by_name_home = make_contact(first_name="Charles", last_name="Stone", account_id=home.id)
    by_name_away = make_contact(first_name="Charles", last_name="Stone", account_id=elsewhere.id)
    m = finder(sales, lead_of())
    assert [c.id for c in m.contacts_by_email(home.id)] == [by_email_home.id]
    assert [c.id for c in m.contacts_by_email(elsewhere.id)] == [by_email_away.id]
    assert [c.id for c in m.contacts_by_email()] == [by_email_home.id, by_email_away.id]
    assert found(m.contacts_by_name(home.id)) == [(by_name_home.id, "full_name", True)]
    assert found(m.contacts_by_name(elsewhere.id)) == [(by_name_away.id, "full_name", True)]
    assert [c.id for c in m.contacts_by_name()] == [by_name_home.id, by_name_away.id]


def test_c4_6_account_found_by_unique_field_ignores_same_name_contacts_elsewhere(
        uniques, lead_of, make_account, make_contact, set_value, preview, sales):
    """C4.6: the account found by LinkedIn has its contacts searched by e-mail, then name: a
    "Charles Stone" of another account is not that account's contact."""
    li_account, elsewhere = make_account(name="LinkedIn Corp"), make_account(name="Elsewhere")
    set_value("account", li_account.id, "linkedin_id", "zy")
    make_contact(first_name="Charles", last_name="Stone", account_id=elsewhere.id)
    lead = lead_of(email="nobody@x.com")
    set_value("lead", lead.id, "linkedin_id", "zy")
    p = preview(sales, lead)
    assert (p.account.record_id, p.account.reason) == (li_account.id, "unique:linkedin_id")
    assert p.contact.action == "created" and p.contact.values["account_id"] == li_account.id


@pytest.mark.parametrize("step", ["email", "name", "company"])
def test_c4_1_each_step_looks_at_no_more_than_limit_matches(step, db, finder, lead_of, make_account,
                                                           make_contact, sales):
    """"Enough to choose, never a table scan": each step reads the first LIMIT matches, oldest first."""
    if step == "company":
        ids = [make_account(name="Zylker").id for _ in range(LIMIT + 2)]
    else:
        ids = [make_contact(first_name="Charles", last_name="Stone", email="charles.s@zylker.com").id
               for _ in range(LIMIT + 2)]
    m = finder(sales, lead_of())
    unordered_selects_reversed(db)
    got = {"email": m.contacts_by_email, "name": m.contacts_by_name, "company": m.accounts_by_name}[step]()
    assert [x.id for x in got] == ids[:LIMIT]


def test_c4_6_unique_step_looks_at_no_more_than_limit_matches(db, custom_field, finder, lead_of, make_contact,
                                                              set_value, sales):
    custom_field("contact", "ssn", unique=True)
    ids = []
    for _ in range(LIMIT + 2):
        c = make_contact(first_name="S", last_name="Sn")
        set_value("contact", c.id, "ssn", "42")
        ids.append(c.id)
    m = finder(sales, lead_of(), ssn="42")
    unordered_selects_reversed(db)
    assert [x.id for x in m.unique("contact")] == ids[:LIMIT]


@pytest.mark.parametrize("email,company,automatic", [
    ("charles.s@zylker.com", "Zylker", False), ("charles.s@zylker.com", None, False),
    (None, "Zylker", False), (None, None, True)])
def test_c4_2_name_step_decides_only_without_email_and_company(email, company, automatic, finder, lead_of,
                                                              make_contact, sales):
    named = make_contact(first_name="Charles", last_name="Stone")
    matches = finder(sales, lead_of(email=email, company=company)).find()
    assert matches.name_is_automatic is automatic
    assert [m.id for m in matches.contact_name] == [named.id]  # always found, as a suggestion at least
    assert [(e, [m.id for m in ms]) for e, ms in matches.steps()][-1] == (
        ("contact", [named.id]) if automatic else ("account", []))


def test_c4_1_steps_in_order_with_their_entity(uniques, finder, lead_of, make_account, make_contact, set_value,
                                                sales):
    c_unique = make_contact(first_name="S", last_name="Sn")
    set_value("contact", c_unique.id, "ssn", "42")
    a_unique = make_account(name="LinkedIn Corp")
    set_value("account", a_unique.id, "linkedin_id", "zy")
    c_email = make_contact(first_name="E", last_name="Mail", email="charles.s@zylker.com")
    a_name = make_account(name="Zylker")
    matches = finder(sales, lead_of(), ssn="42", linkedin_id="zy").find()
    assert [(e, [m.id for m in ms]) for e, ms in matches.steps()] == [
        ("contact", [c_unique.id]), ("account", [a_unique.id]), ("contact", [c_email.id]),
        ("account", [a_name.id])]


def test_c4_1_find_skips_the_entity_not_looked_for(uniques, finder, lead_of, make_account, make_contact,
                                                   set_value, sales):
    c = make_contact(first_name="Charles", last_name="Stone", email="charles.s@zylker.com")
    set_value("contact", c.id, "ssn", "42")
    a = make_account(name="Zylker")
    set_value("account", a.id, "linkedin_id", "zy")
    m = finder(sales, lead_of(), ssn="42", linkedin_id="zy")
    no_contacts = m.find(contacts=False)
    assert (no_contacts.contact_unique, no_contacts.contact_email, no_contacts.contact_name) == ([], [], [])
    assert [x.id for x in no_contacts.account_unique + no_contacts.account_name] == [a.id, a.id]
    no_accounts = m.find(accounts=False)
    assert (no_accounts.account_unique, no_accounts.account_name) == ([], [])
    assert [x.id for x in no_accounts.contact_unique + no_accounts.contact_email + no_accounts.contact_name] == [
        c.id, c.id, c.id]


# --- C4.3 candidates ------------------------------------------------------------------------------
def test_c4_3_each_candidate_once_with_its_best_reason(uniques, finder, lead_of, make_account, make_contact,
                                                       set_value, sales):
    """A record found by several steps is offered once, with the reason of the first step (C4.3, C4.7)."""
    contact = make_contact(first_name="Charles", last_name="Stone", email="charles.s@zylker.com")
    set_value("contact", contact.id, "ssn", "42")
    second = make_contact(first_name="Charles", last_name="Stone")
    account = make_account(name="Zylker")
    set_value("account", account.id, "linkedin_id", "zy")
    matches = finder(sales, lead_of(), ssn="42", linkedin_id="zy").find()
    assert [(m.id, m.reason) for m in matches.candidates("contact")] == [
        (contact.id, "unique:ssn"), (second.id, "full_name")]
    assert [(m.id, m.reason) for m in matches.candidates("account")] == [(account.id, "unique:linkedin_id")]


def test_c4_8_candidates_and_hidden_split_by_visibility(restricted, users, finder, make_lead, make_contact,
                                                       make_account, db):
    mine = make_contact(first_name="Charles", last_name="Stone", email="c@mine.com", owner_id=restricted.id)
    theirs = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    mine_acc = make_account(name="Zylker", owner_id=restricted.id)
    theirs_acc = make_account(name="Zylker", owner_id=users["admin"].id)
    lead = make_lead(**LEAD, owner_id=restricted.id)
    matches = finder(restricted, lead).find()
    assert [m.id for m in matches.candidates("contact")] == [mine.id]
    assert [m.id for m in matches.candidates("account")] == [mine_acc.id]
    assert [m.id for m in matches.hidden("contact")] == [theirs.id]
    assert [m.id for m in matches.hidden("account")] == [theirs_acc.id]


# --- C4.8: hidden matches block -----------------------------------------------------------------
def test_c4_8_hidden_contact_found_by_unique_field_blocks_conversion(uniques, restricted, users, make_lead,
                                                                    make_contact, set_value, convert, db):
    hidden = make_contact(first_name="S", last_name="Sn", owner_id=users["admin"].id)
    set_value("contact", hidden.id, "ssn", "42")
    lead = make_lead(**{**LEAD, "email": "nobody@x.com", "company": None}, owner_id=restricted.id)
    set_value("lead", lead.id, "ssn", "42")
    with pytest.raises(DuplicatesHidden) as e:
        convert(restricted, lead)
    assert "contacts" in e.value.message and db.session.query(Contact).count() == 1


def test_c4_8_hidden_contact_found_by_unique_field_blocks_an_explicit_create(
        uniques, restricted, users, make_lead, make_contact, set_value, convert, db):
    hidden = make_contact(first_name="S", last_name="Sn", owner_id=users["admin"].id)
    set_value("contact", hidden.id, "ssn", "42")
    lead = make_lead(**{**LEAD, "email": "nobody@x.com", "company": None}, owner_id=restricted.id)
    set_value("lead", lead.id, "ssn", "42")
    with pytest.raises(DuplicatesHidden):
        convert(restricted, lead, contact={"action": "create"})
    assert db.session.query(Contact).count() == 1


def test_c4_8_hidden_account_found_by_unique_field_blocks_conversion(uniques, restricted, users, make_lead,
                                                                    make_account, set_value, convert, db):
    hidden = make_account(name="LinkedIn Corp", owner_id=users["admin"].id)
    set_value("account", hidden.id, "linkedin_id", "zy")
    lead = make_lead(**{**LEAD, "email": "nobody@x.com"}, owner_id=restricted.id)
    set_value("lead", lead.id, "linkedin_id", "zy")
    with pytest.raises(DuplicatesHidden) as e:
        convert(restricted, lead)
    assert "accounts" in e.value.message and db.session.query(Account).count() == 1


def test_c4_8_hidden_contact_found_by_name_blocks_when_the_name_decides(restricted, users, make_lead,
                                                                       make_contact, convert, db):
    """No e-mail, no company: the name decides (C4.2), so a hidden same-name contact blocks."""
    make_contact(first_name="Charles", last_name="Stone", owner_id=users["admin"].id)
    lead = make_lead(**{**LEAD, "email": None, "company": None}, owner_id=restricted.id)
    with pytest.raises(DuplicatesHidden) as e:
        convert(restricted, lead)
    assert "contacts" in e.value.message and db.session.query(Contact).count() == 1


def test_c4_8_hidden_same_name_contact_does_not_block_when_email_is_known(restricted, users, make_lead,
                                                                         make_contact, convert, db):
    """With an e-mail the name is only a suggestion (C4.2): a hidden namesake is no duplicate."""
    make_contact(first_name="Charles", last_name="Stone", owner_id=users["admin"].id)
    lead = make_lead(**{**LEAD, "company": None}, owner_id=restricted.id)
    c = convert(restricted, lead)
    assert c.contact_action == "created" and db.session.query(Contact).count() == 2


def test_c4_8_hidden_contact_does_not_block_creating_an_account(restricted, users, make_lead, make_contact,
                                                                convert, db):
    """Only hidden matches of the entity being created block: the contact is linked instead."""
    mine = make_contact(first_name="C", last_name="S", email="charles.s@zylker.com", owner_id=restricted.id)
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    c = convert(restricted, make_lead(**LEAD, owner_id=restricted.id))
    assert (c.contact_id, c.account_action) == (mine.id, "created")


def test_c4_8_a_team_scope_sees_its_reports_matches(db, make_user, users, finder, make_lead, make_contact):
    """Visibility is the actor's scope, worked out with the database (reports, team members)."""
    db.session.add(Role(key="team_lead", label="Team lead", scope="team", permissions=["lead.convert"]))
    db.session.commit()
    boss = make_user("team_lead")
    report = make_user("sales", manager_id=boss.id)
    theirs = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=report.id,
                          team_id=None)
    stranger = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com",
                            owner_id=users["admin"].id, team_id=None)
    m = finder(boss, make_lead(**LEAD, owner_id=boss.id))
    assert found(m.contacts_by_email()) == [(theirs.id, "email", True), (stranger.id, "email", False)]


def test_c4_6_no_custom_field_defined_for_the_entity(finder, lead_of, db, sales):
    """A mapping naming custom fields while the entity has none defined finds nothing (no error)."""
    m = Matcher(db.session, sales, lead_of(), UNIQUE_MAPPING, {}, {"ssn": "42", "linkedin_id": "zy"})
    assert (m.unique("contact"), m.unique("account")) == ([], [])


@pytest.mark.parametrize("kind,value", [
    ("number", "7"), ("date", "2026-01-31"), ("phone", "01 23 45 67 89"), ("email", "A@B.com"),
    ("decimal", "12.5"),  # stored as 12.500000, read back from the lead as "12.5": one key
])
def test_c4_6_unique_field_of_every_type_matches_the_carried_value(kind, value, custom_field, lead_of,
                                                                   make_contact, set_value, preview, sales):
    custom_field("lead", "key", type=kind, carry_over=True)
    custom_field("contact", "key", type=kind, unique=True)
    holder = make_contact(first_name="A", last_name="B")
    set_value("contact", holder.id, "key", value)
    lead = lead_of()
    set_value("lead", lead.id, "key", value)
    p = preview(sales, lead)
    assert (p.contact.record_id, p.contact.reason) == (holder.id, "unique:key")
