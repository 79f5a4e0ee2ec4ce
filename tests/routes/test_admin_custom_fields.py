"""The admin custom fields page (issue 10 item 2): tabs per entity, fields in order with their flags,
create (with counterparts, mapped), edit (refusals next to the field: 422 bad values, 409 values
that do not fit, with their count), move up / down, delete with its "what it holds" step; htmx
fragments and plain posts; a page of 50 in a few queries with 200 fields; French. The lead list's
custom picklist / checkbox filters."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, func, select

from tests.conftest import assert_unchanged, db_rows
from webapp.conversion.mapping import load_mapping
from webapp.models import CustomField, CustomFieldValue
from webapp.services import custom_fields as svc
from webapp.services.custom_values import set_custom, validate_custom

HX = {"HX-Request": "true"}
URL = "/admin/custom-fields"


@pytest.fixture
def admin(as_user):
    return as_user("admin")


def make(db, users, **data):
    field = svc.create(db.session, users["admin"], data, strict=True)
    db.session.commit()
    return field


def put(db, entity, record_id, **values):
    typed, errors = validate_custom(db.session, entity, values)
    assert not errors, errors
    set_custom(db.session, entity, record_id, typed)
    db.session.commit()


def test_the_page_lists_an_entitys_fields_in_order_with_their_flags(admin, db, users):
    make(db, users, entity="lead", key="vat", label="VAT number", type="text", length=20, required=True,
         unique=True, counterparts=["contact"])
    make(db, users, entity="lead", key="tier", label="Tier", type="picklist", options=["Gold", "Silver"], position=0)
    make(db, users, entity="deal", key="po", label="PO", type="text")
    page = admin.get(URL).get_data(as_text=True)
    assert page.index("Tier") < page.index("VAT number")
    assert "20 characters" in page and "2 options" in page and "Required" in page and "Unique" in page
    assert "Mapped to contacts" in page and "PO" not in page.split('id="cf-new-title"')[0].split("<tbody>")[1]
    assert 'aria-current="page"' in page and "Also create it on contacts and map it" in page
    deals = admin.get(f"{URL}?entity=deal", headers=HX).get_data(as_text=True)
    assert "<html" not in deals and "PO" in deals and "VAT number" not in deals
    assert "Also create it on" not in deals and "Carry over on conversion" not in deals
    contacts = admin.get(f"{URL}?entity=contact").get_data(as_text=True)
    assert "VAT number" in contacts
    assert admin.get(f"{URL}?entity=user").status_code == 404


def test_create_with_counterparts_in_one_step(admin, db):
    r = admin.post(f"{URL}?entity=lead", data={"label": "National id", "type": "text", "length": "30",
                                               "unique": "y", "also_contact": "y", "also_deal": "y",
                                               "options": "ignored for a text field"}, headers=HX)
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert "National id" in body and "created on leads, and on contacts, deals" in body
    keys = sorted((f.entity, f.key, f.length) for f in db.session.scalars(select(CustomField)))
    assert keys == [("contact", "national_id", 30), ("deal", "national_id", 30), ("lead", "national_id", 30)]
    assert load_mapping(db.session)["contact"]["custom.national_id"] == "custom.national_id"


def test_create_without_javascript_redirects_with_a_flash(admin, db):
    r = admin.post(f"{URL}?entity=account", data={"label": "Segment", "type": "picklist",
                                                  "options": "SMB\nEnterprise\n", "length": "12"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"{URL}?entity=account")
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert "Field “Segment” created." in page
    assert db.session.scalar(select(CustomField.options)) == ["SMB", "Enterprise"]


def test_bad_input_shows_the_form_again_with_each_reason_and_writes_nothing(admin, db):
    before = db_rows(db)
    r = admin.post(f"{URL}?entity=lead", data={"label": "", "key": "Bad Key", "type": "picklist", "options": "A\na"},
                   headers=HX)
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "Label is required." in body and "must start with a letter" in body
    assert re.search(r'id="options-error"[^>]*>Options “a” appears twice', body)
    assert 'aria-invalid="true"' in body
    r = admin.post(f"{URL}?entity=contact", data={"label": "X", "type": "text", "key": "email"})
    assert r.status_code == 422 and "standard field of contacts" in r.get_data(as_text=True)
    r = admin.post(f"{URL}?entity=lead", data={"label": "X\x00", "type": "text", "length": "99999999999999"})
    assert r.status_code == 422
    assert_unchanged(db, before)


def test_edit_refuses_a_length_the_values_exceed_with_their_count(admin, db, users, make_lead):
    field = make(db, users, entity="lead", key="vat", label="VAT", type="text")
    for i in range(12):
        put(db, "lead", make_lead(last_name=f"L{i}").id, vat="FR" + "1" * 25)
    page = admin.get(f"{URL}/{field.id}/edit").get_data(as_text=True)
    assert "12 records hold a value of this field" in page and "<code>vat</code>" in page
    before = db_rows(db)
    r = admin.post(f"{URL}/{field.id}/edit", data={"label": "VAT", "type": "text", "length": "20"}, headers=HX)
    assert r.status_code == 409
    body = r.get_data(as_text=True)
    assert "12 leads hold a value longer than 20 characters" in body and 'id="cf-edit"' in body and "<html" not in body
    r = admin.post(f"{URL}/{field.id}/edit", data={"label": "", "type": "text"}, headers=HX)
    assert r.status_code == 422 and "Label is required." in r.get_data(as_text=True)
    assert_unchanged(db, before)
    r = admin.post(f"{URL}/{field.id}/edit", data={"label": "TVA", "type": "textarea", "length": "", "required": "y"},
                   headers=HX)
    assert r.status_code == 204 and r.headers["HX-Redirect"].endswith(f"{URL}?entity=lead")
    db.session.expire_all()
    assert (field.label, field.type, field.length, field.required) == ("TVA", "textarea", 10_000, True)


def test_move_up_and_down(admin, db, users):
    for label in ("A", "B", "C"):
        make(db, users, entity="deal", label=label, type="text")
    c = db.session.scalar(select(CustomField).where(CustomField.key == "c"))
    r = admin.post(f"{URL}/{c.id}/move", data={"direction": "up"}, headers=HX)
    assert r.status_code == 200 and "“C” is now at place 2." in r.get_data(as_text=True)
    assert [f.key for f in svc.ordered(db.session, "deal")] == ["a", "c", "b"]
    r = admin.post(f"{URL}/{c.id}/move", data={"direction": "up"})
    assert r.status_code == 303 and "entity=deal" in r.headers["Location"]
    assert [f.key for f in svc.ordered(db.session, "deal")] == ["c", "a", "b"]
    page = admin.get(f"{URL}?entity=deal").get_data(as_text=True)
    assert re.search(rf'id="cf-up-{c.id}"[^>]*aria-disabled="true"', page, re.S)


def test_delete_says_what_the_field_holds_and_asks(admin, db, users, make_lead):
    field = make(db, users, entity="lead", key="vat", label="VAT", type="text", counterparts=["contact"])
    for i in range(3):
        put(db, "lead", make_lead(last_name=f"L{i}").id, vat=f"FR{i}")
    page = admin.get(f"{URL}/{field.id}/delete").get_data(as_text=True)
    assert "Values on 3 leads: they are deleted with the field." in page
    assert "<code>lead.custom.vat</code> → <code>contact.custom.vat</code>" in page
    assert "Delete the field and its 3 values" in page
    # Without the confirmation (a hand-made post), nothing goes.
    before = db_rows(db)
    r = admin.post(f"{URL}/{field.id}/delete", data={}, headers=HX)
    assert r.status_code == 409 and "holds values on 3 leads" in r.get_data(as_text=True)
    assert_unchanged(db, before)
    r = admin.post(f"{URL}/{field.id}/delete", data={"confirm": "1"})
    assert r.status_code == 303
    assert "Field “VAT” deleted, with its values on 3 records." in admin.get(r.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CustomFieldValue)) == 0
    assert admin.get(f"{URL}/{field.id}/delete").status_code == 404


def test_the_page_of_200_fields_shows_50_in_a_few_queries(admin, db, users, app):
    db.session.add_all([CustomField(entity="lead", key=f"f{i}", label=f"Field {i:03}", type="picklist" if i % 2 else "text",
                                    options=["A", "B"] if i % 2 else None, position=i, required=i % 3 == 0)
                        for i in range(200)])
    db.session.commit()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        page = admin.get(URL).get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert "Field 049" in page and "Field 050" not in page and "Next fields" in page
    assert len(statements) <= 8, statements
    more = re.search(r'href="(/admin/custom-fields\?[^"]*after=\d+)"', page).group(1).replace("&amp;", "&")
    second = admin.get(more).get_data(as_text=True)
    assert "Field 050" in second and "Field 049" not in second and "First fields" in second


def test_the_page_in_french(admin, db, users):
    make(db, users, entity="lead", key="vat", label="TVA", type="text", required=True)
    admin.post("/profile/language", data={"language": "fr"})
    page = admin.get(URL).get_data(as_text=True)
    assert 'lang="fr"' in page and "Champs personnalisés" in page and "TVA" in page


# ---------------------------------------------------------------- the lead list's custom filters


def test_the_lead_list_filters_by_custom_picklists_and_checkboxes(as_user, db, users, make_lead):
    make(db, users, entity="lead", key="tier", label="Tier", type="picklist", options=["Gold", "Silver"])
    make(db, users, entity="lead", key="vip", label="VIP", type="checkbox")
    make(db, users, entity="lead", key="notes", label="Notes", type="textarea")
    gold = make_lead(last_name="Goldman", owner_id=users["sales"].id)
    silver = make_lead(last_name="Silvers", owner_id=users["sales"].id)
    plain = make_lead(last_name="Plainer", owner_id=users["sales"].id)
    put(db, "lead", gold.id, tier="Gold", vip="true")
    put(db, "lead", silver.id, tier="Silver", vip="false")
    client = as_user("sales")
    page = client.get("/leads/").get_data(as_text=True)
    assert 'name="cf_tier"' in page and 'name="cf_vip"' in page and 'name="cf_notes"' not in page
    for query, shown in (("cf_tier=Gold", {"Goldman"}), ("cf_tier=Silver", {"Silvers"}),
                         ("cf_vip=true", {"Goldman"}), ("cf_vip=false", {"Silvers", "Plainer"}),
                         ("cf_tier=Gold&cf_vip=false", set()), ("", {"Goldman", "Silvers", "Plainer"})):
        rows = client.get(f"/leads/?{query}", headers=HX).get_data(as_text=True)
        assert {n for n in ("Goldman", "Silvers", "Plainer") if n in rows} == shown, query
    assert client.get("/leads/?cf_tier=Bronze").status_code == 422
    assert plain.id


def test_a_bulk_selection_by_a_custom_filter_is_refused_never_widened(as_user, db, users, make_lead):
    """The stored bulk filter has no custom fields: rather than converting every lead the rest of
    the filter matches, the selection is refused (select the leads on the page instead)."""
    make(db, users, entity="lead", key="tier", label="Tier", type="picklist", options=["Gold", "Silver"])
    make_lead(last_name="Goldman", owner_id=users["sales"].id)
    client = as_user("sales")
    before = db_rows(db)
    for url, status in (("/leads/bulk-convert", 200), ("/leads/bulk-convert/start", 422)):
        r = client.post(url, data={"selection": "filter", "filter": "cf_tier=Gold"}, headers=HX)
        assert r.status_code == status and "custom fields cannot select leads" in r.get_data(as_text=True)
    assert_unchanged(db, before)


def test_labels_are_escaped_everywhere(admin, db, users):
    make(db, users, entity="lead", key="xss", label='<img src=x onerror="alert(1)">', type="picklist", options=["<b>"])
    for url in (URL, f"{URL}/1/edit", f"{URL}/1/delete"):
        page = admin.get(url).get_data(as_text=True)
        assert "<img src=x" not in page and "&lt;img src=x" in page, url
    assert "<b>" not in admin.get(URL).get_data(as_text=True).split("<tbody>")[1].split("</tbody>")[0]
