"""Every page and fragment renders in French with nothing left in English (issue 8).

Two checks on each page: every string the page asked the catalogue for (templates' _(),
Python's gettext, the |t filter on sentences and seeded labels) has a French entry; and the
page's visible text holds none of the English words every screen used to carry. The data is
the demo data (its French-looking names and companies), so an English word is a leftover.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import flask_babel
import pytest

from tests.conftest import login
from webapp.models import Account, Contact, Conversion, Deal, Lead, User

# Words of the English interface that French never uses (the data is the demo's, in French).
ENGLISH = re.compile(r"\b(the|and|with|your|this|there|from|save|cancel|edit|delete|search|created|"
                     r"owner|leads?|accounts?|deals?|tasks?|convert|converted|show|more|none|yes|"
                     r"name|stage|amount|closing|due|open|closed|new|all|sign|out|profile|board|"
                     r"filter|clear|add|when|what|will|create|link|nothing|no)\b", re.I)


class _Text(HTMLParser):
    """The visible text of a page (no scripts, styles, or the hidden language switcher names)."""

    SKIP = {"script", "style", "template", "code", "pre"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        attrs = dict(attrs)
        for name in ("placeholder", "title", "aria-label", "alt"):
            if attrs.get(name) and not attrs.get("lang"):
                self.parts.append(attrs[name])

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


class _Recording:
    """A translations object that notes every msgid it had no entry for."""

    def __init__(self, inner, misses: set):
        self._inner, self._misses = inner, misses

    def ugettext(self, s):
        if s and s not in self._inner._catalog:
            self._misses.add(s)
        return self._inner.ugettext(s)

    gettext = ugettext

    def ungettext(self, s, p, n):
        if (s, 0) not in self._inner._catalog:
            self._misses.add(s)
        return self._inner.ungettext(s, p, n)

    ngettext = ungettext

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def misses(monkeypatch):
    seen: set[str] = set()
    original = flask_babel.Domain.get_translations

    def recording(self):
        translations = original(self)
        return _Recording(translations, seen) if str(flask_babel.get_locale()) == "fr" else translations

    monkeypatch.setattr(flask_babel.Domain, "get_translations", recording)
    return seen


@pytest.fixture
def demo(db, tmp_path):
    from webapp.seed import seed_demo

    seed_demo(db.session, leads=40, random_seed=5, upload_folder=tmp_path / "uploads")
    db.session.commit()
    admin = db.session.scalar(db.select(User).where(User.role_key == "admin"))
    if admin is None:
        from webapp.services.users import create_user

        admin = create_user("admin-fr@example.com", "correct horse battery", role="admin")
        db.session.add(admin)
        db.session.commit()
    admin.language = "fr"
    db.session.commit()
    return admin


def _pages(db) -> list[str]:
    lead = db.session.scalar(db.select(Lead).where(Lead.converted.is_(False)).order_by(Lead.id))
    converted = db.session.scalar(db.select(Lead).where(Lead.converted.is_(True)).order_by(Lead.id))
    account = db.session.scalar(db.select(Account).order_by(Account.id))
    contact = db.session.scalar(db.select(Contact).order_by(Contact.id))
    deal = db.session.scalar(db.select(Deal).order_by(Deal.id))
    conversion = db.session.scalar(db.select(Conversion).order_by(Conversion.id))
    return [
        "/", "/leads/", "/leads/?status=new", "/leads/?q=zzzz-nothing", "/leads/board", "/leads/new",
        f"/leads/{lead.id}", f"/leads/{lead.id}/edit", f"/leads/{lead.id}/convert", f"/leads/{converted.id}",
        "/accounts/", "/accounts/new", f"/accounts/{account.id}", f"/accounts/{account.id}/edit",
        "/contacts/", "/contacts/new", f"/contacts/{contact.id}", f"/contacts/{contact.id}/edit",
        "/deals/", "/deals/new", f"/deals/{deal.id}", f"/deals/{deal.id}/edit",
        f"/conversions/{conversion.id}", "/profile/", "/admin/jobs", "/leads/999999",
    ]


def _data_texts(db) -> list[str]:
    """Every text the demo data holds (Faker's English company names, notes, tags, campaign
    names, addresses) and the time zone names: they are the users', not the interface's."""
    import pytz
    from sqlalchemy import String, Text, select

    from webapp.extensions import db as _db

    texts = {z.replace("_", " ") for z in pytz.common_timezones}
    for table in _db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (String, Text)) and table.name not in ("lead_statuses", "roles", "stages"):
                texts.update(v for v in db.session.scalars(select(column).distinct()) if v and len(v) > 2)
    return sorted(texts, key=len, reverse=True)


def _english_words(html: str, data: list[str] = ()) -> list[str]:
    parser = _Text()
    parser.feed(html)
    words = set()
    for part in parser.parts:
        for value in data:
            if value in part:
                part = part.replace(value, " ")
        words.update(m.group(0) for m in ENGLISH.finditer(part))
    return sorted(words)


@pytest.mark.parametrize("fragment", [False, True], ids=["page", "fragment"])
def test_every_page_renders_in_french(client, db, demo, misses, fragment):
    login(client, demo)
    headers = {"HX-Request": "true"} if fragment else {}
    leftovers = {}
    data = _data_texts(db)
    for url in _pages(db):
        response = client.get(url, headers=headers)
        assert response.status_code in (200, 404), (url, response.status_code)
        html = response.get_data(as_text=True)
        if not fragment:
            assert '<html lang="fr">' in html, url
        words = _english_words(html, data)
        if words:
            leftovers[url] = words
    assert not misses, f"msgids without a French entry: {sorted(misses)[:20]}"
    assert not leftovers, f"English left on French pages: {leftovers}"


def test_login_page_follows_the_browser(client):
    html = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert not _english_words(html), _english_words(html)
