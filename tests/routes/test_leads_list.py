"""The lead list (GET /leads/): rights, htmx fragments, search, filters, keyset pages (C1.4, C9.2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from webapp.models import Lead
from webapp.services.leads import LeadFilters, list_leads

ROWS = re.compile(r'<tr tabindex="-?\d" data-href="/leads/(\d+)"')


def ids_in(html: str) -> list[int]:
    return [int(i) for i in ROWS.findall(html)]


def walk(client, url: str, **headers) -> tuple[list[int], int]:
    """Follow "Load more" from `url` to the end: every row id in order, and the page count."""
    seen, pages = [], 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        seen += ids_in(html)
        pages += 1
        more = re.search(r'class="btn btn-sm load-more" href="([^"]+)"', html)
        url = more.group(1).replace("&amp;", "&") if more else None
    return seen, pages


@pytest.mark.parametrize(("role", "status"), [
    ("admin", 200), ("manager", 200), ("sales", 200), ("viewer", 200), ("anonymous", 302)])
def test_list_status_by_role(as_user, role, status):
    response = as_user(role).get("/leads/")
    assert response.status_code == status
    if status == 302:
        assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(("role", "visible"), [
    ("admin", {"mine", "other", "unowned"}),
    ("manager", {"mine"}),  # the sales user reports to the manager; other_sales does not
    ("sales", {"mine"}),
    ("viewer", {"mine", "other", "unowned"}),
])
def test_list_shows_only_visible_leads(as_user, users, make_lead, role, visible):
    make_lead(first_name="Mine", owner_id=users["sales"].id)
    make_lead(first_name="Other", owner_id=users["other_sales"].id)
    make_lead(first_name="Unowned", owner_id=None)
    html = as_user(role).get("/leads/").get_data(as_text=True)
    shown = {name for name in ("mine", "other", "unowned") if f">{name.title()} Stone<" in html}
    assert shown == visible


def test_full_page_and_htmx_fragment(as_user, users, make_lead):
    make_lead(owner_id=users["sales"].id)
    client = as_user("sales")
    page = client.get("/leads/")
    assert "<html" in page.get_data(as_text=True)
    assert "HX-Request" in page.headers["Vary"]
    fragment = client.get("/leads/?q=char", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in html and "Charles Stone" in html and 'id="lead-rows"' in html
    assert "HX-Request" in fragment.headers["Vary"]


def test_page_has_search_new_button_and_keyboard_hints(as_user):
    html = as_user("sales").get("/leads/").get_data(as_text=True)
    assert 'hx-trigger="input changed delay:250ms, search"' in html
    assert 'hx-push-url="true"' in html and 'hx-target="#lead-results"' in html
    assert 'href="/leads/new"' in html
    assert "No leads yet." in html


def test_viewer_gets_no_new_button(as_user):
    assert 'href="/leads/new"' not in as_user("viewer").get("/leads/").get_data(as_text=True)


@pytest.mark.parametrize("q", ["char", "CHARLES st", "Zylker", "zylker inc", "charles.s@",
                               "  Charles  ", "chârles"])
def test_search_matches_name_company_or_email_prefix(as_user, users, make_lead, q):
    lead = make_lead(owner_id=users["sales"].id)
    make_lead(first_name="Ann", last_name="Lee", company="Acme", email="ann@acme.test",
              owner_id=users["sales"].id)
    html = as_user("sales").get("/leads/", query_string={"q": q}).get_data(as_text=True)
    assert ids_in(html) == [lead.id]


def test_search_is_prefix_only_and_punctuation_alone_matches_nothing(as_user, users, make_lead):
    make_lead(owner_id=users["sales"].id)
    client = as_user("sales")
    assert ids_in(client.get("/leads/?q=harles").get_data(as_text=True)) == []
    html = client.get("/leads/?q=%21%21%21").get_data(as_text=True)
    assert ids_in(html) == [] and "No lead matches these filters." in html


@pytest.mark.parametrize("q", ["<script>alert(1)</script>", "x" * 200, "💥 ' \" \\ % _ \x00",
                               "%", "_", "\uffff", "' OR 1=1 --"])
def test_hostile_search_is_answered_safely(as_user, users, make_lead, q):
    make_lead(first_name="<b>Bold</b>", owner_id=users["sales"].id)
    response = as_user("sales").get("/leads/", query_string={"q": q},
                                     headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<script>alert" not in response.get_data(as_text=True)


def test_too_long_search_is_a_422_next_to_the_field(as_user):
    response = as_user("sales").get("/leads/", query_string={"q": "x" * 201})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Field cannot be longer than 200 characters." in html


def test_markup_in_lead_fields_is_escaped(as_user, users, make_lead):
    make_lead(first_name="<img src=x onerror=alert(1)>", company="<b>Acme</b>",
              owner_id=users["sales"].id, tags=["<i>hot</i>"])
    html = as_user("sales").get("/leads/").get_data(as_text=True)
    assert "<img src=x" not in html and "<b>Acme" not in html and "<i>hot" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_converted_leads_are_hidden_unless_asked_for_c1_4(as_user, users, make_lead):
    open_lead = make_lead(owner_id=users["sales"].id)
    converted = make_lead(first_name="Done", owner_id=users["sales"].id, converted=True,
                          status="converted")
    client = as_user("sales")
    assert ids_in(client.get("/leads/").get_data(as_text=True)) == [open_lead.id]
    assert ids_in(client.get("/leads/?status=all").get_data(as_text=True)) == [open_lead.id]
    assert ids_in(client.get("/leads/?converted=1").get_data(as_text=True)) == [converted.id]
    assert ids_in(client.get("/leads/?converted=0").get_data(as_text=True)) == [open_lead.id]


def test_closed_leads_leave_the_default_list_and_have_their_filter_c9_2(as_user, users, make_lead):
    open_lead = make_lead(owner_id=users["sales"].id)
    closed = make_lead(first_name="Lost", owner_id=users["sales"].id, status="disqualified")
    client = as_user("sales")
    assert ids_in(client.get("/leads/").get_data(as_text=True)) == [open_lead.id]
    assert ids_in(client.get("/leads/?status=disqualified").get_data(as_text=True)) == [closed.id]
    assert set(ids_in(client.get("/leads/?status=all").get_data(as_text=True))) == {
        open_lead.id, closed.id}


def test_filters_status_owner_tag_source(as_user, users, make_lead):
    a = make_lead(first_name="Ann", status="contacted", owner_id=users["sales"].id,
                  lead_source="Web", tags=["VIP"])
    b = make_lead(first_name="Bob", owner_id=users["other_sales"].id, lead_source="Fair")
    client = as_user("admin")
    assert ids_in(client.get("/leads/?status=contacted").get_data(as_text=True)) == [a.id]
    assert ids_in(client.get(f"/leads/?owner={users['other_sales'].id}").get_data(as_text=True)) == [b.id]
    assert ids_in(client.get("/leads/?tag=vip").get_data(as_text=True)) == [a.id]
    assert ids_in(client.get("/leads/?source=Fair").get_data(as_text=True)) == [b.id]
    assert ids_in(client.get("/leads/?tag=nope").get_data(as_text=True)) == []


@pytest.mark.parametrize("query", ["status=nope", "status=converted", "owner=abc", "owner=99999",
                                   "sort=id;drop", "tag=" + "t" * 61])
def test_bad_filters_are_422_with_the_reason(as_user, query):
    response = as_user("admin").get(f"/leads/?{query}", headers={"HX-Request": "true"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "These filters cannot be applied." in html and "<html" not in html


@pytest.mark.parametrize("cursor", ["garbage", "eyJzIjoibmFtZSJ9", "%%%", "e30", "W10",
                                    "eyJzIjoiY3JlYXRlZCIsImsiOlsibm90LWEtZGF0ZSIsMV19"])
def test_bad_cursor_is_a_400_with_a_message(as_user, cursor):
    response = as_user("admin").get("/leads/", query_string={"cursor": cursor})
    assert response.status_code == 400
    assert "This page link is no longer valid" in response.get_data(as_text=True)


def test_cursor_of_another_sort_is_refused(as_user, users, make_lead):
    for i in range(3):
        make_lead(first_name=f"L{i}", owner_id=users["sales"].id)
    client = as_user("sales")
    html = client.get("/leads/?sort=name").get_data(as_text=True)
    assert "load-more" not in html  # 3 rows: one page
    from webapp.services.leads import encode_cursor

    cursor = encode_cursor("name", Lead(id=1, name_norm="a"))
    assert client.get(f"/leads/?sort=created&cursor={cursor}").status_code == 400


@pytest.mark.parametrize("sort", ["created", "updated", "name", "company"])
def test_keyset_pages_walk_every_row_once_even_with_ties(db, as_user, users, make_lead, sort):
    """120 leads, many sharing created_at/updated_at/name/company: 3 pages, no duplicate, no gap."""
    same = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    leads = []
    for i in range(120):
        when = same if i % 3 else same + timedelta(minutes=i)
        leads.append(Lead(first_name="Same" if i % 2 else f"N{i:03}", last_name="Stone",
                          company=None if i % 5 == 0 else ("Acme" if i % 4 else f"C{i}"),
                          owner_id=users["sales"].id, created_at=when, updated_at=when))
    db.session.add_all(leads)
    db.session.commit()
    seen, pages = walk(as_user("sales"), f"/leads/?sort={sort}")
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    # The order is the one the sort asks for: compare with a plain full query.
    expected = list_leads(db.session, users["sales"], LeadFilters(), sort, limit=1000).items
    assert seen == [lead.id for lead in expected]


def test_load_more_htmx_returns_rows_only(as_user, users, make_lead, db):
    db.session.add_all([Lead(first_name=f"P{i}", owner_id=users["sales"].id) for i in range(55)])
    db.session.commit()
    client = as_user("sales")
    first = client.get("/leads/?q=p").get_data(as_text=True)
    assert len(ids_in(first)) == 50
    url = re.search(r'hx-get="([^"]+cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    assert "q=p" in url
    more = client.get(url, headers={"HX-Request": "true"})
    html = more.get_data(as_text=True)
    assert more.status_code == 200 and "<table" not in html and "<html" not in html
    assert len(ids_in(html)) == 5 and "load-more" not in html


def test_list_leads_domain_newest_first_and_limit(db, users, make_lead):
    """Domain level, no client: default sort newest first; the cursor resumes after the last."""
    old = make_lead(first_name="Old", created_at=datetime(2025, 1, 1, tzinfo=UTC))
    new = make_lead(first_name="New", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    page = list_leads(db.session, users["admin"], LeadFilters(), limit=1)
    assert [lead.id for lead in page.items] == [new.id] and page.next_cursor
    rest = list_leads(db.session, users["admin"], LeadFilters(), cursor=page.next_cursor, limit=1)
    assert [lead.id for lead in rest.items] == [old.id] and rest.next_cursor is None
    assert list_leads(db.session, None, LeadFilters()).items == []


@pytest.mark.parametrize("field", ["q", "tag", "source"])
def test_nul_and_control_characters_in_filters_never_reach_the_database(as_user, users, make_lead,
                                                                        field):
    """PostgreSQL refuses NUL in a parameter: such input must not become a 500."""
    lead = make_lead(owner_id=users["sales"].id, lead_source="Web", tags=["VIP"])
    value = {"q": "char\x00les", "tag": "V\x00IP", "source": "W\x00eb\x07"}[field]
    response = as_user("sales").get("/leads/", query_string={field: value})
    assert response.status_code == 200
    assert ids_in(response.get_data(as_text=True)) == [lead.id]


# --- Issue 3 (speed): last-name search, bounded candidates, tag look-up -----------------------

@pytest.mark.parametrize("q", ["dupont", "DUPONT ma", "Dupont Marie", "marie dup", "dupônt"])
def test_search_finds_a_person_by_last_name_or_first_name(as_user, users, make_lead, q):
    """A sales team searches "dupont" and expects "Marie Dupont" (name_rev_norm key)."""
    lead = make_lead(first_name="Marie", last_name="Dupont", company="Acme", email="md@acme.test",
                     owner_id=users["sales"].id)
    make_lead(first_name="Dupré", last_name="Marc", company="Other", email="x@other.test",
              owner_id=users["sales"].id)
    assert ids_in(as_user("sales").get("/leads/", query_string={"q": q}).get_data(as_text=True)) == [lead.id]


def test_reverse_name_key_is_kept_and_empty_for_a_single_name(db, make_lead):
    """Domain: refresh_keys() keeps the last-name-first key; None when it equals name_norm."""
    lead = make_lead(first_name="Élodie", last_name="D'Arc")
    assert (lead.name_norm, lead.name_rev_norm) == ("elodie d arc", "d arc elodie")
    lead.first_name = None
    db.session.commit()
    assert (lead.name_norm, lead.name_rev_norm) == ("d arc", None)


@pytest.mark.parametrize("cap", [1, 2, 5000])
@pytest.mark.parametrize("sort", ["created", "name"])
def test_few_and_many_candidates_give_the_same_pages(db, as_user, users, monkeypatch, cap, sort):
    """Under the cap the search and tag filter are driven by ids, over it by the date/name walk:
    both must list the same leads, in the same order, page after page, within each role's scope."""
    from webapp.services import leads as service
    from webapp.services.tags import set_tags

    monkeypatch.setattr(service, "CANDIDATES_MAX", cap)
    rows = []
    for i in range(60):
        owner = users["sales"] if i % 3 else users["other_sales"]
        rows.append(Lead(first_name="Mar" + "iotx"[i % 4], last_name=f"Stone{i % 7}", owner_id=owner.id,
                         company=f"Marco {i}" if i % 5 == 0 else "Acme"))
    rows.append(Lead(first_name="Zed", last_name="Marsh", owner_id=users["sales"].id))
    db.session.add_all(rows)
    db.session.flush()
    for lead in rows[::2]:
        set_tags(db.session, "lead", lead.id, ["VIP"])
    db.session.commit()
    for role in ("admin", "sales", "other_sales"):
        client = as_user(role)
        for query in ("q=mar", "q=marsh", "tag=vip", "tag=vip&q=mari"):
            seen, _pages = walk(client, f"/leads/?{query}&sort={sort}")
            filters = LeadFilters(**dict(p.split("=") for p in query.split("&")))
            monkeypatch.setattr(service, "CANDIDATES_MAX", 10**6)
            expected = list_leads(db.session, users[role], filters, sort, limit=1000).items
            monkeypatch.setattr(service, "CANDIDATES_MAX", cap)
            assert seen == [lead.id for lead in expected], (role, query)
            assert seen or (role, query) == ("other_sales", "q=marsh")  # the test tests something


