"""Lead forms: the create/edit form (every api.md lead field plus the lead's custom fields),
and the small forms of the lead page (typed address, campaign, product line)."""

from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, InputRequired, Length, NumberRange, Optional, ValidationError

from ..extensions import db
from ..models import ADDRESS_TYPES, Address, Campaign, CurrencyRate, Lead, Product, Team, User
from ..permissions import team_user_ids
from ..records import clean_tags, custom_fields, validate_custom
from .common import Email, Phone, Tags, split_tags, status_choices, strip_filter

SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")
RATINGS = ("Hot", "Warm", "Cold")
LEAD_SOURCES = ("Web", "Referral", "Trade show", "Cold call", "Advertisement", "Partner", "E-mail campaign")
MONEY_MAX = Decimal("99999999999999.99")  # Numeric(16, 2)
INT_MAX = 2**31 - 1


def _max(model, name: str) -> int:
    """The column's length: form limits follow the model, never a second copy of the number."""
    return model.__table__.c[name].type.length


def _text(label, name, *validators, model=Lead, **kw):
    return StringField(label, [Optional(), Length(max=_max(model, name)), *validators],
                       filters=[strip_filter], render_kw={"maxlength": _max(model, name), **kw})


def as_choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms 3.3 select choices."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def _with_current(pairs, current) -> list[SelectChoice]:
    """Choices, keeping a stored value selectable even when the list no longer offers it."""
    pairs = list(pairs)
    if current not in (None, "") and str(current) not in {str(v) for v, _ in pairs}:
        pairs.append((str(current), str(current)))
    return as_choices(pairs)


def _website(value):
    """Accept "zylker.com" as people type it: add the scheme the URL check needs."""
    value = strip_filter(value)
    if value and "://" not in value:
        value = "https://" + value
    return value


def owner_choices_for(actor: User, current_id: int | None = None, blank: str | None = None) -> list[SelectChoice]:
    """Users `actor` may assign a record to: a sales rep only themselves, a manager their team
    and reports, an administrator anyone active (plus the current owner, kept as is)."""
    query = select(User).where(User.active.is_(True)).order_by(User.name, User.id)
    scope = actor.role.scope if actor.role else "own"
    if scope == "own":
        query = query.where(User.id == actor.id)
    elif scope == "team":
        query = query.where(User.id.in_(team_user_ids(db.session, actor)))
    choices = [(str(u.id), u.display_name) for u in db.session.scalars(query)]
    if current_id is not None and str(current_id) not in {c[0] for c in choices}:
        current = db.session.get(User, current_id)
        if current is not None:
            choices.append((str(current.id), current.display_name))
    return as_choices(([("", blank)] if blank is not None else []) + choices)


def team_choices_for(actor: User, current_id: int | None = None) -> list[SelectChoice]:
    query = select(Team).order_by(Team.name)
    if not (actor.role and actor.role.scope == "all"):
        query = query.where(Team.id.in_([t for t in (actor.team_id, current_id) if t]))
    return as_choices([("", "No team")] + [(t.id, t.name) for t in db.session.scalars(query)])


def currency_choices(current: str | None = None) -> list[SelectChoice]:
    codes = [(c, c) for c in db.session.scalars(select(CurrencyRate.code).order_by(CurrencyRate.code))]
    return _with_current(codes, current)


