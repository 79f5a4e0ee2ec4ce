"""The conversion modal, its preview and the convert action (issue 4; C1-C7, C8.1, C8.7)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token_from
from webapp.conversion.mapping import DEFAULT_MAPPING
from webapp.models import (
    Account,
    Contact,
    Conversion,
    CustomField,
    Deal,
    Lead,
    Note,
    Role,
    Setting,
    Task,
)
from webapp.services.custom_values import get_custom

HX = {"HX-Request": "true"}


class _Form(HTMLParser):
    """The values a browser would post from the first form of a page (its defaults)."""

    def __init__(self):
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._first: str | None = None
        self._chosen = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in a:
                    self.values.append((a["name"], a.get("value", "on")))
            else:
                self.values.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select, self._first, self._chosen = a.get("name"), None, False
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value", "")
            if "selected" in a:
                self.values.append((self._select, a.get("value", "")))
                self._chosen = True
        elif tag == "textarea" and a.get("name"):
            self.values.append((a["name"], ""))

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            if not self._chosen and self._first is not None:
                self.values.append((self._select, self._first))
            self._select = None


def modal_values(client, lead_id: int, **changes) -> dict:
    """GET the modal and return its default values as the browser would post them, changed."""
    response = client.get(f"/leads/{lead_id}/convert", headers=HX)
    assert response.status_code == 200, response.get_data(as_text=True)
    parser = _Form()
    parser.feed(response.get_data(as_text=True))
    data: dict = {}
    for name, value in parser.values:
        if name in data:
            data[name] = [*(data[name] if isinstance(data[name], list) else [data[name]]), value]
        else:
            data[name] = value
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _section(html: str, entity: str) -> str:
    """The preview section of one entity (up to the next section)."""
    start = html.index(f'pv-{entity}')
    end = html.find("<section", start)
    return html[start:end if end != -1 else None]


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counts(db) -> tuple:
    return tuple(count(db, m) for m in (Account, Contact, Deal, Task, Conversion, Note))


DEAL = {"create_deal": "y", "deal_stage": "Qualification", "deal_amount": "1250.00", "deal_closing_date": "2026-12-31"}


@pytest.fixture
def lead(make_lead, make_note, users):
    """A lead of the sales user (who reports to the manager), with a note."""
    lead = make_lead(owner_id=users["sales"].id, phone="+33 1 23 45 67 89", industry="Software",
                     lead_source="Trade fair", tags=["vip"])
    make_note(parent_id=lead.id, body="Met at the fair")
    return lead


@pytest.fixture
def custom_field(db):
    def make(entity, key, type="text", **kw):
        field = CustomField(entity=entity, key=key, label=kw.pop("label", key.upper()), type=type, **kw)
        db.session.add(field)
        db.session.commit()
        return field

    return make


# --- Rights: every route x every role, exact statuses (C7.1, C7.2) ---------------------------------

CONVERT_STATUS = [("admin", 200), ("manager", 200), ("sales", 200), ("viewer", 403), ("anonymous", 302)]


@pytest.mark.parametrize("role,status", CONVERT_STATUS)
def test_c7_1_modal_by_role(as_user, lead, role, status):
    response = as_user(role).get(f"/leads/{lead.id}/convert", headers=HX)
    assert response.status_code == status
    if status == 302:
        assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role,status", CONVERT_STATUS)
def test_c7_1_preview_by_role(as_user, lead, users, role, status):
    client = as_user("sales")
    data = modal_values(client, lead.id)
    response = as_user(role).post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX)
    assert response.status_code == status


@pytest.mark.parametrize("role,status", [("admin", 204), ("manager", 204), ("sales", 204), ("viewer", 403),
                                         ("anonymous", 302)])
def test_c7_1_convert_by_role(as_user, lead, db, role, status):
    data = modal_values(as_user("sales"), lead.id)
    response = as_user(role).post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    assert response.status_code == status
    assert db.session.get(Lead, lead.id).converted is (status == 204)


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200), ("viewer", 200),
                                         ("anonymous", 302), ("other_sales", 403)])
def test_c1_5_conversion_page_by_role(as_user, client, lead, users, role, status):
    from tests.conftest import login

    data = modal_values(as_user("sales"), lead.id)
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    login(client, None if role == "anonymous" else users[role])
    response = client.get("/conversions/1")
    assert response.status_code == status


def test_c7_2_lead_of_another_team_is_refused(as_user, make_lead, users, db):
    other = make_lead(owner_id=users["other_sales"].id, email="o@example.com")
    client = as_user("sales")
    assert client.get(f"/leads/{other.id}/convert", headers=HX).status_code == 403
    assert client.post(f"/leads/{other.id}/convert", data={"contact_choice": "create"}, headers=HX).status_code == 403
    assert client.get("/leads/999/convert", headers=HX).status_code == 404


def test_c7_1_viewer_refusal_says_why(as_user, lead):
    response = as_user("viewer").get(f"/leads/{lead.id}/convert", headers=HX)
    assert response.status_code == 403
    assert "Convert leads" in response.get_data(as_text=True)


@pytest.mark.parametrize("role,shown", [("admin", True), ("manager", True), ("sales", True), ("viewer", False),
                                        ("other_sales", False)])
def test_c8_1_convert_button_only_when_allowed(as_user, lead, role, shown):
    html = as_user(role).get(f"/leads/{lead.id}").get_data(as_text=True)
    assert (f'hx-get="/leads/{lead.id}/convert"' in html) is shown


# --- CSRF ------------------------------------------------------------------------------------------

@pytest.mark.csrf
@pytest.mark.parametrize("path", ["/leads/{id}/convert", "/leads/{id}/convert/preview"])
def test_posts_without_csrf_token_are_refused(as_user, lead, db, path):
    client = as_user("sales")
    data = modal_values(client, lead.id, csrf_token=None)
    before = counts(db)
    response = client.post(path.format(id=lead.id), data=data, headers=HX)
    assert response.status_code == 400
    assert counts(db) == before and not db.session.get(Lead, lead.id).converted


@pytest.mark.csrf
def test_convert_with_csrf_token_from_the_page(as_user, lead, db):
    client = as_user("sales")
    data = modal_values(client, lead.id)
    token = csrf_token_from(client.get(f"/leads/{lead.id}").get_data(as_text=True))
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 204
    assert db.session.get(Lead, lead.id).converted


# --- The modal (C8.1) --------------------------------------------------------------------------------

def test_c8_1_modal_is_a_fragment_prefilled(as_user, lead):
    html = as_user("sales").get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert "<html" not in html
    assert 'id="modal-title"' in html and "data-close-modal" in html
    assert 'name="account_name" type="text" value="Zylker Inc."' in html
    assert 'value="Software"' in html and 'value="charles.s@zylker.com"' in html
    assert html.count("<legend>") >= 6 and 'aria-live="polite"' in html
    assert f'hx-post="/leads/{lead.id}/convert/preview"' in html
    # C5.1: the deal is off by default; its name defaults to the company.
    values = modal_values(as_user("sales"), lead.id)
    assert "create_deal" not in values and values["deal_name"] == "Zylker Inc."
    assert values["account_choice"] == "create" and values["contact_choice"] == "create"


def test_c8_1_full_page_without_htmx(as_user, lead):
    response = as_user("sales").get(f"/leads/{lead.id}/convert")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in html and 'id="convert-form"' in html
    assert response.headers["Vary"] == "HX-Request" or "HX-Request" in response.headers["Vary"]


def test_c4_3_duplicates_offered_with_reason_best_preselected(as_user, lead, make_contact, make_account, users):
    contact = make_contact(email="Charles.S@zylker.com ", first_name="Charles", last_name="Stone")
    account = make_account(name="ZYLKER inc")
    html = as_user("sales").get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert "Add to existing Charles Stone — matched on e-mail" in html
    assert "Add to existing ZYLKER inc — matched on company name" in html
    assert "Create new account" in html and "Create new contact" in html and "Do not create" in html
    values = modal_values(as_user("sales"), lead.id)
    assert values["contact_choice"] == f"link:{contact.id}"
    assert values["account_choice"] == f"link:{account.id}"


def test_c6_6_warning_when_mapping_drops_lead_source(as_user, lead, db):
    mapping = {e: dict(m) for e, m in DEFAULT_MAPPING.items()}
    mapping["contact"].pop("lead_source")
    mapping["deal"].pop("lead_source")
    db.session.add(Setting(key="conversion_mapping", value=mapping))
    db.session.commit()
    html = as_user("sales").get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert "The lead source “Trade fair” is not mapped" in html


def test_markup_in_lead_fields_is_escaped(as_user, make_lead, users):
    lead = make_lead(owner_id=users["sales"].id, company="<script>alert(1)</script>", last_name="<b>x</b>")
    html = as_user("sales").get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<b>x</b>" not in html


# --- The preview (C8.7) --------------------------------------------------------------------------------

def test_c8_7_preview_shows_created_records_and_moves(as_user, lead):
    client = as_user("sales")
    data = modal_values(client, lead.id, **DEAL)
    response = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert html.count("Will create") == 3  # account, contact, deal; no task
    # Values for people: money with its currency and thousands separator, dates in words (C8.7).
    assert "Qualification" in html and "€1,250.00" in html and "Dec 31, 2026" in html
    assert "1250.00" not in html and "2026-12-31" not in html
    # Each value says which record it belongs to ("Name" twice was ambiguous).
    assert "Company name" in html and "Deal name" in html and "<dt>Name</dt>" not in html
    assert "1 note" in html and "the deal, the account (copy), the contact (copy)" in html
    assert "1 tag" in html


def test_c3_5_c8_7_preview_shows_merge_values(as_user, lead, make_contact, users):
    contact = make_contact(email="charles.s@zylker.com", phone=None, title="CEO", owner_id=users["sales"].id)
    client = as_user("sales")
    data = modal_values(client, lead.id)
    html = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX).get_data(as_text=True)
    assert f"Will merge into {contact.display_name}" in html and "matched on e-mail" in html
    # Only the empty fields are filled: old value empty -> new value; the title is kept.
    assert "01 23 45 67 89" in html and "Trade fair" in html and "empty" in html
    assert "CEO" not in html


def test_c7_3_preview_says_read_only_link(as_user, lead, make_contact, users):
    make_contact(email="charles.s@zylker.com", owner_id=users["other_sales"].id)
    client = as_user("sales")
    html = client.post(f"/leads/{lead.id}/convert/preview", data=modal_values(client, lead.id),
                       headers=HX).get_data(as_text=True)
    assert "Will link (read-only: nothing will be written)" in html


def test_c8_7_preview_of_invalid_options_shows_messages(as_user, lead, db):
    client = as_user("sales")
    data = modal_values(client, lead.id, **{**DEAL, "deal_amount": "12,5.0", "contact_choice": "link:abc"})
    response = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in html
    # Every error of the pass at once, each flagged in its own section.
    assert _section(html, "contact").count("Choose one of the options.") == 1
    assert "Must be a decimal amount" in _section(html, "deal")
    data = modal_values(client, lead.id, **{**DEAL, "deal_amount": "12,5.0"})
    html = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX).get_data(as_text=True)
    assert "<strong>Amount</strong>: Must be a decimal amount" in _section(html, "deal")


def test_c7_4_preview_lists_missing_required(as_user, make_lead, users):
    lead = make_lead(owner_id=users["sales"].id, first_name="Ann", last_name=None, company=None)
    client = as_user("sales")
    html = client.post(f"/leads/{lead.id}/convert/preview", data=modal_values(client, lead.id),
                       headers=HX).get_data(as_text=True)
    assert "Still required before converting" in html and "Contact · Last name" in html


# --- Converting: success -------------------------------------------------------------------------------

def test_c1_1_convert_without_deal_lands_on_contact_with_flash_links(as_user, lead, db):
    client = as_user("sales")
    response = client.post(f"/leads/{lead.id}/convert", data=modal_values(client, lead.id), headers=HX)
    assert response.status_code == 204
    conversion = db.session.scalar(select(Conversion))
    assert response.headers["HX-Redirect"] == f"/contacts/{conversion.contact_id}"
    assert conversion.deal_id is None and conversion.account_action == "created"
    page = client.get(response.headers["HX-Redirect"]).get_data(as_text=True)
    assert f'href="/accounts/{conversion.account_id}"' in page and "converted" in page
    assert f'href="/conversions/{conversion.id}"' in page
    note = db.session.scalar(select(Note))
    assert (note.parent_type, note.parent_id) == ("contact", conversion.contact_id)


def test_c5_1_convert_with_deal_and_task(as_user, lead, db, users):
    client = as_user("sales")
    data = modal_values(client, lead.id, **DEAL, create_task="y", task_subject="Call back",
                        task_due_date="2026-12-01", deal_contact_role="Decision maker")
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    assert response.status_code == 204
    deal = db.session.scalar(select(Deal))
    assert (deal.name, deal.stage, str(deal.amount), deal.closing_date.isoformat()) == (
        "Zylker Inc.", "Qualification", "1250.00", "2026-12-31")
    assert deal.contact_role == "Decision maker" and deal.currency == "EUR"
    task = db.session.scalar(select(Task).where(Task.subject == "Call back"))
    assert task.deal_id == deal.id and task.due_date.isoformat() == "2026-12-01"
    flash = client.get(response.headers["HX-Redirect"]).get_data(as_text=True)
    assert f'href="/deals/{deal.id}"' in flash and "Call back" in flash


def test_c2_1_company_only_lead_lands_on_account(as_user, make_lead, users, db):
    lead = make_lead(owner_id=users["sales"].id, first_name=None, last_name=None, email=None)
    client = as_user("sales")
    response = client.post(f"/leads/{lead.id}/convert", data=modal_values(client, lead.id), headers=HX)
    assert response.status_code == 204
    account = db.session.scalar(select(Account))
    assert response.headers["HX-Redirect"] == f"/accounts/{account.id}"
    assert count(db, Contact) == 0


def test_c4_3_pick_existing_contact_and_edit_fields(as_user, lead, make_contact, make_account, db, users):
    parent = make_account(name="Zylker Holding")
    contact = make_contact(first_name="Chuck", last_name="Stone", email="chuck@zylker.com",
                           owner_id=users["sales"].id)
    client = as_user("sales")
    data = modal_values(client, lead.id, contact_choice=f"link:{contact.id}", account_parent_id=str(parent.id),
                        account_industry="Robotics")
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    assert response.status_code == 204
    conversion = db.session.scalar(select(Conversion))
    assert (conversion.contact_id, conversion.contact_action) == (contact.id, "merged")
    account = db.session.get(Account, conversion.account_id)
    assert account.parent_id == parent.id and account.industry == "Robotics"
    db.session.refresh(contact)
    assert contact.first_name == "Chuck" and contact.phone == "+33 1 23 45 67 89"
    assert contact.account_id == account.id
    assert conversion.options["contact"] == {"action": "link", "id": contact.id, "fields": {}}


def test_options_reach_the_engine(as_user, lead, db):
    client = as_user("sales")
    data = modal_values(client, lead.id, attachments_to="account", activities_to="account", tags_to=["account"])
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    options = db.session.scalar(select(Conversion)).options
    assert (options["attachments_to"], options["activities_to"], options["tags_to"]) == ("account", "account",
                                                                                         ["account"])
    assert options["interactive"] is True and options["deal"] is None


def test_plain_post_redirects_303(as_user, lead):
    client = as_user("sales")
    response = client.post(f"/leads/{lead.id}/convert", data=modal_values(client, lead.id))
    assert response.status_code == 303 and response.headers["Location"].startswith("/contacts/")


def test_double_submit_replays_the_first_conversion(as_user, lead, db):
    client = as_user("sales")
    data = modal_values(client, lead.id)
    first = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    second = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    assert first.status_code == 204
    # The lead is converted: the second click is told so (409), and nothing more is written.
    assert second.status_code == 409 and count(db, Conversion) == 1


# --- Converting: failures, nothing written --------------------------------------------------------------

def _refused(client, lead, db, data, status=422):
    before = counts(db)
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert "<html" not in html
    assert counts(db) == before and not db.session.get(Lead, lead.id).converted
    return html


def test_c5_1_missing_stage_when_deal_on(as_user, lead, db):
    client = as_user("sales")
    html = _refused(client, lead, db, modal_values(client, lead.id, **{**DEAL, "deal_stage": ""}))
    assert 'id="deal_stage-error"' in html and "This field is required." in html
    assert 'value="1250.00"' in html  # what the user typed is kept


def test_c7_4_missing_required_custom_field_filled_in_the_modal(as_user, lead, db, custom_field):
    custom_field("contact", "vat", label="VAT number", required=True)
    client = as_user("sales")
    html = client.get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert 'name="contact_custom_vat"' in html and "VAT number" in html
    html = _refused(client, lead, db, modal_values(client, lead.id))
    assert 'id="contact_custom_vat-error"' in html
    response = client.post(f"/leads/{lead.id}/convert", data=modal_values(client, lead.id, contact_custom_vat="FR42"),
                           headers=HX)
    assert response.status_code == 204
    contact = db.session.scalar(select(Contact))
    assert get_custom(db.session, "contact", contact.id) == {"vat": "FR42"}


def test_c7_4_required_lead_field_filled_in_the_modal(as_user, lead, db, custom_field):
    custom_field("lead", "vat", label="VAT", required=True)
    client = as_user("sales")
    html = client.get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert "Required on the lead" in html and 'name="lead_custom_vat"' in html
    html = _refused(client, lead, db, modal_values(client, lead.id))
    assert 'id="lead_custom_vat-error"' in html
    data = modal_values(client, lead.id, lead_custom_vat="FR1")
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    assert get_custom(db.session, "lead", lead.id) == {"vat": "FR1"}


@pytest.mark.parametrize("changes,field,message", [
    ({"deal_amount": "12,5.x"}, "deal_amount", "must be a decimal amount"),
    ({"deal_amount": "-3"}, "deal_amount", "must be zero or more"),
    ({"deal_closing_date": "31/12/2026"}, "deal_closing_date", "must be a date"),
    ({"deal_currency": "XYZ"}, "deal_currency", "not a configured currency"),
    ({"deal_pipeline_id": "999"}, "deal_pipeline_id", "no such pipeline"),
])
def test_c7_5_bad_deal_input_next_to_the_field(as_user, lead, db, changes, field, message):
    client = as_user("sales")
    html = _refused(client, lead, db, modal_values(client, lead.id, **{**DEAL, **changes}))
    assert f'id="{field}-error"' in html and message in html.replace("&#34;", '"').lower()


@pytest.mark.parametrize("changes,field", [
    ({"contact_email": "not an e-mail"}, "contact_email"),
    ({"contact_phone": "12"}, "contact_phone"),
    ({"contact_choice": "link:9999"}, "contact_choice"),
    ({"contact_choice": "link:x"}, "contact_choice"),
    ({"account_choice": "none", "contact_choice": "none"}, "contact_choice"),
    ({"task_due_date": "tomorrow", "create_task": "y"}, "task_due_date"),
    ({"task_subject": "", "create_task": "y"}, "task_subject"),
])
def test_c7_5_bad_input_next_to_the_field(as_user, lead, db, changes, field):
    client = as_user("sales")
    html = _refused(client, lead, db, modal_values(client, lead.id, **changes))
    assert f'id="{field}-error"' in html


def test_c1_4_already_converted_is_409_with_link(as_user, lead, db):
    client = as_user("sales")
    data = modal_values(client, lead.id)
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    conversion = db.session.scalar(select(Conversion))
    for response in (client.get(f"/leads/{lead.id}/convert", headers=HX),
                     client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX)):
        html = response.get_data(as_text=True)
        assert response.status_code == 409 and "read-only" in html
        assert f'href="/conversions/{conversion.id}"' in html and "<html" not in html
    before = counts(db)
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    assert response.status_code == 409 and counts(db) == before
    # The lead page links to its conversion instead of offering to convert again.
    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert f'href="/conversions/{conversion.id}"' in page and f'hx-get="/leads/{lead.id}/convert"' not in page


def test_c4_8_hidden_duplicates_message_in_the_modal(client, db, make_user, make_lead, make_contact, users):
    from tests.conftest import login

    db.session.add(Role(key="restricted", label="Restricted", scope="own",
                        permissions=["lead.convert", "lead.edit", "account.create", "contact.create",
                                     "deal.create", "account.edit", "contact.edit"]))
    db.session.commit()
    restricted = make_user("restricted", manager_id=users["manager"].id)
    make_contact(first_name="X", last_name="Y", email="charles.s@zylker.com", owner_id=users["admin"].id)
    lead = make_lead(company=None, owner_id=restricted.id)
    login(client, restricted)
    html = client.get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert "you are not allowed to see" in html and "Add to existing X Y" not in html
    html = _refused(client, lead, db, modal_values(client, lead.id), status=403)
    assert "you are not allowed to see" in html and 'id="convert-form"' in html


# --- The conversion record page (C1.5) ------------------------------------------------------------------

def test_c1_5_conversion_page_shows_who_what_and_previous_values(as_user, lead, make_contact, db, users):
    contact = make_contact(email="charles.s@zylker.com", phone=None, owner_id=users["sales"].id)
    client = as_user("sales")
    assert client.post(f"/leads/{lead.id}/convert", data=modal_values(client, lead.id),
                       headers=HX).status_code == 204
    conversion = db.session.scalar(select(Conversion))
    html = client.get(f"/conversions/{conversion.id}").get_data(as_text=True)
    # The preselected match was kept: the record says which rule matched, not "your choice".
    assert users["sales"].display_name in html and "Merged" in html and "matched on e-mail" in html
    assert "your choice" not in html
    assert f'href="/contacts/{contact.id}"' in html and "Contact · Phone" in html
    assert "01 23 45 67 89" in html and "empty" in html
    assert "1 note" in html and f'href="/leads/{lead.id}"' in html
    fragment = client.get(f"/conversions/{conversion.id}", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and "Fields written" in fragment
    assert client.get("/conversions/999").status_code == 404


@pytest.mark.parametrize("role, shown", [("admin", True), ("sales", True), ("viewer", False)])
def test_c8_3_each_list_row_offers_convert_when_allowed(as_user, users, make_lead, role, shown):
    """C8.3: the last-step action on a list row opens the conversion modal."""
    lead = make_lead(owner_id=users["sales"].id)
    html = as_user(role).get("/leads/").get_data(as_text=True)
    assert (f"/leads/{lead.id}/convert" in html) is shown


# --- Issue 7: the modal tried as a new user would -------------------------------------------------

def _options(html: str, name: str) -> list[str]:
    """The option labels of one select of the modal."""
    import re

    block = html[html.index(f'name="{name}"'):]
    block = block[:block.index("</select>")]
    return [re.sub(r"\s+", " ", label).strip() for label in re.findall(r"<option[^>]*>([^<]*)</option>", block)]


@pytest.mark.parametrize("role,offered,refused", [
    ("admin", {"admin", "manager", "sales", "other_sales"}, set()),
    ("manager", {"manager", "sales"}, {"admin", "other_sales"}),
    ("sales", {"sales"}, {"admin", "manager", "other_sales"}),
])
def test_owner_pickers_list_only_assignable_owners(as_user, lead, users, role, offered, refused):
    """Issue 7 step 5: the modal's three owner pickers offer who the user may assign
    (permissions.assignable_owners_clause), not every active user."""
    html = as_user(role).get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    for picker in ("owner_id", "deal_owner_id", "task_owner_id"):
        names = set(_options(html, picker))
        assert {users[r].display_name for r in offered} <= names, picker
        assert not {users[r].display_name for r in refused} & names, picker


def test_c5_1_ticking_deal_keeps_the_preview_and_flags_the_stage_in_its_section(as_user, lead):
    client = as_user("sales")
    data = modal_values(client, lead.id, create_deal="y")
    response = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    # The preview is kept: account, contact and the deal to be are still shown...
    assert html.count("Will create") == 3 and "1 note" in html and "Company name" in html
    # ...and the stage is flagged in the deal's section, not as a banner replacing everything.
    assert "<strong>Stage</strong>: This field is required." in _section(html, "deal")
    assert "Some options are not valid" not in html
    # The fields' errors for convert.js, and no alert raised while the person is typing (polite status).
    assert "deal_stage&#34;: [&#34;This field is required.&#34;]" in html
    assert 'role="alert"' not in html


def test_c7_5_every_error_in_one_pass(as_user, lead, db):
    """A bad e-mail is reported together with the deal's errors, not after they are fixed."""
    from tests.conftest import assert_unchanged, db_rows

    client = as_user("sales")
    data = modal_values(client, lead.id, create_deal="y", deal_amount="12,5", contact_email="not an e-mail",
                        deal_closing_date="31/12/2026")
    html = client.post(f"/leads/{lead.id}/convert/preview", data=data, headers=HX).get_data(as_text=True)
    for name in ("deal_stage", "deal_amount", "deal_closing_date", "contact_email"):
        assert f"{name}&#34;:" in html, name
    assert "E-mail</strong>" in _section(html, "contact") and "Stage</strong>" in _section(html, "deal")
    before = db_rows(db)
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for name in ("deal_stage", "deal_amount", "deal_closing_date", "contact_email"):
        assert f'id="{name}-error"' in html, name
    assert 'data-edited="true"' in html and "Will create" in html  # edits kept, preview kept
    assert_unchanged(db, before)


