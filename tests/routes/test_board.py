"""The lead board: columns, counts, infinite columns, and moving a card (C1.4, C9.2, C8.6)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import assert_unchanged, csrf_token_from, db_rows
from webapp.errors import Forbidden, Invalid, ReadOnlyRecord
from webapp.models import Lead, LeadStatus, TimelineEvent, User
from webapp.services.leads import (
    LeadFilters,
    board_statuses,
    change_status,
    status_counts,
)

CARD = re.compile(r'data-move-url="/leads/(\d+)/status"')


def cards(html: str) -> list[int]:
    return [int(i) for i in CARD.findall(html)]


# --- Domain: change_status, without a client -------------------------------------------------

def test_change_status_records_a_timeline_event_with_the_actor(db, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id)
    change = change_status(db.session, users["sales"], lead, "contacted")
    db.session.commit()
    assert change.changed and (change.old.key, change.new.key) == ("new", "contacted")
    assert db.session.get(Lead, lead.id).status == "contacted"
    event = db.session.scalars(select(TimelineEvent).where(TimelineEvent.parent_id == lead.id)).one()
    assert event.message == "Status changed from New to Contacted"
    assert event.actor_id == users["sales"].id and event.kind == "status_changed"


def test_change_status_to_the_same_status_is_a_noop(db, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id)
    assert not change_status(db.session, users["sales"], lead, "new").changed
    assert db.session.scalars(select(TimelineEvent)).all() == []


@pytest.mark.parametrize(("status", "message"), [
    ("nope", "This status does not exist."), ("", "Choose a status."),
    ("converted", "Use Convert to convert a lead; its status follows.")])
def test_change_status_refuses_unknown_and_converted_statuses(db, users, make_lead, status, message):
    lead = make_lead(owner_id=users["sales"].id)
    with pytest.raises(Invalid, match=re.escape(message)) as error:
        change_status(db.session, users["sales"], lead, status)
    assert error.value.http_status == 422 and error.value.field == "status"


def test_change_status_refuses_a_converted_lead_c1_4(db, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id, converted=True, status="converted")
    with pytest.raises(ReadOnlyRecord) as error:
        change_status(db.session, users["admin"], lead, "new")
    assert error.value.http_status == 409


@pytest.mark.parametrize("role", ["viewer", "other_sales"])
def test_change_status_checks_the_right_to_edit(db, users, make_lead, role):
    lead = make_lead(owner_id=users["sales"].id)
    with pytest.raises(Forbidden):
        change_status(db.session, users[role], lead, "contacted")


def test_board_statuses_open_then_closed_never_converted(db):
    db.session.add(LeadStatus(key="lost", label="Lost", category="closed", position=-5))
    db.session.add(LeadStatus(key="hot", label="Hot", category="open", position=99))
    db.session.commit()
    assert [s.key for s in board_statuses(db.session)] == [
        "new", "contacted", "qualified", "hot", "lost", "disqualified"]


def test_status_counts_one_grouped_query(db, users, make_lead):
    for status in ("new", "new", "contacted", "disqualified"):
        make_lead(status=status, owner_id=users["sales"].id)
    make_lead(status="converted", converted=True, owner_id=users["sales"].id)
    make_lead(owner_id=users["other_sales"].id)
    assert status_counts(db.session, users["sales"], LeadFilters()) == {
        "new": 2, "contacted": 1, "disqualified": 1}
    assert status_counts(db.session, users["admin"], LeadFilters())["new"] == 3


# --- Routes: the board page and its columns --------------------------------------------------

@pytest.mark.parametrize(("role", "status"), [
    ("admin", 200), ("manager", 200), ("sales", 200), ("viewer", 200), ("anonymous", 302)])
def test_board_status_by_role(as_user, role, status):
    response = as_user(role).get("/leads/board")
    assert response.status_code == status
    if status == 302:
        assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(("role", "expected"), [
    ("admin", {"Mine", "Other"}), ("manager", {"Mine"}), ("sales", {"Mine"}),
    ("viewer", {"Mine", "Other"})])
def test_board_shows_only_visible_leads(as_user, users, make_lead, role, expected):
    make_lead(first_name="Mine", owner_id=users["sales"].id)
    make_lead(first_name="Other", owner_id=users["other_sales"].id)
    html = as_user(role).get("/leads/board").get_data(as_text=True)
    assert {n for n in ("Mine", "Other") if f">{n} Stone<" in html} == expected


def test_board_columns_counts_and_converted_only_as_a_drop_target_c1_4_c8_2(as_user, users, make_lead):
    make_lead(owner_id=users["sales"].id)
    make_lead(first_name="Gone", status="disqualified", owner_id=users["sales"].id)
    make_lead(first_name="Won", status="converted", converted=True, owner_id=users["sales"].id)
    html = as_user("sales").get("/leads/board").get_data(as_text=True)
    statuses = re.findall(r'<ul class="board-cards" role="list" data-status="(\w+)"', html)
    assert statuses == ["new", "contacted", "qualified", "disqualified", "converted"]
    # The last one is the drop target that opens the conversion modal (C8.2): it lists no lead.
    target = html.split('data-status="converted"', 1)[1].split("</ul>", 1)[0]
    assert "data-convert" in target and "board-card" not in target and "Drop a lead here" in target
    assert 'data-count-for="new" title="Leads in New">1<' in html
    assert 'data-count-for="disqualified" title="Leads in Disqualified">1<' in html
    assert "Won Stone" not in html and "is-closed" in html


@pytest.mark.parametrize(("role", "can_move"), [
    ("admin", "true"), ("manager", "true"), ("sales", "true"), ("viewer", "false")])
def test_board_is_read_only_for_a_viewer(as_user, role, can_move):
    html = as_user(role).get("/leads/board").get_data(as_text=True)
    assert f'data-can-move="{can_move}"' in html
    assert ("Read-only" in html) == (role == "viewer")
    # Only a role with "Convert leads" gets the Converted drop target (C7.1).
    assert ("data-convert" in html) == (role != "viewer")


def test_board_filters_and_htmx_fragment(as_user, users, make_lead):
    make_lead(first_name="Ann", owner_id=users["sales"].id)
    make_lead(first_name="Bob", owner_id=users["other_sales"].id)
    client = as_user("admin")
    response = client.get(f"/leads/board?owner={users['other_sales'].id}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "HX-Request" in response.headers["Vary"]
    assert "Bob Stone" in html and "Ann Stone" not in html
    html = client.get("/leads/board?q=ann&owner=junk").get_data(as_text=True)
    assert "Ann Stone" in html and "Bob Stone" not in html


def test_columns_load_more_cards_on_scroll(db, as_user, users):
    db.session.add_all([Lead(first_name=f"C{i}", owner_id=users["sales"].id) for i in range(45)])
    db.session.commit()
    client = as_user("sales")
    html = client.get("/leads/board").get_data(as_text=True)
    first = cards(html)
    assert len(first) == 20
    sentinel = re.search(r'<li class="board-more" hx-get="([^"]+)" hx-trigger="intersect once"', html)
    seen, url = list(first), sentinel.group(1).replace("&amp;", "&")
    while url:
        response = client.get(url, headers={"HX-Request": "true"})
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and "<html" not in page
        seen += cards(page)
        more = re.search(r'hx-get="([^"]+)"', page)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert len(seen) == len(set(seen)) == 45


@pytest.mark.parametrize(("path", "status"), [
    ("/leads/board/column/nope", 404), ("/leads/board/column/converted", 404),
    ("/leads/board/column/new?cursor=junk", 400), ("/leads/board/column/new", 200)])
def test_column_endpoint_refuses_bad_input(as_user, path, status):
    assert as_user("sales").get(path, headers={"HX-Request": "true"}).status_code == status


# --- Routes: moving a card -------------------------------------------------------------------

@pytest.mark.parametrize(("role", "own_status", "other_status"), [
    ("admin", 200, 200), ("manager", 200, 404), ("sales", 200, 404), ("viewer", 403, 403),
    ("anonymous", 302, 302)])
def test_move_rights_by_role(db, as_user, users, make_lead, role, own_status, other_status):
    """Sales move only their own leads; a manager their reports'; a viewer none (C7.2 scopes)."""
    own = make_lead(owner_id=users["sales"].id)
    other = make_lead(owner_id=users["other_sales"].id)
    client = as_user(role)
    for lead, expected in ((own, own_status), (other, other_status)):
        response = client.post(f"/leads/{lead.id}/status", data={"status": "contacted"})
        assert response.status_code == expected
        db.session.expire_all()
        assert db.session.get(Lead, lead.id).status == ("contacted" if expected == 200 else "new")


