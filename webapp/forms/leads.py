"""Lead forms: the create/edit form (every api.md lead field plus the lead's custom fields),
and the small forms of the lead page (typed address, campaign, product line).

Widgets only: the lead service checks every value (webapp/fields.py) and its refusal is
shown next to the fields (forms.common.EditForm.apply_errors)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from wtforms import StringField

from ..errors import N_
from ..extensions import db
from ..i18n import _l, fmt_money
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
    salutation_choices,
    status_choices,
    with_current,
)

# Ratings are stored in English; the choices show them in the reader's language.
RATINGS = {"Hot": _l("Hot"), "Warm": _l("Warm"), "Cold": _l("Cold")}
ADDRESS_TYPE_LABELS = {"billing": _l("Billing"), "delivery": _l("Delivery"), "default": _l("Default")}
# Stored as typed (English for these suggestions); pages show them with |t.
LEAD_SOURCES = (N_("Web"), N_("Referral"), N_("Trade show"), N_("Cold call"), N_("Advertisement"), N_("Partner"),
                N_("E-mail campaign"))
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
    return as_choices([("", _("No team"))] + [(t.id, t.name) for t in db.session.scalars(query)])


def currency_choices(current: str | None = None):
    codes = [(c, c) for c in db.session.scalars(select(CurrencyRate.code).order_by(CurrencyRate.code))]
    return with_current(codes, current)


def _text(label: str, name: str, model=Lead, **kw):
    return column_input(model, name, label, **kw)


class LeadForm(EditForm):
    """Every lead field of api.md; custom fields are added per request by lead_form()."""

    lead_sources = LEAD_SOURCES  # suggestions (a datalist); any text is accepted

    salutation = choice(_l("Salutation"))
    first_name = _text(_l("First name"), "first_name")
    last_name = _text(_l("Last name"), "last_name")
    company = _text(_l("Company"), "company")
    title = _text(_l("Job title"), "title")
    email = _text(_l("E-mail"), "email")
    phone = _text(_l("Phone"), "phone")
    mobile = _text(_l("Mobile"), "mobile")
    fax = _text(_l("Fax"), "fax")
    website = _text(_l("Website"), "website", placeholder="https://")
    skype = _text(_l("Skype"), "skype")
    linkedin = _text(_l("LinkedIn"), "linkedin")
    twitter = _text(_l("X / Twitter"), "twitter")
    facebook = _text(_l("Facebook"), "facebook")
    industry = _text(_l("Industry"), "industry")
    annual_revenue = _text(_l("Annual revenue"), "annual_revenue")
    employees = _text(_l("Employees"), "employees")
    lead_source = _text(_l("Lead source"), "lead_source", list="lead-sources")
    status = choice(_l("Status"), required=True)
    rating = choice(_l("Rating"))
    email_opt_out = _text(_l("Opted out of e-mail"), "email_opt_out")
    description = _text(_l("Description"), "description")
    street = _text(_l("Street"), "street")
    city = _text(_l("City"), "city")
    state = _text(_l("State / region"), "state")
    postal_code = _text(_l("Postal code"), "postal_code")
    country = _text(_l("Country"), "country")
    currency = choice(_l("Currency"), required=True)
    owner_id = choice(_l("Owner"))
    team_id = choice(_l("Team"))
    tags = StringField(_l("Tags"), render_kw={"placeholder": _l("vip, trade show 2026")})

    def setup(self, actor: User, lead: Lead | None) -> None:
        """Fill the choice lists for this user and record (no user can pick what they may not)."""
        self.salutation.choices = salutation_choices(lead and lead.salutation)
        self.rating.choices = with_current([("", "—"), *RATINGS.items()], lead and lead.rating)
        self.status.choices = as_choices(status_choices())
        self.currency.choices = currency_choices(lead.currency if lead else None)
        scope_all_or_team = actor.role and actor.role.scope in ("all", "team")
        self.owner_id.choices = owner_choices_for(actor, lead.owner_id if lead else None,
                                                  blank=_("Unassigned") if scope_all_or_team else None)
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

    type = choice(_l("Type"), choices=as_choices((t, ADDRESS_TYPE_LABELS.get(t, t.title())) for t in ADDRESS_TYPES))
    street = _text(_l("Street"), "street", model=Address)
    city = _text(_l("City"), "city", model=Address)
    state = _text(_l("State / region"), "state", model=Address)
    postal_code = _text(_l("Postal code"), "postal_code", model=Address)
    country = _text(_l("Country"), "country", model=Address)


class CampaignForm(EditForm):
    """Add the lead to an existing campaign."""

    campaign_id = choice(_l("Campaign"))

    def setup(self, member_of: set[int]) -> None:
        campaigns = db.session.scalars(select(Campaign).order_by(Campaign.name))
        self.campaign_id.choices = as_choices((c.id, c.name) for c in campaigns if c.id not in member_of)


class LineItemForm(EditForm):
    """A product line on the lead; the unit price defaults to the product's."""

    product_id = choice(_l("Product"))
    quantity = column_input(LineItem, "quantity", _l("Quantity"), required=True)
    unit_price = column_input(LineItem, "unit_price", _l("Unit price"), placeholder=_l("Product price"))

    def setup(self) -> None:
        products = db.session.scalars(select(Product).order_by(Product.name))
        # Built per request: the price in the reader's format ("1 250,00 €" / "€1,250.00").
        self.product_id.choices = as_choices(
            (p.id, f"{p.name} — {fmt_money(p.unit_price, p.currency)}") for p in products)
        if self.quantity.data is None:
            self.quantity.data = "1"
