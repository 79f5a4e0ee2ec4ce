"""C4: duplicates, in C4.1 order, with every row of seed 004's scenario tables as a case."""

from __future__ import annotations

import pytest

from webapp.conversion.errors import DuplicatesHidden
from webapp.models import Account, Contact, Role

LEAD = {"first_name": "Charles", "last_name": "Stone", "company": "Zylker Inc.",
        "email": "charles.s@zylker.com"}


def outcome(p):
    return (p.account.action, p.account.reason, p.contact.action, p.contact.reason)


@pytest.fixture
def lead_of(make_lead, sales):
    def build(**kw):
        return make_lead(**{**LEAD, "owner_id": sales.id, **kw})

    return build


# --- system fields table (seed 004 "Utilisation des champs définis par le système") ------------
def test_c4_1_use_case_1_email_matches_contact_merges_it(lead_of, make_contact, make_account, preview, sales):
    """Name, company, e-mail available; the e-mail matches a contact (use case 1)."""
    account = make_account(name="Other Corp")
    contact = make_contact(first_name="C.", last_name="Stone", email="Charles.S@Zylker.com ",
                           account_id=account.id)
    p = preview(sales, lead_of())
    assert outcome(p) == ("linked", "contact_account", "merged", "email")
    assert p.contact.record_id == contact.id and p.account.record_id == account.id
    assert [c.reason for c in p.candidates["contact"]] == ["email"]


def test_c4_3_use_case_1_create_new_contact_also_creates_account(lead_of, make_contact, convert, sales, db):
    """Use case 1, option 2: "Create a new contact" also creates an account."""
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com")
    c = convert(sales, lead_of(), contact={"action": "create"})
    assert (c.contact_action, c.account_action) == ("created", "created")
    assert db.session.query(Contact).count() == 2


def test_c4_1_use_case_2_company_matches_account(lead_of, make_account, make_contact, preview, sales):
    """No contact with the e-mail; the company matches an account (use case 2): merge the account,
    create a contact linked to it (C4.5)."""
    account = make_account(name="ZYLKER")
    make_contact(first_name="Ann", last_name="Other", email="ann@zylker.com", account_id=account.id)
    p = preview(sales, lead_of())
    assert outcome(p) == ("merged", "company_name", "created", None)
    assert p.contact.values["account_id"] == account.id


def test_c4_3_use_case_2_create_new_account_also_creates_contact(lead_of, make_account, convert, sales):
    make_account(name="Zylker")
    c = convert(sales, lead_of(), account={"action": "create"})
    assert (c.account_action, c.contact_action) == ("created", "created")


def test_c4_2_use_case_3_name_match_is_only_a_suggestion(lead_of, make_contact, preview, sales):
    """No e-mail contact, no account: the name matches a contact, but e-mail and company are
    filled, so it is only a suggestion (use case 3): new account and new contact by default."""
    contact = make_contact(first_name="CHARLES", last_name="Stone", email="other@example.com")
    p = preview(sales, lead_of())
    assert outcome(p) == ("created", None, "created", None)
    assert [(c.id, c.reason) for c in p.candidates["contact"]] == [(contact.id, "full_name")]


def test_c4_3_use_case_3_user_may_pick_the_suggested_contact(lead_of, make_contact, convert, sales, db):
    contact = make_contact(first_name="Charles", last_name="Stone", email="other@example.com")
    c = convert(sales, lead_of(), contact={"action": "link", "id": contact.id})
    assert (c.contact_id, c.contact_action, c.account_action) == (contact.id, "merged", "created")
    assert db.session.get(Contact, contact.id).email == "other@example.com"  # C3.5: not overwritten
    assert db.session.get(Contact, contact.id).account_id == c.account_id


def test_c4_1_nothing_exists_creates_account_and_contact(lead_of, preview, sales):
    assert outcome(preview(sales, lead_of())) == ("created", None, "created", None)


@pytest.mark.parametrize("exists", [True, False])
def test_c4_2_name_alone_merges_automatically_when_email_and_company_empty(
        exists, lead_of, make_contact, convert, sales, db):
    """Row "name available, company and e-mail unavailable": the name decides; existing data is
    not overwritten; otherwise a new contact (and no account, C2.1)."""
    if exists:
        contact = make_contact(first_name="Charles", last_name="Stone", title="CEO")
    lead = lead_of(company=None, email=None, title="Intern", phone="0123456789")
    c = convert(sales, lead)
    assert c.account_action == "none" and c.account_id is None
    if exists:
        assert (c.contact_id, c.contact_action, c.contact_reason) == (contact.id, "merged", "full_name")
        merged = db.session.get(Contact, contact.id)
        assert merged.title == "CEO" and merged.phone == "0123456789"
        assert c.fields_written["contact"]["phone"] == "0123456789"
        assert "title" not in c.fields_written["contact"]
    else:
        assert c.contact_action == "created"