def test_move_answers_counts_and_records_the_event(db, as_user, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id)
    make_lead(owner_id=users["sales"].id)
    response = as_user("sales").post(f"/leads/{lead.id}/status", data={"status": "qualified"})
    data = response.get_json()
    assert response.status_code == 200
    assert data["counts"] == {"new": 1, "qualified": 1} and data["changed"] is True
    assert data["message"] == "Charles Stone moved to Qualified."
    assert "leadMoved" in response.headers["HX-Trigger"]
    events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.parent_id == lead.id)).all()
    assert [e.message for e in events] == ["Status changed from New to Qualified"]


def test_move_counts_follow_the_board_filters(as_user, users, make_lead):
    lead = make_lead(first_name="Ann", owner_id=users["sales"].id)
    make_lead(first_name="Bob", owner_id=users["sales"].id)
    data = as_user("sales").post(f"/leads/{lead.id}/status",
                                 data={"status": "contacted", "q": "ann"}).get_json()
    assert data["counts"] == {"contacted": 1}


@pytest.mark.parametrize(("status", "code", "message"), [
    ("converted", 422, "Use Convert"), ("nope", 422, "does not exist"), ("", 422, "Choose a status"),
    ("<script>", 422, "does not exist")])
def test_move_refuses_bad_statuses(db, as_user, users, make_lead, status, code, message):
    lead = make_lead(owner_id=users["sales"].id)
    response = as_user("sales").post(f"/leads/{lead.id}/status", data={"status": status})
    assert response.status_code == code
    body = response.get_json()
    assert message in body["message"] and body["errors"]["status"]
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).status == "new"
    assert db.session.scalars(select(TimelineEvent)).all() == []


