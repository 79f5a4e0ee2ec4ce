"""Demo data (Faker, French and English): users, accounts, contacts, deals, leads and the C4 duplicates.

`seed_demo` adds and flushes, never commits. A first call also creates the demo users, the
catalogue (campaigns, products, tags), the custom fields and the named duplicate scenarios of
spec C4 (their leads say which rule they exercise in their description); every further call
only adds more random accounts, contacts, deals and leads, so re-running never fails and never
creates a second copy of a scenario or a unique custom value.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from faker import Faker
from sqlalchemy import func, select

# The key set_custom stores, so that demo values are found like typed ones (C4.1 a/b).
from .errors import N_
from .fields import custom_spec
from .models import (
    Account,
    Address,
    Attachment,
    Campaign,
    CampaignMember,
    Contact,
    Conversion,
    CustomField,
    CustomFieldValue,
    Deal,
    Lead,
    LeadStatus,
    LineItem,
    Note,
    Pipeline,
    Product,
    Tag,
    Tagging,
    Task,
    User,
    record_event,
    utcnow,
)
from .normalize import LEGAL_FORMS, words
from .services.custom_values import custom_norm

DEMO_PASSWORD = "demo-password"
# (e-mail, name, role, team, manager e-mail): two teams, each with its manager.
DEMO_USERS = (
    ("claire.dubois@example.com", "Claire Dubois", "manager", "Paris", None),
    ("hugo.bernard@example.com", "Hugo Bernard", "sales", "Paris", "claire.dubois@example.com"),
    ("lea.moreau@example.com", "Léa Moreau", "sales", "Paris", "claire.dubois@example.com"),
    ("james.carter@example.com", "James Carter", "manager", "London", None),
    ("emily.clark@example.com", "Emily Clark", "sales", "London", "james.carter@example.com"),
    ("oliver.wright@example.com", "Oliver Wright", "sales", "London", "james.carter@example.com"),
    ("victor.viewer@example.com", "Victor Lambert", "viewer", None, None),
)
SCENARIO_PREFIX = "Demo scenario"
LOCALES = ("fr_FR", "en_US")
COUNTRY = {"fr_FR": "France", "en_US": "United States"}
CURRENCY = {"fr_FR": "EUR", "en_US": "USD"}
TLD = {"fr_FR": "fr", "en_US": "com"}
INDUSTRIES = ("Software", "Manufacturing", "Retail", "Healthcare", "Finance", "Logistics",
              "Energy", "Education", "Hospitality", "Construction")
SOURCES = (N_("Web form"), N_("Trade show"), N_("Referral"), N_("Cold call"), N_("Partner"), N_("Advertisement"),
           N_("Webinar"))
RATINGS = ("Hot", "Warm", "Cold")
TITLES = ("CEO", "CTO", "Head of Sales", "Purchasing Manager", "Directrice commerciale",
          "Responsable achats", "Office Manager", "IT Director", "Chef de projet", "CFO")
TAGS = ("hot", "trade-show", "partner", "newsletter", "VIP", "follow-up", "webinar", "referral")
CAMPAIGNS = ("Salon VivaTech", "Spring webinar series", "Newsletter Q2", "Partner referral programme",
             "Google Ads – CRM", "London trade show")
PRODUCTS = (  # sku, name, unit price, currency
    ("CRM-START", "CRM Starter licence (user/year)", "240", "EUR"),
    ("CRM-PRO", "CRM Professional licence (user/year)", "540", "EUR"),
    ("CRM-ENT", "CRM Enterprise licence (user/year)", "960", "EUR"),
    ("ONB-DAY", "Onboarding day", "900", "EUR"),
    ("TRN-SEAT", "Training seat", "350", "EUR"),
    ("SUP-PREM", "Premium support (year)", "2400", "EUR"),
    ("API-PACK", "API call pack (1M)", "120", "USD"),
    ("MIG-DATA", "Data migration", "3200", "USD"),
)
SEGMENTS = ("SMB", "Mid-market", "Enterprise")
NOTES = (
    "Called {first}: interested in {product}, wants a quote before the end of the month.",
    "Met {first} at the booth; {company} runs a home-made tool and is looking to replace it.",
    "Appel avec {first} : budget validé, décision attendue en comité le mois prochain.",
    "{first} a demandé une démo pour l'équipe commerciale de {company}.",
    "Sent the pricing sheet; {first} compares us with two competitors.",
    "Relance par e-mail, pas de réponse. Rappeler dans deux semaines.",
)
TASKS = ("Call back {first}", "Send the quote to {company}", "Demo for {company}",
         "Relancer {first}", "Préparer la proposition pour {company}", "Follow-up e-mail")


@dataclass
class _Seeder:
    """State shared by the steps of one seeding: session, randomness, users, counts."""

    session: object
    rng: random.Random
    fake: Faker
    upload_folder: Path | None
    now: datetime = field(default_factory=utcnow)
    counts: dict[str, int] = field(default_factory=dict)
    owners: list[User] = field(default_factory=list)
    tags: dict[str, Tag] = field(default_factory=dict)
    fields: dict[tuple[str, str], CustomField] = field(default_factory=dict)
    campaigns: list[Campaign] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    statuses: list[LeadStatus] = field(default_factory=list)
    pipeline: Pipeline | None = None
    used_unique: set[str] = field(default_factory=set)

    def count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def add(self, obj, kind: str):
        self.session.add(obj)
        self.count(kind)
        return obj

    # --- random values -------------------------------------------------------------
    def locale(self) -> str:
        return self.rng.choices(LOCALES, weights=(6, 4))[0]

    def past(self, days: int = 365) -> datetime:
        return self.now - timedelta(days=self.rng.uniform(0, days))

    def owner(self) -> User:
        return self.rng.choice(self.owners)

    def domain(self, company: str, loc: str) -> str:
        kept = [w for w in words(company) if w not in LEGAL_FORMS] or ["mail"]
        return "-".join(kept[:2]) + "." + TLD[loc]

    def email(self, first: str, last: str, domain: str) -> str:
        local = ".".join(w for w in words(f"{first} {last}"))
        return f"{local}@{domain}"

    def address(self, loc: str) -> dict:
        g = self.fake[loc]
        return {"street": g.street_address(), "city": g.city(), "postal_code": g.postcode(),
                "state": g.state() if loc == "en_US" else None, "country": COUNTRY[loc]}

    # --- records -------------------------------------------------------------------
    def account(self, name: str | None = None, loc: str | None = None, **kw) -> Account:
        loc = loc or self.locale()
        g = self.fake[loc]
        name = name or g.company()
        owner = kw.pop("owner", None) or self.owner()
        billing = self.address(loc)
        shipping = billing if self.rng.random() < 0.6 else self.address(loc)
        values = dict(
            name=name, industry=self.rng.choice(INDUSTRIES), website="https://www." + self.domain(name, loc),
            phone=g.phone_number(), employees=self.rng.choice((8, 25, 60, 140, 450, 1200, 5000)),
            annual_revenue=Decimal(self.rng.randrange(200, 50000)) * 1000,
            owner_id=owner.id, team_id=owner.team_id, created_at=self.past(),
            **{f"billing_{k}": v for k, v in billing.items()},
            **{f"shipping_{k}": v for k, v in shipping.items()},
        )
        values.update(kw)
        return self.add(Account(**values), "accounts")

    def contact(self, account: Account | None = None, loc: str | None = None, **kw) -> Contact:
        loc = loc or self.locale()
        g = self.fake[loc]
        first, last = kw.pop("first_name", None) or g.first_name(), kw.pop("last_name", None) or g.last_name()
        domain = self.domain(account.name, loc) if account else f"{self.rng.choice(('gmail', 'outlook'))}.com"
        owner = kw.pop("owner", None) or (account.owner if account and account.owner else self.owner())
        addr = self.address(loc)
        values = dict(
            salutation=self.rng.choice(("Mr.", "Ms.", "Dr.", None)), first_name=first, last_name=last,
            title=self.rng.choice(TITLES), email=self.email(first, last, domain), phone=g.phone_number(),
            lead_source=self.rng.choice(SOURCES), account=account, owner_id=owner.id,
            team_id=owner.team_id, created_at=self.past(),
            **{f"mailing_{k}": v for k, v in addr.items()},
        )
        values.update(kw)
        return self.add(Contact(**values), "contacts")

    def lead(self, loc: str | None = None, **kw) -> Lead:
        """A lead with random values; keyword arguments override them (None empties a field)."""
        loc = loc or self.locale()
        g = self.fake[loc]
        first, last, company = g.first_name(), g.last_name(), g.company()
        owner = kw.pop("owner", None) or self.owner()
        values = dict(
            salutation=self.rng.choice(("Mr.", "Ms.", None)), first_name=first, last_name=last,
            company=company, title=self.rng.choice(TITLES),
            email=self.email(first, last, self.domain(company, loc)), phone=g.phone_number(),
            mobile=g.phone_number() if self.rng.random() < 0.3 else None,
            website="https://www." + self.domain(company, loc), industry=self.rng.choice(INDUSTRIES),
            annual_revenue=Decimal(self.rng.randrange(100, 20000)) * 1000,
            employees=self.rng.choice((5, 12, 40, 90, 300, 800)), lead_source=self.rng.choice(SOURCES),
            rating=self.rng.choice(RATINGS), status="new", currency=CURRENCY[loc],
            owner_id=owner.id, team_id=owner.team_id, created_at=self.past(180),
            **self.address(loc),
        )
        values.update(kw)
        values["updated_at"] = values["created_at"]
        return self.add(Lead(**values), "leads")

    def custom(self, parent_type: str, parent_id: int, **values) -> None:
        """Text custom values on a record that has none yet (rows added directly: set_custom
        would query and flush once per record, seconds for a few hundred leads on PostgreSQL)."""
        for key, raw in values.items():
            f = self.fields[(parent_type, key)]
            value = custom_spec(f).parse(raw)
            self.add(CustomFieldValue(field=f, parent_type=parent_type, parent_id=parent_id,
                                      value_text=value, value_norm=custom_norm(f, value)), "custom_values")

    def tag(self, parent_type: str, parent_id: int, names) -> None:
        for name in names:
            self.add(Tagging(tag=self.tags[name], parent_type=parent_type, parent_id=parent_id), "taggings")


def _ensure_users(s: _Seeder) -> None:
    """The demo users (password DEMO_PASSWORD), created only when their e-mail is free."""
    from .services.users import create_user

    by_email: dict[str, User] = {}
    for email, name, role, team, manager in DEMO_USERS:
        user = s.session.scalar(select(User).where(func.lower(User.email) == email))
        if user is None:
            user = create_user(email, DEMO_PASSWORD, role, name, by_email.get(manager), team)
            s.count("users")
        by_email[email] = user
    s.owners = [u for u in by_email.values() if u.role_key in ("sales", "manager")]
    # Sales reps own most records; managers own a few.
    s.owners += [u for u in s.owners if u.role_key == "sales"] * 2


def _ensure_catalogue(s: _Seeder) -> None:
    """Tags, campaigns, products, custom fields: reused when they exist."""
    session = s.session
    for name in TAGS:
        s.tags[name] = session.scalar(select(Tag).where(Tag.name == name)) or s.add(Tag(name=name), "tags")
    for name in CAMPAIGNS:
        s.campaigns.append(session.scalar(select(Campaign).where(Campaign.name == name))
                           or s.add(Campaign(name=name), "campaigns"))
    for sku, name, price, currency in PRODUCTS:
        s.products.append(session.scalar(select(Product).where(Product.sku == sku)) or s.add(
            Product(sku=sku, name=name, unit_price=Decimal(price), currency=currency), "products"))
    # Unique fields mapped from the lead drive C4.1 (a) and (b); carry_over maps the lead
    # field to the same key on the target (C3.3). "segment" is required on leads (C7.4).
    specs = (
        ("contact", "national_id", "National ID (SSN)", dict(type="text", length=30, unique=True)),
        ("account", "linkedin_id", "Company LinkedIn ID", dict(type="text", length=100, unique=True)),
        ("lead", "national_id", "National ID (SSN)", dict(type="text", length=30, carry_over=True)),
        ("lead", "linkedin_id", "Company LinkedIn ID", dict(type="text", length=100, carry_over=True)),
        ("lead", "segment", "Segment", dict(type="picklist", options=list(SEGMENTS), required=True)),
    )
    for position, (entity, key, label, kw) in enumerate(specs):
        cf = session.scalar(select(CustomField).where(CustomField.entity == entity, CustomField.key == key))
        s.fields[(entity, key)] = cf or s.add(
            CustomField(entity=entity, key=key, label=label, position=position, **kw), "custom_fields")
    s.statuses = list(session.scalars(select(LeadStatus).order_by(LeadStatus.position)))
    s.pipeline = session.scalar(select(Pipeline).where(Pipeline.is_default.is_(True)))
    session.flush()
    for entity, key in (("contact", "national_id"), ("account", "linkedin_id")):
        s.used_unique |= set(session.scalars(select(CustomFieldValue.value_text).where(
            CustomFieldValue.field_id == s.fields[(entity, key)].id)))


def _scenarios(s: _Seeder) -> list[Lead]:
    """The duplicate cases of spec C4 and seed 004's scenario tables, each lead saying which."""
    rep = next(u for u in s.owners if u.role_key == "sales")
    acc, con, lead = s.account, s.contact, s.lead

    zylker = acc("Zylker Inc.", "en_US", owner=rep)
    acc("Ébène Conseil SAS", "fr_FR", owner=rep)
    lumiere = acc("Atelier Lumière", "fr_FR", owner=rep)
    initech = acc("Initech SA", "fr_FR", owner=rep)
    acc("Globex Industries", "en_US", owner=rep)
    umbrella = acc("Umbrella Health Ltd", "en_US", owner=rep)
    s.session.flush()
    # LinkedIn IDs on two accounts (C4.1 b, C4.6).
    s.custom("account", initech.id, linkedin_id="initech-sa")
    s.custom("account", umbrella.id, linkedin_id="umbrella-health")

    con(zylker, "en_US", first_name="Charles", last_name="Stone", email="charles.s@zylker.com", owner=rep)
    con(None, "fr_FR", first_name="Nadia", last_name="Haddad", email="nadia.haddad@gmail.com", owner=rep)
    con(None, "fr_FR", first_name="Paul", last_name="Girard", email="paul.girard@outlook.com", owner=rep)
    con(lumiere, "fr_FR", first_name="Émilie", last_name="Rousseau",
                 email="emilie.rousseau@atelier-lumiere.fr", owner=rep)
    con(initech, "fr_FR", first_name="Peter", last_name="Gibbons", email="peter.gibbons@initech.fr", owner=rep)
    con(initech, "fr_FR", first_name="Samir", last_name="Nagheenanajar", email="samir@initech.fr", owner=rep)
    sophie = con(None, "fr_FR", first_name="Sophie", last_name="Lefèvre", email="sophie.lefevre@free.fr", owner=rep)
    amy = con(None, "en_US", first_name="Amy", last_name="Walsh", email="amy.walsh@gmail.com", owner=rep)
    s.session.flush()
    s.custom("contact", sophie.id, national_id="2 84 07 75 112 034 71")
    s.custom("contact", amy.id, national_id="523-45-6789")

    # (case, description, lead values, lead custom values)
    cases = [
        ("C4.1c", "same e-mail as contact Charles Stone (other case, spaces)",
         dict(first_name="Charles", last_name="Stone", company="Zylker Inc.",
              email="  Charles.S@ZYLKER.com ", loc="en_US"), {}),
        ("C4.1d", "company matches account Zylker Inc. (no legal form, upper case)",
         dict(first_name="Dana", last_name="Whitfield", company="ZYLKER",
              email="dana.whitfield@zylker.com", loc="en_US"), {}),
        ("C4.1d", "company matches account Ébène Conseil SAS (no accents, no legal form)",
         dict(first_name="Julien", last_name="Marchand", company="Ebene conseil",
              email="j.marchand@ebene-conseil.fr", loc="fr_FR"), {}),
        ("C4.4", "same e-mail as contact Nadia Haddad, who has no account; company matches "
                 "account Atelier Lumière",
         dict(first_name="Nadia", last_name="Haddad", company="ATELIER LUMIERE",
              email="Nadia.Haddad@gmail.com", loc="fr_FR"), {}),
        ("C4.4", "same e-mail as contact Paul Girard, who has no account; company is new",
         dict(first_name="Paul", last_name="Girard", company="Girard Menuiserie SARL",
              email="paul.girard@outlook.com", loc="fr_FR"), {}),
        ("C4.2", "name only (no e-mail, no company): matches contact Émilie Rousseau by full name",
         dict(first_name="emilie", last_name="ROUSSEAU", company=None, email=None, loc="fr_FR"), {}),
        ("C4.2", "name only (no e-mail, no company): matches contact Charles Stone by full name",
         dict(first_name="Charles", last_name="Stone", company=None, email=None, loc="en_US"), {}),
        ("C4.2", "same name as contact Charles Stone but an e-mail and a new company: a "
                 "suggestion only, never merged automatically",
         dict(first_name="Charles", last_name="Stone", company="Stone Consulting LLC",
              email="charles@stoneconsulting.com", loc="en_US"), {}),
        ("C2.4", "company only (no person name): converts to an account",
         dict(first_name=None, last_name=None, salutation=None, title=None, company="Vandelay Imports",
              email="info@vandelay-imports.com", loc="en_US"), {}),
        ("C2.4", "company only, matching account Globex Industries",
         dict(first_name=None, last_name=None, salutation=None, title=None, company="Globex Industries Inc",
              email=None, loc="en_US"), {}),
        ("C4.5", "company matches account Initech SA, which has contact Peter Gibbons with the "
                 "lead's e-mail",
         dict(first_name="Peter", last_name="Gibbons", company="INITECH S.A.",
              email="peter.gibbons@initech.fr", loc="fr_FR"), {}),
        ("C4.6", "LinkedIn ID of account Initech SA (company spelled differently); e-mail of its "
                 "contact Peter Gibbons",
         dict(first_name="Peter", last_name="Gibbons", company="Initech Europe",
              email="PETER.GIBBONS@initech.fr", loc="fr_FR"), {"linkedin_id": "initech-sa"}),
        ("C4.6", "LinkedIn ID of account Initech SA; name of its contact Samir Nagheenanajar, "
                 "another e-mail",
         dict(first_name="Samir", last_name="Nagheenanajar", company="Initech Paris",
              email="samir.n@gmail.com", loc="fr_FR"), {"linkedin_id": "initech-sa"}),
        ("C4.6", "LinkedIn ID of account Umbrella Health Ltd; no contact there: a new one joins it",
         dict(first_name="Grace", last_name="Holloway", company="Umbrella Clinics",
              email="grace.holloway@umbrella-health.com", loc="en_US"), {"linkedin_id": "umbrella-health"}),
        ("C4.1a", "SSN of contact Sophie Lefèvre (no account) and LinkedIn ID of account Umbrella "
                  "Health Ltd",
         dict(first_name="Sophie", last_name="Lefevre", company="Umbrella Health",
              email="s.lefevre@umbrella-health.com", loc="fr_FR"),
         {"national_id": "2 84 07 75 112 034 71", "linkedin_id": "umbrella-health"}),
        ("C4.1a", "SSN of contact Amy Walsh (no account); no LinkedIn ID, company matches account "
                  "Globex Industries",
         dict(first_name="Amy", last_name="Walsh", company="Globex Industries",
              email="amy.walsh@globex.com", loc="en_US"), {"national_id": "523-45-6789"}),
        ("C4.1a", "SSN of contact Amy Walsh; no LinkedIn ID and a company no account has: a new account",
         dict(first_name="Amy", last_name="Walsh", company="Walsh & Daughters",
              email="amy@walsh-daughters.com", loc="en_US"), {"national_id": "523-45-6789"}),
        ("C7.4", "the required field Segment is empty: conversion asks for it",
         dict(first_name="Bruno", last_name="Petit", company="Petit Transports",
              email="bruno@petit-transports.fr", loc="fr_FR"), {"segment": None}),
        ("C7.4", "the required field Segment is empty",
         dict(first_name="Megan", last_name="Ross", company="Ross Bakery",
              email="megan@rossbakery.com", loc="en_US"), {"segment": None}),
        ("C5.3", "amounts in GBP (another currency than the base EUR)",
         dict(first_name="Harriet", last_name="Owens", company="Owens & Partners Ltd",
              email="harriet@owenspartners.co.uk", country="United Kingdom", currency="GBP",
              loc="en_US"), {}),
        ("C5.3", "amounts in CHF",
         dict(first_name="Luca", last_name="Meier", company="Meier Uhren AG", email="luca@meier-uhren.ch",
              country="Switzerland", currency="CHF", loc="fr_FR"), {}),
    ]
    made = []
    for i, (case, text, values, custom) in enumerate(cases):
        values = dict(values)
        loc = values.pop("loc")
        status = ("new", "contacted", "qualified")[i % 3]
        obj = lead(loc, owner=rep, status=status, description=f"{SCENARIO_PREFIX} {case}: {text}.", **values)
        made.append((obj, {"segment": s.rng.choice(SEGMENTS), **custom}))
    s.session.flush()
    for obj, custom in made:
        s.custom("lead", obj.id, **{k: v for k, v in custom.items() if v is not None})
    return [obj for obj, _ in made]


