"""Lead forms: the create/edit form (every api.md lead field plus the lead's custom fields),
and the small forms of the lead page (typed address, campaign, product line).

Widgets only: the lead service checks every value (webapp/fields.py) and its refusal is
shown next to the fields (forms.common.EditForm.apply_errors)."""

from __future__ import annotations

from sqlalchemy import select
from wtforms import StringField

from ..extensions import db
from ..models import (
    ADDRESS_TYPES,
    Address,
    Campaign,
    CurrencyRate,
    Lead,
    LineItem,
    Product,
    Team,
    User,
)
from ..services.custom_values import custom_fields
from .common import (
    EditForm,
    as_choices,
    choice,
    column_input,
    custom_input,
    owner_choices_for,
    status_choices,
    with_current,
)

SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")
RATINGS = ("Hot", "Warm", "Cold")
LEAD_SOURCES = ("Web", "Referral", "Trade show", "Cold call", "Advertisement", "Partner", "E-mail campaign")
# The lead columns of the form, as named in api.md (team_id is the form's own: see LeadForm).
LEAD_FORM_FIELDS = (
    "salutation", "first_name", "last_name", "company", "title", "email", "phone", "mobile", "fax",
    "website", "skype", "linkedin", "twitter", "facebook", "industry", "annual_revenue",
    "employees", "lead_source", "status", "rating", "email_opt_out", "description", "street",
    "city", "state", "postal_code", "country", "currency", "owner_id",
)


def team_choices_for(actor: User, current_id: int | None = None):
    query = select(Team).order_by(Team.name)
    if not (actor.role and actor.role.scope == "all"):
        query = query.where(Team.id.in_([t for t in (actor.team_id, current_id) if t]))
    return as_choices([("", "No team")] + [(t.id, t.name) for t in db.session.scalars(query)])


def currency_choices(current: str | None = None):
    codes = [(c, c) for c in db.session.scalars(select(CurrencyRate.code).order_by(CurrencyRate.code))]
    return with_current(codes, current)


def _text(label: str, name: str, model=Lead, **kw):
    return column_input(model, name, label, **kw)


class LeadForm(EditForm):
    """Every lead field of api.md; custom fields are added per request by lead_form()."""

    lead_sources = LEAD_SOURCES  # suggestions (a datalist); any text is accepted

    salutation = choice("Salutation")
    first_name = _text("First name", "first_name")
    last_name = _text("Last name", "last_name")
    company = _text("Company", "company")
    title = _text("Job title", "title")
    email = _text("E-mail", "email")
    phone = _text("Phone", "phone")
    mobile = _text("Mobile", "mobile")
    fax = _text("Fax", "fax")
    website = _text("Website", "website", placeholder="https://")
    skype = _text("Skype", "skype")
    linkedin = _text("LinkedIn", "linkedin")
    twitter = _text("X / Twitter", "twitter")
    facebook = _text("Facebook", "facebook")
    industry = _text("Industry", "industry")
    annual_revenue = _text("Annual revenue", "annual_revenue")
    employees = _text("Employees", "employees")
    lead_source = _text("Lead source", "lead_source", list="lead-sources")
    status = choice("Status", required=True)
    rating = choice("Rating")
    email_opt_out = _text("Opted out of e-mail", "email_opt_out")
    description = _text("Description", "description")
    street = _text("Street", "street")
    city = _text("City", "city")
    state = _text("State / region", "state")
    postal_code = _text("Postal code", "postal_code")
    country = _text("Country", "country")
    currency = choice("Currency", required=True)
    owner_id = choice("Owner")
    team_id = choice("Team")
    tags = StringField("Tags", render_kw={"placeholder": "vip, trade show 2026"})

    def setup(self, actor: User, lead: Lead | None) -> None:
        """Fill the choice lists for this user and record (no user can pick what they may not)."""
        self.salutation.choices = with_current([("", "—")] + [(s, s) for s in SALUTATIONS], lead and lead.salutation)
        self.rating.choices = with_current([("", "—")] + [(r, r) for r in RATINGS], lead and lead.rating)
        self.status.choices = as_choices(status_choices())
        self.currency.choices = currency_choices(lead.currency if lead else None)
        scope_all_or_team = actor.role and actor.role.scope in ("all", "team")
        self.owner_id.choices = owner_choices_for(actor, lead.owner_id if lead else None,
                                                  blank="Unassigned" if scope_all_or_team else None)
        self.team_id.choices = team_choices_for(actor, lead.team_id if lead else None)
        if lead is None:
            # A new lead (or a post that leaves these out) belongs to its creator and their team.
            if self.owner_id.data is None:
                self.owner_id.data = str(actor.id)
            if self.team_id.data is None:
                self.team_id.data = str(actor.team_id) if actor.team_id else ""
            if self.currency.data is None:
                codes = [c.value for c in self.currency.choices]
                self.currency.data = "EUR" if "EUR" in codes else (codes[0] if codes else None)
        for select_ in (self.owner_id, self.team_id):
            if select_.data is None:  # an unassigned record: the blank choice
                select_.data = ""

    def custom_fields_list(self):
        return [self[name] for name in self.custom_names()]

    def to_data(self) -> dict:
        """The lead service's data (api.md names), values as posted; the team as chosen."""
        data = {name: self[name].data for name in LEAD_FORM_FIELDS}
        data["tags"] = self.tags.data or ""
        data["custom"] = self.custom_data()
        data["team_id"] = self.team_id.data
        return data


def lead_form(actor: User, lead: Lead | None = None, **kwargs) -> LeadForm:
    """A LeadForm with one input per custom field of leads, choices set for `actor`."""
    fields = custom_fields(db.session, "lead")
    form_class = type("LeadFormWithCustom", (LeadForm,), {f"cf_{cf.key}": custom_input(cf) for cf in fields})
    form = form_class(**kwargs)
    form.setup(actor, lead)
    return form


class AddressForm(EditForm):
    """A typed address of a lead (C9.5)."""

    type = choice("Type", choices=as_choices((t, t.title()) for t in ADDRESS_TYPES))
    street = _text("Street", "street", model=Address)
    city = _text("City", "city", model=Address)
    state = _text("State / region", "state", model=Address)
    postal_code = _text("Postal code", "postal_code", model=Address)
    country = _text("Country", "country", model=Address)


class CampaignForm(EditForm):
    """Add the lead to an existing campaign."""

    campaign_id = choice("Campaign")

    def setup(self, member_of: set[int]) -> None:
        campaigns = db.session.scalars(select(Campaign).order_by(Campaign.name))
        self.campaign_id.choices = as_choices((c.id, c.name) for c in campaigns if c.id not in member_of)


class LineItemForm(EditForm):
    """A product line on the lead; the unit price defaults to the product's."""

    product_id = choice("Product")
    quantity = column_input(LineItem, "quantity", "Quantity", required=True)
    unit_price = column_input(LineItem, "unit_price", "Unit price", placeholder="Product price")

    def setup(self) -> None:
        products = db.session.scalars(select(Product).order_by(Product.name))
        self.product_id.choices = as_choices(
            (p.id, f"{p.name} — {p.unit_price:,.2f} {p.currency}") for p in products)
        if self.quantity.data is None:
            self.quantity.data = "1"