@pytest.mark.parametrize("name_matches", [True, False])
def test_c4_2_name_and_company_available_email_not(name_matches, lead_of, make_account, make_contact,
                                                    preview, sales):
    """Row "name and company available, e-mail not": account merged; a contact of the same name
    is offered, never merged automatically; else a new contact linked to the account."""
    account = make_account(name="Zylker")
    if name_matches:
        contact = make_contact(first_name="Charles", last_name="Stone", account_id=account.id)
    p = preview(sales, lead_of(email=None))
    assert outcome(p) == ("merged", "company_name", "created", None)
    assert [c.id for c in p.candidates["contact"]] == ([contact.id] if name_matches else [])


def test_c4_2_name_and_company_available_nothing_exists(lead_of, preview, sales):
    p = preview(sales, lead_of(email=None))
    assert outcome(p) == ("created", None, "created", None)


@pytest.mark.parametrize("match", ["email", "name", "none"])
def test_c4_2_name_and_email_available_company_not(match, lead_of, make_contact, preview, sales):
    """Row "name and e-mail available, company not": e-mail match merged; a name match is only a
    suggestion; else a new contact, never an account."""
    if match == "email":
        contact = make_contact(first_name="Chuck", last_name="S", email="charles.s@zylker.com")
    elif match == "name":
        contact = make_contact(first_name="Charles", last_name="Stone", email="cs@else.com")
    p = preview(sales, lead_of(company=None))
    assert p.account.action == "none"
    if match == "email":
        assert (p.contact.action, p.contact.record_id, p.contact.reason) == ("merged", contact.id, "email")
    else:
        assert p.contact.action == "created"
    if match == "name":
        assert [(c.id, c.reason) for c in p.candidates["contact"]] == [(contact.id, "full_name")]


# --- "Si le prospect correspond à un contact" (C4.4) -------------------------------------------
def test_c4_4_contact_with_account_keeps_its_account(lead_of, make_account, make_contact, convert, sales, db):
    mine = make_account(name="Acme")
    make_account(name="Zylker")
    contact = make_contact(first_name="C", last_name="S", email="charles.s@zylker.com", account_id=mine.id)
    c = convert(sales, lead_of())
    assert (c.account_id, c.account_action, c.account_reason) == (mine.id, "linked", "contact_account")
    assert db.session.get(Contact, contact.id).account_id == mine.id
    assert db.session.get(Account, mine.id).name == "Acme"
    assert "account" not in c.fields_written


@pytest.mark.parametrize("account_exists", [True, False])
def test_c4_4_contact_without_account_gets_company_account(account_exists, lead_of, make_account,
                                                          make_contact, convert, sales, db):
    if account_exists:
        existing = make_account(name="zylker")
    contact = make_contact(first_name="C", last_name="S", email="charles.s@zylker.com")
    c = convert(sales, lead_of())
    assert c.contact_id == contact.id
    if account_exists:
        assert (c.account_id, c.account_action, c.account_reason) == (existing.id, "merged", "company_name")
    else:
        assert c.account_action == "created"
    assert db.session.get(Contact, contact.id).account_id == c.account_id
    assert c.fields_written["contact"]["account_id"] == c.account_id
    assert c.previous_values["contact"]["account_id"] is None


def test_c4_4_contact_without_account_and_lead_without_company(lead_of, make_contact, convert, sales):
    contact = make_contact(first_name="C", last_name="S", email="charles.s@zylker.com")
    c = convert(sales, lead_of(company=None))
    assert (c.contact_id, c.account_action, c.account_id) == (contact.id, "none", None)


