"""C1, C2, C3.4, C5, C6, C7: what a conversion produces, moves, records and refuses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from webapp.conversion.errors import (
    AlreadyConverted,
    ConversionDenied,
    InvalidOptions,
    MissingRequired,
    RecordNotFound,
)
from webapp.conversion.serialize import conversion_as_dict
from webapp.models import (
    Account,
    Address,
    Attachment,
    Campaign,
    CampaignMember,
    Contact,
    Deal,
    Lead,
    LineItem,
    Note,
    Pipeline,
    Product,
    Role,
    Stage,
    Task,
    TimelineEvent,
)
from webapp.services.tags import get_tags

DEAL = {"stage": "Qualification"}


@pytest.fixture
def lead(make_lead, sales):
    return make_lead(owner_id=sales.id, phone="01 23 45 67 89", lead_source="Trade fair", rating="Hot",
                     industry="Software", city="Lyon", tags=["vip", "fair"])


# --- C1 ----------------------------------------------------------------------------------------
def test_c1_1_account_and_contact_none_is_refused(lead, convert, sales):
    with pytest.raises(InvalidOptions) as e:
        convert(sales, lead, account={"action": "none"}, contact={"action": "none"}, deal=DEAL)
    assert "contact.action" in e.value.errors


def test_c1_1_contact_only_with_deal(lead, convert, sales, db):
    c = convert(sales, lead, account={"action": "none"}, deal=DEAL)
    assert (c.account_action, c.contact_action, c.deal_action) == ("none", "created", "created")
    assert db.session.get(Deal, c.deal_id).contact_id == c.contact_id
    assert db.session.get(Contact, c.contact_id).account_id is None


def test_c1_1_account_only(lead, convert, sales):
    c = convert(sales, lead, contact={"action": "none"})
    assert (c.account_action, c.contact_action) == ("created", "none")


@pytest.mark.parametrize("status", ["new", "contacted", "qualified", "disqualified"])
def test_c1_2_any_status_converts(status, make_lead, convert, sales):
    lead = make_lead(owner_id=sales.id, status=status)
    assert convert(sales, lead).id


def test_c1_4_lead_is_marked_converted_and_read_only(lead, convert, sales, db):
    from webapp import permissions

    c = convert(sales, lead)
    db.session.expire_all()
    row = db.session.get(Lead, lead.id)
    assert (row.converted, row.status, row.conversion_id) == (True, "converted", c.id)
    assert row.converted_at is not None
    assert not permissions.can_edit(db.session, sales, row)
    with pytest.raises(AlreadyConverted) as e:
        convert(sales, row)
    assert e.value.conversion_id == c.id and e.value.http_status == 409
    assert e.value.as_dict()["conversion_id"] == c.id


def test_c1_5_conversion_record_holds_everything_for_a_revert(lead, make_contact, make_note, convert, sales, db):
    contact = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", phone=None)
    note = make_note(parent_id=lead.id)
    c = convert(sales, lead, deal=DEAL)
    assert c.created_by == sales.id and c.options["deal"]["stage"] == "Qualification"
    assert c.lead_before == {"status": "new", "converted": False, "conversion_id": None, "converted_at": None}
    assert c.fields_written["contact"]["phone"] == "01 23 45 67 89"
    assert c.previous_values["contact"]["phone"] is None
    assert c.contact_id == contact.id and c.contact_action == "merged"
    moved = [r for r in c.moved_records if r["type"] == "note" and not r["copy"]]
    assert moved == [{"type": "note", "id": note.id, "from": ["lead", lead.id], "to": ["deal", c.deal_id],
                      "copy": False}]


def test_c1_6_timeline_links_both_ways(lead, make_account, convert, sales, db):
    account = make_account(name="Zylker")
    c = convert(sales, lead, deal=DEAL)
    events = {(e.parent_type, e.parent_id): e for e in db.session.scalars(select(TimelineEvent))}
    converted = events[("lead", lead.id)]
    assert converted.message == f"Converted by {sales.display_name}"
    assert {(link["type"], link["id"]) for link in converted.data["links"]} == {
        ("account", account.id), ("contact", c.contact_id), ("deal", c.deal_id)}
    assert events[("contact", c.contact_id)].message.startswith("Created from lead")
    assert events[("account", account.id)].message.endswith("merged into this")
    assert events[("deal", c.deal_id)].data["links"][0] == {"type": "lead", "id": lead.id,
                                                           "label": "Charles Stone"}


# --- C2 ----------------------------------------------------------------------------------------
def test_c2_1_no_company_no_account(make_lead, convert, sales):
    c = convert(sales, make_lead(owner_id=sales.id, company=None))
    assert (c.account_action, c.contact_action) == ("none", "created")


def test_c2_2_contact_linked_to_account(lead, convert, sales, db):
    c = convert(sales, lead)
    assert db.session.get(Contact, c.contact_id).account_id == c.account_id


def test_c2_3_parent_account(lead, make_account, convert, sales, db):
    parent = make_account(name="Holding")
    with pytest.raises(InvalidOptions) as e:
        convert(sales, lead, account={"parent_id": 999})
    assert "account.parent_id" in e.value.errors
    c = convert(sales, lead, account={"parent_id": parent.id})
    assert db.session.get(Account, c.account_id).parent_id == parent.id


def test_c2_4_company_lead_converts_to_account_only(make_lead, convert, sales):
    lead = make_lead(owner_id=sales.id, first_name=None, last_name=None, email=None)
    c = convert(sales, lead)
    assert (c.account_action, c.contact_action) == ("created", "none")


def test_c2_4_company_lead_with_contact_name_given(make_lead, convert, sales, db):
    lead = make_lead(owner_id=sales.id, first_name=None, last_name=None, email=None)
    c = convert(sales, lead, contact={"fields": {"first_name": "Ann", "last_name": "Lee"}})
    assert c.contact_action == "created"
    assert db.session.get(Contact, c.contact_id).full_name == "Ann Lee"


# --- C3.4 / C5 ---------------------------------------------------------------------------------
def test_c5_1_deal_is_off_by_default(lead, convert, sales):
    assert convert(sales, lead).deal_action == "none"


@pytest.mark.parametrize("company,name", [("Zylker Inc.", "Zylker Inc."), (None, "Charles Stone")])
def test_c5_1_deal_default_name(company, name, make_lead, convert, sales, db):
    c = convert(sales, make_lead(owner_id=sales.id, company=company), deal=DEAL)
    deal = db.session.get(Deal, c.deal_id)
    assert deal.name == name and deal.lead_source is None and deal.contact_id == c.contact_id


def test_c5_1_deal_fields(lead, convert, sales, users, db):
    campaign = Campaign(name="Spring")
    db.session.add(campaign)
    db.session.commit()
    c = convert(sales, lead, deal={"name": "Big one", "stage": "Proposal", "closing_date": "2026-12-31",
                                   "contact_role": "Decision maker", "campaign_id": campaign.id,
                                   "owner_id": users["manager"].id, "fields": {"rating": "Warm"}})
    deal = db.session.get(Deal, c.deal_id)
    assert (deal.name, deal.stage, deal.closing_date, deal.contact_role, deal.campaign_id, deal.owner_id) == (
        "Big one", "Proposal", date(2026, 12, 31), "Decision maker", campaign.id, users["manager"].id)
    assert (deal.lead_source, deal.rating, deal.account_id) == ("Trade fair", "Warm", c.account_id)


def test_c5_2_default_pipeline_and_unknown_stage_falls_back(lead, preview, convert, sales, db):
    p = preview(sales, lead, deal={"stage": "Dreaming"})
    assert p.deal.values["stage"] == "Incoming" and any("Dreaming" in w for w in p.warnings)
    c = convert(sales, lead, deal={"stage": "Dreaming"})
    deal = db.session.get(Deal, c.deal_id)
    default = db.session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))
    assert (deal.pipeline_id, deal.stage) == (default.id, "Incoming")


def test_c5_2_chosen_pipeline(lead, convert, sales, db):
    pipe = Pipeline(name="Partners", stages=[Stage(name="Intro", position=0), Stage(name="Signed", position=1)])
    db.session.add(pipe)
    db.session.commit()
    with pytest.raises(InvalidOptions):
        convert(sales, lead, deal={"stage": "Signed", "pipeline_id": 999})
    c = convert(sales, lead, deal={"stage": "Signed", "pipeline_id": pipe.id})
    assert db.session.get(Deal, c.deal_id).stage == "Signed"


@pytest.mark.parametrize("lead_currency,deal_currency,amount,expect", [
    ("EUR", None, "1000.00", ("EUR", "1000.00")),      # the lead is in the base currency
    ("USD", None, "920.00", ("USD", "1000.00")),       # base amount converted: 920 / 0.92
    ("GBP", None, "100.00", ("GBP", "85.47")),         # 100 / 1.17, rounded half up
    ("USD", "GBP", "100.00", ("GBP", "100.00")),       # a named currency: created in it, as given
    ("USD", "EUR", "100.00", ("EUR", "100.00")),
])
def test_c5_3_amount_and_currency(lead_currency, deal_currency, amount, expect, make_lead, convert, sales, db):
    lead = make_lead(owner_id=sales.id, currency=lead_currency)
    c = convert(sales, lead, deal={**DEAL, "amount": amount, "currency": deal_currency})
    deal = db.session.get(Deal, c.deal_id)
    assert (deal.currency, str(deal.amount)) == expect


def test_c5_3_unknown_currency_is_refused(lead, convert, sales):
    with pytest.raises(InvalidOptions) as e:
        convert(sales, lead, deal={**DEAL, "amount": "1", "currency": "XYZ"})
    assert "deal.currency" in e.value.errors


def test_c5_3_lead_currency_without_rate_needs_a_named_currency(make_lead, convert, sales):
    lead = make_lead(owner_id=sales.id, currency="JPY")
    with pytest.raises(InvalidOptions) as e:
        convert(sales, lead, deal={**DEAL, "amount": "1"})
    assert "deal.amount" in e.value.errors


def test_c5_4_task_linked_to_contact_and_deal(lead, convert, sales, users, db):
    c = convert(sales, lead, deal=DEAL, task={"subject": "Call back", "due_date": "2026-12-01",
                                              "owner_id": users["manager"].id})
    task = db.session.get(Task, c.task_id)
    assert (task.parent_type, task.parent_id, task.deal_id, task.owner_id, task.due_date, task.status) == (
        "contact", c.contact_id, c.deal_id, users["manager"].id, date(2026, 12, 1), "open")


def test_c5_4_task_on_account_when_no_contact(make_lead, convert, sales, db):
    lead = make_lead(owner_id=sales.id, first_name=None, last_name=None)
    c = convert(sales, lead, task={"subject": "Call"})
    task = db.session.get(Task, c.task_id)
    assert (task.parent_type, task.parent_id, task.deal_id) == ("account", c.account_id, None)


def test_owner_of_created_records(lead, convert, sales, users, db):
    with pytest.raises(InvalidOptions) as e:
        convert(sales, lead, owner_id=999)
    assert "owner_id" in e.value.errors
    c = convert(sales, lead, owner_id=users["manager"].id, deal=DEAL)
    for model, rid in ((Account, c.account_id), (Contact, c.contact_id), (Deal, c.deal_id)):
        assert db.session.get(model, rid).owner_id == users["manager"].id


# --- C6 ----------------------------------------------------------------------------------------
@pytest.fixture
def related(db, lead, make_note, make_task):
    """Two notes, an open and a done task, an attachment, a campaign membership, a line item, an address."""
    notes = [make_note(parent_id=lead.id, body=f"Note {i}") for i in range(2)]
    open_task = make_task(parent_id=lead.id, subject="Open")
    done_task = make_task(parent_id=lead.id, subject="Done", status="done")
    attachment = Attachment(parent_type="lead", parent_id=lead.id, filename="a.pdf", storage_name="x1")
    campaign = Campaign(name="Fair 2026")
    product = Product(name="Widget", unit_price=Decimal("10"))
    db.session.add_all([attachment, campaign, product])
    db.session.flush()
    member = CampaignMember(campaign_id=campaign.id, parent_type="lead", parent_id=lead.id)
    item = LineItem(parent_type="lead", parent_id=lead.id, product_id=product.id, quantity=2)
    address = Address(parent_type="lead", parent_id=lead.id, type="delivery", city="Lyon")
    db.session.add_all([member, item, address])
    db.session.commit()
    return {"notes": notes, "open": open_task, "done": done_task, "attachment": attachment, "member": member,
            "item": item, "address": address}


def _parent(obj):
    return (obj.parent_type, obj.parent_id)


def test_c6_1_c6_2_with_deal_notes_go_to_deal_with_copies(lead, related, convert, sales, db):
    c = convert(sales, lead, deal=DEAL)
    db.session.expire_all()
    for note in related["notes"]:
        assert _parent(db.session.get(Note, note.id)) == ("deal", c.deal_id)
        copies = db.session.scalars(select(Note).where(Note.copy_of_id == note.id)).all()
        assert sorted(_parent(n) for n in copies) == [("account", c.account_id), ("contact", c.contact_id)]
        assert all(n.body == note.body for n in copies)
    assert c.moved["notes"] == 2
    assert conversion_as_dict(c)["moved"]["notes"] == 2


def test_c6_2_without_deal_notes_go_to_contact(lead, related, convert, sales, db):
    c = convert(sales, lead)
    db.session.expire_all()
    assert {_parent(db.session.get(Note, n.id)) for n in related["notes"]} == {("contact", c.contact_id)}
    assert db.session.scalar(select(Note).where(Note.copy_of_id.is_not(None))) is None


def test_c6_2_company_lead_notes_go_to_account(db, make_lead, make_note, convert, sales):
    lead = make_lead(owner_id=sales.id, first_name=None, last_name=None)
    note = make_note(parent_id=lead.id)
    c = convert(sales, lead)
    db.session.expire_all()
    assert _parent(db.session.get(Note, note.id)) == ("account", c.account_id)


@pytest.mark.parametrize("choice,deal,expect", [
    ("contact", True, "contact"), ("account", True, "account"), ("deal", True, "deal"),
    ("deal", False, "contact"),  # no deal: falls back to the contact
])
def test_c6_3_attachments_go_where_chosen(choice, deal, expect, lead, related, convert, sales, db):
    c = convert(sales, lead, attachments_to=choice, **({"deal": DEAL} if deal else {}))
    db.session.expire_all()
    ids = {"contact": c.contact_id, "account": c.account_id, "deal": c.deal_id}
    assert _parent(db.session.get(Attachment, related["attachment"].id)) == (expect, ids[expect])
    assert c.moved["attachments"] == 1


def test_c6_3_attachments_to_account_fall_back_to_contact(db, make_lead, convert, sales):
    lead = make_lead(owner_id=sales.id, company=None)
    att = Attachment(parent_type="lead", parent_id=lead.id, filename="a", storage_name="y")
    db.session.add(att)
    db.session.commit()
    c = convert(sales, lead, attachments_to="account")
    db.session.expire_all()
    assert _parent(db.session.get(Attachment, att.id)) == ("contact", c.contact_id)


@pytest.mark.parametrize("choice", ["contact", "account"])
def test_c6_4_activities_and_campaigns_go_where_chosen_open_ones_to_deal(choice, lead, related, convert,
                                                                         sales, db):
    c = convert(sales, lead, activities_to=choice, deal=DEAL)
    db.session.expire_all()
    target = (choice, c.contact_id if choice == "contact" else c.account_id)
    open_task, done_task = db.session.get(Task, related["open"].id), db.session.get(Task, related["done"].id)
    assert _parent(open_task) == target and _parent(done_task) == target
    assert (open_task.deal_id, done_task.deal_id) == (c.deal_id, None)
    assert _parent(db.session.get(CampaignMember, related["member"].id)) == target
    assert (c.moved["activities"], c.moved["campaigns"]) == (2, 1)


def test_c6_4_campaign_the_contact_already_has_stays_on_lead(db, lead, related, make_contact, convert, sales):
    contact = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com")
    db.session.add(CampaignMember(campaign_id=related["member"].campaign_id, parent_type="contact",
                                  parent_id=contact.id))
    db.session.commit()
    c = convert(sales, lead)
    assert c.moved["campaigns"] == 0
    assert _parent(db.session.get(CampaignMember, related["member"].id)) == ("lead", lead.id)


def test_c3_4_line_items_and_addresses(lead, related, convert, sales, db):
    c = convert(sales, lead, deal=DEAL)
    db.session.expire_all()
    assert _parent(db.session.get(LineItem, related["item"].id)) == ("deal", c.deal_id)
    assert _parent(db.session.get(Address, related["address"].id)) == ("account", c.account_id)
    assert (c.moved["line_items"], c.moved["addresses"]) == (1, 1)


def test_c3_4_line_items_stay_without_deal(lead, related, convert, sales, db):
    c = convert(sales, lead)
    assert _parent(db.session.get(LineItem, related["item"].id)) == ("lead", lead.id)
    assert c.moved["line_items"] == 0


@pytest.mark.parametrize("tags_to,account,expect", [
    (["contact", "deal"], True, {"contact", "deal"}),
    (["account"], True, {"account"}),
    (["account", "deal"], False, {"contact", "deal"}),  # C6.5: no account, the contact gets them
    ([], True, set()),
])
def test_c6_5_tags_copied(tags_to, account, expect, make_lead, convert, sales, db):
    lead = make_lead(owner_id=sales.id, company="Zylker" if account else None, tags=["vip", "fair"])
    c = convert(sales, lead, tags_to=tags_to, deal=DEAL)
    ids = {"account": c.account_id, "contact": c.contact_id, "deal": c.deal_id}
    for entity, rid in ids.items():
        if rid:
            assert get_tags(db.session, entity, rid) == (["fair", "vip"] if entity in expect else [])
    assert get_tags(db.session, "lead", lead.id) == ["fair", "vip"]  # copied, nothing deleted


def test_c6_6_lead_source_follows_mapping_and_warns_when_dropped(db, lead, preview, convert, sales):
    from webapp.conversion.mapping import DEFAULT_MAPPING
    from webapp.models import Setting

    c = convert(sales, lead, deal=DEAL)
    assert db.session.get(Contact, c.contact_id).lead_source == "Trade fair"
    assert db.session.get(Deal, c.deal_id).lead_source == "Trade fair"
    mapping = {e: {s: t for s, t in m.items() if s != "lead_source"} for e, m in DEFAULT_MAPPING.items()}
    db.session.add(Setting(key="conversion_mapping", value=mapping))
    db.session.commit()
    other = preview(sales, _fresh_lead(db, sales))
    assert any("lead source" in w for w in other.warnings)


def _fresh_lead(db, sales):
    lead = Lead(first_name="A", last_name="B", lead_source="Web", owner_id=sales.id)
    db.session.add(lead)
    db.session.commit()
    return lead


# --- C7 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("role,allowed", [("admin", True), ("manager", True), ("sales", True),
                                          ("viewer", False), ("other_sales", False)])
def test_c7_1_c7_2_who_may_convert_a_sales_lead(role, allowed, lead, convert, users, db):
    if allowed:
        assert convert(users[role], lead).id
    else:
        with pytest.raises((ConversionDenied, RecordNotFound)) as e:
            convert(users[role], lead)
        assert e.value.http_status in (403, 404)
        assert not db.session.get(Lead, lead.id).converted


def test_c7_1_viewer_is_told_the_missing_permission(lead, preview, users):
    with pytest.raises(ConversionDenied) as e:
        preview(users["viewer"], lead)
    assert "Convert leads" in e.value.message


def test_c7_1_create_permission_of_each_created_entity(db, make_user, make_lead, convert):
    db.session.add(Role(key="nodeal", label="No deals", scope="own",
                        permissions=["lead.convert", "lead.edit", "account.create", "contact.create",
                                     "record.read_all"]))
    db.session.commit()
    user = make_user("nodeal")
    lead = make_lead(owner_id=user.id)
    with pytest.raises(ConversionDenied) as e:
        convert(user, lead, deal=DEAL)
    assert "deal" in e.value.errors
    assert convert(user, lead).id  # without a deal it is fine


def test_c7_3_read_only_merge_links_without_writing(lead, make_contact, users, convert, sales, db):
    other = make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", phone=None,
                         owner_id=users["other_sales"].id)
    c = convert(sales, lead, tags_to=["contact"])
    assert (c.contact_id, c.contact_action) == (other.id, "linked")
    assert c.not_updated == [{"entity": "contact", "id": other.id, "reason": "read_only"}]
    assert "contact" not in c.fields_written
    db.session.expire_all()
    contact = db.session.get(Contact, other.id)
    assert contact.phone is None and contact.account_id is None
    assert get_tags(db.session, "contact", other.id) == []
    assert conversion_as_dict(c)["not_updated"] == c.not_updated


def test_c7_4_required_custom_fields_of_lead_and_targets(lead, custom_field, convert, preview, sales, db):
    custom_field("lead", "vat", required=True)
    custom_field("account", "siren", required=True)
    custom_field("deal", "budget", "decimal", required=True)
    p = preview(sales, lead, deal=DEAL)
    assert p.missing == {"lead": ["custom.vat"], "account": ["custom.siren"], "deal": ["custom.budget"]}
    with pytest.raises(MissingRequired) as e:
        convert(sales, lead, deal=DEAL)
    assert set(e.value.errors) == {"lead.custom.vat", "account.custom.siren", "deal.custom.budget"}
    assert e.value.http_status == 422 and not db.session.get(Lead, lead.id).converted
    custom_field("account", "vat")
    c = convert(sales, lead, deal={**DEAL, "fields": {"custom": {"budget": "12.5"}}},
                account={"fields": {"custom.siren": "123", "custom.vat": "FR1"}})
    assert c.id


def test_c7_4_contact_last_name_required(make_lead, convert, sales):
    lead = make_lead(owner_id=sales.id, first_name="Ann", last_name=None, company=None)
    with pytest.raises(MissingRequired) as e:
        convert(sales, lead)
    assert e.value.errors == {"contact.last_name": ["is required"]}
    assert convert(sales, lead, contact={"fields": {"last_name": "Lee"}}).id


@pytest.mark.parametrize("entity,fields,key", [
    ("contact", {"email": "not an email"}, "contact.email"),
    ("contact", {"phone": "12"}, "contact.phone"),
    ("contact", {"title": "x" * 200}, "contact.title"),
    ("contact", {"email_opt_out": "maybe"}, "contact.email_opt_out"),
    ("contact", {"account_id": 3}, "contact.account_id"),
    ("contact", {"custom.nope": 1}, "contact.custom.nope"),
    ("account", {"employees": "many"}, "account.employees"),
    ("account", {"annual_revenue": "1e20"}, "account.annual_revenue"),
    ("account", {"owner_id": 999}, "account.owner_id"),
])
def test_c7_5_bad_field_values_are_refused_nothing_written(entity, fields, key, lead, convert, sales, db):
    from .conftest import snapshot

    before = snapshot(db)
    with pytest.raises(InvalidOptions) as e:
        convert(sales, lead, **{entity: {"fields": fields}})
    assert key in e.value.errors
    assert snapshot(db) == before


def test_c7_5_fields_override_mapped_values(lead, convert, sales, db):
    c = convert(sales, lead, contact={"fields": {"title": "Boss", "email": "Boss@Zylker.com"}},
                account={"fields": {"name": "Zylker Group", "employees": "12"}})
    contact, account = db.session.get(Contact, c.contact_id), db.session.get(Account, c.account_id)
    assert (contact.title, contact.email, account.name, account.employees) == (
        "Boss", "Boss@zylker.com", "Zylker Group", 12)


def test_unknown_lead_is_not_found(convert, sales, db):
    with pytest.raises(RecordNotFound):
        convert(sales, Lead(id=424242))


def test_c1_4_converted_lead_409_but_viewer_still_403(lead, convert, sales, users):
    convert(sales, lead)
    with pytest.raises(ConversionDenied):
        convert(users["viewer"], lead)
    with pytest.raises(AlreadyConverted):
        convert(users["admin"], lead)
