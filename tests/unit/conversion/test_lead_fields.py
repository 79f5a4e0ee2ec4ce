"""C7.4 "a lead whose required fields are empty cannot be converted until they are filled; the
conversion form shows them so they can be filled there": the options' "lead": {"fields": ...}
part, validated like a lead edit (C7.5), written on the lead first and restorable (C1.5, C9.1)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from webapp.conversion.errors import InvalidOptions, MissingRequired
from webapp.conversion.executor import apply, request_hash
from webapp.conversion.options import ConversionOptions, LeadFields
from webapp.models import Account, Contact, Lead
from webapp.services.custom_values import get_custom

from .conftest import snapshot


@pytest.fixture
def lead(make_lead, sales):
    return make_lead(owner_id=sales.id, industry=None, employees=None)


@pytest.fixture
def vat_required(custom_field):
    """A required lead custom field that no account, contact or deal has."""
    return custom_field("lead", "vat", label="VAT", required=True)


# --- options -----------------------------------------------------------------------------------
def test_c7_4_lead_fields_parse_flat_and_nested():
    o = ConversionOptions.from_dict({"lead": {"fields": {"industry": "IT", "custom": {"vat": "FR1"},
                                                         "custom.size": 3}}})
    assert o.lead == LeadFields({"industry": "IT", "custom.vat": "FR1", "custom.size": 3})
    assert o.to_dict()["lead"] == {"fields": {"custom.size": 3, "custom.vat": "FR1", "industry": "IT"}}
    assert ConversionOptions.from_dict(o.to_dict()) == o


def test_c7_4_without_lead_fields_the_canonical_form_is_unchanged():
    """Older conversions' stored options and idempotency hashes stay valid."""
    o = ConversionOptions.from_dict({"lead": {"fields": {}}})
    assert "lead" not in o.to_dict()
    assert request_hash(1, o) == request_hash(1, ConversionOptions())


@pytest.mark.parametrize("body,key", [
    ({"lead": "x"}, "lead"),
    ({"lead": {"bogus": 1}}, "lead.bogus"),
    ({"lead": {"fields": []}}, "lead.fields"),
    ({"lead": {"fields": {"custom": 3}}}, "lead.custom"),
])
def test_c7_5_malformed_lead_part_names_the_field(body, key):
    with pytest.raises(InvalidOptions) as e:
        ConversionOptions.from_dict(body)
    assert key in e.value.errors


# --- planning -----------------------------------------------------------------------------------
def test_c7_4_required_lead_field_without_target_is_missing_then_filled(vat_required, lead, sales, preview):
    assert preview(sales, lead).missing == {"lead": ["custom.vat"]}
    p = preview(sales, lead, lead={"fields": {"custom": {"vat": "FR42"}}})
    assert p.missing == {} and p.lead_values == {"custom.vat": "FR42"}
    assert p.as_dict()["fields_written"] == {"lead": {"custom.vat": "FR42"}}


def test_c7_4_empty_value_does_not_fill(vat_required, lead, sales, preview):
    assert preview(sales, lead, lead={"fields": {"custom.vat": "  "}}).missing == {"lead": ["custom.vat"]}


@pytest.mark.parametrize("fields,key", [
    ({"custom.nope": "x"}, "lead.custom.nope"),
    ({"custom.vat": "x" * 300}, "lead.custom.vat"),
    ({"email": "not an e-mail"}, "lead.email"),
    ({"phone": "12"}, "lead.phone"),
    ({"employees": "many"}, "lead.employees"),
    ({"employees": 2**31}, "lead.employees"),
    ({"annual_revenue": "-1"}, "lead.annual_revenue"),
    ({"first_name": "x" * 101}, "lead.first_name"),
    ({"owner_id": 1}, "lead.owner_id"),        # the form fills fields; it does not reassign the lead
    ({"status": "converted"}, "lead.status"),  # conversion sets the status itself
    ({"converted": True}, "lead.converted"),
    ({"name_rev_norm": "x"}, "lead.name_rev_norm"),
])
def test_c7_5_lead_fields_validated_like_a_lead_edit_nothing_written(vat_required, fields, key, lead, sales, db):
    before = snapshot(db)
    with pytest.raises(InvalidOptions) as e:
        apply(db.session, sales, lead.id, ConversionOptions.from_dict({"lead": {"fields": fields}}))
    db.session.rollback()
    assert key in e.value.errors and e.value.http_status == 422
    assert snapshot(db) == before


def test_c7_4_still_missing_refuses_and_writes_nothing(vat_required, lead, sales, db):
    before = snapshot(db)
    with pytest.raises(MissingRequired) as e:
        apply(db.session, sales, lead.id, ConversionOptions.from_dict({"lead": {"fields": {"industry": "IT"}}}))
    db.session.rollback()
    assert e.value.errors == {"lead.custom.vat": ["is required"]}
    assert snapshot(db) == before


