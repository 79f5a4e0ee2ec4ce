"""Automation rules (C8.6), the domain: conditions, ordering, the SAVEPOINT (a refused conversion
keeps the status change and says why on the timeline), and a rule's conversion equal to a manual
one with the same options (services.automation, services.leads.change_status / create_lead)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from webapp.conversion.executor import apply
from webapp.conversion.options import ConversionOptions
from webapp.conversion.serialize import conversion_as_dict
from webapp.errors import Forbidden, Invalid, Text
from webapp.models import (
    Account,
    AutomationRule,
    Contact,
    Conversion,
    CustomField,
    Deal,
    Lead,
    Pipeline,
    Role,
    TimelineEvent,
)
from webapp.services import automation
from webapp.services.automation import (
    CONVERTED,
    NOT_CONVERTED,
    clean_rule,
    create_rule,
    deal_name,
    run_rules,
    update_rule,
)
from webapp.services.custom_values import set_custom, validate_custom
from webapp.services.leads import change_status, create_lead, update_lead

DEAL = {"stage": "Qualification"}


@pytest.fixture
def rule(db, users):
    """rule(name="R", on_status="qualified", conditions=[], options={}, **kw) -> AutomationRule (committed)."""

    def make(name="R", on_status="qualified", conditions=(), options=None, **kw):
        r = create_rule(db.session, users["admin"], {"name": name, "on_status": on_status,
                                                     "conditions": list(conditions), "options": options or {}, **kw})
        db.session.commit()
        return r

    return make


def events(db, lead, kind=None) -> list[TimelineEvent]:
    stmt = select(TimelineEvent).where(TimelineEvent.parent_type == "lead", TimelineEvent.parent_id == lead.id)
    if kind:
        stmt = stmt.where(TimelineEvent.kind == kind)
    return list(db.session.scalars(stmt.order_by(TimelineEvent.id)))


def move(db, actor, lead, status="qualified"):
    change = change_status(db.session, actor, lead, status)
    db.session.commit()
    return change


def checked(db, *items) -> list[dict]:
    """Conditions as the service stores them (checked by the field layer)."""
    errors: dict = {}
    out = automation.clean_conditions(db.session, list(items), errors)
    assert not errors, errors
    return out


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- conditions ---------------------------------------------------------------------------------

LEAD = {"first_name": "Élodie", "last_name": "D'Arc", "company": "Société Générale SA", "email": "Elodie@SG.fr",
        "phone": "01 23 45 67 89", "employees": 250, "annual_revenue": Decimal("1000000.00"),
        "lead_source": "Trade show", "country": "France", "email_opt_out": True, "city": None}


@pytest.mark.parametrize(("field", "op", "value", "holds"), [
    ("company", "equals", "societe generale sa", True),   # case, accents, punctuation do not count
    ("company", "equals", "Société Générale", False),
    ("company", "not_equals", "Zylker", True),
    ("company", "contains", "GENERALE", True),
    ("company", "contains", "zylker", False),
    ("email", "equals", "elodie@sg.fr", True),
    ("email", "contains", "@sg.fr", True),
    ("phone", "equals", "+33123456789", True),              # E.164 either way
    ("employees", "equals", 250, True),
    ("employees", "in", [10, 250], True),
    ("employees", "not_equals", 250, False),
    ("annual_revenue", "equals", "1000000", True),           # a number, whatever its decimals
    ("lead_source", "in", ["Web", "trade SHOW"], True),
    ("lead_source", "in", ["Web", "Referral"], False),
    ("email_opt_out", "equals", True, True),
    ("city", "empty", None, True),
    ("city", "not_empty", None, False),
    ("country", "not_empty", None, True),
    ("city", "not_equals", "Paris", True),                  # an empty value is not "Paris"
    ("city", "contains", "Par", False),
    ("tags", "contains", "VIP", True),
    ("tags", "in", ["cold", "salon 2026"], True),
    ("tags", "contains", "cold", False),
    ("tags", "empty", None, False),
])
def test_c8_6_a_condition_compares_normalised_values(db, users, make_lead, field, op, value, holds):
    lead = make_lead(**LEAD, owner_id=users["sales"].id, tags=["vip", "Salon 2026"])
    conditions = checked(db, {"field": field, "op": op, "value": value})
    assert automation.matches(automation.LeadValues(db.session, lead), conditions) is holds


def test_c8_6_custom_field_conditions(db, users, make_lead):
    db.session.add_all([CustomField(entity="lead", key="segment", label="Segment", type="picklist",
                                    options=["SMB", "Enterprise"]),
                        CustomField(entity="lead", key="signed", label="Signed", type="date")])
    db.session.commit()
    lead = make_lead(owner_id=users["sales"].id)
    typed, _ = validate_custom(db.session, "lead", {"segment": "Enterprise", "signed": "2026-03-01"})
    set_custom(db.session, "lead", lead.id, typed)
    db.session.commit()
    values = automation.LeadValues(db.session, lead)
    assert automation.matches(values, checked(
        db, {"field": "custom.segment", "op": "equals", "value": "Enterprise"},
        {"field": "custom.signed", "op": "in", "value": ["2026-03-01", "2026-04-01"]}))
    assert not automation.matches(values, checked(db, {"field": "custom.segment", "op": "equals", "value": "SMB"}))


def test_c8_6_every_condition_must_hold(db, users, make_lead, rule):
    rule(conditions=[{"field": "company", "op": "contains", "value": "zylker"},
                     {"field": "lead_source", "op": "equals", "value": "Web"}])
    lead = make_lead(owner_id=users["sales"].id, lead_source="Referral")
    move(db, users["sales"], lead)
    assert not db.session.get(Lead, lead.id).converted and count(db, Conversion) == 0
    assert events(db, lead, "rule_not_converted") == []  # not matching is not a refusal: nothing said


@pytest.mark.parametrize(("condition", "key", "code"), [
    ({"field": "nope", "op": "equals", "value": "x"}, "conditions.0.field", "unknown_field"),
    ({"field": "status", "op": "equals", "value": "new"}, "conditions.0.field", "unknown_field"),
    ({"op": "equals", "value": "x"}, "conditions.0.field", "required"),
    ({"field": "company", "op": "like", "value": "x"}, "conditions.0.op", "not_choice"),
    ({"field": "employees", "op": "contains", "value": 3}, "conditions.0.op", "not_choice"),
    ({"field": "tags", "op": "equals", "value": "vip"}, "conditions.0.op", "not_choice"),
    ({"field": "email", "op": "equals", "value": "not an e-mail"}, "conditions.0.value", "bad_email"),
    ({"field": "employees", "op": "equals", "value": "12"}, "conditions.0.value", "not_integer"),
    ({"field": "employees", "op": "in", "value": [1, "x"]}, "conditions.0.value.1", "not_integer"),
    ({"field": "employees", "op": "in", "value": []}, "conditions.0.value", "required"),
    ({"field": "employees", "op": "in", "value": 3}, "conditions.0.value", "not_list"),
    ({"field": "company", "op": "equals", "value": None}, "conditions.0.value", "required"),
    ({"field": "company", "op": "equals", "value": "a\x00b"}, "conditions.0.value", "nul"),
    ({"field": "company", "op": "equals", "value": "x" * 256}, "conditions.0.value", "too_long"),
    ({"field": "company", "op": "empty", "value": "x"}, "conditions.0.value", "no_value"),
    ({"field": "company", "op": "equals", "value": "x", "extra": 1}, "conditions.0.extra", "unknown_option"),
    ("company", "conditions.0", "not_object"),
])
def test_c8_6_condition_values_are_checked_by_the_field_layer(db, users, condition, key, code):
    with pytest.raises(Invalid) as e:
        clean_rule(db.session, users["admin"], {"name": "R", "on_status": "new", "conditions": [condition]}, None)
    assert [p.code for p in e.value.errors[key]] == [code], e.value.errors


def test_c8_6_too_many_conditions(db, users):
    many = [{"field": "company", "op": "not_empty"}] * (automation.CONDITIONS_MAX + 1)
    errors: dict = {}
    automation.clean_conditions(db.session, many, errors)
    assert errors["conditions"][0].code == "too_many"


# --- saving a rule ------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_only_administrators_manage_rules(db, users, role):
    with pytest.raises(Forbidden):
        create_rule(db.session, users[role], {"name": "R", "on_status": "new"})
    assert count(db, AutomationRule) == 0


def test_a_rule_with_bad_options_is_refused_with_every_field_error(db, users):
    with pytest.raises(Invalid) as e:
        create_rule(db.session, users["admin"], {"name": "R", "on_status": "converted", "options": {
            "lead_id": 4, "dry_run": True, "lead": {"fields": {}},
            "account": {"action": "link", "id": 3}, "contact": {"fields": {"phone": "1"}},
            "deal": {"stage": "", "pipeline_id": 999, "amount": "-1", "currency": "XXX", "name": "{nope}",
                     "fields": {"nope": 1}},
            "task": {"subject": "Call", "owner_id": 999}, "owner_id": 998, "tags_to": ["nowhere"]}})
    errors = e.value.errors
    assert set(errors) >= {
        "on_status", "options.lead_id", "options.dry_run", "options.lead", "options.account.action",
        "options.account.id", "options.contact.fields", "options.deal.stage", "options.deal.pipeline_id",
        "options.deal.amount", "options.deal.currency", "options.deal.name", "options.deal.nope",
        "options.task.owner_id", "options.owner_id", "options.tags_to.0"}, errors
    assert count(db, AutomationRule) == 0


def test_rule_names_are_unique_whatever_their_case(db, users, rule):
    first = rule(name="Hot leads")
    with pytest.raises(Invalid) as e:
        create_rule(db.session, users["admin"], {"name": "  hot   LEADS ", "on_status": "new"})
    assert e.value.errors["name"][0].code == "name_taken"
    update_rule(db.session, users["admin"], first, {"name": "HOT LEADS"})  # its own name, recased
    db.session.commit()
    assert db.session.get(AutomationRule, first.id).name == "HOT LEADS"


def test_options_are_stored_in_canonical_form(db, users, rule):
    r = rule(options={"deal": {"stage": "Proposal", "amount": Decimal("12.5"), "closing_date": "2026-12-31"},
                      "tags_to": None})
    assert r.options["deal"]["amount"] == "12.50" and r.options["deal"]["closing_date"] == "2026-12-31"
    assert r.options["tags_to"] == [] and r.options["account"] == {"action": "auto", "parent_id": None}
    assert ConversionOptions.parse(r.options, strict=True).errors == {}


def test_put_replaces_and_keeps_the_position(db, users, rule):
    r = rule(conditions=[{"field": "company", "op": "not_empty"}], position=7, active=False)
    update_rule(db.session, users["admin"], r, {"name": "S", "on_status": "new"}, replace_all=True)
    db.session.commit()
    assert (r.name, r.on_status, r.conditions, r.active, r.position) == ("S", "new", [], True, 7)
    with pytest.raises(Invalid) as e:
        update_rule(db.session, users["admin"], r, {"active": False}, replace_all=True)
    assert set(e.value.errors) == {"name", "on_status"}


def test_deal_name_template():
    lead = Lead(first_name="Ada", last_name="Lovelace", company=None)
    assert deal_name("{company} – {full_name}", lead) == "– Ada Lovelace"
    assert deal_name("{company}", lead) is None  # the planner's default name then (C5.1)
    assert deal_name("{last_name}, {first_name}", Lead(first_name="A", last_name="B")) == "B, A"


# --- firing: order, activity, status ------------------------------------------------------------

def test_c8_6_the_first_rule_by_position_that_converts_stops_evaluation(db, users, make_lead, rule):
    second = rule(name="Second", position=2, options={"deal": DEAL})
    first = rule(name="First", position=1)
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    lead = db.session.get(Lead, lead.id)
    assert lead.converted
    [event] = events(db, lead, "rule_converted")
    assert event.message == "Converted by the rule “First”" and event.data["rule_id"] == first.id
    assert event.data["text"]["t"] == CONVERTED  # shown in the reader's language
    assert event.data["conversion_id"] == lead.conversion_id
    assert count(db, Deal) == 0 and second.id  # the second rule never ran


def test_c8_6_a_refused_rule_lets_the_next_one_convert(db, users, make_lead, rule):
    # The first rule names a pipeline that was deleted since it was saved.
    pipeline = Pipeline(name="Old")
    db.session.add(pipeline)
    db.session.commit()
    rule(name="Old pipeline", position=1, options={"deal": {**DEAL, "pipeline_id": pipeline.id}})
    db.session.delete(pipeline)
    db.session.commit()
    rule(name="Fallback", position=2)
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    [refused] = events(db, lead, "rule_not_converted")
    assert refused.message.startswith("Rule “Old pipeline” could not convert this lead: ")
    assert "deal.pipeline_id: no such pipeline" in refused.message
    assert events(db, lead, "rule_converted")[0].message == "Converted by the rule “Fallback”"
    assert db.session.get(Lead, lead.id).converted and count(db, Deal) == 0


def test_c8_6_inactive_rules_and_other_statuses_do_not_fire(db, users, make_lead, rule):
    rule(name="Off", active=False)
    rule(name="Elsewhere", on_status="contacted")
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    assert not db.session.get(Lead, lead.id).converted


def test_c8_6_setting_the_same_status_again_fires_nothing(db, users, make_lead, rule):
    rule(on_status="new")
    lead = make_lead(owner_id=users["sales"].id, status="new")
    assert not move(db, users["sales"], lead, "new").changed
    assert not db.session.get(Lead, lead.id).converted


def test_c8_6_a_lead_created_in_the_status_enters_it(db, users, rule):
    rule(name="On arrival", on_status="new", conditions=[{"field": "lead_source", "op": "equals", "value": "Web"}])
    web = create_lead(db.session, users["sales"], {"last_name": "Web", "email": "w@example.com", "lead_source": "Web"})
    fair = create_lead(db.session, users["sales"], {"last_name": "Fair", "email": "f@example.com",
                                                     "lead_source": "Trade show"})
    db.session.commit()
    assert db.session.get(Lead, web.id).converted and not db.session.get(Lead, fair.id).converted
    assert events(db, web, "rule_converted")


# --- the SAVEPOINT: a refusal keeps the status and says why --------------------------------------

@pytest.fixture
def restricted(db, make_user, users):
    """A role that converts but sees only its own accounts and contacts (C4.8)."""
    db.session.add(Role(key="restricted", label="Restricted", scope="own",
                        permissions=["lead.convert", "lead.edit", "account.create", "contact.create",
                                     "deal.create", "account.edit", "contact.edit"]))
    db.session.commit()
    return make_user("restricted", manager_id=users["manager"].id)


def test_c4_8_hidden_duplicates_skip_the_rule_the_status_stays(db, users, restricted, make_lead, make_contact, rule):
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    rule(name="Qualified")
    lead = make_lead(company=None, owner_id=restricted.id)
    move(db, restricted, lead)
    lead = db.session.get(Lead, lead.id)
    assert lead.status == "qualified" and not lead.converted
    assert count(db, Contact) == 1 and count(db, Account) == 0 and count(db, Conversion) == 0
    [status] = events(db, lead, "status_changed")
    [refused] = events(db, lead, "rule_not_converted")
    assert refused.message.startswith("Rule “Qualified” could not convert this lead: ")
    assert "Manager" in refused.message and refused.actor_id == restricted.id
    assert refused.data["text"]["t"] == NOT_CONVERTED


def test_c7_1_a_rep_without_the_right_to_convert_gets_the_reason_the_status_stays(db, users, make_user, make_lead,
                                                                                 rule):
    db.session.add(Role(key="junior", label="Junior", scope="own", permissions=["lead.edit", "lead.create"]))
    db.session.commit()
    junior = make_user("junior")
    rule(name="Qualified")
    lead = make_lead(owner_id=junior.id)
    move(db, junior, lead)
    lead = db.session.get(Lead, lead.id)
    assert lead.status == "qualified" and not lead.converted
    [refused] = events(db, lead, "rule_not_converted")
    assert refused.message == ("Rule “Qualified” could not convert this lead: "
                               "Your role lacks the “Convert leads” permission.")


def test_c7_4_missing_required_fields_skip_the_rule_with_the_reason(db, users, make_lead, rule):
    db.session.add(CustomField(entity="contact", key="badge", label="Badge", type="text", required=True))
    db.session.commit()
    rule(name="Qualified")
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    [refused] = events(db, lead, "rule_not_converted")
    assert "contact.custom.badge" in refused.message
    assert not db.session.get(Lead, lead.id).converted and count(db, Contact) == 0


def test_the_savepoint_keeps_what_the_same_edit_changed_before(db, users, make_lead, make_user, rule):
    db.session.add(Role(key="junior", label="Junior", scope="own", permissions=["lead.edit", "lead.create"]))
    db.session.commit()
    junior = make_user("junior")
    rule()
    lead = make_lead(owner_id=junior.id)
    update_lead(db.session, junior, lead, {"phone": "+33 1 23 45 67 89", "status": "qualified", "tags": ["hot"]})
    db.session.commit()
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert (lead.phone, lead.status, lead.converted) == ("+33 1 23 45 67 89", "qualified", False)
    kinds = [e.kind for e in events(db, lead)]
    assert kinds == ["lead_updated", "status_changed", "rule_not_converted"]


def test_a_refusal_after_writes_rolls_back_only_the_conversion(db, users, make_lead, rule, monkeypatch):
    """The executor had created the account and the contact when the refusal came: the SAVEPOINT
    takes them back; the status change, before it, stays."""
    from webapp.conversion.errors import ConversionDenied

    def refuse_late(session, actor, lead_id, options):
        def step(name, run):
            if name == "record":
                raise ConversionDenied(Text("Refused at the last step."))
        return apply(session, actor, lead_id, options, after_step=step)

    monkeypatch.setattr(automation, "apply", refuse_late)
    rule(name="Late")
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    assert count(db, Account) == 0 and count(db, Contact) == 0 and count(db, Conversion) == 0
    lead = db.session.get(Lead, lead.id)
    assert lead.status == "qualified" and not lead.converted
    assert [e.message for e in events(db, lead)] == [
        "Status changed from New to Qualified", "Rule “Late” could not convert this lead: Refused at the last step."]


def test_a_database_error_inside_the_conversion_leaves_the_transaction_usable(db, users, make_lead, rule,
                                                                               monkeypatch):
    """An IntegrityError (a concurrent conversion took a unique key): rolled back to the SAVEPOINT,
    which on PostgreSQL also ends the aborted state, so the status change still commits."""
    from sqlalchemy import insert

    from webapp.models import LeadStatus

    def clash(session, actor, lead_id, options):
        session.execute(insert(LeadStatus).values(key="new", label="Again", category="open", position=9))

    monkeypatch.setattr(automation, "apply", clash)
    rule(name="Clash")
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    lead = db.session.get(Lead, lead.id)
    assert lead.status == "qualified" and not lead.converted
    [refused] = events(db, lead, "rule_not_converted")
    assert refused.message.endswith("it conflicted with a change made at the same time; nothing was converted")


def test_no_user_no_conversion(db, users, make_lead, rule):
    rule()
    lead = make_lead(owner_id=users["sales"].id, status="qualified")
    assert run_rules(db.session, None, lead, "new", "qualified") is None
    db.session.commit()
    [refused] = events(db, lead, "rule_not_converted")
    assert "no user made this change" in refused.message and refused.actor_id is None


def test_a_condition_on_a_deleted_custom_field_is_reported(db, users, make_lead, rule):
    field = CustomField(entity="lead", key="vat", label="VAT", type="text")
    db.session.add(field)
    db.session.commit()
    rule(conditions=[{"field": "custom.vat", "op": "empty"}])
    db.session.delete(field)
    db.session.commit()
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    [refused] = events(db, lead, "rule_not_converted")
    assert "“custom.vat” names a lead field that no longer exists" in refused.message


# --- the conversion is the manual one -----------------------------------------------------------

OPTIONS = {"deal": {"stage": "Nowhere", "amount": "1000.00", "name": "{company} – {last_name}"},
           "task": {"subject": "Call back", "due_date": "2026-12-01"}, "tags_to": ["contact", "deal", "account"]}


def test_c8_6_a_rule_converts_like_a_manual_conversion_with_the_same_options(db, users, make_lead, make_note, rule):
    lead = make_lead(owner_id=users["sales"].id, currency="USD", tags=["vip"])
    make_note(parent_type="lead", parent_id=lead.id)
    r = rule(options=OPTIONS)
    sales = users["sales"]

    # The manual conversion, rolled back: what the same options give by hand.
    manual_options = ConversionOptions.from_dict({**r.options, "deal": {**r.options["deal"], "name": "Zylker Inc. – Stone"}},
                                                 strict=True)
    nested = db.session.begin_nested()
    try:
        expected = _outcome(db, apply(db.session, sales, lead.id, manual_options))
    finally:
        nested.rollback()
    db.session.commit()
    assert count(db, Conversion) == 0 and not db.session.get(Lead, lead.id).converted

    move(db, sales, db.session.get(Lead, lead.id))
    lead = db.session.get(Lead, lead.id)
    assert lead.converted
    assert _outcome(db, db.session.get(Conversion, lead.conversion_id)) == expected
    deal = db.session.get(Deal, db.session.get(Conversion, lead.conversion_id).deal_id)
    # C5.2: a stage outside the pipeline falls back to its first; C5.3: base money in the lead's currency.
    assert (deal.name, deal.stage, deal.currency, deal.amount) == (
        "Zylker Inc. – Stone", "Incoming", "USD", Decimal("1086.96"))


def _outcome(db, conversion) -> dict:
    """What a conversion did, without its ids and time."""
    data = conversion_as_dict(conversion)
    for key in ("id", "created_at"):
        data.pop(key)
    for entity in ("account", "contact", "deal", "task"):
        data[entity].pop("id")
    deal = db.session.get(Deal, conversion.deal_id)
    data["deal_values"] = (deal.name, deal.stage, deal.amount, deal.currency)
    data["options"] = conversion.options
    return data


def test_the_rule_conversion_is_recorded_like_any_other(db, users, make_lead, rule):
    rule(options={"deal": DEAL})
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    conversion = db.session.scalars(select(Conversion)).one()
    assert conversion.created_by == users["sales"].id and conversion.options["interactive"] is False
    assert [e.kind for e in events(db, lead)] == ["status_changed", "converted", "rule_converted"]



# --- the active rules: read once per transaction --------------------------------------------------

@pytest.fixture
def rule_reads(db):
    """The statements that read automation_rules while the fixture lives (a list, growing)."""
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if "automation_rules" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(db.engine, "before_cursor_execute", count)


def test_c8_6_a_status_change_of_many_leads_in_one_transaction_reads_the_rules_once(db, users, make_lead, rule,
                                                                                     rule_reads, monkeypatch):
    db.session.add(CustomField(entity="contact", key="badge", label="Badge", type="text", required=True))
    db.session.commit()
    # Each conversion is refused (the contact's required badge): its SAVEPOINT is rolled back.
    refused = rule(name="Refused", position=1).id
    rule(name="Web only", position=2, conditions=[{"field": "lead_source", "op": "equals", "value": "Web"}])
    elsewhere = rule(name="Elsewhere", on_status="contacted").id
    checks, check = [], automation.rule_options

    def counted(session, actor, r):
        checks.append(r.id)
        return check(session, actor, r)

    monkeypatch.setattr(automation, "rule_options", counted)
    leads = [make_lead(owner_id=users["sales"].id, email=f"l{i}@x.com") for i in range(5)]
    rule_reads.clear()
    for lead in leads:
        change_status(db.session, users["sales"], lead, "qualified")
    change_status(db.session, users["sales"], leads[0], "contacted")
    db.session.commit()
    assert len(rule_reads) == 1, rule_reads
    assert checks == [refused, elsewhere]  # each rule's options checked once, for the five leads
    assert [len(events(db, lead, "rule_not_converted")) for lead in leads] == [2, 1, 1, 1, 1]
    assert count(db, Conversion) == 0

    change_status(db.session, users["sales"], leads[1], "contacted")  # the next transaction reads them again
    db.session.commit()
    assert len(rule_reads) == 2 and checks == [refused, elsewhere, elsewhere]


def test_c8_6_a_rule_saved_in_another_transaction_is_seen_by_the_next_one(db, users):
    from sqlalchemy.orm import Session

    from webapp.models import User

    assert automation.active_rules(db.session).by_status == {}
    with Session(db.engine) as other:  # another request saves a rule and commits
        create_rule(other, other.get(User, users["admin"].id), {"name": "Other", "on_status": "new"})
        other.commit()
    assert automation.active_rules(db.session).by_status == {}  # this transaction keeps what it read
    db.session.commit()
    assert [r.name for r in automation.active_rules(db.session).by_status["new"]] == ["Other"]
    db.session.rollback()
    assert automation._RULES not in db.session.info


def test_c8_6_a_rule_saved_in_the_same_transaction_is_seen_at_once(db, users, make_lead):
    first, second, third = (make_lead(owner_id=users["sales"].id, email=f"s{i}@x.com") for i in range(3))
    change_status(db.session, users["sales"], first, "qualified")  # no rule yet: read, and kept
    r = create_rule(db.session, users["admin"], {"name": "Now", "on_status": "qualified"})
    change_status(db.session, users["sales"], second, "qualified")
    update_rule(db.session, users["admin"], r, {"active": False})
    change_status(db.session, users["sales"], third, "qualified")
    db.session.commit()
    assert [db.session.get(Lead, lead.id).converted for lead in (first, second, third)] == [False, True, False]


def test_c8_6_a_rules_options_are_checked_again_when_it_runs(db, users, make_lead, rule):
    """Saved valid, the rule's owner left since: the engine's validate refuses it at run time."""
    from webapp.models import User

    gone = users["other_sales"]
    rule(name="Owned", options={"owner_id": gone.id})
    db.session.get(User, gone.id).active = False
    db.session.commit()
    lead = make_lead(owner_id=users["sales"].id)
    move(db, users["sales"], lead)
    [refused] = events(db, lead, "rule_not_converted")
    assert "owner_id: no such active user" in refused.message
    assert not db.session.get(Lead, lead.id).converted
