"""C6 "you lose NOTHING": ConversionPlan.destinations says where each kind of related record goes,
computed by the very functions transfer.py moves them with, so the preview (C8.7) cannot disagree
with what happens. Checked against the moved records of real conversions."""

from __future__ import annotations

import pytest

from webapp.conversion.transfer import destinations
from webapp.models import Address, Attachment, Campaign, CampaignMember, LineItem, Product


@pytest.fixture
def full_lead(db, make_lead, make_note, make_task, sales):
    """A lead with one of everything C6 moves."""

    def build(**kw):
        lead = make_lead(owner_id=sales.id, tags=["vip"], **kw)
        make_note(parent_id=lead.id)
        make_task(parent_id=lead.id, status="open")
        campaign = Campaign(name=f"Fair {lead.id}")
        product = Product(name="Widget")
        db.session.add_all([campaign, product])
        db.session.flush()
        db.session.add_all([
            Attachment(parent_type="lead", parent_id=lead.id, filename="a.pdf", storage_name=f"s{lead.id}"),
            CampaignMember(campaign_id=campaign.id, parent_type="lead", parent_id=lead.id),
            LineItem(parent_type="lead", parent_id=lead.id, product_id=product.id),
            Address(parent_type="lead", parent_id=lead.id, type="billing", city="Paris"),
        ])
        db.session.commit()
        return lead

    return build


KIND_OF = {"note": "notes", "attachment": "attachments", "activity": "activities",
           "campaign_member": "campaigns", "tag": "tags", "line_item": "line_items", "address": "addresses"}


def where_they_went(conversion) -> dict[str, set[str]]:
    """The destinations a real conversion used, in the words of ConversionPlan.destinations."""
    out: dict[str, set[str]] = {kind: set() for kind in KIND_OF.values()}
    for r in conversion.moved_records:
        kind, entity = KIND_OF[r["type"]], r["to"][0]
        out[kind].add(f"{entity} (copy)" if r["type"] == "note" and r.get("copy") else entity)
        if r.get("deal_id"):
            out[kind].add("deal (open ones)")
    return out


SCENARIOS = {
    "account and contact": ({}, {}),
    "with a deal": ({}, {"deal": {"stage": "Won"}}),
    "company only": ({"first_name": None, "last_name": None, "email": None}, {"deal": {"stage": "Won"}}),
    "person only, tags asked on the account": ({"company": None}, {"tags_to": ["account"]}),
    "attachments to a deal that is not created": ({}, {"attachments_to": "deal"}),
    "activities and tags to the account": ({}, {"activities_to": "account", "tags_to": ["account"],
                                                "attachments_to": "account"}),
    "no contact": ({}, {"contact": {"action": "none"}, "deal": {"stage": "Won"}}),
    "tags nowhere": ({}, {"tags_to": []}),
}


@pytest.mark.parametrize("lead_kw,body", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_c6_destinations_agree_with_what_moves(lead_kw, body, full_lead, preview, convert, sales):
    lead = full_lead(**lead_kw)
    planned = preview(sales, lead, **body).destinations
    conversion = convert(sales, lead, **body)
    assert {k: set(v) for k, v in planned.items()} == where_they_went(conversion)
    assert {k: n > 0 for k, n in conversion.moved.items()} == {k: bool(v) for k, v in planned.items()}


def test_c6_2_c6_4_destinations_in_words(full_lead, preview, sales):
    """The example of the request: what the preview can show without restating C6."""
    p = preview(sales, full_lead(), deal={"stage": "Won"}, tags_to=["contact", "deal"])
    assert p.destinations == {
        "notes": ["deal", "account (copy)", "contact (copy)"], "attachments": ["contact"],
        "activities": ["contact", "deal (open ones)"], "campaigns": ["contact"], "tags": ["contact", "deal"],
        "line_items": ["deal"], "addresses": ["account"]}


def test_c6_2_without_deal_notes_go_to_the_contact_only(full_lead, preview, sales):
    p = preview(sales, full_lead())
    assert p.destinations["notes"] == ["contact"] and p.destinations["line_items"] == []


def test_c7_3_a_read_only_link_gets_no_tags(full_lead, make_contact, preview, convert, sales, users):
    """Tags and addresses are written on the record itself: not on one the actor may only read."""
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["other_sales"].id)
    lead = full_lead()
    p = preview(sales, lead)
    assert p.contact.action == "linked" and p.contact.read_only
    assert p.destinations["tags"] == [] and p.destinations["notes"] == ["contact"]
    assert where_they_went(convert(sales, lead))["tags"] == set()


def test_destinations_is_a_pure_function():
    class Options:
        attachments_to, activities_to, tags_to = "deal", "account", ["account", "deal"]

    assert destinations({"contact"}, {"contact"}, Options) == {
        "notes": ["contact"], "attachments": ["contact"], "activities": ["contact"], "campaigns": ["contact"],
        "tags": ["contact"], "line_items": [], "addresses": []}
    assert destinations(set(), set(), Options)["notes"] == []
