"""The lead statuses page's forms (admin, issue 10 item 4): widgets only — services.statuses
judges every value (the label's and key's column rules, the categories) and the errors come
back next to their fields through EditForm.apply_errors."""

from __future__ import annotations

from ..i18n import _l
from ..models import LeadStatus
from ..services.statuses import CATEGORIES, KEY_MAX
from .common import EditForm, as_choices, choice, column_input

CATEGORY_LABELS = {"open": _l("Open"), "closed": _l("Closed"), "converted": _l("Converted")}


class AddStatusForm(EditForm):
    label = column_input(LeadStatus, "label", _l("Label"), required=True)
    category = choice(_l("Category"))
    key = column_input(LeadStatus, "key", _l("Key (optional)"), autocomplete="off", spellcheck="false",
                       maxlength=KEY_MAX)

    def setup(self) -> AddStatusForm:
        self.category.choices = as_choices((c, CATEGORY_LABELS[c]) for c in CATEGORIES)
        return self

    def to_data(self) -> dict:
        return {"label": self.label.data, "category": self.category.data, "key": self.key.data}


class DeleteStatusForm(EditForm):
    move_to = choice(_l("Move its leads to"))

    def to_data(self) -> dict:
        return {"move_to": self.move_to.data}