def test_move_refuses_a_converted_lead_with_409_c1_4(as_user, db, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id, converted=True, status="converted")
    before = db_rows(db)
    response = as_user("sales").post(f"/leads/{lead.id}/status", data={"status": "new"})
    assert response.status_code == 409
    assert "converted" in response.get_json()["message"]
    assert_unchanged(db, before)


def test_move_unknown_lead_is_404(as_user, db, users, make_lead):
    make_lead(owner_id=users["sales"].id)
    before = db_rows(db)
    response = as_user("admin").post("/leads/999999/status", data={"status": "new"})
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert_unchanged(db, before)


@pytest.mark.csrf
def test_move_without_csrf_token_is_refused(db, as_user, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id)
    client = as_user("sales")
    response = client.post(f"/leads/{lead.id}/status", data={"status": "contacted"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).status == "new"
    # With the token the board page carries (body hx-headers), the same move succeeds.
    token = csrf_token_from(client.get("/leads/board").get_data(as_text=True))
    response = client.post(f"/leads/{lead.id}/status", data={"status": "contacted"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_move_get_is_not_allowed(as_user, users, make_lead):
    lead = make_lead(owner_id=users["sales"].id)
    assert as_user("sales").get(f"/leads/{lead.id}/status").status_code == 405


# --- C8.6: a rule of the status a card is moved to may convert the lead ----------------------

JSON = {"Accept": "application/json"}


@pytest.fixture
def rule(db, users):
    """A rule converting every lead that enters "qualified" that comes from the web."""
    from webapp.services.automation import create_rule

    r = create_rule(db.session, users["admin"], {
        "name": "Qualified web leads", "on_status": "qualified",
        "conditions": [{"field": "lead_source", "op": "equals", "value": "web"}]})
    db.session.commit()
    return r


def test_change_status_returns_what_the_rule_did(db, users, make_lead, rule):
    lead = make_lead(owner_id=users["sales"].id, lead_source="Web")
    change = change_status(db.session, users["sales"], lead, "qualified")
    db.session.commit()
    assert change.conversion is not None and change.conversion.lead_id == lead.id
    assert [e.kind for e in change.rule_events] == ["rule_converted"]
    assert change.rule_events[0].data["rule_id"] == rule.id
    other = make_lead(owner_id=users["sales"].id, lead_source="Trade show")  # the condition fails
    change = change_status(db.session, users["sales"], other, "qualified")
    assert change.conversion is None and change.rule_events == ()


def test_move_converted_by_a_rule_says_so_and_leaves_the_board(db, as_user, users, make_lead, rule):
    lead = make_lead(owner_id=users["sales"].id, lead_source="Web")
    make_lead(first_name="Ann", owner_id=users["sales"].id)
    response = as_user("sales").post(f"/leads/{lead.id}/status", data={"status": "qualified"}, headers=JSON)
    assert response.status_code == 200
    data = response.get_json()
    assert data["converted"] is True and data["changed"] is True and data["rule_refused"] is False
    assert data["message"] == "Charles Stone moved to Qualified and converted by the rule “Qualified web leads”."
    assert data["counts"] == {"new": 1}  # a converted lead is on no column (C1.4)
    db.session.expire_all()
    converted = db.session.get(Lead, lead.id)
    assert converted.converted and data["conversion_id"] == converted.conversion_id
    assert '"converted": true' in response.headers["HX-Trigger"]
    html = as_user("sales").get("/leads/board").get_data(as_text=True)
    assert cards(html) == [db.session.scalar(select(Lead.id).where(Lead.first_name == "Ann"))]


def test_move_the_rule_does_not_match_is_a_plain_move(db, as_user, users, make_lead, rule):
    lead = make_lead(owner_id=users["sales"].id, lead_source="Trade show")
    data = as_user("sales").post(f"/leads/{lead.id}/status", data={"status": "qualified"}, headers=JSON).get_json()
    assert (data["converted"], data["rule_refused"]) == (False, False)
    assert data["message"] == "Charles Stone moved to Qualified." and data["counts"] == {"qualified": 1}
    assert "conversion_id" not in data


def test_move_a_rule_could_not_convert_says_why(client, db, make_user, make_lead, rule):
    """A rep without "Convert leads": the move stands, the reply gives the timeline's reason."""
    from tests.conftest import login
    from webapp.models import Role

    db.session.add(Role(key="junior", label="Junior", scope="own", permissions=["lead.edit", "lead.create"]))
    db.session.commit()
    junior = make_user("junior")
    lead = make_lead(owner_id=junior.id, lead_source="Web")
    login(client, junior)
    data = client.post(f"/leads/{lead.id}/status", data={"status": "qualified"}, headers=JSON).get_json()
    assert (data["converted"], data["rule_refused"], data["status"]) == (False, True, "qualified")
    assert data["message"].startswith(
        "Charles Stone moved to Qualified. Rule “Qualified web leads” could not convert this lead: ")
    assert "Convert leads" in data["message"] and data["counts"] == {"qualified": 1}
    db.session.expire_all()
    assert not db.session.get(Lead, lead.id).converted


# --- C8.2: the board's selection (board.js) ---------------------------------------------------

@pytest.mark.parametrize(("role", "can_convert"), [("sales", True), ("viewer", False)])
def test_board_cards_have_a_labelled_checkbox_and_the_selection_bar(as_user, users, make_lead, role, can_convert):
    lead = make_lead(owner_id=users["sales"].id)
    html = as_user(role).get("/leads/board").get_data(as_text=True)
    assert f'data-id="{lead.id}"' in html
    assert f'class="board-select" value="{lead.id}" tabindex="-1"\n        aria-label="Select Charles Stone"' in html
    bar = html.split('id="board-selection"', 1)[1].split("</div>", 1)[0]
    assert "hidden" in bar and "Clear selection" in bar and "%(num)s" not in bar
    assert 'data-selected-other="{n} leads selected"' in bar
    assert ('data-url="/leads/bulk-convert"' in bar) == can_convert and ("Convert…" in bar) == can_convert


def test_load_more_cards_have_their_checkbox_too(db, as_user, users):
    db.session.add_all([Lead(first_name=f"P{i:02d}", owner_id=users["sales"].id) for i in range(25)])
    db.session.commit()
    client = as_user("sales")
    html = client.get("/leads/board").get_data(as_text=True)
    more = re.search(r'hx-get="([^"]+)" hx-trigger="intersect once"', html).group(1).replace("&amp;", "&")
    page = client.get(more).get_data(as_text=True)
    assert page.count('class="board-select"') == len(cards(page)) == 5

# --- Exact counts from lead_counts (issue 3, speed): kept by triggers on every write path ----

def _direct_counts(session, actor, filters=None):
    """The truth: one grouped count over the leads themselves."""
    from sqlalchemy import func

    from webapp.services.leads import filter_clauses

    stmt = (select(Lead.status, func.count())
            .where(*filter_clauses(session, actor, filters or LeadFilters(), any_status=True))
            .group_by(Lead.status))
    return dict(session.execute(stmt).all())


def _assert_counts_exact(db, users):
    for role in ("admin", "manager", "sales", "viewer", "other_sales"):
        for filters in (LeadFilters(), LeadFilters(owner_id=users["sales"].id)):
            assert status_counts(db.session, users[role], filters) == _direct_counts(
                db.session, users[role], filters), role


def test_counts_stay_exact_after_create_move_reassign_convert_and_delete(db, users, make_lead):
    """C9.2 board counts: the counter table follows every kind of write, for every role."""
    from sqlalchemy import insert, update

    from webapp.conversion.executor import apply
    from webapp.conversion.options import ConversionOptions

    sales, other = users["sales"], users["other_sales"]
    leads = [make_lead(first_name=f"L{i}", owner_id=sales.id) for i in range(4)]
    make_lead(owner_id=other.id, status="contacted")
    make_lead(owner_id=None, team_id=users["manager"].team_id)
    _assert_counts_exact(db, users)
    assert status_counts(db.session, sales, LeadFilters()) == {"new": 4}

    change_status(db.session, sales, leads[0], "qualified")  # ORM update
    db.session.commit()
    assert status_counts(db.session, sales, LeadFilters()) == {"new": 3, "qualified": 1}
    leads[1].owner_id = other.id  # reassignment moves the lead between scopes
    db.session.commit()
    _assert_counts_exact(db, users)
    apply(db.session, users["admin"], leads[2].id, ConversionOptions())  # the conversion's UPDATE
    db.session.commit()
    db.session.refresh(leads[2])
    assert leads[2].converted and leads[2].status == "converted"
    assert status_counts(db.session, sales, LeadFilters()) == {"new": 1, "qualified": 1}
    db.session.delete(leads[3])
    db.session.commit()
    assert status_counts(db.session, sales, LeadFilters()) == {"qualified": 1}
    # Core writes that bypass the ORM (imports, seeds, bulk updates) are counted too.
    db.session.execute(insert(Lead), [{"first_name": "Bulk", "owner_id": sales.id, "status": "new",
                                       "converted": False, "currency": "EUR"}] * 3)
    db.session.execute(update(Lead).where(Lead.owner_id == other.id).values(status="disqualified"))
    db.session.commit()
    assert status_counts(db.session, sales, LeadFilters()) == {"new": 3, "qualified": 1}
    _assert_counts_exact(db, users)


def test_rebuild_lead_counts_matches_the_triggers(db, users, make_lead):
    from sqlalchemy import text

    from webapp.models.leads import rebuild_lead_counts

    for status in ("new", "contacted", "contacted"):
        make_lead(status=status, owner_id=users["sales"].id)
    before = db.session.execute(text("SELECT * FROM lead_counts WHERE n > 0 ORDER BY 1, 2, 3, 4")).all()
    rebuild_lead_counts(db.session.connection())
    after = db.session.execute(text("SELECT * FROM lead_counts ORDER BY 1, 2, 3, 4")).all()
    assert before == after and sum(row.n for row in after) == 3


def test_counts_with_a_search_count_the_leads_directly(db, users, make_lead, monkeypatch):
    """A search cannot use the counters: a grouped count, driven by ids or not, same result."""
    from webapp.services import leads as service

    make_lead(first_name="Ann", owner_id=users["sales"].id)
    make_lead(first_name="Anna", owner_id=users["sales"].id, status="contacted")
    make_lead(first_name="Bob", owner_id=users["sales"].id)
    expected = {"new": 1, "contacted": 1}
    assert status_counts(db.session, users["sales"], LeadFilters(q="ann")) == expected
    monkeypatch.setattr(service, "CANDIDATES_MAX", 1)  # too many candidates: the prefix scan
    assert status_counts(db.session, users["sales"], LeadFilters(q="ann")) == expected
    assert status_counts(db.session, users["other_sales"], LeadFilters(q="ann")) == {}


@pytest.mark.parametrize(("role", "expected"), [
    ("admin", "3"), ("manager", "2"), ("sales", "2"), ("viewer", "3"), ("anonymous", None)])
def test_board_count_badges_by_role(as_user, users, make_lead, role, expected):
    make_lead(owner_id=users["sales"].id)
    make_lead(owner_id=users["sales"].id)
    make_lead(owner_id=users["other_sales"].id)
    response = as_user(role).get("/leads/board")
    if expected is None:
        assert response.status_code == 302
        return
    assert response.status_code == 200
    assert f'data-count-for="new" title="Leads in New">{expected}<' in response.get_data(as_text=True)


@pytest.mark.parametrize(("role", "expected"), [
    ("admin", {"new": 12}), ("manager", {"new": 11}), ("sales", {"new": 11}), ("viewer", {"new": 12}),
    ("other_sales", {"new": 1})])
def test_counts_without_search_are_read_from_the_counters(db, users, make_lead, role, expected):
    """Without q/tag/source the board sums lead_counts under the role's visibility (not the
    leads): proven by adding 10 to the sales rep's counter behind the triggers' back."""
    from sqlalchemy import text

    make_lead(owner_id=users["sales"].id)
    make_lead(owner_id=users["other_sales"].id)
    db.session.execute(text("UPDATE lead_counts SET n = n + 10 WHERE owner_id = :o"), {"o": users["sales"].id})
    assert status_counts(db.session, users[role], LeadFilters()) == expected
    # A search counts the leads themselves.
    assert sum(status_counts(db.session, users[role], LeadFilters(q="charles")).values()) == (
        2 if role in ("admin", "viewer") else 1)


def test_a_migrated_database_keeps_the_counts_too(tmp_path):
    """The triggers are DDL that autogenerate does not see: the migration must create them
    (create_lead_count_triggers + rebuild_lead_counts), or every board count stays 0."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db as _db
    from webapp.reference import ensure_reference_data

    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite3'}"})
    with app.app_context():
        upgrade()
        ensure_reference_data(_db.session)
        _db.session.add(Lead(first_name="Ann", status="contacted"))
        _db.session.commit()
        admin = _db.session.scalar(select(User).where(User.role_key == "admin"))
        if admin is None:  # reference data makes roles, not users
            admin = User(email="a@example.test", name="A", role_key="admin", password_hash="!")
            _db.session.add(admin)
            _db.session.commit()
        assert status_counts(_db.session, admin, LeadFilters()) == {"contacted": 1}
        _db.session.remove()
        _db.engine.dispose()
