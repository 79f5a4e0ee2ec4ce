"""ConversionOptions.from_dict: the API body of POST /lead-conversions, strictly typed (C7.5)."""

from datetime import date
from decimal import Decimal

import pytest

from webapp.conversion.errors import InvalidOptions
from webapp.conversion.options import ConversionOptions

API_EXAMPLE = {
    "lead_id": 12,
    "account": {"action": "auto", "id": None, "parent_id": None, "fields": {}},
    "contact": {"action": "auto", "id": None, "fields": {}},
    "deal": {"name": "Zylker Inc.", "pipeline_id": None, "stage": "Qualification",
             "amount": "1000.00", "currency": "EUR", "closing_date": "2026-12-31",
             "contact_role": "Decision maker", "campaign_id": None, "owner_id": None, "fields": {}},
    "task": {"subject": "Call back", "due_date": "2026-12-01", "owner_id": None},
    "attachments_to": "contact", "activities_to": "contact", "tags_to": ["contact", "deal"],
    "owner_id": None, "dry_run": False,
}


def test_api_example_parses():
    o = ConversionOptions.from_dict(API_EXAMPLE)
    assert o.deal.amount == Decimal("1000.00") and o.deal.closing_date == date(2026, 12, 31)
    assert o.task.subject == "Call back" and o.task.due_date == date(2026, 12, 1)
    assert o.account.action == "auto" and o.tags_to == ["contact", "deal"] and not o.dry_run
    assert ConversionOptions.from_dict(o.to_dict()) == o


def test_defaults_from_empty_body():
    o = ConversionOptions.from_dict({})
    assert (o.deal, o.task, o.attachments_to, o.activities_to, o.tags_to) == (
        None, None, "contact", "contact", ["contact", "deal"])


def test_custom_fields_are_flattened():
    o = ConversionOptions.from_dict({"contact": {"fields": {"last_name": "X", "custom": {"vat": "FR1"}}}})
    assert o.contact.fields == {"last_name": "X", "custom.vat": "FR1"}


@pytest.mark.parametrize("body,key", [
    ({"deal": {"name": "x"}}, "deal.stage"),
    ({"deal": {"stage": "Won", "amount": "abc"}}, "deal.amount"),
    ({"deal": {"stage": "Won", "amount": "-1"}}, "deal.amount"),
    ({"deal": {"stage": "Won", "amount": "1.234"}}, "deal.amount"),
    ({"deal": {"stage": "Won", "amount": "NaN"}}, "deal.amount"),
    ({"deal": {"stage": "Won", "amount": True}}, "deal.amount"),
    ({"deal": {"stage": "Won", "closing_date": "31/12/2026"}}, "deal.closing_date"),
    ({"deal": {"stage": "Won", "currency": "EURO"}}, "deal.currency"),
    ({"deal": {"stage": "Won", "bogus": 1}}, "deal.bogus"),
    ({"deal": "yes"}, "deal"),
    ({"task": {"due_date": "2026-01-01"}}, "task.subject"),
    ({"account": {"action": "merge"}}, "account.action"),
    ({"account": {"action": "link"}}, "account.id"),
    ({"account": {"action": "create", "id": 3}}, "account.id"),
    ({"contact": {"action": "link", "id": "3"}}, "contact.id"),
    ({"contact": {"action": "link", "id": True}}, "contact.id"),
    ({"contact": {"parent_id": 3}}, "contact.parent_id"),
    ({"contact": {"fields": []}}, "contact.fields"),
    ({"contact": {"fields": {"custom": "x"}}}, "contact.custom"),
    ({"attachments_to": "lead"}, "attachments_to"),
    ({"activities_to": "deal"}, "activities_to"),
    ({"tags_to": "contact"}, "tags_to"),
    ({"tags_to": ["lead"]}, "tags_to.0"),
    ({"owner_id": 0}, "owner_id"),
    ({"dry_run": "true"}, "dry_run"),
    ({"surprise": 1}, "surprise"),
    ({"account": {"action": "none"}, "contact": {"action": "none"}}, "contact.action"),
])
def test_c7_5_bad_options_name_the_field(body, key):
    with pytest.raises(InvalidOptions) as e:
        ConversionOptions.from_dict(body)
    assert key in e.value.errors and e.value.http_status == 422


def test_every_error_is_reported_at_once():
    with pytest.raises(InvalidOptions) as e:
        ConversionOptions.from_dict({"deal": {"amount": "x"}, "tags_to": 3})
    assert {"deal.stage", "deal.amount", "tags_to"} <= set(e.value.errors)


@pytest.mark.parametrize("body", [None, [], "x", 3])
def test_body_must_be_an_object(body):
    with pytest.raises(InvalidOptions):
        ConversionOptions.from_dict(body)


@pytest.mark.parametrize("amount,expected", [
    (Decimal("1250.5"), Decimal("1250.50")), (Decimal("0"), Decimal("0.00")), (1250, Decimal("1250.00")),
    ("1250.00", Decimal("1250.00")), (Decimal("1E+3"), Decimal("1000.00")),
])
def test_decimal_and_int_amounts_are_accepted(amount, expected):
    """The API parses JSON fractions as Decimal: they come in as such, exactly (request 4)."""
    o = ConversionOptions.from_dict({"deal": {"stage": "Won", "amount": amount}})
    assert o.deal.amount == expected and str(o.deal.amount) == str(expected)


@pytest.mark.parametrize("amount", [Decimal("1.005"), Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"),
                                    Decimal("-1"), Decimal("1e14")])
