"""The home page dashboard (GET /): every role, the htmx fragment, filters, links to the lead
list, and bad filter values (named and ignored, never a 500)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask import url_for

from tests.conftest import login
from webapp.models import utcnow

HX = {"HX-Request": "true"}
LINK = re.compile(r'href="(/leads/\?[^"]*)"')


@pytest.fixture
def leads(make_lead, users):
    """Leads of the sales rep and of another rep, created and converted days ago."""
    now = utcnow()
    sales, other = users["sales"], users["other_sales"]
    for i, status in enumerate(["new", "new", "contacted", "qualified", "disqualified"]):
        make_lead(first_name=f"S{i}", owner_id=sales.id, team_id=sales.team_id, status=status,
                  lead_source="Referral" if i % 2 else "Web form", created_at=now - timedelta(days=i + 1))
    make_lead(first_name="SC", owner_id=sales.id, team_id=sales.team_id, status="converted", converted=True,
              lead_source="Referral", created_at=now - timedelta(days=9), converted_at=now - timedelta(days=6))
    for i in range(3):
        make_lead(first_name=f"O{i}", owner_id=other.id, status="contacted", lead_source="Trade show",
                  created_at=now - timedelta(days=2))


def page(client, url="/", **kw):
    response = client.get(url, **kw)
    return response, response.get_data(as_text=True)


def row(body: str, table: str, label: str) -> str:
    """The text of the row `label` of table `table`, tags stripped, spaces squeezed."""
    part = body.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    for tr in part.split("<tr")[1:]:
        text = " ".join(re.sub(r"<[^>]+>", " ", "<tr" + tr).split())
        if text.startswith(label):
            return text
    raise AssertionError(f"no row {label} in {table}")


@pytest.mark.parametrize("role", ["admin", "manager", "sales", "viewer"])
def test_every_role_gets_the_dashboard_as_home_page(as_user, leads, role):
    response, body = page(as_user(role))
    assert response.status_code == 200
    assert "<h1>Dashboard</h1>" in body and 'aria-current="page">Dashboard</a>' in body
    for chart in ("funnel", "weeks", "rate", "closed"):
        assert re.search(rf'<canvas data-chart="{chart}"[^>]* role="img"\s+aria-label="[^"]+"', body)
    assert "/vendor/chart.umd.js" in body and 'id="funnel-table"' in body


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_chart_js_is_served_from_node_modules(client):
    response = client.get("/vendor/chart.umd.js")
    assert response.status_code == 200 and b"Chart.js v4.6.1" in response.data[:200]
    response.close()


def test_htmx_gets_the_figures_fragment_only(as_user, leads):
    response, body = page(as_user("sales"), headers=HX)
    assert response.status_code == 200 and "<html" not in body and "<form" not in body
    assert 'id="funnel-table"' in body and "HX-Request" in response.headers["Vary"]


def test_a_sales_rep_counts_only_their_own_leads(as_user, leads):
    _, body = page(as_user("sales"), "/?period=30d")
    assert row(body, "funnel-table", "New") == "New 2 33.3%"
    assert row(body, "funnel-table", "Contacted") == "Contacted 1 16.7%"
    assert row(body, "funnel-table", "Converted") == "Converted 1 16.7%"
    assert row(body, "closed-table", "Disqualified") == "Disqualified 1 16.7%"
    assert "Trade show" not in body
    # The owner and team filters are not offered to a rep (they see only themselves).
    assert 'name="owner"' not in body and 'name="team"' not in body


def test_an_administrator_counts_every_lead(as_user, users, leads):
    _, body = page(as_user("admin"), "/?period=30d")
    assert row(body, "funnel-table", "Contacted") == "Contacted 4 44.4%"
    assert row(body, "source-table", "Referral") == "Referral 3 1 33.3%"
    assert row(body, "owner-table", users["other_sales"].name) == f"{users['other_sales'].name} 3 0 0.0%"
    assert 'name="owner"' in body and 'name="team"' in body


def test_links_open_the_lead_list_with_its_own_filters(as_user, users, client, leads):
    _, body = page(as_user("admin"), "/?period=all&source=Referral")
    links = {html.unescape(link) for link in LINK.findall(body)}
    assert "/leads/?source=Referral&status=contacted" in links
    assert "/leads/?source=Referral&converted=1" in links
    assert "/leads/?source=Referral&status=disqualified" in links
    assert "/leads/?source=Referral&status=all" in links
    assert f"/leads/?source=Referral&owner={users['sales'].id}&status=all" in links
    for link in links:  # every one of them is a list the lead list understands
        assert client.get(link).status_code == 200, link
    # A period goes with the links as the list's creation dates (the reader's first and last day).
    _, body = page(as_user("admin"), "/?period=range&from=2026-01-05&to=2026-02-10")
    assert "/leads/?created_from=2026-01-05&created_to=2026-02-10&status=contacted" in {
        html.unescape(link) for link in LINK.findall(body)}


def test_the_funnel_link_lists_what_the_bar_counts(as_user, leads):
    client = as_user("sales")
    _, body = page(client, "/?period=30d")
    link = html.unescape(re.search(r'<a href="(/leads/\?[^"]*status=new)">New</a>', body).group(1))
    assert "created_from=" in link and "created_to=" in link
    rows = client.get(link).get_data(as_text=True)
    assert len(re.findall(r'<tr[^>]*data-href="/leads/\d+"', rows)) == 2


@pytest.mark.parametrize("query", ["period=30d", "period=90d", "period=365d", "period=year", "period=all",
                                   "period=range&from=2020-01-01&to=2030-12-31", "period=range&from=2020-01-01",
                                   "period=range", "source=Referral", "period=all&source=Nope"])
def test_every_period_and_filter_renders(as_user, leads, query):
    response, body = page(as_user("manager"), f"/?{query}")
    assert response.status_code == 200, body


def test_owner_and_team_filters(as_user, users, leads):
    client = as_user("admin")
    _, body = page(client, f"/?period=all&owner={users['other_sales'].id}")
    assert row(body, "funnel-table", "Contacted") == "Contacted 3 100.0%"
    assert f'/leads/?owner={users["other_sales"].id}&amp;status=contacted' in body
    _, body = page(client, f"/?period=all&team={users['sales'].team_id}")
    assert row(body, "funnel-table", "Contacted") == "Contacted 1 16.7%"


@pytest.mark.parametrize(("query", "message"), [
    ("period=fortnight", "Choose a period from the list."),
    ("period=range&from=2026-13-45", "Enter a date as YYYY-MM-DD."),
    ("period=range&from=2026-03-01&to=2026-02-01", "The end date must be on or after the start date."),
    ("owner=abc", "Choose an owner from the list."),
    ("owner=999999", "Choose an owner from the list."),
    ("team=%00", "Choose a team from the list."),
    ("source=" + "x" * 300, "A source has at most 100 characters."),
])
@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_bad_filter_values_are_named_and_ignored(as_user, leads, query, message, headers):
    response, body = page(as_user("admin"), f"/?{query}", headers=headers)
    assert response.status_code == 422
    assert "Some filters could not be applied and were ignored." in body and message in body
    assert 'id="funnel-table"' in body  # the figures without that filter


@pytest.mark.parametrize("query", ["period=&owner=&team=&source=&from=&to=", "from=garbage&to=x",
                                   "period=30d&period=all", "unknown=1", "source=%C3%A9t%C3%A9", "source=%00"])
def test_empty_repeated_or_unknown_values_are_harmless(as_user, leads, query):
    response, _ = page(as_user("sales"), f"/?{query}")
    assert response.status_code == 200


def test_a_viewer_sees_every_lead_and_changes_nothing(as_user, leads):
    _, body = page(as_user("viewer"), "/?period=30d")
    assert row(body, "funnel-table", "Contacted") == "Contacted 4 44.4%"


def test_error_pages_link_back_to_the_dashboard(app, as_user):
    with app.test_request_context():
        assert url_for("dashboard.index") == "/"
    client = as_user("sales")
    response = client.get("/leads/99999999")
    assert response.status_code == 404 and 'href="/"' in response.get_data(as_text=True)


def test_the_brand_links_to_the_dashboard(as_user):
    body = as_user("sales").get("/leads/").get_data(as_text=True)
    assert re.search(r'<a class="brand" href="/">', body)


def test_french_numbers_and_dates(as_user, users, db, leads):
    users["sales"].language = "fr"
    db.session.commit()
    client = as_user("sales")
    login(client, users["sales"])
    _, body = page(client, "/?period=30d")
    assert '<html lang="fr">' in body
    assert re.search(r"33,3\s?%", body)
