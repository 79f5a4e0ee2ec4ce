"""e2e: the home page dashboard — charts drawn from their tables, a bar (and its table link) opens
the filtered lead list, filters swap the figures in place; English and French screenshots, axe."""

from __future__ import annotations

import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from e2e.conftest import PASSWORD
from e2e.test_a11y import assert_accessible
from webapp.models import Lead, User, utcnow

DASH_USER = "dana@example.com"
SOURCES = ("Web form", "Trade show", "Referral", "Partner")
# (status, how many, converted?) for the sales user's leads, all created in the last 30 days.
MIX = (("new", 9, False), ("contacted", 6, False), ("qualified", 4, False), ("disqualified", 3, False),
       ("converted", 5, True))


@pytest.fixture(scope="module")
def seeded(live_app):
    """Dashboard leads of their own sales rep (tagged by their last name), created like the app does."""
    from webapp.extensions import db

    with live_app.app_context():
        session = db.session
        # A sales rep of its own: these leads must not change the counts other e2e tests see
        # for sales@example.com (the board's columns) in the session's shared database.
        sales = session.scalar(select(User).where(User.email == DASH_USER))
        if sales is None:
            from webapp.services.users import create_user

            manager = session.scalar(select(User).where(User.email == "manager@example.com"))
            sales = create_user(DASH_USER, PASSWORD, "sales", "Dana Dash", manager=manager, team_name="North")
            session.commit()
        if not session.scalar(select(Lead.id).where(Lead.last_name == "Dashboard").limit(1)):
            now, i = utcnow(), 0
            for status, count, converted in MIX:
                for _ in range(count):
                    created = now - timedelta(days=1 + (i * 3) % 27, hours=i % 7)
                    session.add(Lead(first_name=f"Dash{i}", last_name="Dashboard", company=f"Dash Co {i}",
                                     status=status, converted=converted, owner_id=sales.id, team_id=sales.team_id,
                                     lead_source=SOURCES[i % len(SOURCES)], created_at=created,
                                     converted_at=created + timedelta(days=2, hours=i) if converted else None))
                    i += 1
            session.commit()
        db.session.remove()
    return True


# Outside test-results/: pytest-playwright empties that folder when any e2e session starts.
SHOTS = Path(tempfile.gettempdir()) / "dashboard-screenshots"


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot of the dashboard, kept for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def charts_drawn(page: Page) -> None:
    """Every chart of the page has a Chart.js instance (the boxes show once drawn)."""
    page.wait_for_function("""() => {
        const canvases = [...document.querySelectorAll('canvas[data-chart]')];
        return canvases.length > 0 && canvases.every((c) => window.Chart && window.Chart.getChart(c));
    }""")
    page.wait_for_timeout(400)  # the bars' short animation


def test_dashboard_is_the_home_page_and_a_funnel_link_opens_the_filtered_list(login, live_server, seeded):
    page = login(DASH_USER)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"{live_server}/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    charts_drawn(page)
    funnel = page.locator("#funnel-table")
    expect(funnel.get_by_role("row", name=re.compile(r"^Contacted\s+6\b"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Bar chart of the lead funnel"))).to_be_visible()
    shot(page, "dashboard-en")

    # The table link of a funnel bar: the lead list filtered on that status.
    funnel.get_by_role("link", name="Contacted").click()
    page.wait_for_url(re.compile(r"/leads/\?created_from=[0-9-]+&created_to=[0-9-]+&status=contacted$"))
    rows = page.locator("#lead-rows tr[data-href]")
    expect(rows).to_have_count(6)
    expect(page.get_by_label("Status")).to_have_value("contacted")


def test_a_click_on_a_chart_bar_follows_its_link(login, live_server, seeded):
    page = login(DASH_USER)
    page.goto(f"{live_server}/")
    charts_drawn(page)
    # The "Qualified" bar of the funnel (third): its centre, from the chart's own geometry.
    point = page.evaluate("""() => {
        const canvas = document.querySelector('canvas[data-chart=funnel]');
        const bar = Chart.getChart(canvas).getDatasetMeta(0).data[2];
        const box = canvas.getBoundingClientRect();
        return {x: box.left + (bar.base + bar.x) / 2, y: box.top + bar.y};
    }""")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(re.compile(r"/leads/\?created_from=[0-9-]+&created_to=[0-9-]+&status=qualified$"))
    expect(page.locator("#lead-rows tr[data-href]")).to_have_count(4)


def test_a_filter_swaps_the_figures_and_keeps_the_url(login, live_server, seeded):
    page = login(DASH_USER)
    page.goto(f"{live_server}/")
    charts_drawn(page)
    page.evaluate("window.__stillHere = true")
    page.get_by_label("Lead source", exact=True).select_option("Referral")
    page.wait_for_url(re.compile(r"[?&]source=Referral"))
    expect(page.locator("#source-table tbody tr")).to_have_count(1)
    charts_drawn(page)
    assert page.evaluate("window.__stillHere") is True, "the filter reloaded the page instead of swapping"
    # The funnel's links keep the source filter the lead list understands.
    href = page.locator("#funnel-table").get_by_role("link", name="New").get_attribute("href")
    assert "source=Referral" in href and "status=new" in href
    # A date typed picks the date range period.
    page.get_by_label("From").fill("2020-01-01")
    page.get_by_label("From").dispatch_event("change")
    page.wait_for_url(re.compile(r"period=range"))
    expect(page.get_by_label("Period")).to_have_value("range")


def test_dashboard_in_french(browser, live_server, seeded):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server}/login")
        page.locator("input[name=email]").fill("manager@example.com")
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(f"{live_server}/")
        page.goto(f"{live_server}/")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord")
        charts_drawn(page)
        expect(page.get_by_role("heading", name="Entonnoir des pistes")).to_be_visible()
        shot(page, "dashboard-fr")
    finally:
        context.close()


def test_dashboard_has_no_axe_violation(browser, live_server, seeded):
    # axe is injected: this context only lets it past the Content-Security-Policy.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server}/login")
        page.get_by_label("E-mail").fill("admin@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server}/")
        page.goto(f"{live_server}/?period=bad")
        charts_drawn(page)
        assert_accessible(page, "dashboard")
    finally:
        context.close()
