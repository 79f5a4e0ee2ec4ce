"""C3: the default mapping, compatibility checks (C3.2), carry-over (C3.3), fill-empty-only (C3.5)."""

from decimal import Decimal

import pytest

from webapp.conversion.mapping import (
    DEFAULT_MAPPING,
    build_values,
    check_mapping,
    fill_empty_only,
    load_mapping,
    source_fields,
    target_fields,
)
from webapp.models import Lead, Setting


def test_c3_1_default_mapping_is_compatible(db):
    assert check_mapping(db.session, DEFAULT_MAPPING) == []
    assert load_mapping(db.session) == DEFAULT_MAPPING


def test_c3_1_build_values_from_default_table():
    lead = Lead(first_name="Charles", last_name="Stone", company="Zylker", email="c@z.com", street="1 rue",
                city="Paris", lead_source="Fair", rating="Hot", annual_revenue=Decimal("10"), owner_id=4,
                website="", industry=None)
    assert build_values(lead, DEFAULT_MAPPING, "account") == {
        "name": "Zylker", "annual_revenue": Decimal("10"), "owner_id": 4, "billing_street": "1 rue",
        "billing_city": "Paris"}
    contact = build_values(lead, DEFAULT_MAPPING, "contact")
    assert contact["mailing_city"] == "Paris" and contact["lead_source"] == "Fair" and "company" not in contact
    assert build_values(lead, DEFAULT_MAPPING, "deal") == {"lead_source": "Fair", "rating": "Hot", "owner_id": 4}


def test_c3_5_fill_empty_only():
    current = {"phone": None, "title": "CEO", "email_opt_out": False, "fax": "  ", "mobile": "1"}
    values = {"phone": "2", "title": "Intern", "email_opt_out": True, "fax": "3", "mobile": "4", "x": None}
    assert fill_empty_only(current, values) == {"phone": "2", "email_opt_out": True, "fax": "3"}
    assert fill_empty_only({"email_opt_out": True}, {"email_opt_out": False}) == {}


@pytest.mark.parametrize("entity,source,target,fragment", [
    ("contact", "description", "title", "long text"),
    ("contact", "company", "title", "128 characters"),
    ("account", "employees", "name", "number"),
    ("account", "annual_revenue", "employees", "decimal"),
    ("contact", "email_opt_out", "title", "checkbox"),
    ("contact", "owner_id", "title", "lookup"),
    ("contact", "email", "phone", "email"),
    ("contact", "nope", "title", "not a lead field"),
    ("contact", "title", "nope", "not a contact field"),
    ("contact", "title", "account_id", "not a contact field"),
    ("deal", "company", "stage", "not a deal field"),
])
def test_c3_2_incompatible_pairs_are_reported(db, entity, source, target, fragment):
    problems = check_mapping(db.session, {entity: {source: target}})
    assert len(problems) == 1
    assert problems[0]["source"] == source and fragment in problems[0]["reason"]


def test_c3_2_text_to_longer_text_is_allowed(db):
    assert check_mapping(db.session, {"contact": {"title": "description", "city": "facebook"}}) == []


def test_c3_2_one_target_mapped_twice_is_refused(db):
    problems = check_mapping(db.session, {"contact": {"phone": "phone", "mobile": "phone"}})
    assert [p["reason"] for p in problems] == ["phone is already mapped from phone"]


def test_c3_2_custom_picklists_and_lengths(db, custom_field):
    custom_field("lead", "size", "picklist", options=["S", "M", "L"])
    custom_field("contact", "size", "picklist", options=["S", "M"])
    custom_field("account", "size", "picklist", options=["S", "M", "L", "XL"])
    custom_field("lead", "code", "text", length=50)
    custom_field("contact", "code", "text", length=20)
    custom_field("lead", "born", "date")
    custom_field("contact", "born", "date")
    custom_field("lead", "n", "number")
    custom_field("deal", "n", "decimal")
    problems = check_mapping(db.session, {
        "contact": {"custom.size": "custom.size", "custom.code": "custom.code", "custom.born": "custom.born"},
        "account": {"custom.size": "custom.size"},
        "deal": {"custom.n": "custom.n", "custom.born": "custom.n"}})
    reasons = {(p["entity"], p["source"]): p["reason"] for p in problems}
    assert set(reasons) == {("contact", "custom.size"), ("contact", "custom.code"), ("deal", "custom.born")}
    assert "lacks the values: L" in reasons[("contact", "custom.size")]


def test_c3_2_fields_offered(db, custom_field):
    custom_field("lead", "vat")
    assert "custom.vat" in source_fields(db.session) and "status" not in source_fields(db.session)
    assert "name" in target_fields(db.session, "account") and "id" not in target_fields(db.session, "account")


def test_c3_2_stored_incompatible_pair_is_reported_not_applied(db, make_lead, preview, users, custom_field):
    """A field changed type after the mapping was saved: the pair is skipped with a warning."""
    custom_field("lead", "score", "number")
    custom_field("contact", "score", "text")
    mapping = {e: dict(m) for e, m in DEFAULT_MAPPING.items()}
    mapping["contact"]["custom.score"] = "custom.score"
    db.session.add(Setting(key="conversion_mapping", value=mapping))
    db.session.commit()
    p = preview(users["sales"], make_lead(owner_id=users["sales"].id))
    assert any("custom.score" in w for w in p.warnings)
    assert "custom.score" not in p.contact.values


def test_c3_3_carry_over_custom_field_goes_to_same_key(db, make_lead, convert, users, custom_field, set_value):
    from .conftest import custom_value

    custom_field("lead", "vat", carry_over=True)
    custom_field("account", "vat")
    custom_field("lead", "hobby")  # not carried over
    custom_field("contact", "hobby")
    lead = make_lead(owner_id=users["sales"].id)
    set_value("lead", lead.id, "vat", "FR123")
    set_value("lead", lead.id, "hobby", "golf")
    c = convert(users["sales"], lead)
    assert custom_value(db, "account", c.account_id, "vat") == "FR123"
    assert custom_value(db, "contact", c.contact_id, "hobby") is None


def test_c3_2_stored_mapping_applies(db, make_lead, convert, users):
    mapping = {e: dict(m) for e, m in DEFAULT_MAPPING.items()}
    mapping["contact"]["company"] = "description"
    del mapping["contact"]["title"], mapping["contact"]["description"]
    db.session.add(Setting(key="conversion_mapping", value=mapping))
    db.session.commit()
    from webapp.models import Contact

    c = convert(users["sales"], make_lead(owner_id=users["sales"].id, title="CEO", description=None))
    contact = db.session.get(Contact, c.contact_id)
    assert contact.description == "Zylker Inc." and contact.title is None


def test_c3_2_search_keys_are_never_mapped(db):
    """Columns the database keeps (name_rev_norm, the other *_norm keys) are not lead fields to map."""
    sources = source_fields(db.session)
    assert not {k for k in sources if k.endswith("_norm") or k == "phone_e164"}
