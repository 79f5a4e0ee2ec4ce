"""The automation rules screen (admin.rules, issue 10 item 7, C8.6): the ordered list (status,
conditions in words, active toggle, up / down, last runs, pages), the create and edit forms
(conditions as field / operator / value rows re-rendered by htmx, the conversion options in the
bulk panel's own widgets), delete with its confirmation; bad input answered 422 with each reason
next to its widget and nothing written; every change audited, from the screen and the API."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, db_rows
from webapp.models import AuditEntry, AutomationRule, CustomField, Lead, Pipeline, TimelineEvent
from webapp.services import automation
from webapp.services.automation import create_rule
from webapp.services.leads import change_status

HX = {"HX-Request": "true"}
URL = "/admin/rules"


@pytest.fixture
def admin(as_user):
    return as_user("admin")


@pytest.fixture
def pipeline(db):
    return db.session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))


def make(db, users, name="Hot leads", on_status="qualified", **kw) -> AutomationRule:
    rule = create_rule(db.session, users["admin"], {"name": name, "on_status": on_status, **kw})
    db.session.commit()
    return rule


def names(db) -> list[str]:
    return list(db.session.scalars(select(AutomationRule.name).order_by(AutomationRule.position, AutomationRule.id)))


def audits(db, action: str | None = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.area == "automation_rule").order_by(AuditEntry.id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(db.session.scalars(stmt))


def errors_of(html: str) -> dict[str, str]:
    """{widget id: its message} of every field error next to a widget."""
    return dict(re.findall(r'<div class="field-error" id="([^"]+)-error" role="alert">([^<]*)</div>', html))


def checked(html: str, widget_id: str) -> bool:
    return bool(re.search(rf'<input[^>]*\bchecked\b[^>]*id="{widget_id}"|<input[^>]*id="{widget_id}"[^>]*\bchecked\b', html))


def options_of(html: str, select_id: str) -> list[str]:
    block = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]*)"', block)


def base_form(pipeline, **extra) -> dict:
    """A rule's form as the browser posts it: the bulk panel's widgets at their starting values."""
    data = {"name": "Web leads", "on_status": "qualified", "active": "y", "deal_name": "{company}",
            "deal_pipeline_id": str(pipeline.id), "deal_stage": pipeline.stages[0].name,
            "task_subject": "Follow up", "attachments_to": "contact", "tags_to": ["contact", "deal"],
            "owner_mode": "each", "deal_shown": ""}
    data.update(extra)
    return data


# --- the list ------------------------------------------------------------------------------------

def test_the_empty_list_invites_to_create_a_rule(admin):
    page = admin.get(URL).get_data(as_text=True)
    assert "<h1>Automation rules</h1>" in page and "No automation rule yet." in page
    assert 'href="/admin/rules/new"' in page
    nav = page.split('aria-label="Administration"')[1].split("</nav>")[0]
    assert re.search(r'href="/admin/rules"\s+aria-current="page"', nav)


def test_the_list_shows_each_rule_its_status_conditions_and_state(admin, db, users):
    make(db, users, "Hot leads", "qualified", conditions=[
        {"field": "company", "op": "equals", "value": "Acme"},
        {"field": "employees", "op": "in", "value": [10, 20]},
        {"field": "tags", "op": "contains", "value": "vip"},
        {"field": "email_opt_out", "op": "equals", "value": False},
        {"field": "owner_id", "op": "equals", "value": users["sales"].id},
        {"field": "email", "op": "empty"}])
    make(db, users, "Everyone new", "new", active=False)
    page = admin.get(URL).get_data(as_text=True)
    assert re.findall(r'<a class="rule-name" href="/admin/rules/\d+">([^<]+)</a>', page) == ["Hot leads", "Everyone new"]
    hot = page.split('class="rule-name"')[1].split("</tr>")[0]
    assert '<span class="badge">Qualified</span>' in hot
    for words in ("Company is “Acme”", "Employees is one of “10”, “20”", "Tags has the tag “vip”",
                  "Opted out of e-mail is “No”", f"Owner is “{users['sales'].display_name}”", "E-mail is empty"):
        assert f"<li>{words}</li>" in hot
    assert "badge-active" in hot and ">Deactivate<" in hot and "Never run" in hot
    other = page.split('class="rule-name"')[2].split("</tr>")[0]
    assert "Every lead" in other and "badge-inactive" in other and ">Activate<" in other
    assert 'is-inactive' in page.split("Everyone new")[0].rsplit("<tr", 1)[1]
    # Keyboard: real buttons with names; the ends of the order say they cannot move.
    assert re.search(r'id="up-\d+"[^>]*aria-label="Move “Hot leads” up"[^>]*aria-disabled="true"', page.replace("\n", " "))
    assert re.search(r'aria-label="Move “Everyone new” down"[^>]*aria-disabled="true"', page.replace("\n", " "))
    fragment = admin.get(URL, headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and 'id="rules-panel"' in fragment


def test_the_list_pages_with_a_cursor(admin, db, users):
    for n in range(23):
        make(db, users, f"Rule {n:02d}")
    page = admin.get(URL).get_data(as_text=True)
    assert len(re.findall(r'class="rule-row', page)) == 20
    nxt = re.search(r'href="(/admin/rules\?after=[^"]+)">Next rules', page).group(1)
    second = admin.get(nxt).get_data(as_text=True)
    assert re.findall(r'class="rule-name"[^>]*>([^<]+)<', second) == ["Rule 20", "Rule 21", "Rule 22"]
    assert '<td class="num">21</td>' in second and "First rules" in second and "Next rules" not in second
    assert admin.get(URL + "?after=nonsense").status_code == 200  # read as the first page


def test_last_runs_count_the_last_30_days_and_link_the_latest_lead(admin, db, users, make_lead):
    rule = make(db, users, "Acme qualified", conditions=[{"field": "company", "op": "equals", "value": "Acme"}])
    sales = users["sales"]
    old = make_lead(company="Acme", owner_id=sales.id, email="old@acme.example")
    one = make_lead(company="Acme", owner_id=sales.id, email="one@acme.example", first_name="Ines", last_name="Acme")
    refused = make_lead(company="Acme", owner_id=sales.id, email="two@acme.example", first_name="Rita",
                        last_name="Refused")
    change_status(db.session, sales, old, "qualified")
    db.session.commit()
    db.session.execute(TimelineEvent.__table__.update().where(TimelineEvent.kind == "rule_converted")
                       .values(created_at=TimelineEvent.created_at - timedelta(days=40)))
    db.session.commit()
    change_status(db.session, sales, one, "qualified")
    db.session.commit()
    # A required lead field added since: the next lead cannot convert until it is filled (C7.4).
    db.session.add(CustomField(entity="lead", key="siret", label="Siret", type="text", required=True))
    db.session.commit()
    change_status(db.session, sales, refused, "qualified")
    db.session.commit()
    runs = automation.last_runs(db.session, users["admin"], [rule.id])[rule.id]
    assert (runs.converted, runs.not_converted) == (1, 1) and runs.latest.parent_id == refused.id
    page = admin.get(URL).get_data(as_text=True)
    row = page.split(f'id="rule-{rule.id}"')[1].split("</tr>")[0]
    assert 'data-converted="1" data-not-converted="1"' in row
    assert "Last 30 days:" in row and "1 converted" in row and "1 not converted" in row
    assert f'<a href="/leads/{refused.id}">Rita Refused</a>' in row and "Not converted" in row
    # The rule's page lists its latest runs, the refusal with its reason.
    edit = admin.get(f"{URL}/{rule.id}").get_data(as_text=True)
    runs_html = edit.split('id="runs-title"')[1]
    assert runs_html.count('<tr>') == 3 and f'href="/leads/{one.id}"' in runs_html
    assert "could not convert this lead" in runs_html


def test_runs_of_a_deleted_rule_are_not_a_new_rules(db, users, make_lead):
    """SQLite may give a deleted rule's id to the next one: its runs are not the new rule's."""
    first = make(db, users, "First")
    lead = make_lead(owner_id=users["sales"].id)
    change_status(db.session, users["sales"], lead, "qualified")
    db.session.commit()
    automation.delete_rule(db.session, users["admin"], first)
    db.session.commit()
    db.session.execute(TimelineEvent.__table__.update().values(created_at=TimelineEvent.created_at - timedelta(hours=1)))
    db.session.commit()
    second = make(db, users, "Second")
    runs = automation.last_runs(db.session, users["admin"], [second.id])[second.id]
    assert runs == automation.Runs(0, 0, None)


# --- the form: widgets -------------------------------------------------------------------------

def test_the_new_form_offers_the_services_fields_and_operators_and_the_bulk_widgets(admin, db):
    page = admin.get(URL + "/new").get_data(as_text=True)
    assert "<h1>New automation rule</h1>" in page
    # The bulk panel's widgets, from its own partial: deal, "+ add a field", task, destinations, owner.
    for widget in ('id="create_deal"', 'id="deal_name"', 'id="deal_pipeline_id"', 'id="deal_stage"',
                   'id="add_field"', 'id="create_task"', 'id="task_subject"', 'name="attachments_to"',
                   'name="tags_to"', 'name="owner_mode"', 'id="owner_id"', 'id="deal_shown"'):
        assert widget in page, widget
    assert 'value="{company}"' in page and 'value="Follow up"' in page
    assert "No condition: every lead that enters the status is converted." in page
    assert options_of(page, "on_status") == ["", "new", "contacted", "qualified", "disqualified"]
    # Rows come with their field's operators: exactly what the service accepts.
    fragment = admin.post(URL + "/new/form", data={"conditions-action": "add"}, headers=HX).get_data(as_text=True)
    specs = automation.condition_specs(db.session)
    assert options_of(fragment, "conditions-0-field") == ["", *specs]
    assert re.search(r'id="conditions-0-field"[^>]*autofocus', fragment.replace("\n", " "))
    for field, ops in (("company", automation.OPS), ("employees", automation.ops_for(specs["employees"])),
                       ("tags", automation.TAG_OPS)):
        html = admin.post(URL + "/new/form", data={"conditions-0-field": field, "conditions-0-op": "equals"},
                          headers=HX).get_data(as_text=True)
        assert options_of(html, "conditions-0-op") == list(ops), field
    assert "contains" not in automation.ops_for(specs["employees"])
    html = admin.post(URL + "/new/form", data={"conditions-0-field": "tags", "conditions-0-op": "in"},
                      headers=HX).get_data(as_text=True)
    assert '>has one of the tags<' in html and 'textarea id="conditions-0-value"' in html  # "equals" was settled


def test_rows_are_added_removed_and_follow_their_field(admin):
    data = {"conditions-0-field": "company", "conditions-0-op": "contains", "conditions-0-value": "Acme",
            "conditions-1-field": "", "conditions-1-op": "equals", "conditions-1-value": ""}
    html = admin.post(URL + "/new/form", data={**data, "conditions-action": "add"}, headers=HX).get_data(as_text=True)
    assert re.findall(r'<tr id="condition-(\d+)"', html) == ["0", "1", "2"]  # the blank row stays while editing
    html = admin.post(URL + "/new/form", data={**data, "conditions-action": "remove-0"}, headers=HX).get_data(as_text=True)
    assert re.findall(r'<tr id="condition-(\d+)"', html) == ["0"]
    assert 'value="Acme"' not in html and re.search(r'id="add-condition"[^>]*autofocus', html.replace("\n", " "))
    # A number field: "contains" is not offered, the row takes the first operator.
    html = admin.post(URL + "/new/form", data={**data, "conditions-0-field": "employees"}, headers=HX).get_data(as_text=True)
    assert re.search(r'<option value="equals" selected>is</option>', html) and 'inputmode="numeric"' in html
    # A closed list: a select; "is one of": several; empty: no value.
    html = admin.post(URL + "/new/form", data={"conditions-0-field": "currency", "conditions-0-op": "in",
                                               "conditions-0-value": ["EUR", "USD"]}, headers=HX).get_data(as_text=True)
    assert 'multiple size="4"' in html and '<option value="EUR" selected>' in html and '<option value="USD" selected>' in html
    html = admin.post(URL + "/new/form", data={"conditions-0-field": "email", "conditions-0-op": "empty"},
                      headers=HX).get_data(as_text=True)
    assert 'name="conditions-0-value"' not in html and "No value" in html
    # The pipeline's stages and "+ add a field" re-render through the same form endpoint.
    html = admin.post(URL + "/new/form", data={"create_deal": "y", "add_field": "amount", "deal_shown": ""},
                      headers=HX).get_data(as_text=True)
    assert 'id="deal_amount"' in html and re.search(r'id="deal_shown"[^>]*value="amount"', html)


# --- create / edit ---------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_create_a_rule_with_conditions_and_options(admin, db, users, pipeline, headers):
    stage = pipeline.stages[1].name
    data = base_form(pipeline, **{
        "conditions-0-field": "company", "conditions-0-op": "equals", "conditions-0-value": " Acme ",
        "conditions-3-field": "employees", "conditions-3-op": "in", "conditions-3-value": "10\n\n20",
        "conditions-4-field": "email_opt_out", "conditions-4-op": "equals", "conditions-4-value": "false",
        "conditions-5-field": "tags", "conditions-5-op": "contains", "conditions-5-value": "VIP",
        "conditions-6-field": "annual_revenue", "conditions-6-op": "equals", "conditions-6-value": "1250.5",
        "conditions-7-field": "website", "conditions-7-op": "not_empty",
        "conditions-8-field": "", "conditions-8-op": "equals", "conditions-8-value": "",  # a blank row: left out
        "create_deal": "y", "deal_name": "{company} – {full_name}", "deal_stage": stage,
        "deal_shown": "amount", "deal_amount": "1250.50", "create_task": "y", "task_subject": "Call them",
        "task_due_date": "2031-01-15", "attachments_to": "account", "tags_to": ["account"],
        "owner_mode": "one", "owner_id": str(users["sales"].id)})
    response = admin.post(URL, data=data, headers=headers)
    if headers:
        assert response.status_code == 204 and response.headers["HX-Redirect"] == URL
    else:
        assert response.status_code == 303 and response.headers["Location"] == URL
    rule = db.session.scalar(select(AutomationRule))
    assert (rule.name, rule.on_status, rule.active) == ("Web leads", "qualified", True)
    assert rule.conditions == [
        {"field": "company", "op": "equals", "value": "Acme"},
        {"field": "employees", "op": "in", "value": [10, 20]},
        {"field": "email_opt_out", "op": "equals", "value": False},
        {"field": "tags", "op": "contains", "value": "VIP"},
        {"field": "annual_revenue", "op": "equals", "value": "1250.50"},
        {"field": "website", "op": "not_empty", "value": None}]
    assert rule.options["deal"]["name"] == "{company} – {full_name}" and rule.options["deal"]["stage"] == stage
    assert rule.options["deal"]["pipeline_id"] == pipeline.id and rule.options["deal"]["amount"] == "1250.50"
    assert rule.options["task"]["subject"] == "Call them" and rule.options["task"]["due_date"] == "2031-01-15"
    assert rule.options["attachments_to"] == "account" and rule.options["tags_to"] == ["account"]
    assert rule.options["owner_id"] == users["sales"].id
    # Exactly what the API stores for the same options (the engine's canonical form).
    assert rule.options == automation.BulkOptions.from_dict(rule.options).to_dict()
    (entry,) = audits(db)
    assert (entry.action, entry.key, entry.actor_id) == ("created", "Web leads", users["admin"].id)
    assert entry.after["conditions"] == rule.conditions and entry.after["options"] == rule.options
    assert "Rule “Web leads” created." in admin.get(URL).get_data(as_text=True)


def test_the_edit_form_shows_the_rule_and_saves_only_what_changed(admin, db, users, pipeline):
    stage = pipeline.stages[1].name
    rule = make(db, users, "Partners", "contacted", conditions=[
        {"field": "lead_source", "op": "equals", "value": "Partner"},
        {"field": "employees", "op": "in", "value": [5, 50]},
        {"field": "currency", "op": "in", "value": ["EUR", "CHF"]}], options={
        "deal": {"name": "{company} partner", "pipeline_id": pipeline.id, "stage": stage, "contact_role": "Buyer"},
        "task": {"subject": "Welcome call"}, "tags_to": ["deal"], "owner_id": users["manager"].id})
    page = admin.get(f"{URL}/{rule.id}").get_data(as_text=True)
    assert "<h1>Edit the rule “Partners”</h1>" in page and 'value="Partners"' in page
    assert checked(page, "create_deal") and 'value="{company} partner"' in page
    assert f'<option selected value="{stage}">' in page or re.search(rf'<option[^>]*value="{re.escape(stage)}"[^>]*selected', page)
    assert 'id="deal_contact_role"' in page and 'value="Buyer"' in page  # an extra field with a value shows
    assert 'value="Welcome call"' in page and checked(page, "create_task")
    assert '<textarea id="conditions-1-value" name="conditions-1-value" rows="3"' in page and ">5\n50</textarea>" in page
    assert '<option value="CHF" selected>' in page and '<option value="EUR" selected>' in page
    assert checked(page, "owner_mode-1") and not checked(page, "owner_mode-0")
    before = len(audits(db))
    data = base_form(pipeline, **{"name": "Partners", "on_status": "contacted",
        "conditions-0-field": "lead_source", "conditions-0-op": "equals", "conditions-0-value": "Partner",
        "conditions-1-field": "employees", "conditions-1-op": "in", "conditions-1-value": "5\n50",
        "conditions-2-field": "currency", "conditions-2-op": "in", "conditions-2-value": ["EUR", "CHF"],
        "create_deal": "y", "deal_name": "{company} partner", "deal_stage": stage, "deal_shown": "contact_role",
        "deal_contact_role": "Buyer", "create_task": "y", "task_subject": "Welcome call", "tags_to": ["deal"],
        "owner_mode": "one", "owner_id": str(users["manager"].id)})
    assert admin.post(f"{URL}/{rule.id}", data=data).status_code == 303
    assert len(audits(db)) == before  # saved as it was: nothing changed, nothing recorded
    data["name"], data["on_status"] = "Partner leads", "qualified"
    data.pop("active")
    assert admin.post(f"{URL}/{rule.id}", data=data).status_code == 303
    db.session.refresh(rule)
    assert (rule.name, rule.on_status, rule.active) == ("Partner leads", "qualified", False)
    entry = audits(db, "updated")[-1]
    assert entry.key == "Partner leads"
    assert entry.before == {"name": "Partners", "on_status": "contacted", "active": True}
    assert entry.after == {"name": "Partner leads", "on_status": "qualified", "active": False}


def test_options_set_through_the_api_that_the_screen_lacks_are_kept(admin, db, users, pipeline):
    rule = make(db, users, "API made", options={"account": {"action": "create"}, "contact": {"action": "none"},
                                                 "activities_to": "account",
                                                 "deal": {"stage": pipeline.stages[0].name, "owner_id": users["sales"].id}})
    page = admin.get(f"{URL}/{rule.id}").get_data(as_text=True)
    kept = page.split('class="flash flash-info rule-kept"')[1].split("</div>")[0]
    assert "<li>Account: Always create</li>" in kept and "<li>Contact: Do not create</li>" in kept
    assert "<li>Activities go to: Account</li>" in kept and f"<li>Deal owner: {users['sales'].display_name}</li>" in kept
    data = base_form(pipeline, name="API made", create_deal="y", deal_name="{company}")
    assert admin.post(f"{URL}/{rule.id}", data=data).status_code == 303
    db.session.refresh(rule)
    assert rule.options["account"]["action"] == "create" and rule.options["contact"]["action"] == "none"
    assert rule.options["activities_to"] == "account" and rule.options["deal"]["owner_id"] == users["sales"].id


def test_a_kept_option_gone_bad_is_named_by_its_label(admin, db, users, pipeline, make_user):
    owner = make_user("sales", name="Gone Soon")
    rule = make(db, users, "Deal owner", options={"deal": {"stage": pipeline.stages[0].name, "owner_id": owner.id}})
    owner.active = False
    db.session.commit()
    before = db_rows(db)
    response = admin.post(f"{URL}/{rule.id}", data=base_form(pipeline, name="Deal owner", create_deal="y"))
    assert response.status_code == 422
    alert = response.get_data(as_text=True).split('class="flash flash-error" role="alert">')[1].split("</div>")[0]
    assert "<li>Deal owner: no such active user.</li>" in alert
    assert_unchanged(db, before)


# --- bad input: 422, each reason next to its widget, nothing written -------------------------------

def test_bad_input_is_answered_next_to_each_field_and_nothing_is_written(admin, db, users, pipeline):
    make(db, users, "Taken")
    before = db_rows(db)
    data = base_form(pipeline, **{
        "name": "TAKEN", "on_status": "converted",
        "conditions-0-field": "employees", "conditions-0-op": "equals", "conditions-0-value": "beaucoup",
        "conditions-1-field": "employees", "conditions-1-op": "in", "conditions-1-value": "10\ndouze",
        "conditions-2-field": "status", "conditions-2-op": "equals", "conditions-2-value": "new",
        "conditions-3-field": "employees", "conditions-3-op": "contains", "conditions-3-value": "1",
        "conditions-4-field": "tags", "conditions-4-op": "equals", "conditions-4-value": "vip",
        "conditions-5-field": "email", "conditions-5-op": "equals", "conditions-5-value": "",
        "create_deal": "y", "deal_name": "{nom}", "deal_pipeline_id": "999999",
        "create_task": "y", "task_subject": "", "task_due_date": "demain",
        "owner_mode": "one", "owner_id": "999999", "tags_to": ["nowhere"]})
    for headers in ({}, HX):
        response = admin.post(URL, data=data, headers=headers)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        errors = errors_of(html)
        assert errors["name"] == "Name is already the name of another rule."
        assert errors["on_status"].startswith("Status must be one of: New, Contacted, Qualified, Disqualified")
        assert errors["conditions-0-value"] == "Value must be a whole number."
        assert errors["conditions-1-value"] == "Value 2 must be a whole number."
        assert errors["conditions-2-field"] == "Field is not a field of this record."
        assert errors["conditions-3-op"] == "Operator must be one of: is, is not, is empty, is not empty, is one of."
        assert errors["conditions-4-op"] == ("Operator must be one of: has the tag, has one of the tags, has no tag, "
                                             "has a tag.")
        assert errors["conditions-5-value"] == "Value is required."
        # The options' reasons, next to the bulk panel's widgets.
        assert "{nom} is not a placeholder" in errors["deal_name"]
        assert errors["deal_pipeline_id"] == "No such pipeline."
        assert errors["task_subject"] == "This field is required."
        assert errors["task_due_date"] == "Must be a date (YYYY-MM-DD)."
        assert errors["owner_id"] == "No such active user."
        assert errors["tags_to"] == "Must be one of: contact, account, deal."
        assert 'aria-invalid="true"' in html and 'aria-describedby="conditions-0-value-error"' in html
        # The form comes back as posted.
        assert 'value="TAKEN"' in html and "douze" in html
        if headers:
            assert "<html" not in html and 'id="rule-form"' in html
    assert_unchanged(db, before)


@pytest.mark.parametrize("name, reason", [
    ("", "Name is required."),
    ("x" * 121, "Name is at most 120 characters."),
    ("bad\x00name", "Name must not contain NUL characters."),
])
def test_bad_names(admin, db, pipeline, name, reason):
    before = db_rows(db)
    response = admin.post(URL, data=base_form(pipeline, name=name))
    assert response.status_code == 422 and errors_of(response.get_data(as_text=True))["name"] == reason
    assert_unchanged(db, before)


def test_huge_and_nul_condition_values_are_refused_not_500(admin, db, pipeline):
    before = db_rows(db)
    data = base_form(pipeline, **{"conditions-0-field": "company", "conditions-0-op": "equals",
                                  "conditions-0-value": "x" * 100_000,
                                  "conditions-1-field": "company\x00", "conditions-1-op": "equals",
                                  "conditions-1-value": "a\x00b",
                                  "conditions-2-field": "employees", "conditions-2-op": "equals",
                                  "conditions-2-value": "9" * 40})
    response = admin.post(URL, data=data)
    assert response.status_code == 422
    errors = errors_of(response.get_data(as_text=True))
    assert errors["conditions-0-value"].startswith("Value is at most")
    assert errors["conditions-1-field"] == "Field is not a field of this record."
    assert errors["conditions-2-value"].startswith("Value must be a whole number between")
    assert_unchanged(db, before)


def test_more_conditions_than_a_rule_holds(admin, db, pipeline):
    data = base_form(pipeline)
    for i in range(automation.CONDITIONS_MAX + 1):
        data.update({f"conditions-{i}-field": "company", f"conditions-{i}-op": "equals", f"conditions-{i}-value": f"c{i}"})
    before = db_rows(db)
    response = admin.post(URL, data=data)
    assert response.status_code == 422 and "Conditions: at most 20 items." in response.get_data(as_text=True)
    assert_unchanged(db, before)
    full = admin.post(URL + "/new/form", data={**data, "conditions-action": "add"}, headers=HX).get_data(as_text=True)
    assert re.search(r'id="add-condition"[^>]*disabled', full.replace("\n", " "))


def test_a_bad_edit_keeps_the_rule_as_it_was(admin, db, users, pipeline):
    rule = make(db, users, "Keep me")
    before = db_rows(db)
    response = admin.post(f"{URL}/{rule.id}", data=base_form(pipeline, name="", create_deal="y", deal_pipeline_id="abc"))
    assert response.status_code == 422
    errors = errors_of(response.get_data(as_text=True))
    assert errors["name"] == "Name is required." and "deal_pipeline_id" in response.get_data(as_text=True)
    assert_unchanged(db, before)


def test_unknown_rules_are_404(admin):
    for method, url in (("get", "/999999"), ("post", "/999999"), ("get", "/999999/delete"),
                        ("post", "/999999/delete"), ("post", "/999999/active"), ("post", "/999999/move"),
                        ("post", "/999999/form"), ("get", "/99999999999")):
        assert getattr(admin, method)(URL + url).status_code == 404, url


# --- toggle, reorder, delete --------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_deactivate_and_activate(admin, db, users, headers):
    rule = make(db, users, "Toggle me")
    response = admin.post(f"{URL}/{rule.id}/active", data={"active": "0"}, headers=headers)
    db.session.refresh(rule)
    assert rule.active is False
    if headers:
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and 'hx-swap-oob="innerHTML"' in html
        assert "“Toggle me” is inactive" in html and ">Activate<" in html
    else:
        assert response.status_code == 303 and response.headers["Location"] == URL
    admin.post(f"{URL}/{rule.id}/active", data={"active": "1"}, headers=headers)
    db.session.refresh(rule)
    assert rule.active is True
    assert [(e.action, e.before, e.after) for e in audits(db, "updated")] == [
        ("updated", {"active": True}, {"active": False}), ("updated", {"active": False}, {"active": True})]
    before = db_rows(db)
    assert admin.post(f"{URL}/{rule.id}/active", data={"active": "peut-être"}, headers=headers).status_code == 422
    assert_unchanged(db, before)


def test_move_up_and_down(admin, db, users):
    a, b, c = (make(db, users, n) for n in ("A", "B", "C"))
    response = admin.post(f"{URL}/{a.id}/move", data={"direction": "down"}, headers=HX)
    assert response.status_code == 200 and "“A” moved to place 2." in response.get_data(as_text=True)
    assert names(db) == ["B", "A", "C"]
    admin.post(f"{URL}/{c.id}/move", data={"direction": "up"})
    assert names(db) == ["B", "C", "A"]
    html = admin.post(f"{URL}/{b.id}/move", data={"direction": "up"}, headers=HX).get_data(as_text=True)
    assert "“B” is first already." in html and names(db) == ["B", "C", "A"]
    moves = [(e.key, e.before, e.after) for e in audits(db, "updated")]
    assert moves == [("B", {"position": 1}, {"position": 0}), ("A", {"position": 0}, {"position": 1}),
                     ("C", {"position": 2}, {"position": 1}), ("A", {"position": 1}, {"position": 2})]
    before = db_rows(db)
    assert admin.post(f"{URL}/{a.id}/move", data={"direction": "sideways"}, headers=HX).status_code == 422
    assert_unchanged(db, before)


def test_equal_positions_are_spread_so_a_move_changes_nothing_else(admin, db, users):
    x, a, b = (make(db, users, n, position=5) for n in ("X", "A", "B"))
    admin.post(f"{URL}/{b.id}/move", data={"direction": "up"})
    assert names(db) == ["X", "B", "A"]
    assert [r.position for r in db.session.scalars(select(AutomationRule).order_by(AutomationRule.id))] == [5, 7, 6]


def test_a_move_across_pages_keeps_the_page(admin, db, users):
    rules = [make(db, users, f"R{n:02d}") for n in range(21)]
    last = rules[-1]
    after = f"{rules[19].position}-{rules[19].id}"
    response = admin.post(f"{URL}/{last.id}/move", data={"direction": "up", "after": after})
    assert response.status_code == 303 and response.headers["Location"] == f"{URL}?after={after}"
    assert names(db)[19:] == ["R20", "R19"]


def test_delete_asks_then_deletes(admin, db, users):
    rule = make(db, users, "Bye", "contacted")
    page = admin.get(f"{URL}/{rule.id}/delete").get_data(as_text=True)
    assert "<h1>Delete the rule “Bye”</h1>" in page and "the leads it converted stay converted" in page
    assert "Contacted" in page and f'action="/admin/rules/{rule.id}/delete"' in page
    response = admin.post(f"{URL}/{rule.id}/delete")
    assert response.status_code == 303 and response.headers["Location"] == URL
    assert db.session.scalar(select(func.count()).select_from(AutomationRule)) == 0
    (entry,) = audits(db, "deleted")
    assert entry.key == "Bye" and entry.before["on_status"] == "contacted" and entry.after is None
    assert "Rule “Bye” deleted." in admin.get(URL).get_data(as_text=True)


# --- rights and the API's changes, audited by the service -----------------------------------------

@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_only_administrators(as_user, db, users, role, pipeline):
    rule = make(db, users, "Admins only")
    client = as_user(role)
    before = db_rows(db)
    for method, url, data in (("get", URL, None), ("get", URL + "/new", None), ("get", f"{URL}/{rule.id}", None),
                              ("post", URL, base_form(pipeline)), ("post", f"{URL}/{rule.id}/active", {"active": "0"}),
                              ("post", f"{URL}/{rule.id}/delete", {}), ("post", URL + "/new/form", {})):
        assert getattr(client, method)(url, data=data).status_code == 403, url
    assert_unchanged(db, before)


def test_the_apis_changes_are_audited_too(client, db, users, api_headers):
    headers = api_headers(users["admin"])
    created = client.post("/api/v1/automation-rules", json={"name": "From the API", "on_status": "new"}, headers=headers)
    assert created.status_code == 201
    rule_id = created.get_json()["id"]
    client.patch(f"/api/v1/automation-rules/{rule_id}", json={"active": False}, headers=headers)
    client.delete(f"/api/v1/automation-rules/{rule_id}", headers=headers)
    assert [(e.action, e.key) for e in audits(db)] == [
        ("created", "From the API"), ("updated", "From the API"), ("deleted", "From the API")]
    assert audits(db)[1].before == {"active": True} and audits(db)[1].after == {"active": False}
    refused = client.post("/api/v1/automation-rules", json={"name": "", "on_status": "new"}, headers=headers)
    assert refused.status_code == 422 and len(audits(db)) == 3


def test_a_rule_made_here_converts_a_lead_entering_its_status(admin, db, users, pipeline, make_lead):
    """The end of it: a rule saved by this screen runs (services.automation.run_rules)."""
    data = base_form(pipeline, **{"conditions-0-field": "company", "conditions-0-op": "equals",
                                  "conditions-0-value": "Zylker inc", "create_deal": "y"})
    assert admin.post(URL, data=data).status_code == 303
    lead = make_lead(owner_id=users["sales"].id)
    change_status(db.session, users["sales"], lead, "qualified")
    db.session.commit()
    assert db.session.get(Lead, lead.id).converted