# --- "Si la piste correspond à un compte" (C4.5) -----------------------------------------------
@pytest.mark.parametrize("email_contact", [True, False])
def test_c4_5_account_match_searches_its_contacts_by_email(email_contact, lead_of, make_account,
                                                           make_contact, convert, sales, db):
    account = make_account(name="Zylker Inc")
    elsewhere = make_account(name="Elsewhere")
    if email_contact:
        # A contact of that account whose e-mail differs from the contact-wide search (c): none matches
        # globally because it is the same; use a different spelling to prove normalisation.
        mate = make_contact(first_name="Charlie", last_name="S", email="CHARLES.S@zylker.com",
                            account_id=account.id)
    make_contact(first_name="Zed", last_name="Z", email="zed@zylker.com", account_id=elsewhere.id)
    c = convert(sales, lead_of())
    if email_contact:
        # (c) comes before (d): the e-mail matched the contact first; its account is kept.
        assert (c.contact_id, c.contact_reason) == (mate.id, "email")
        assert (c.account_id, c.account_reason) == (account.id, "contact_account")
    else:
        assert (c.account_id, c.account_action) == (account.id, "merged")
        assert c.contact_action == "created"
        assert db.session.get(Contact, c.contact_id).account_id == account.id


def test_c4_5_linked_account_contact_found_by_email(lead_of, make_account, make_contact, convert, sales):
    """An account chosen by the user: its contact with the lead's e-mail is merged."""
    account = make_account(name="Chosen")
    mate = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", account_id=account.id)
    c = convert(sales, lead_of(), account={"action": "link", "id": account.id})
    assert (c.contact_id, c.contact_action, c.contact_reason) == (mate.id, "merged", "email")


# --- unique fields table (seed 004 "Utilisation de champs uniques", C4.6) ----------------------
@pytest.fixture
def uniques(custom_field):
    """Contact SSN and account LinkedIn id are unique; the lead's fields carry over (C3.3)."""
    custom_field("lead", "ssn", carry_over=True)
    custom_field("lead", "linkedin_id", carry_over=True)
    custom_field("contact", "ssn", unique=True)
    custom_field("account", "linkedin_id", unique=True)


@pytest.mark.parametrize("ssn_available", [True, False])
@pytest.mark.parametrize("linkedin_available", [True, False])
@pytest.mark.parametrize("exists", [True, False])
def test_c4_6_unique_fields_table(ssn_available, linkedin_available, exists, uniques, lead_of,
                                  make_account, make_contact, set_value, preview, sales):
    """Every cell of the unique-field table: SSN x LinkedIn available or not x records existing
    or not. Unique fields come first; without them the system fields (e-mail, company, name)
    decide as in the other table."""
    # The lead's e-mail and company match other records, to prove unique fields win.
    by_email = make_contact(first_name="E", last_name="Mail", email="charles.s@zylker.com")
    by_name = make_account(name="Zylker")
    if exists:
        ssn_contact = make_contact(first_name="S", last_name="Sn")
        set_value("contact", ssn_contact.id, "ssn", "1-85-05-78")
        li_account = make_account(name="LinkedIn Corp")
        set_value("account", li_account.id, "linkedin_id", "zylker-inc")
        account_mate = make_contact(first_name="Charles", last_name="Stone", account_id=li_account.id)
    lead = lead_of()
    if ssn_available:
        set_value("lead", lead.id, "ssn", "1 85 05 78")
    if linkedin_available:
        set_value("lead", lead.id, "linkedin_id", "Zylker-Inc")
    p = preview(sales, lead)

    if exists and ssn_available:
        # 1. "Add to existing contact" by SSN; 2. it has no account: LinkedIn, else company name.
        assert (p.contact.record_id, p.contact.reason) == (ssn_contact.id, "unique:ssn")
        if linkedin_available:
            assert (p.account.record_id, p.account.reason) == (li_account.id, "unique:linkedin_id")
        else:
            assert (p.account.record_id, p.account.reason) == (by_name.id, "company_name")
    elif exists and linkedin_available:
        # 1. "Add to existing account" by LinkedIn; 2. its contacts by e-mail, then name.
        assert (p.account.record_id, p.account.reason) == (li_account.id, "unique:linkedin_id")
        assert (p.contact.record_id, p.contact.reason) == (account_mate.id, "full_name")
    else:
        # Not found by unique fields: e-mail (c) decides, the contact keeps... no account, so company (d).
        assert (p.contact.record_id, p.contact.reason) == (by_email.id, "email")
        assert (p.account.record_id, p.account.reason) == (by_name.id, "company_name")


def test_c4_6_unique_contact_with_account_keeps_it(uniques, lead_of, make_account, make_contact,
                                                   set_value, preview, sales):
    home = make_account(name="Home")
    contact = make_contact(first_name="S", last_name="Sn", account_id=home.id)
    set_value("contact", contact.id, "ssn", "42")
    lead = lead_of()
    set_value("lead", lead.id, "ssn", "42")
    p = preview(sales, lead)
    assert (p.account.record_id, p.account.reason, p.account.action) == (home.id, "contact_account", "linked")