def test_c7_4_missing_required_and_invalid_reported_together(as_user, make_lead, users, db):
    from tests.conftest import assert_unchanged, db_rows

    lead = make_lead(owner_id=users["sales"].id, last_name=None)
    client = as_user("sales")
    before = db_rows(db)
    html = _refused(client, lead, db, modal_values(client, lead.id, contact_phone="12"))
    assert 'id="contact_phone-error"' in html and 'id="contact_last_name-error"' in html
    assert_unchanged(db, before)


def test_the_modal_has_a_close_button_and_asks_before_discarding(as_user, lead):
    html = as_user("sales").get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert 'aria-label="Close"' in html and html.count("data-close-modal") == 2
    assert 'id="convert-confirm"' in html and "Discard your changes?" in html and "Keep editing" in html
    assert 'id="preview-status" role="status" aria-live="polite"' in html
    # As a page (no modal), closing is a link back to the lead.
    page = as_user("sales").get(f"/leads/{lead.id}/convert").get_data(as_text=True)
    assert "data-close-modal" not in page and f'href="/leads/{lead.id}" aria-label="Close"' in page


def test_c4_7_radio_and_preview_give_the_same_reason(as_user, lead, make_contact, make_account, users, db):
    """The matched contact's account, also matched on company name: the radio and the preview
    say the same true thing."""
    account = make_account(name="Zylker Inc.", owner_id=users["sales"].id)
    make_contact(email="charles.s@zylker.com", account_id=account.id, owner_id=users["sales"].id)
    client = as_user("sales")
    html = client.get(f"/leads/{lead.id}/convert", headers=HX).get_data(as_text=True)
    assert "Add to existing Zylker Inc. — the account of the matched contact" in html
    assert "Zylker Inc. — matched on company name" not in html
    preview = client.post(f"/leads/{lead.id}/convert/preview", data=modal_values(client, lead.id),
                          headers=HX).get_data(as_text=True)
    assert "the account of the matched contact" in _section(preview, "account")
    assert "matched on e-mail" in _section(preview, "contact")


