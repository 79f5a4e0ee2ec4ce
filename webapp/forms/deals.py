"""The deal form (create and edit)."""

from __future__ import annotations

from ..models import Deal
from ..services.records import KINDS
from .common import choice, column_input
from .records import RecordForm, RefField

D = Deal


class DealForm(RecordForm):
    kind = "deal"
    fields = KINDS["deal"].fields

    name = column_input(D, "name", "Deal name", required=True)
    account_id = RefField("Account")
    contact_id = RefField("Contact")
    contact_role = column_input(D, "contact_role", "Contact role")
    pipeline_id = RefField("Pipeline")
    # The service checks the stage against the chosen pipeline's stages.
    stage = choice("Stage")
    amount = column_input(D, "amount", "Amount", placeholder="0.00")
    currency = choice("Currency")
    closing_date = column_input(D, "closing_date", "Closing date")
    lead_source = column_input(D, "lead_source", "Lead source")
    campaign_id = RefField("Campaign")
    rating = column_input(D, "rating", "Rating")