# --- applying -----------------------------------------------------------------------------------
def test_c7_4_lead_fields_written_first_and_kept_for_the_revert(vat_required, lead, sales, convert, db):
    """C1.5 / C9.1: written on the lead, listed in fields_written, previous values under "lead"."""
    c = convert(sales, lead, lead={"fields": {"custom": {"vat": "FR42"}, "industry": "Software",
                                              "employees": 12, "annual_revenue": Decimal("1000.5")}})
    db.session.expire_all()
    stored = db.session.get(Lead, lead.id)
    assert stored.converted and stored.industry == "Software" and stored.employees == 12
    assert stored.annual_revenue == Decimal("1000.50")
    assert get_custom(db.session, "lead", lead.id) == {"vat": "FR42"}
    assert c.previous_values["lead"] == {"custom.vat": None, "industry": None, "employees": None,
                                         "annual_revenue": None}
    assert c.fields_written["lead"] == {"custom.vat": "FR42", "industry": "Software", "employees": 12,
                                        "annual_revenue": "1000.50"}
    json.dumps(c.options)  # the stored options stay JSON (Decimals as text)
    assert c.options["lead"]["fields"]["annual_revenue"] == "1000.5"


def test_c7_4_previous_values_hold_what_the_lead_had(lead, sales, convert, db):
    db.session.get(Lead, lead.id).title = "Buyer"
    db.session.commit()
    c = convert(sales, lead, lead={"fields": {"title": "Head of purchasing"}})
    assert c.previous_values["lead"] == {"title": "Buyer"}


def test_c3_1_lead_fields_are_mapped_like_the_lead_own(lead, sales, convert, db, custom_field):
    """Filled before mapping: industry reaches the account (C3.1), a carry-over custom field the
    contact's same-key field (C3.3)."""
    custom_field("lead", "vat", carry_over=True)
    custom_field("contact", "vat")
    c = convert(sales, lead, lead={"fields": {"industry": "Retail", "custom.vat": "FR9"}})
    assert db.session.get(Account, c.account_id).industry == "Retail"
    assert get_custom(db.session, "contact", c.contact_id) == {"vat": "FR9"}


def test_c4_1_lead_fields_are_matched_like_the_lead_own(lead, sales, make_contact, preview):
    """A corrected e-mail finds the contact that has it (C4.1 c), not the lead's old address."""
    existing = make_contact(first_name="Charles", last_name="Stone", email="c.stone@zylker.com")
    assert preview(sales, lead).contact.action == "created"
    p = preview(sales, lead, lead={"fields": {"email": "C.Stone@Zylker.com"}})
    assert (p.contact.action, p.contact.record_id, p.contact.reason) == ("merged", existing.id, "email")


def test_c2_1_a_company_filled_on_the_lead_creates_the_account(make_lead, sales, preview):
    lead = make_lead(owner_id=sales.id, company=None)
    assert preview(sales, lead).account.action == "none"
    p = preview(sales, lead, lead={"fields": {"company": "Acme"}})
    assert p.account.action == "created" and p.account.values["name"] == "Acme"


def test_c5_1_deal_name_defaults_to_the_filled_company(make_lead, sales, preview):
    lead = make_lead(owner_id=sales.id, company=None)
    p = preview(sales, lead, deal={"stage": "Won"}, lead={"fields": {"company": "Acme"}})
    assert p.deal.values["name"] == "Acme"


def test_c1_3_fault_after_writing_the_lead_leaves_no_trace(vat_required, lead, sales, db):
    def fault(step, run):
        if step == "write_lead":
            assert run.fields_written["lead"]  # the lead was written before the fault
            raise RuntimeError("fault after write_lead")

    before = snapshot(db)
    with pytest.raises(RuntimeError):
        apply(db.session, sales, lead.id, ConversionOptions.from_dict(
            {"lead": {"fields": {"custom.vat": "FR1", "industry": "IT"}}}), after_step=fault)
    db.session.rollback()
    db.session.expire_all()
    assert snapshot(db) == before


def test_c7_4_plan_never_writes_the_lead(vat_required, lead, sales, preview, db):
    before = snapshot(db)
    preview(sales, lead, lead={"fields": {"custom.vat": "FR1", "company": "Other", "email": "x@y.com"}})
    db.session.commit()  # even a careless caller's commit finds nothing to write
    assert snapshot(db) == before
    assert db.session.get(Lead, lead.id).company == "Zylker Inc."
    assert db.session.query(Contact).count() == 0