def test_tag_filter_ignores_other_records_with_the_same_id(db, as_user, users, make_lead, make_account):
    """A tag on an account whose id equals a lead's id must not list that lead."""
    from webapp.services.tags import set_tags

    lead = make_lead(owner_id=users["sales"].id)
    account = make_account()
    assert account.id == lead.id
    set_tags(db.session, "account", account.id, ["vip"])
    db.session.commit()
    assert ids_in(as_user("admin").get("/leads/?tag=vip").get_data(as_text=True)) == []


@pytest.mark.parametrize(("role", "status", "visible"), [
    ("admin", 200, {"mine", "other"}), ("manager", 200, {"mine"}), ("sales", 200, {"mine"}),
    ("viewer", 200, {"mine", "other"}), ("anonymous", 302, set())])
def test_last_name_search_respects_visibility_by_role(as_user, users, make_lead, role, status, visible):
    make_lead(first_name="Mine", last_name="Dupont", owner_id=users["sales"].id)
    make_lead(first_name="Other", last_name="Dupont", owner_id=users["other_sales"].id)
    response = as_user(role).get("/leads/?q=dupont")
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert {n for n in ("mine", "other") if f">{n.title()} Dupont<" in html} == visible


# --- The result count (issue 7): exact from lead_counts, bounded elsewhere ------------------------