def test_c4_3_kept_suggestion_is_recorded_with_its_rule(as_user, lead, make_contact, users, db):
    contact = make_contact(email="charles.s@zylker.com", owner_id=users["sales"].id)
    client = as_user("sales")
    data = modal_values(client, lead.id)
    assert data["contact_choice"] == data["contact_suggested"] == f"link:{contact.id}"
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    conversion = db.session.scalar(select(Conversion))
    assert (conversion.contact_id, conversion.contact_reason) == (contact.id, "email")
    assert conversion.options["contact"]["action"] == "auto"


def test_c4_3_suggestion_no_longer_best_is_refused_with_nothing_written(as_user, lead, make_contact, users, db):
    from tests.conftest import assert_unchanged, db_rows

    shown = make_contact(first_name="Old", last_name="Match", email="old@zylker.com", owner_id=users["sales"].id)
    make_contact(email="charles.s@zylker.com", owner_id=users["sales"].id)
    client = as_user("sales")
    # The modal preselected `shown` (as if the better match appeared since it opened).
    data = modal_values(client, lead.id, contact_choice=f"link:{shown.id}", contact_suggested=f"link:{shown.id}")
    before = db_rows(db)
    response = client.post(f"/leads/{lead.id}/convert", data=data, headers=HX)
    assert response.status_code == 409 and "possible duplicates changed" in response.get_data(as_text=True)
    assert_unchanged(db, before)