def _random_records(s: _Seeder, n_leads: int) -> list[Lead]:
    """Accounts (some subsidiaries), contacts, deals with line items, and `n_leads` random leads."""
    rng = s.rng
    accounts: list[Account] = []
    for _ in range(max(5, n_leads // 6)):
        parent = rng.choice(accounts) if accounts and rng.random() < 0.15 else None
        accounts.append(s.account(parent=parent))
    contacts = [s.contact(a) for a in accounts for _ in range(rng.randint(1, 3))]
    contacts += [s.contact(None) for _ in range(max(2, n_leads // 30))]
    s.session.flush()
    for a in rng.sample(accounts, len(accounts) // 4):
        value = f"{words(a.name)[0]}-{rng.randrange(10**6):06d}"
        if value not in s.used_unique:
            s.used_unique.add(value)
            s.custom("account", a.id, linkedin_id=value)
    stages = s.pipeline.stages if s.pipeline else []
    deals = []
    for a in rng.sample(accounts, len(accounts) // 2):
        stage = rng.choice(stages) if stages else None
        product = rng.choice(s.products)
        people = [c for c in contacts if c.account is a]
        deal = s.add(Deal(
            name=f"{a.name} – {product.name.split(' (')[0]}", account=a,
            contact=rng.choice(people) if people else None, pipeline=s.pipeline,
            stage=stage.name if stage else None, amount=Decimal(rng.randrange(2, 120)) * 500,
            currency="USD" if a.billing_country == COUNTRY["en_US"] else "EUR",
            closing_date=(s.now + timedelta(days=rng.randint(-60, 120))).date(),
            lead_source=rng.choice(SOURCES), campaign_id=None, owner_id=a.owner_id, team_id=a.team_id,
            created_at=s.past(200)), "deals")
        deals.append(deal)
    s.session.flush()
    for deal in deals:
        _line_items(s, "deal", deal.id)

    # Statuses round-robin first so that every one (open, closed, converted) has leads.
    keys = [st.key for st in s.statuses]
    weights = {"open": 10, "closed": 3, "converted": 1}
    w = [weights.get(st.category, 1) for st in s.statuses]
    converted = {st.key for st in s.statuses if st.category == "converted"}
    leads = []
    for i in range(n_leads):
        kw = {}
        if i >= len(keys) and rng.random() < 0.08 and contacts:
            # An unmarked duplicate: the e-mail of an existing contact, as real imports have.
            c = rng.choice(contacts)
            kw = dict(first_name=c.first_name, last_name=c.last_name, email=c.email.upper(),
                      company=c.account.name if c.account else None)
        elif rng.random() < 0.1:
            kw = dict(company=None)
        status = keys[i] if i < len(keys) else rng.choices(keys, weights=w)[0]
        if kw.get("email") and status in converted:
            status = keys[0]  # a converted duplicate would have been merged, not copied
        leads.append(s.lead(status=status, **kw))
    s.session.flush()
    return leads


def _line_items(s: _Seeder, parent_type: str, parent_id: int) -> None:
    for product in s.rng.sample(s.products, s.rng.randint(1, 3)):
        s.add(LineItem(parent_type=parent_type, parent_id=parent_id, product_id=product.id,
                       quantity=Decimal(s.rng.choice((1, 2, 5, 10, 25))), unit_price=product.unit_price,
                       discount=Decimal(s.rng.choice((0, 0, 50, 100)))), "line_items")


def _lead_details(s: _Seeder, leads: list[Lead], scenario_ids: set[int]) -> None:
    """Tags, custom values, notes, tasks, attachments, campaigns, line items, addresses, timeline."""
    rng = s.rng
    category = {st.key: st.category for st in s.statuses}
    today = s.now.date()
    converted = []
    for lead in leads:
        ctx = {"first": lead.first_name or "the buyer", "company": lead.company or "them",
               "product": rng.choice(s.products).name}
        record_event(s.session, "lead", lead.id, "created", "Lead created", lead.owner_id)
        s.count("timeline_events")
        if lead.id not in scenario_ids:
            s.custom("lead", lead.id, segment=rng.choice(SEGMENTS))
        if rng.random() < 0.4:
            s.tag("lead", lead.id, rng.sample(TAGS, rng.randint(1, 3)))
        if category[lead.status] == "converted":
            converted.append(lead)
            continue
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            s.add(Note(body=rng.choice(NOTES).format(**ctx), parent_type="lead", parent_id=lead.id,
                       author_id=lead.owner_id, created_at=s.past(90)), "notes")
        for _ in range(rng.choice((0, 1, 1, 2))):
            due = today + timedelta(days=rng.randint(-30, 45))
            done = due < today and rng.random() < 0.6
            s.add(Task(kind=rng.choice(("task", "call", "meeting", "email")),
                       subject=rng.choice(TASKS).format(**ctx), due_date=due,
                       status="done" if done else "open", owner_id=lead.owner_id,
                       parent_type="lead", parent_id=lead.id), "tasks")
        if rng.random() < 0.3:
            for campaign in rng.sample(s.campaigns, rng.randint(1, 2)):
                s.add(CampaignMember(campaign_id=campaign.id, parent_type="lead", parent_id=lead.id,
                                     member_status=rng.choice(("sent", "opened", "responded"))),
                      "campaign_members")
        if rng.random() < 0.15:
            _line_items(s, "lead", lead.id)
        if rng.random() < 0.2:
            loc = "fr_FR" if lead.currency == "EUR" else "en_US"
            s.add(Address(parent_type="lead", parent_id=lead.id, type=rng.choice(("billing", "delivery")),
                          **s.address(loc)), "addresses")
        if s.upload_folder is not None and rng.random() < 0.1:
            _attachment(s, lead, ctx)
    _convert_all(s, converted)


def _attachment(s: _Seeder, lead: Lead, ctx: dict) -> None:
    body = (f"Meeting notes — {lead.display_name}\n\n" + NOTES[0].format(**ctx) + "\n").encode()
    # Stored names are random like real uploads (never guessable); the content is seeded.
    storage = uuid.uuid4().hex
    (s.upload_folder / storage).write_bytes(body)
    s.add(Attachment(parent_type="lead", parent_id=lead.id, filename="meeting-notes.txt",
                     content_type="text/plain", size=len(body), storage_name=storage,
                     uploaded_by=lead.owner_id), "attachments")


def _convert_all(s: _Seeder, leads: list[Lead]) -> None:
    """Leads converted earlier: their contact (and account), conversion record, links both ways."""
    made = []
    for lead in leads:
        account = contact = None
        if lead.company:
            account = s.account(lead.company, owner=lead.owner, industry=lead.industry, website=lead.website)
        if lead.first_name or lead.last_name:
            contact = s.contact(account, first_name=lead.first_name, last_name=lead.last_name,
                                email=lead.email, phone=lead.phone, title=lead.title,
                                lead_source=lead.lead_source, owner=lead.owner)
        made.append((lead, account, contact))
    s.session.flush()
    conversions = []
    for lead, account, contact in made:
        conversions.append(s.add(Conversion(
            lead_id=lead.id, created_by=lead.owner_id,
            created_at=lead.created_at + timedelta(days=s.rng.randint(1, 20)),
            options={"account": {"action": "create"} if account else None,
                     "contact": {"action": "create"} if contact else None, "deal": None, "task": None},
            account_id=account.id if account else None, account_action="created" if account else "none",
            contact_id=contact.id if contact else None, contact_action="created" if contact else "none",
            lead_before={"status": "qualified", "converted": False}), "conversions"))
    s.session.flush()
    for (lead, account, contact), conversion in zip(made, conversions, strict=True):
        lead.converted, lead.conversion_id, lead.converted_at = True, conversion.id, conversion.created_at
        links = [{"type": kind, "id": rec.id, "label": rec.display_name}
                 for kind, rec in (("account", account), ("contact", contact)) if rec is not None]
        record_event(s.session, "lead", lead.id, "converted", "Converted", lead.owner_id, {"links": links})
        for link in links:
            record_event(s.session, link["type"], link["id"], "created_from_lead",
                         f"Created from lead {lead.display_name}", lead.owner_id,
                         {"links": [{"type": "lead", "id": lead.id, "label": lead.display_name}]})
        s.count("timeline_events", 1 + len(links))


def seed_demo(session, leads: int = 300, random_seed: int | None = None,
              upload_folder: str | Path | None = None) -> dict[str, int]:
    """Add demo data (adds and flushes, never commits) and return the counts added by kind.

    `upload_folder`: where attachment files are written (None: no attachments). Users are
    created with webapp.services.users.create_user (so `session` must be db.session) with the password
    DEMO_PASSWORD. Deterministic for a given `random_seed`, apart from file storage names.
    """
    s = _Seeder(session=session, rng=random.Random(random_seed), fake=Faker(list(LOCALES)),
                upload_folder=Path(upload_folder) if upload_folder else None)
    if random_seed is not None:
        s.fake.seed_instance(random_seed)
    if s.upload_folder is not None:
        s.upload_folder.mkdir(parents=True, exist_ok=True)
    _ensure_users(s)
    _ensure_catalogue(s)
    scenario = []
    already = session.scalar(select(Lead.id).where(Lead.description.startswith(SCENARIO_PREFIX)).limit(1))
    if already is None and leads > 0:
        scenario = _scenarios(s)
    random_leads = _random_records(s, max(0, leads - len(scenario)))
    _lead_details(s, scenario + random_leads, {lead.id for lead in scenario})
    session.flush()
    return dict(sorted(s.counts.items()))