def _count(db, user, **filters):
    from webapp.services.leads import count_leads

    return count_leads(db.session, user, LeadFilters(**filters))


def test_count_is_exact_from_the_counters_per_scope(db, users, make_lead):
    for _ in range(3):
        make_lead(owner_id=users["sales"].id)
    make_lead(owner_id=users["sales"].id, status="contacted")
    make_lead(owner_id=users["manager"].id)
    make_lead(owner_id=users["sales"].id, converted=True)
    assert (_count(db, users["admin"]).n, _count(db, users["admin"]).exact) == (5, True)
    assert _count(db, users["sales"]).n == 4  # a sales rep counts only their own
    assert _count(db, users["admin"], status="contacted").n == 1
    assert _count(db, users["admin"], owner_id=users["manager"].id).n == 1
    assert _count(db, users["admin"], converted=True).n == 1


def test_count_of_a_search_is_exact_under_the_cap_and_a_lower_bound_above(db, users, make_lead):
    from webapp.services.leads import count_leads

    for i in range(6):
        make_lead(last_name=f"Martin{i}", company=f"Co{i}", email=f"m{i}@x.fr", owner_id=users["sales"].id)
    make_lead(last_name="Other", company="Else", email="o@y.fr")
    exact = count_leads(db.session, users["admin"], LeadFilters(q="martin"))
    assert (exact.n, exact.exact) == (6, True)
    capped = count_leads(db.session, users["admin"], LeadFilters(q="martin"), cap=4)
    assert not capped.exact and capped.n >= 4