def test_c4_6_unique_account_without_matching_contact_creates_one(uniques, lead_of, make_account, set_value,
                                                                  preview, sales):
    account = make_account(name="LinkedIn Corp")
    set_value("account", account.id, "linkedin_id", "zy")
    lead = lead_of(email="nobody@x.com", first_name="No", last_name="Body")
    set_value("lead", lead.id, "linkedin_id", "zy")
    p = preview(sales, lead)
    assert (p.account.record_id, p.contact.action) == (account.id, "created")
    assert p.contact.values["account_id"] == account.id


def test_c4_1_unique_fields_only_when_mapped(custom_field, lead_of, make_contact, set_value, preview, sales):
    """(a)/(b) use unique fields only when the mapping brings a lead value into them."""
    custom_field("lead", "ssn")  # not carried over, not mapped
    custom_field("contact", "ssn", unique=True)
    other = make_contact(first_name="S", last_name="Sn")
    set_value("contact", other.id, "ssn", "42")
    lead = lead_of()
    set_value("lead", lead.id, "ssn", "42")
    assert preview(sales, lead).contact.action == "created"


def test_c4_1_stored_mapping_to_unique_field(db, custom_field, lead_of, make_contact, set_value, preview, sales):
    from webapp.conversion.mapping import DEFAULT_MAPPING
    from webapp.models import Setting

    custom_field("lead", "national_id")
    custom_field("contact", "ssn", unique=True)
    mapping = {e: dict(m) for e, m in DEFAULT_MAPPING.items()}
    mapping["contact"]["custom.national_id"] = "custom.ssn"
    db.session.add(Setting(key="conversion_mapping", value=mapping))
    db.session.commit()
    other = make_contact(first_name="S", last_name="Sn")
    set_value("contact", other.id, "ssn", "AB-42")
    lead = lead_of()
    set_value("lead", lead.id, "national_id", "ab 42")
    p = preview(sales, lead)
    assert (p.contact.record_id, p.contact.reason) == (other.id, "unique:ssn")


# --- normalisation (C4.7) -----------------------------------------------------------------------
@pytest.mark.parametrize("existing", ["ZYLKER", "Zylker, Inc.", "zylker inc", "Zylker SARL", "Zylker S.A.R.L.",
                                      "Zylker SAS", "Zylker GmbH", "Zylker Ltd", "  Zylker   Ltd. "])
def test_c4_7_company_names_match_whatever_legal_form_case_spaces(existing, lead_of, make_account, preview, sales):
    account = make_account(name=existing)
    p = preview(sales, lead_of(email=None))
    assert (p.account.record_id, p.account.reason) == (account.id, "company_name")


@pytest.mark.parametrize("lead_name,existing", [
    (("Élodie", "Dupré"), ("elodie", "DUPRE")),
    (("Jean-Luc", "O'Neil"), ("jean luc", "o neil")),
    (("  Anne ", "Marie  "), ("Anne", "Marie")),
])
def test_c4_7_names_ignore_accents_case_spaces_punctuation(lead_name, existing, lead_of, make_contact,
                                                           preview, sales):
    contact = make_contact(first_name=existing[0], last_name=existing[1])
    p = preview(sales, lead_of(first_name=lead_name[0], last_name=lead_name[1], email=None, company=None))
    assert (p.contact.record_id, p.contact.reason) == (contact.id, "full_name")


def test_c4_7_email_trimmed_and_case_insensitive(lead_of, make_contact, preview, sales):
    contact = make_contact(first_name="X", last_name="Y", email="  Charles.S@ZYLKER.com")
    assert preview(sales, lead_of()).contact.record_id == contact.id


def test_c4_7_different_company_does_not_match(lead_of, make_account, preview, sales):
    make_account(name="Zylker Labs")
    assert preview(sales, lead_of()).account.action == "created"


# --- visibility (C4.8) ---------------------------------------------------------------------------
@pytest.fixture
def restricted(db, make_user, users):
    """A custom role that converts but sees only its own accounts and contacts."""
    db.session.add(Role(key="restricted", label="Restricted", scope="own",
                        permissions=["lead.convert", "lead.edit", "account.create", "contact.create",
                                     "deal.create", "account.edit", "contact.edit"]))
    db.session.commit()
    return make_user("restricted", manager_id=users["manager"].id)


