"""services.custom_fields (issue 10 item 2): every rule of a definition, every refusal with the
number of records it names, counterparts created and mapped in one call, values converted on a
type change, deletion with its confirmation, positions, the audit of every change."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, db_rows
from webapp.conversion.executor import apply
from webapp.conversion.mapping import DEFAULT_MAPPING, load_mapping
from webapp.conversion.options import ConversionOptions
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.models import (
    AuditEntry,
    AutomationRule,
    Contact,
    CustomField,
    CustomFieldValue,
    Setting,
)
from webapp.services import custom_fields as svc
from webapp.services.custom_values import get_custom, set_custom, validate_custom


@pytest.fixture
def admin(users):
    return users["admin"]


def create(db, admin, **data):
    field = svc.create(db.session, admin, data, strict=True)
    db.session.commit()
    return field


def refused(db, call, error=Invalid):
    """call() raises `error`; nothing written. The error, for its fields and message."""
    before = db_rows(db)
    with pytest.raises(error) as info:
        call()
    db.session.rollback()
    assert_unchanged(db, before)
    return info.value


def put(db, entity, record_id, **values):
    typed, errors = validate_custom(db.session, entity, values, strict=False)
    assert not errors, errors
    set_custom(db.session, entity, record_id, typed)
    db.session.commit()


def audits(db, area="custom_field"):
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.area == area).order_by(AuditEntry.id)))


# ---------------------------------------------------------------- create


def test_create_a_field_with_every_attribute_and_its_audit(db, admin):
    field = create(db, admin, entity="lead", key="vat", label="VAT number", type="text", length=20,
                   required=True, unique=True, carry_over=True)
    assert svc.as_dict(field) == {"id": field.id, "entity": "lead", "key": "vat", "label": "VAT number",
                                  "type": "text", "length": 20, "options": None, "required": True,
                                  "unique": True, "carry_over": True, "position": 0}
    [entry] = audits(db)
    assert (entry.key, entry.action, entry.after["length"], entry.actor_id) == ("lead.vat", "created", 20, admin.id)


def test_defaults_key_from_the_label_and_the_types_length(db, admin):
    field = create(db, admin, entity="contact", label="N° de sécurité sociale", type="text")
    assert (field.key, svc.as_dict(field)["length"], field.required, field.unique) == (
        "n_de_securite_sociale", 255, False, False)
    twin = create(db, admin, entity="contact", label="N de securite sociale!", type="phone")
    assert twin.key == "n_de_securite_sociale_2" and svc.as_dict(twin)["length"] == 40
    # A label whose key would be a standard column gets a suffix.
    assert create(db, admin, entity="lead", label="E-mail", type="email").key == "e_mail"
    assert create(db, admin, entity="lead", label="Email", type="email").key == "email_2"
    number = create(db, admin, entity="deal", label="Seats", type="number")
    assert svc.as_dict(number)["length"] is None and svc.as_dict(number)["options"] is None


def test_a_picklists_options_are_trimmed_and_kept_in_order(db, admin):
    field = create(db, admin, entity="lead", label="Segment", type="picklist", options=["  SMB ", "Mid   market", "Ent"])
    assert field.options == ["SMB", "Mid market", "Ent"]
    form = svc.create(db.session, admin, {"entity": "lead", "label": "Tier", "type": "picklist",
                                          "options": "Gold\n\n  Silver \r\nBronze\n"})
    assert form.options == ["Gold", "Silver", "Bronze"]


@pytest.mark.parametrize(("data", "field", "reason"), [
    ({"entity": "user"}, "entity", "must be one of"),
    ({"label": ""}, "label", "is required"),
    ({"label": "x" * 121}, "label", "at most 120"),
    ({"label": "a\x00b"}, "label", "NUL"),
    ({"type": "money"}, "type", "must be one of"),
    ({"type": None}, "type", "is required"),
    ({"key": "Vat"}, "key", "must start with a letter"),
    ({"key": "9vat"}, "key", "must start with a letter"),
    ({"key": "vat number"}, "key", "must start with a letter"),
    ({"key": "v" * 61}, "key", "at most 60"),
    ({"key": "email"}, "key", "standard field of leads"),
    ({"key": "custom"}, "key", "standard field"),
    ({"key": "converted"}, "key", "standard field"),
    ({"length": 0}, "length", "between 1 and 255"),
    ({"length": 256}, "length", "between 1 and 255"),
    ({"length": "20"}, "length", "whole number"),
    ({"type": "textarea", "length": 10_001}, "length", "between 1 and 10000"),
    ({"type": "number", "length": 10}, "length", "applies only to text"),
    ({"type": "picklist"}, "options", "at least one option"),
    ({"type": "picklist", "options": []}, "options", "at least one option"),
    ({"type": "picklist", "options": "a"}, "options", "must be a list"),
    ({"type": "picklist", "options": ["A", " a "]}, "options.1", "appears twice"),
    ({"type": "picklist", "options": ["A", ""]}, "options.1", "is required"),
    ({"type": "picklist", "options": ["x" * 256]}, "options.0", "at most 255"),
    ({"type": "picklist", "options": [str(i) for i in range(201)]}, "options", "at most 200"),
    ({"type": "text", "options": ["A"]}, "options", "only to picklists"),
    ({"type": "checkbox", "unique": True}, "unique", "does not apply"),
    ({"type": "textarea", "unique": True}, "unique", "does not apply"),
    ({"required": "yes"}, "required", "true or false"),
    ({"position": -1}, "position", "between 0"),
    ({"counterparts": ["contact", "user"]}, "counterparts", "must be one of"),
    ({"counterparts": ["contact", "contact"]}, "counterparts", "twice"),
    ({"counterparts": "contact"}, "counterparts", "must be a list"),
    ({"id": 3}, "id", "read-only"),
    ({"colour": "red"}, "colour", "not a field"),
])
def test_every_bad_value_is_refused_next_to_its_field(db, admin, data, field, reason):
    body = {"entity": "lead", "label": "VAT", "type": "text", **data}
    e = refused(db, lambda: svc.create(db.session, admin, body, strict=True))
    assert field in e.errors and reason in str(e.errors[field][0]), e.errors


def test_keys_labels_and_entity_rules(db, admin):
    create(db, admin, entity="lead", key="vat", label="VAT", type="text")
    e = refused(db, lambda: svc.create(db.session, admin, {"entity": "lead", "key": "vat", "label": "vat ", "type": "text"}))
    assert "is already the key" in str(e.errors["key"][0]) and "is already the label" in str(e.errors["label"][0])
    # The same key and label on another entity are another field.
    assert create(db, admin, entity="contact", key="vat", label="VAT", type="text").entity == "contact"
    e = refused(db, lambda: svc.create(db.session, admin, {"entity": "account", "key": "name", "label": "N", "type": "text"}))
    assert "standard field of accounts" in str(e.errors["key"][0])
    e = refused(db, lambda: svc.create(db.session, admin, {"entity": "contact", "label": "Carry", "type": "text",
                                                           "carry_over": True}, strict=True))
    assert "only to lead fields" in str(e.errors["carry_over"][0])
    e = refused(db, lambda: svc.create(db.session, admin, {"entity": "deal", "label": "X", "type": "text",
                                                           "counterparts": ["contact"]}, strict=True))
    assert "only a lead field" in str(e.errors["counterparts"][0])


def test_only_administrators_change_custom_fields(db, users):
    for role in ("manager", "sales", "viewer"):
        e = refused(db, lambda role=role: svc.create(db.session, users[role], {"entity": "lead", "label": "X",
                                                                               "type": "text"}), Forbidden)
        assert "Administration" in str(e)
    field = create(db, users["admin"], entity="lead", label="X", type="text")
    for call in (lambda: svc.update_field(db.session, users["sales"], field, {"label": "Y"}),
                 lambda: svc.move(db.session, users["sales"], field, 1),
                 lambda: svc.reorder(db.session, users["sales"], "lead", ["x"]),
                 lambda: svc.delete_field(db.session, users["sales"], field, confirm=True)):
        refused(db, call, Forbidden)


def test_positions_new_fields_go_last_or_where_asked(db, admin):
    a = create(db, admin, entity="lead", label="A", type="text")
    b = create(db, admin, entity="lead", label="B", type="text")
    c = create(db, admin, entity="lead", label="C", type="text", position=0)
    d = create(db, admin, entity="lead", label="D", type="text", position=99)
    other = create(db, admin, entity="deal", label="A", type="text")
    assert [f.label for f in svc.ordered(db.session, "lead")] == ["C", "A", "B", "D"]
    assert [f.position for f in (c, a, b, d)] == [0, 1, 2, 3] and other.position == 0


def test_too_many_fields_on_one_entity(db, admin, monkeypatch):
    monkeypatch.setattr(svc, "FIELDS_MAX", 2)
    create(db, admin, entity="lead", label="A", type="text")
    create(db, admin, entity="lead", label="B", type="text")
    e = refused(db, lambda: svc.create(db.session, admin, {"entity": "lead", "label": "C", "type": "text"}), Conflict)
    assert e.code == "too_many_fields" and "2 custom fields on leads" in str(e)


# ---------------------------------------------------------------- counterparts (C3.3)


def test_a_lead_field_with_counterparts_is_created_on_each_and_mapped_in_one_call(db, admin):
    svc.create(db.session, admin, {"entity": "lead", "key": "nat_id", "label": "National id", "type": "text",
                                   "length": 30, "unique": True, "required": True, "carry_over": True,
                                   "counterparts": ["contact", "deal"]}, strict=True)
    db.session.commit()
    fields = {f.entity: f for f in db.session.scalars(select(CustomField).where(CustomField.key == "nat_id"))}
    assert set(fields) == {"lead", "contact", "deal"}
    for entity in ("contact", "deal"):
        f = fields[entity]
        assert (f.label, f.type, f.length, f.unique, f.required, f.carry_over) == (
            "National id", "text", 30, True, False, False)
    mapping = load_mapping(db.session)
    assert mapping["contact"]["custom.nat_id"] == "custom.nat_id" and mapping["deal"]["custom.nat_id"] == "custom.nat_id"
    assert "custom.nat_id" not in mapping["account"]
    # The default pairs are kept (the stored mapping was the default one).
    assert mapping["contact"]["email"] == DEFAULT_MAPPING["contact"]["email"]
    assert [(e.key, e.action) for e in audits(db)] == [("lead.nat_id", "created"), ("contact.nat_id", "created"),
                                                        ("deal.nat_id", "created")]
    pairs = {e.key: (e.before, e.after) for e in audits(db, "conversion_mapping")}
    assert pairs == {"contact": ({"custom.nat_id": None}, {"custom.nat_id": "custom.nat_id"}),
                     "deal": ({"custom.nat_id": None}, {"custom.nat_id": "custom.nat_id"})}


def test_counterparts_keep_what_else_the_mapping_setting_holds(db, admin):
    db.session.add(Setting(key="conversion_mapping", value={"account": {}, "contact": {"email": "email"},
                                                             "deal": {}, "layouts": {"x": 1}}))
    db.session.commit()
    create(db, admin, entity="lead", key="tier", label="Tier", type="picklist", options=["A", "B"],
           counterparts=["account"])
    value = db.session.get(Setting, "conversion_mapping").value
    assert value["layouts"] == {"x": 1} and value["contact"] == {"email": "email"}
    assert value["account"] == {"custom.tier": "custom.tier"}
    assert db.session.scalar(select(CustomField.options).where(CustomField.entity == "account")) == ["A", "B"]


def test_a_counterpart_that_cannot_be_created_refuses_the_whole_call(db, admin):
    create(db, admin, entity="contact", key="vat", label="VAT", type="text")
    e = refused(db, lambda: svc.create(db.session, admin, {"entity": "lead", "key": "vat", "label": "VAT", "type": "text",
                                                           "counterparts": ["account", "contact"]}))
    assert "a field of contacts already has the key “vat”" in str(e.errors["counterparts"][0])
    e = refused(db, lambda: svc.create(db.session, admin, {"entity": "lead", "key": "name", "label": "Name2",
                                                           "type": "text", "counterparts": ["account"]}))
    assert "“name” is a standard field of accounts" in str(e.errors["counterparts"][0])
    # A key made from the label avoids the counterparts' keys.
    field = create(db, admin, entity="lead", label="VAT ", type="text", counterparts=["contact"])
    assert field.key == "vat_2"


def test_the_counterpart_carries_the_value_through_a_conversion(db, admin, users, make_lead):
    create(db, admin, entity="lead", key="nat_id", label="National id", type="text", counterparts=["contact"])
    lead = make_lead(owner_id=users["sales"].id, email="nat@example.com")
    put(db, "lead", lead.id, nat_id="1 85 05 78 006 084 36")
    conversion = apply(db.session, users["sales"], lead.id, ConversionOptions.from_dict({}))
    db.session.commit()
    assert get_custom(db.session, "contact", conversion.contact_id) == {"nat_id": "1 85 05 78 006 084 36"}


# ---------------------------------------------------------------- update: values that do not fit


def test_shortening_a_length_that_values_exceed_says_how_many_records(db, admin, make_lead):
    field = create(db, admin, entity="lead", key="vat", label="VAT", type="text")
    for i in range(14):
        lead = make_lead(last_name=f"L{i}")
        put(db, "lead", lead.id, vat=("FR" + "9" * 30) if i < 12 else "FR1")
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"length": 20}, strict=True), Conflict)
    assert e.code == "values_do_not_fit" and e.status == 409
    assert [str(m) for m in e.errors["length"]] == ["12 leads hold a value longer than 20 characters"]
    assert str(e) == "12 leads hold a value longer than 20 characters. Nothing was changed."
    one = create(db, admin, entity="lead", key="code", label="Code", type="text")
    put(db, "lead", 1, code="ABCDEFGHIJ")
    e = refused(db, lambda: svc.update_field(db.session, admin, one, {"length": 5}), Conflict)
    assert str(e.errors["length"][0]) == "1 lead holds a value longer than 5 characters"
    # A length the values fit is accepted.
    svc.update_field(db.session, admin, field, {"length": 40}, strict=True)
    db.session.commit()
    assert field.length == 40 and audits(db)[-1].after == {"length": 40}


def test_removing_options_that_values_hold_names_them(db, admin, make_lead):
    field = create(db, admin, entity="deal", key="tier", label="Tier", type="picklist", options=["Gold", "Silver", "Bronze"])
    from webapp.models import Deal, Pipeline
    pipeline = db.session.scalar(select(Pipeline))
    for i, tier in enumerate(["Gold", "Gold", "Silver", "Bronze"]):
        deal = Deal(name=f"D{i}", pipeline_id=pipeline.id, stage="Qualification")
        db.session.add(deal)
        db.session.flush()
        put(db, "deal", deal.id, tier=tier)
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"options": ["Bronze"]}, strict=True), Conflict)
    assert str(e.errors["options"][0]) == "3 deals hold values the options no longer include: “Gold”, “Silver”"
    # Adding options or removing unused ones is fine.
    svc.update_field(db.session, admin, field, {"options": ["Gold", "Silver", "Bronze", "Platinum"]}, strict=True)
    svc.update_field(db.session, admin, field, {"options": ["Silver", "Gold", "Bronze"]}, strict=True)
    db.session.commit()
    assert field.options == ["Silver", "Gold", "Bronze"]


def test_a_type_change_that_values_do_not_fit_is_refused_with_the_count(db, admin, make_lead):
    field = create(db, admin, entity="lead", key="ref", label="Ref", type="text")
    for i, value in enumerate(["12", "abc", "x1", "40"]):
        put(db, "lead", make_lead(last_name=f"T{i}").id, ref=value)
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"type": "number"}, strict=True), Conflict)
    assert str(e.errors["type"][0]) == ("2 leads hold values that do not fit the type “Whole number”: one must be a "
                                        "whole number")
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"type": "email"}, strict=True), Conflict)
    assert str(e.errors["type"][0]).startswith("4 leads hold values that do not fit the type “E-mail”: one is not a "
                                               "valid e-mail address")
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"type": "picklist", "options": ["12", "40"]},
                                             strict=True), Conflict)
    assert "2 leads hold values that do not fit the type “Picklist”: one must be one of: 12, 40" == str(e.errors["type"][0])


def test_a_type_change_the_values_fit_converts_them(db, admin, make_lead):
    field = create(db, admin, entity="lead", key="seats", label="Seats", type="text", unique=True)
    first, second = make_lead(last_name="A"), make_lead(last_name="B")
    put(db, "lead", first.id, seats=" 12 ")
    put(db, "lead", second.id, seats="40")
    svc.update_field(db.session, admin, field, {"type": "number"}, strict=True)
    db.session.commit()
    assert (field.type, field.length) == ("number", None)
    assert get_custom(db.session, "lead", first.id) == {"seats": 12}
    row = db.session.scalar(select(CustomFieldValue).where(CustomFieldValue.parent_id == first.id))
    assert (row.value_text, row.value_number, row.value_norm) == (None, 12, "12")
    entry = audits(db)[-1]
    assert (entry.before, entry.after) == ({"type": "text", "length": 255, "values converted": None},
                                           {"type": "number", "length": None, "values converted": 2})
    svc.update_field(db.session, admin, field, {"type": "decimal"}, strict=True)
    put(db, "lead", second.id, seats="40.5")
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"type": "number"}, strict=True), Conflict)
    assert str(e.errors["type"][0]) == "1 lead holds a value that does not fit the type “Whole number”: it must be a whole number"
    svc.update_field(db.session, admin, field, {"type": "text", "length": 10}, strict=True)
    db.session.commit()
    assert get_custom(db.session, "lead", second.id) == {"seats": "40.5"}
    assert get_custom(db.session, "lead", first.id) == {"seats": "12"}
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"type": "phone", "length": 3}, strict=True),
                Conflict)
    assert "length" in e.errors or "type" in e.errors


def test_a_text_becomes_a_long_text_and_back_within_its_length(db, admin, make_lead):
    field = create(db, admin, entity="lead", key="notes", label="Notes", type="textarea")
    lead = make_lead()
    put(db, "lead", lead.id, notes="x" * 300)
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"type": "text"}, strict=True), Conflict)
    assert str(e.errors["length"][0]) == "1 lead holds a value longer than 255 characters"
    svc.update_field(db.session, admin, field, {"length": 500}, strict=True)
    assert field.length == 500


def test_a_checkbox_changes_type_only_while_empty(db, admin, make_lead):
    field = create(db, admin, entity="lead", key="vip", label="VIP", type="checkbox")
    put(db, "lead", make_lead().id, vip="true")
    put(db, "lead", make_lead(last_name="B").id, vip="false")
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"type": "text"}, strict=True), Conflict)
    assert str(e.errors["type"][0]) == "2 leads hold values, and a checkbox field changes type only while it holds none"
    empty = create(db, admin, entity="lead", key="flag", label="Flag", type="checkbox")
    svc.update_field(db.session, admin, empty, {"type": "date"}, strict=True)
    assert empty.type == "date"


def test_changes_without_values_are_free_and_entity_and_key_never_change(db, admin):
    field = create(db, admin, entity="lead", key="vat", label="VAT", type="text", length=50)
    svc.update_field(db.session, admin, field, {"type": "textarea"}, strict=True)
    assert (field.type, field.length) == ("textarea", 50)  # a chosen length stays
    svc.update_field(db.session, admin, field, {"type": "picklist", "options": ["A"]}, strict=True)
    assert (field.type, field.length, field.options) == ("picklist", None, ["A"])
    svc.update_field(db.session, admin, field, {"type": "text"}, strict=True)
    assert (field.type, field.length, field.options) == ("text", 255, None)
    db.session.commit()
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"entity": "deal", "key": "x"}, strict=True))
    assert set(e.errors) == {"entity", "key"} and "cannot be changed" in str(e.errors["key"][0])
    # The same entity and key are accepted (a client sends the whole object back).
    svc.update_field(db.session, admin, field, {"entity": "lead", "key": "vat", "label": "TVA"}, strict=True)
    assert field.label == "TVA"
    db.session.commit()
    e = refused(db, lambda: svc.update_field(db.session, admin, field, {"type": "checkbox", "unique": True}, strict=True))
    assert "unique" in e.errors


def test_a_required_field_added_after_leads_exist_applies_to_new_edits(db, admin, users, make_lead):
    from webapp.services import leads as lead_service

    lead = make_lead(owner_id=users["sales"].id)
    create(db, admin, entity="lead", key="segment", label="Segment", type="picklist", options=["SMB", "Ent"],
           required=True)
    # Existing leads stay as they are; an edit that does not touch the field is accepted...
    lead_service.update_lead(db.session, users["sales"], lead, {"title": "CEO"}, strict=True)
    db.session.commit()
    # ...an edit that empties it, and a new lead without it, are refused.
    with pytest.raises(Invalid) as info:
        lead_service.update_lead(db.session, users["sales"], lead, {"custom": {"segment": None}}, strict=True)
    assert "custom.segment" in info.value.errors
    db.session.rollback()
    with pytest.raises(Invalid) as info:
        lead_service.create_lead(db.session, users["sales"], {"last_name": "New"}, strict=True)
    assert str(info.value.errors["custom.segment"][0]) == "is required"
    db.session.rollback()


# ---------------------------------------------------------------- order


def test_move_and_reorder_keep_positions_0_to_n_and_audit_the_moves(db, admin):
    for label in "ABC":
        create(db, admin, entity="lead", label=label, type="text")
    a, b, c = svc.ordered(db.session, "lead")
    svc.move(db.session, admin, c, -1)
    assert [f.label for f in svc.ordered(db.session, "lead")] == ["A", "C", "B"]
    svc.move(db.session, admin, a, -1)  # already first: nothing moves
    svc.reorder(db.session, admin, "lead", ["b", "a", "c"])
    db.session.commit()
    assert [(f.label, f.position) for f in svc.ordered(db.session, "lead")] == [("B", 0), ("A", 1), ("C", 2)]
    moves = [(e.key, e.before, e.after) for e in audits(db) if e.action == "updated"]
    assert moves[:2] == [("lead.c", {"position": 2}, {"position": 1}), ("lead.b", {"position": 1}, {"position": 2})]
    e = refused(db, lambda: svc.reorder(db.session, admin, "lead", ["a", "b"]))
    assert "must name every field" in str(e.errors["keys"][0])
    svc.update_field(db.session, admin, b, {"position": 2}, strict=True)
    assert [f.label for f in svc.ordered(db.session, "lead")] == ["A", "C", "B"]


def test_a_page_of_fields_in_order_with_the_next_one(db, admin):
    for i in range(5):
        db.session.add(CustomField(entity="lead", key=f"k{i}", label=f"K{i}", type="text", position=0))
    db.session.commit()  # positions all 0 (made outside the service): ties go by id
    rows, after = svc.page(db.session, "lead", limit=2)
    assert [r.key for r in rows] == ["k0", "k1"] and after == rows[-1].id
    rows, after = svc.page(db.session, "lead", after, limit=2)
    rows2, last = svc.page(db.session, "lead", after, limit=2)
    assert [r.key for r in rows] == ["k2", "k3"] and [r.key for r in rows2] == ["k4"] and last is None
    assert svc.counts(db.session) == {"lead": 5}


# ---------------------------------------------------------------- delete


def test_deleting_a_field_with_values_asks_then_takes_its_values_and_pairs(db, admin, make_lead):
    field = create(db, admin, entity="lead", key="vat", label="VAT", type="text", counterparts=["contact"])
    for i in range(3):
        put(db, "lead", make_lead(last_name=f"V{i}").id, vat=f"FR{i}")
    e = refused(db, lambda: svc.delete_field(db.session, admin, field), Conflict)
    assert e.code == "field_has_values" and e.params == {"values": 3, "mapping_pairs": 1}
    assert str(e) == "“VAT” holds values on 3 leads: deleting the field deletes them too. Confirm to delete it."
    held = svc.delete_field(db.session, admin, field, confirm=True)
    db.session.commit()
    assert held.values == 3 and held.pairs == [("contact", "custom.vat", "custom.vat")]
    assert db.session.scalar(select(func.count()).select_from(CustomFieldValue)) == 0
    assert "custom.vat" not in load_mapping(db.session)["contact"]
    entry = audits(db)[-1]
    assert (entry.key, entry.action, entry.before["values deleted"]) == ("lead.vat", "deleted", 3)
    assert audits(db, "conversion_mapping")[-1].before == {"custom.vat": "custom.vat"}
    # The contact counterpart stays (a field of its own); deleting it needs no confirmation.
    contact_field = db.session.scalar(select(CustomField).where(CustomField.entity == "contact"))
    svc.delete_field(db.session, admin, contact_field)
    assert db.session.scalar(select(func.count()).select_from(CustomField)) == 0


def test_deleting_the_target_of_a_pair_removes_the_pair(db, admin):
    create(db, admin, entity="lead", key="vat", label="VAT", type="text", counterparts=["contact"])
    target = db.session.scalar(select(CustomField).where(CustomField.entity == "contact"))
    assert svc.holdings(db.session, target).pairs == [("contact", "custom.vat", "custom.vat")]
    svc.delete_field(db.session, admin, target)
    db.session.commit()
    assert "custom.vat" not in load_mapping(db.session)["contact"]


def test_a_field_an_automation_rule_tests_is_not_deleted(db, admin, make_lead):
    field = create(db, admin, entity="lead", key="segment", label="Segment", type="text")
    db.session.add(AutomationRule(name="Big ones", on_status="qualified",
                                  conditions=[{"field": "custom.segment", "op": "equals", "value": "ent"}], options={}))
    db.session.commit()
    e = refused(db, lambda: svc.delete_field(db.session, admin, field, confirm=True), Conflict)
    assert e.code == "field_in_use" and "Big ones" in str(e)


def test_get_field_answers_not_found(db):
    for ident in (999, 0, -1, 2**31, "1", True):
        with pytest.raises(NotFound):
            svc.get_field(db.session, ident)


def test_refusals_in_french(app, db, admin):
    field = create(db, admin, entity="contact", key="vat", label="TVA", type="text")
    contact = Contact(last_name="Durand")
    db.session.add(contact)
    db.session.commit()
    put(db, "contact", contact.id, vat="FR" + "1" * 20)
    with pytest.raises(Conflict) as info:
        svc.update_field(db.session, admin, field, {"length": 5}, strict=True)
    db.session.rollback()
    from flask_babel import force_locale

    from webapp.i18n import translate

    # The sentence goes through ngettext in the reader's language (its French comes with the
    # catalogue: /work/i18n/fr_customfields.po), its params translated too.
    with app.test_request_context(), force_locale("fr"):
        text = translate(info.value.message)
        assert "1 contact" in text and "5" in text and text.endswith(".")
        two = translate(svc.Counted(svc.TOO_LONG_VALUES, 2, records=svc.records("deal", 2), max=3))
        assert two.startswith("2 ") and "3" in two


def test_a_unique_counterpart_drives_duplicate_matching(db, admin, users, make_lead):
    """C4.1 a: a unique lead field created with its contact counterpart (unique too, mapped) finds
    the contact holding the same value, whatever the e-mail and name say."""
    from webapp.conversion.planner import plan

    create(db, admin, entity="lead", key="nat_id", label="National id", type="text", unique=True,
           counterparts=["contact"])
    contact = Contact(first_name="Other", last_name="Person", email="other@example.com", owner_id=users["sales"].id)
    db.session.add(contact)
    db.session.commit()
    put(db, "contact", contact.id, nat_id="185057800608436")
    lead = make_lead(owner_id=users["sales"].id, email="new@example.com", company=None)
    put(db, "lead", lead.id, nat_id="185057800608436")
    p = plan(db.session, users["sales"], lead.id, ConversionOptions.from_dict({}))
    assert (p.contact.action, p.contact.record_id, p.contact.reason) == ("merged", contact.id, "unique:nat_id")