def test_c1_5_record_of_a_conversion_with_deal_and_notes(as_user, lead, db):
    """Was a 500: note copies are stored with "from": null, and the page joined it."""
    client = as_user("sales")
    data = modal_values(client, lead.id, **DEAL, create_task="y", task_subject="Call back",
                        task_due_date="2026-12-15")
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    conversion = db.session.scalar(select(Conversion))
    assert any(m["from"] is None for m in conversion.moved_records)
    response = client.get(f"/conversions/{conversion.id}")
    html = " ".join(response.get_data(as_text=True).split())
    assert response.status_code == 200
    assert "moved from the lead to the deal" in html and "copied to the account" in html
    assert f'href="/deals/{conversion.deal_id}"' in html
    assert "€1,250.00" in html and "Dec 31, 2026" in html and "Dec 15, 2026" in html
    fragment = client.get(f"/conversions/{conversion.id}", headers=HX)
    assert fragment.status_code == 200


def test_c1_5_record_names_linked_records_and_where_tags_really_went(as_user, lead, make_contact, users, db):
    contact = make_contact(first_name="Chuck", last_name="Stone", email="chuck@zylker.com",
                           owner_id=users["sales"].id)
    client = as_user("sales")
    data = modal_values(client, lead.id, contact_choice=f"link:{contact.id}")
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    conversion = db.session.scalar(select(Conversion))
    html = client.get(f"/conversions/{conversion.id}").get_data(as_text=True)
    assert f'Add to existing <a href="/contacts/{contact.id}">Chuck Stone</a>' in html
    assert f"#{contact.id}" not in html and "your choice" not in html and "chosen in the form" in html
    # No deal was made: the tags went to the contact only, whatever the option said.
    tags = html[html.index("<dt>Tags to</dt>"):]
    assert tags[:tags.index("</dd>")].endswith("the contact")