def test_c7_5_bad_decimal_amounts_are_refused(amount):
    with pytest.raises(InvalidOptions) as e:
        ConversionOptions.from_dict({"deal": {"stage": "Won", "amount": amount}})
    assert "deal.amount" in e.value.errors


def test_decimal_field_values_are_accepted_and_stored_as_text():
    import json

    o = ConversionOptions.from_dict({"account": {"fields": {"annual_revenue": Decimal("10.5"), "employees": 3}}})
    assert o.account.fields == {"annual_revenue": Decimal("10.5"), "employees": 3}
    assert json.loads(json.dumps(o.to_dict()))["account"]["fields"] == {"annual_revenue": "10.5", "employees": 3}


# --- one pass (issue 7): the parser's errors and the planner's come together -----------------
def test_c7_5_parse_and_plan_report_every_field_error_in_one_invalid_options(db, make_lead, users):
    """A missing deal stage (the parser's check) and a bad e-mail in `fields` (the planner's) are
    reported together, not in waves; nothing is written."""
    from webapp.conversion.executor import apply
    from webapp.conversion.planner import plan

    from .conftest import snapshot

    sales = users["sales"]
    lead = make_lead(owner_id=sales.id)
    body = {"deal": {"amount": "-1", "pipeline_id": 999}, "task": {"subject": ""},
            "contact": {"fields": {"email": "not an e-mail", "phone": "12"}},
            "account": {"fields": {"employees": "many"}}}
    options = ConversionOptions.parse(body)
    assert set(options.errors) == {"deal.stage", "deal.amount", "task.subject"}
    with pytest.raises(InvalidOptions):
        ConversionOptions.from_dict(body)  # the strict parser still refuses on its own
    before = snapshot(db)
    expected = {"deal.stage", "deal.amount", "task.subject", "deal.pipeline_id", "contact.email",
                "contact.phone", "account.employees"}
    with pytest.raises(InvalidOptions) as e:
        plan(db.session, sales, lead.id, options)
    assert set(e.value.errors) == expected
    with pytest.raises(InvalidOptions) as e:
        apply(db.session, sales, lead.id, ConversionOptions.parse(body))
    db.session.rollback()
    assert set(e.value.errors) == expected
    assert snapshot(db) == before


def test_c7_5_a_valid_parse_plans_as_from_dict_does(db, make_lead, users):
    from webapp.conversion.planner import plan

    sales = users["sales"]
    lead = make_lead(owner_id=sales.id)
    body = {"deal": {"stage": "Qualification", "amount": "10.00"}}
    options = ConversionOptions.parse(body)
    assert options.errors == {} and options == ConversionOptions.from_dict(body)
    assert plan(db.session, sales, lead.id, options).deal.values["amount"] == Decimal("10.00")


def test_c7_5_options_with_parse_errors_are_never_an_idempotent_replay(db, make_lead, users):
    """{"deal": "x"} parses (with an error) to the defaults, like {}: with the key of an earlier {}
    it must be refused, not answered with the earlier conversion."""
    from webapp.conversion.errors import AlreadyConverted
    from webapp.conversion.executor import apply

    from .conftest import snapshot

    sales = users["sales"]
    lead = make_lead(owner_id=sales.id)
    apply(db.session, sales, lead.id, ConversionOptions.parse({}), "key-1")
    db.session.commit()
    before = snapshot(db)
    with pytest.raises((InvalidOptions, AlreadyConverted)):
        apply(db.session, sales, lead.id, ConversionOptions.parse({"deal": "x"}), "key-1")
    db.session.rollback()
    assert snapshot(db) == before


def test_fields_with_nested_numbers_hash_and_are_refused_not_a_500():
    """Found by schemathesis: a list holding a JSON fraction in `fields` broke the request hash."""
    from decimal import Decimal

    from webapp.conversion.executor import request_hash

    options = ConversionOptions.parse({"contact": {"fields": {"title": [Decimal("1.5")], "x": {"y": Decimal("2")}}}})
    assert len(request_hash(1, options)) == 64


@pytest.mark.parametrize("part", ["deal", "task"])
@pytest.mark.parametrize("value", ["", " ", 0, False, [], "null"])
def test_c5_1_only_null_or_absent_means_no_deal_or_task(part, value):
    """api.md: `null` or absent is no deal (no task); "" is no object: refused like any wrong type."""
    for strict in (True, False):
        with pytest.raises(InvalidOptions) as e:
            ConversionOptions.from_dict({part: value}, strict=strict)
        assert list(e.value.errors) == [part] and e.value.status == 422 and e.value.code == "invalid"
        [problem] = e.value.errors[part]
        assert (problem.code, str(problem)) == ("not_object", "must be an object or null")
    assert getattr(ConversionOptions.from_dict({part: None}, strict=True), part) is None
    assert getattr(ConversionOptions.from_dict({}, strict=True), part) is None


@pytest.mark.parametrize("body,key", [
    ({"deal": {"stage": "Won", "currency": ""}}, "deal.currency"),
    ({"deal": {"stage": "Won", "amount": ""}}, "deal.amount"),
    ({"deal": {"stage": "Won", "closing_date": " "}}, "deal.closing_date"),
    ({"task": {"subject": "Call", "due_date": ""}}, "task.due_date"),
])
def test_c7_5_in_json_a_blank_is_no_date_amount_or_currency(body, key):
    """A form's blank input is no value; JSON says null for that (strict), as the schema documents."""
    with pytest.raises(InvalidOptions) as e:
        ConversionOptions.from_dict(body, strict=True)
    assert list(e.value.errors) == [key]
    part, name = key.split(".")
    assert getattr(getattr(ConversionOptions.from_dict(body), part), name) is None
