"""The admin pipelines page's forms (widgets only: services.pipelines judges every value).

The page holds one form per pipeline and per stage: each gets a `prefix` ("p3-", "s12-") so
that its inputs have their own ids, and is built with `formdata=None` unless it is the form
just posted (routes/admin/pipelines.py), so that a refusal shows only that form's input again.
They carry no CSRF field of their own (a page of many forms would build and render one each):
the app's CSRFProtect checks every POST, and each <form> holds the token (macros csrf()).
"""

from __future__ import annotations

from wtforms import BooleanField, TextAreaField

from ..fields import PROBABILITY_SPEC
from ..i18n import _l
from ..models import Pipeline, Stage
from .common import EditForm, choice, column_input, input_for


class _PageForm(EditForm):
    class Meta:
        csrf = False  # CSRFProtect checks the request; the template holds the token


class NewPipelineForm(_PageForm):
    name = column_input(Pipeline, "name", _l("Name"), required=True)
    stages = TextAreaField(_l("Stages"), render_kw={"rows": 4},
                           description=_l("One a line, in order. Leave empty for the default stages."))
    default = BooleanField(_l("Make it the default pipeline"))


class RenamePipelineForm(_PageForm):
    name = column_input(Pipeline, "name", _l("Pipeline name"), required=True)


class StageForm(_PageForm):
    """A stage's row: its name and probability."""

    name = column_input(Stage, "name", _l("Stage name"), required=True)
    probability = input_for(PROBABILITY_SPEC, _l("Probability (%)"), required=True, size=4)


class NewStageForm(StageForm):
    position = choice(_l("Place"))


class DeleteStageForm(_PageForm):
    move_to = choice(_l("Move its deals to"))