def test_c4_8_hidden_duplicates_refuse_conversion_naming_who_can(restricted, users, make_lead, make_contact,
                                                                 convert, preview, db):
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    lead = make_lead(**{**LEAD, "company": None}, owner_id=restricted.id)
    with pytest.raises(DuplicatesHidden) as e:
        convert(restricted, lead)
    assert e.value.http_status == 403
    assert "Manager" in e.value.message and "Admin" in e.value.message
    assert {u.id for u in e.value.who} == {users["manager"].id, users["admin"].id}
    assert db.session.query(Contact).count() == 1
    # Interactive (the modal): the plan says so instead of raising, and shows no hidden candidate.
    p = preview(restricted, lead, interactive=True)
    assert p.blocked is not None and p.candidates["contact"] == []
    with pytest.raises(DuplicatesHidden):
        p.check()


def test_c4_8_hidden_records_never_offered_visible_ones_are(restricted, users, make_lead, make_contact,
                                                            preview):
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    mine = make_contact(first_name="Charles", last_name="Stone", email="c@mine.com", owner_id=restricted.id)
    lead = make_lead(**{**LEAD, "company": None, "email": None}, owner_id=restricted.id)
    p = preview(restricted, lead)
    assert (p.contact.record_id, p.contact.reason) == (mine.id, "full_name")
    assert [c.id for c in p.candidates["contact"]] == [mine.id]


def test_c4_8_linking_a_hidden_record_is_not_found(restricted, users, make_lead, make_contact, preview):
    from webapp.conversion.errors import RecordNotFound

    hidden = make_contact(first_name="X", last_name="Y", owner_id=users["admin"].id)
    lead = make_lead(**LEAD, owner_id=restricted.id)
    with pytest.raises(RecordNotFound):
        preview(restricted, lead, contact={"action": "link", "id": hidden.id})


@pytest.mark.parametrize("body", [
    {"contact": {"action": "create"}},
    {"contact": {"action": "create"}, "account": {"action": "create"}},
], ids=["contact create", "both create"])
def test_c4_8_explicit_create_still_refused_over_hidden_contact(body, restricted, users, make_lead, make_contact,
                                                                convert, preview, db):
    """"Create new contact" must not create the very duplicate C4.8 forbids (request from h7)."""
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    lead = make_lead(**LEAD, owner_id=restricted.id)
    with pytest.raises(DuplicatesHidden) as e:
        convert(restricted, lead, **body)
    assert "contacts" in e.value.message and db.session.query(Contact).count() == 1
    p = preview(restricted, lead, interactive=True, **body)
    assert p.blocked is not None and p.candidates["contact"] == []


@pytest.mark.parametrize("body", [
    {"account": {"action": "create"}},
    {"contact": {"action": "create"}, "account": {"action": "create"}},
], ids=["account create", "both create"])
def test_c4_8_explicit_create_still_refused_over_hidden_account(body, restricted, users, make_lead, make_account,
                                                                convert, db):
    make_account(name="ZYLKER", owner_id=users["admin"].id)
    lead = make_lead(**LEAD, owner_id=restricted.id)
    with pytest.raises(DuplicatesHidden) as e:
        convert(restricted, lead, **body)
    assert "accounts" in e.value.message and db.session.query(Account).count() == 1


def test_c4_8_explicit_create_beside_a_visible_match_is_the_person_choice(restricted, make_lead, make_contact,
                                                                         convert, preview, db):
    """A visible duplicate is shown, but "create" means create: no refusal, no merge."""
    mine = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=restricted.id)
    lead = make_lead(**LEAD, owner_id=restricted.id)
    p = preview(restricted, lead, contact={"action": "create"})
    assert p.blocked is None and p.contact.action == "created"
    assert [c.id for c in p.candidates["contact"]] == [mine.id]
    c = convert(restricted, lead, contact={"action": "create"})
    assert c.contact_id != mine.id and db.session.query(Contact).count() == 2


def test_c4_8_create_without_company_does_not_look_for_accounts(restricted, users, make_lead, make_account,
                                                                preview):
    """C2.1: no company, no account to create, so a hidden account cannot block."""
    make_account(name="ZYLKER", owner_id=users["admin"].id)
    lead = make_lead(**{**LEAD, "company": None}, owner_id=restricted.id)
    p = preview(restricted, lead, account={"action": "create"})
    assert p.blocked is None and p.account.action == "none"