class FiniteDecimalField(DecimalField):
    """A DecimalField that refuses NaN and Infinity (Decimal parses them; they are not amounts)."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError("Enter a number.")


def _choice(label, message, **kw):
    return SelectField(label, invalid_choice_message=message, **kw)


class LeadForm(FlaskForm):
    """Every lead field of api.md; custom fields are added per request by lead_form()."""

    lead_sources = LEAD_SOURCES  # suggestions (a datalist); any text is accepted

    salutation = _choice("Salutation", "Choose a salutation from the list.", validators=[Optional()])
    first_name = _text("First name", "first_name")
    last_name = _text("Last name", "last_name")
    company = _text("Company", "company")
    title = _text("Job title", "title")
    email = _text("E-mail", "email", Email(), type="email")
    phone = _text("Phone", "phone", Phone(), type="tel")
    mobile = _text("Mobile", "mobile", Phone(), type="tel")
    fax = _text("Fax", "fax", Phone(), type="tel")
    website = StringField("Website", [Optional(), Length(max=_max(Lead, "website")),
                                      URL(message="Enter a web address, e.g. https://zylker.com.")],
                          filters=[_website], render_kw={"maxlength": _max(Lead, "website"), "placeholder": "https://"})
    skype = _text("Skype", "skype")
    linkedin = _text("LinkedIn", "linkedin")
    twitter = _text("X / Twitter", "twitter")
    facebook = _text("Facebook", "facebook")
    industry = _text("Industry", "industry")
    annual_revenue = FiniteDecimalField(
        "Annual revenue", [Optional(), NumberRange(min=0, max=MONEY_MAX, message="Enter an amount between 0 and 99,999,999,999,999.99.")],
        places=2, render_kw={"inputmode": "decimal"})
    employees = IntegerField(
        "Employees", [Optional(), NumberRange(min=0, max=INT_MAX, message="Enter a whole number of 0 or more.")],
        render_kw={"inputmode": "numeric"})
    lead_source = _text("Lead source", "lead_source", list="lead-sources")
    status = _choice("Status", "Choose a status from the list.", validators=[InputRequired()])
    rating = _choice("Rating", "Choose a rating from the list.", validators=[Optional()])
    email_opt_out = BooleanField("Opted out of e-mail")
    description = TextAreaField("Description", [Optional(), Length(max=10_000)], filters=[strip_filter])
    street = _text("Street", "street")
    city = _text("City", "city")
    state = _text("State / region", "state")
    postal_code = _text("Postal code", "postal_code")
    country = _text("Country", "country")
    currency = _choice("Currency", "Choose a currency from the list.", validators=[InputRequired()])
    owner_id = _choice("Owner", "Choose an owner from the list.")
    team_id = _choice("Team", "Choose a team from the list.")
    tags = StringField("Tags", [Optional(), Tags()], render_kw={"placeholder": "vip, trade show 2026"})

    def setup(self, actor: User, lead: Lead | None) -> None:
        """Fill the choice lists for this user and record (no user can pick what they may not)."""
        self.salutation.choices = _with_current([("", "—")] + [(s, s) for s in SALUTATIONS], lead and lead.salutation)
        self.rating.choices = _with_current([("", "—")] + [(r, r) for r in RATINGS], lead and lead.rating)
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

    def validate_last_name(self, field):
        if not field.data and not self.company.data:
            raise ValidationError("A lead needs a last name or a company: fill at least one.")

    def custom_fields_list(self):
        return [f for f in self if f.name.startswith("custom_")]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        raw = {f.name.removeprefix("custom_"): f.data for f in self.custom_fields_list()}
        self.custom_values, errors = validate_custom(db.session, "lead", raw, partial=False)
        for key, messages in errors.items():
            field = self._fields.get("custom_" + key.removeprefix("custom."))
            if field is not None:
                field.errors = [*field.errors, *(m[0].upper() + m[1:] + "." for m in messages)]
                ok = False
        return ok

    def values(self) -> dict:
        """The validated lead columns, typed for the model."""
        from ..services.lead_records import LEAD_FIELDS

        out = {name: self[name].data for name in LEAD_FIELDS if name not in ("owner_id", "team_id")}
        out["owner_id"] = int(self.owner_id.data) if self.owner_id.data else None
        out["team_id"] = int(self.team_id.data) if self.team_id.data else None
        for name in ("salutation", "rating"):
            out[name] = out[name] or None
        return out

    def tag_list(self) -> list[str]:
        return clean_tags(split_tags(self.tags.data))


def _custom_field(cf) -> Field:
    """An input for a custom field of the given type; records.validate_custom checks the value."""
    validators = [_Required()] if cf.required else []
    length = cf.length or (10_000 if cf.type == "textarea" else 255)
    if cf.type == "checkbox":
        return BooleanField(cf.label)
    if cf.type == "picklist":
        return SelectField(cf.label, validators, choices=as_choices([("", "—")] + [(o, o) for o in (cf.options or [])]),
                           validate_choice=False)
    if cf.type == "textarea":
        return TextAreaField(cf.label, validators, render_kw={"maxlength": length})
    input_type = {"number": "number", "decimal": "number", "date": "date", "email": "email",
                  "phone": "tel", "url": "url"}.get(cf.type, "text")
    kw = {"type": input_type}
    if cf.type == "number":
        kw["step"] = "1"
    elif cf.type == "decimal":
        kw["step"] = "any"
    elif input_type != "date":
        kw["maxlength"] = length
    return StringField(cf.label, validators, render_kw=kw)


class _Required:
    """Only flags the field as required (asterisk, required attribute); validate_custom says why."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        return None


def lead_form(actor: User, lead: Lead | None = None, **kwargs) -> LeadForm:
    """A LeadForm with one input per custom field of leads, choices set for `actor`."""
    fields = custom_fields(db.session, "lead")
    form_class = type("LeadFormWithCustom", (LeadForm,), {f"custom_{cf.key}": _custom_field(cf) for cf in fields})
    form = form_class(**kwargs)
    form.setup(actor, lead)
    return form


class AddressForm(FlaskForm):
    """A typed address of a lead (C9.5)."""

    type = SelectField("Type", choices=as_choices((t, t.title()) for t in ADDRESS_TYPES),
                       invalid_choice_message="Choose billing, delivery or default.")
    street = _text("Street", "street", model=Address)
    city = _text("City", "city", model=Address)
    state = _text("State / region", "state", model=Address)
    postal_code = _text("Postal code", "postal_code", model=Address)
    country = _text("Country", "country", model=Address)

    def validate_street(self, field):
        if not any(self[n].data for n in ("street", "city", "state", "postal_code", "country")):
            raise ValidationError("Fill at least one line of the address.")


class CampaignForm(FlaskForm):
    """Add the lead to an existing campaign."""

    campaign_id = SelectField("Campaign", invalid_choice_message="Choose a campaign from the list.")

    def setup(self, member_of: set[int]) -> None:
        campaigns = db.session.scalars(select(Campaign).order_by(Campaign.name))
        self.campaign_id.choices = as_choices((c.id, c.name) for c in campaigns if c.id not in member_of)


class LineItemForm(FlaskForm):
    """A product line on the lead; the unit price defaults to the product's."""

    product_id = SelectField("Product", invalid_choice_message="Choose a product from the list.")
    quantity = FiniteDecimalField("Quantity", [InputRequired("Enter a quantity."),
                                         NumberRange(min=Decimal("0.01"), max=Decimal("9999999999"),
                                                     message="Enter a quantity above 0.")],
                            default=Decimal("1"), render_kw={"inputmode": "decimal"})
    unit_price = FiniteDecimalField("Unit price", [Optional(), NumberRange(min=0, max=MONEY_MAX,
                                                                     message="Enter a price of 0 or more.")],
                              render_kw={"inputmode": "decimal", "placeholder": "Product price"})

    def setup(self) -> None:
        products = db.session.scalars(select(Product).order_by(Product.name))
        self.product_id.choices = as_choices(
            (p.id, f"{p.name} — {p.unit_price:,.2f} {p.currency}") for p in products)
