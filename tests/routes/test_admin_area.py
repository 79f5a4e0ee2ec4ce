"""The admin area's frame (issue 10): the permission matrix of every /admin page, the overview,
and the audit log of settings changes (services.audit)."""

from __future__ import annotations

import re

import pytest

from webapp.models import AuditEntry
from webapp.services import audit

HX = {"HX-Request": "true"}


def admin_pages(app) -> list[tuple[str, str]]:
    """(method, URL) of every /admin rule, numeric parts filled with 1: the matrix covers pages
    added later without this test knowing them."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        url = re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)
        out += [(m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


@pytest.mark.parametrize("role", ["manager", "sales", "viewer"])
def test_every_admin_page_is_refused_to_every_other_role(app, as_user, role):
    client = as_user(role)
    pages = admin_pages(app)
    assert len(pages) >= 5
    for method, url in pages:
        assert client.open(url, method=method).status_code == 403, (method, url)
        assert client.open(url, method=method, headers=HX).status_code == 403, (method, url)


def test_anonymous_visitors_of_any_admin_page_are_sent_to_the_login(app, as_user):
    client = as_user("anonymous")
    for method, url in admin_pages(app):
        response = client.open(url, method=method)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (method, url)


def test_the_overview_lists_the_sections_that_exist(as_user):
    page = as_user("admin").get("/admin/").get_data(as_text=True)
    assert "Administration" in page and 'href="/admin/jobs"' in page and 'href="/admin/audit"' in page
    assert 'aria-current="page"' in page


def test_an_update_records_only_what_changed_and_nothing_when_nothing_did(db, users):
    admin = users["admin"]
    assert audit.record(db.session, admin, "lead_status", "new", "updated", {"label": "New", "position": 1},
                        {"label": "New", "position": 1}) is None
    entry = audit.record(db.session, admin, "lead_status", "new", "updated", {"label": "New", "position": 1},
                         {"label": "Fresh", "position": 1})
    db.session.commit()
    assert (entry.before, entry.after, entry.actor_id) == ({"label": "New"}, {"label": "Fresh"}, admin.id)


def test_the_audit_log_pages_and_filters_by_setting(app, db, as_user, users):
    admin = users["admin"]
    for i in range(25):
        audit.record(db.session, admin, "pipeline" if i % 2 else "lead_status", f"k{i}", "created",
                     after={"name": f"Thing {i}"})
    db.session.commit()
    client = as_user("admin")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "Thing 24" in page and "Thing 4" not in page and "Older changes" in page
    older = re.search(r'href="(/admin/audit\?[^"]*before=\d+)"', page).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert "Thing 4" in second and "Thing 24" not in second
    fragment = client.get("/admin/audit?area=pipeline", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and "Thing 23" in fragment and "Thing 22" not in fragment
    # An unknown area filters nothing; an empty log says so.
    assert "Thing 24" in client.get("/admin/audit?area=nope").get_data(as_text=True)
    db.session.query(AuditEntry).delete()
    db.session.commit()
    assert "No settings change has been recorded yet." in client.get("/admin/audit").get_data(as_text=True)


def test_the_audit_log_shows_before_and_after_in_french(db, as_user, users):
    audit.record(db.session, users["admin"], "lead_status", "new", "updated", {"label": "New"}, {"label": "Neuf"})
    db.session.commit()
    client = as_user("admin")
    client.post("/profile/language", data={"language": "fr"})
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "New" in page and "Neuf" in page and "→" in page
