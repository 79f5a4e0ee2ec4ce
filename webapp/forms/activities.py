"""Activity panel forms: a note, a task (or call, meeting...), a file upload."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ..models import User
from ..services.activities import NOTE_MAX
from .common import strip_filter
from .leads import as_choices, owner_choices_for

KIND_LABELS = {"task": "Task", "call": "Call", "meeting": "Meeting", "email": "E-mail"}


class NoteForm(FlaskForm):
    body = TextAreaField("Note", [InputRequired("Write something first."),
                                  Length(max=NOTE_MAX, message=f"A note is at most {NOTE_MAX:,} characters.")],
                         filters=[strip_filter],
                         render_kw={"rows": 3, "placeholder": "What happened? What was agreed?"})


class TaskForm(FlaskForm):
    subject = StringField("Subject", [InputRequired("Give the task a subject."),
                                      Length(max=255, message="A subject is at most 255 characters.")],
                          filters=[strip_filter], render_kw={"maxlength": 255, "placeholder": "Call back about the quote"})
    kind = SelectField("Activity type", choices=as_choices(KIND_LABELS.items()),
                       invalid_choice_message="Choose task, call, meeting or e-mail.")
    due_date = DateField("Due", [Optional()], render_kw={"type": "date"})
    owner_id = SelectField("Assigned to", invalid_choice_message="Choose someone from the list.")

    def setup(self, actor: User) -> None:
        """Offer only the people `actor` may assign work to; default to themselves."""
        self.owner_id.choices = owner_choices_for(actor)
        if not self.owner_id.data:
            self.owner_id.data = str(actor.id)


class AttachmentForm(FlaskForm):
    file = FileField("File", [FileRequired("Choose a file to upload.")])
