"""The deal form (create and edit)."""

from __future__ import annotations

from wtforms import DateField, DecimalField, SelectField
from wtforms.validators import NumberRange, Optional

from ..models import Deal
from ..services.records import KINDS, MAX_MONEY
from .common import strip_filter
from .records import RecordForm, RefField, _int_or_none, text

D = Deal


class DealForm(RecordForm):
    kind = "deal"
    fields = KINDS["deal"].fields

    name = text("Deal name", D.name, required=True)
    account_id = RefField("Account")
    contact_id = RefField("Contact")
    contact_role = text("Contact role", D.contact_role)
    pipeline_id = SelectField("Pipeline", coerce=_int_or_none, validate_choice=True)
    # Any text is accepted here: the service checks it against the chosen pipeline's stages.
    stage = SelectField("Stage", validate_choice=False, filters=[strip_filter])
    amount = DecimalField("Amount", [Optional(), NumberRange(min=0, max=MAX_MONEY, message="Enter an amount of zero or more.")], places=2,
                          render_kw={"inputmode": "decimal", "placeholder": "0.00"})
    currency = SelectField("Currency", validate_choice=True)
    closing_date = DateField("Closing date", [Optional()], format="%Y-%m-%d")
    lead_source = text("Lead source", D.lead_source)
    campaign_id = RefField("Campaign")
    rating = text("Rating", D.rating)