def test_count_shown_on_the_list_page(as_user, users, make_lead):
    for _ in range(2):
        make_lead(owner_id=users["sales"].id)
    html = as_user("sales").get("/leads/").get_data(as_text=True)
    assert re.search(r"<strong>2</strong> leads", html)


# --- The dashboard's links: team and creation period (issue 8) -------------------------

def _names(html: str) -> set[str]:
    return set(re.findall(r"Lead(?:Team|Old|New)\d", html))


def test_team_and_creation_period_filters(as_user, users, make_lead, db):
    from webapp.models import Team

    other = Team(name="South")
    db.session.add(other)
    db.session.commit()
    now = datetime.now(UTC)
    north = users["manager"].team_id
    make_lead(last_name="LeadTeam1", team_id=north, created_at=now - timedelta(days=2))
    make_lead(last_name="LeadTeam2", team_id=other.id, created_at=now - timedelta(days=2))
    make_lead(last_name="LeadOld3", team_id=north, created_at=now - timedelta(days=200))
    client = as_user("admin")
    html = client.get(f"/leads/?team={north}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert _names(html) == {"LeadTeam1", "LeadOld3"}
    start = (now - timedelta(days=30)).date().isoformat()
    response = client.get(f"/leads/?team={north}&created_from={start}&created_to={now.date().isoformat()}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and _names(html) == {"LeadTeam1"}
    assert "Team: North" in html and "Remove" in html  # said in words, removable
    assert f'name="created_from" value="{start}"' in html  # kept by the live filters


@pytest.mark.parametrize("args", ["team=999999", "team=abc", "created_from=2026-13-01", "created_to=yesterday"])
def test_bad_team_or_period_is_refused_with_422(as_user, args):
    response = as_user("admin").get(f"/leads/?{args}")
    assert response.status_code == 422


def test_a_dashboard_funnel_link_lists_exactly_the_bar(as_user, users, make_lead):
    now = datetime.now(UTC)
    for i in range(3):
        make_lead(last_name=f"LeadNew{i}", owner_id=users["sales"].id, status="new", created_at=now - timedelta(days=3))
    make_lead(last_name="LeadOld9", owner_id=users["sales"].id, status="new", created_at=now - timedelta(days=400))
    client = as_user("sales")
    html = client.get("/?period=30d").get_data(as_text=True)
    link = re.search(r'href="(/leads/\?[^"]*status=new[^"]*)"', html)
    assert link, "the funnel's New bar links to the list"
    listed = client.get(link.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert _names(listed) == {"LeadNew0", "LeadNew1", "LeadNew2"}
