"""The deal form (create and edit)."""

from __future__ import annotations

from ..i18n import _l
from ..models import Deal
from ..services.records import KINDS
from .common import choice, column_input
from .records import RecordForm, RefField

D = Deal


class DealForm(RecordForm):
    kind = "deal"
    fields = KINDS["deal"].fields

    name = column_input(D, "name", _l("Deal name"), required=True)
    account_id = RefField(_l("Account"))
    contact_id = RefField(_l("Contact"))
    contact_role = column_input(D, "contact_role", _l("Contact role"))
    pipeline_id = RefField(_l("Pipeline"))
    # The service checks the stage against the chosen pipeline's stages.
    stage = choice(_l("Stage"))
    amount = column_input(D, "amount", _l("Amount"), placeholder=_l("0.00"))
    currency = choice(_l("Currency"))
    closing_date = column_input(D, "closing_date", _l("Closing date"))
    lead_source = column_input(D, "lead_source", _l("Lead source"))
    campaign_id = RefField(_l("Campaign"))
    rating = column_input(D, "rating", _l("Rating"))