def test_c1_4_converted_lead_banner_lists_the_task(as_user, lead, db):
    client = as_user("sales")
    data = modal_values(client, lead.id, create_task="y", task_subject="Call back")
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    html = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    banner = html[html.index("converted-banner"):]
    banner = banner[:banner.index("</section>")]
    assert "Task" in banner and "Call back" in banner and "Contact" in banner and "Account" in banner


def test_c4_3_kept_account_suggestion_alone_is_recorded_with_its_rule(as_user, lead, make_account, users, db):
    """Only the account matched (company name); the contact is created: the kept account match is
    recorded with its rule, and C4.5 still applies (no contact of that account matched)."""
    account = make_account(name="ZYLKER inc", owner_id=users["sales"].id)
    client = as_user("sales")
    data = modal_values(client, lead.id)
    assert (data["account_choice"], data["contact_choice"]) == (f"link:{account.id}", "create")
    assert client.post(f"/leads/{lead.id}/convert", data=data, headers=HX).status_code == 204
    conversion = db.session.scalar(select(Conversion))
    assert (conversion.account_id, conversion.account_reason, conversion.contact_action) == (
        account.id, "company_name", "created")
    html = client.get(f"/conversions/{conversion.id}").get_data(as_text=True)
    assert "matched on company name" in html
