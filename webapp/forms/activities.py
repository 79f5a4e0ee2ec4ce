"""Activity panel forms: a note, a task (or call, meeting...), a file upload. Widgets only:
the activities service checks the values (webapp/fields.py)."""

from __future__ import annotations

from flask_wtf.file import FileField

from ..i18n import _l
from ..models import Note, Task, User
from .common import EditForm, as_choices, choice, column_input, owner_choices_for

KIND_LABELS = {"task": _l("Task"), "call": _l("Call"), "meeting": _l("Meeting"), "email": _l("E-mail")}


class NoteForm(EditForm):
    body = column_input(Note, "body", _l("Note"), rows=3, placeholder=_l("What happened? What was agreed?"))


class TaskForm(EditForm):
    subject = column_input(Task, "subject", _l("Subject"), required=True,
                           placeholder=_l("Call back about the quote"))
    kind = choice(_l("Activity type"), choices=as_choices(KIND_LABELS.items()))
    due_date = column_input(Task, "due_date", _l("Due"))
    owner_id = choice(_l("Assigned to"))

    def setup(self, actor: User) -> None:
        """Offer only the people `actor` may assign work to; default to themselves."""
        self.owner_id.choices = owner_choices_for(actor)
        if not self.owner_id.data:
            self.owner_id.data = str(actor.id)


class AttachmentForm(EditForm):
    file = FileField(_l("File"))
