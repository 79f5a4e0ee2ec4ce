"""Notes, tasks and attachments on any record: Flask-free, shared by the pages and the API.

Each function is one state change: it checks rights, adds and flushes, records a timeline
event on the parent, and never commits (the caller does).
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from .. import permissions
from ..entities import check_value, raise_errors
from ..errors import N_, Forbidden, Invalid, NotFound, Problem, ReadOnlyRecord, Text
from ..models import ACTIVITY_KINDS, RECORD_MODELS, Attachment, Lead, Note, Task, User, record_event

_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
# Refusals per kind of activity (templates: translated when shown).
CANNOT_ADD = {"note": N_("Your role may not add a note to this record."),
              "task": N_("Your role may not add a task to this record."),
              "attachment": N_("Your role may not add a attachment to this record.")}
CANNOT_DELETE = {"note": N_("Your role may not delete this note."),
                 "file": N_("Your role may not delete this file.")}


def converted_error(lead: Lead) -> ReadOnlyRecord:
    """C1.4: the refusal of any change to a converted lead (the API body names its conversion)."""
    return ReadOnlyRecord(converted_message(lead), conversion_id=lead.conversion_id)


def converted_message(lead: Lead) -> str:
    """The sentence shown whenever someone tries to change a converted lead (C1.4), a Text."""
    # A datetime: the reader sees it as a date in their format and time zone (i18n.translate).
    when = lead.converted_at or Text("an earlier date")
    return Text("This lead was converted on {when} — it is read-only.", when=when)


def get_parent(session, parent_type: str, parent_id: int):
    """The record a note/task/attachment hangs on; raises NotFound for an unknown type or id."""
    model = RECORD_MODELS.get(parent_type)
    record = session.get(model, parent_id) if model else None
    if record is None:
        raise NotFound(Text("There is no such record."))
    return record


def lock_if_lead(session, record) -> None:
    """Serialise with a concurrent conversion: lock the lead row and re-read `converted`.

    Raises ReadOnlyRecord when the lead is (now) converted. A column-only select keeps the
    FOR UPDATE free of the joined status (PostgreSQL refuses FOR UPDATE on outer joins).
    """
    if not isinstance(record, Lead):
        return
    converted = session.execute(
        select(Lead.converted).where(Lead.id == record.id).with_for_update()
    ).scalar_one()
    if converted or record.converted:
        raise converted_error(record)


def check_add(session, actor: User, parent, kind: str) -> None:
    """May `actor` add a `kind` (note, task, attachment) to `parent`? Raises ActivityError."""
    if not permissions.can_view(session, actor, parent):
        raise Forbidden(Text("You may not see this record."))
    if isinstance(parent, Lead) and parent.converted:
        raise converted_error(parent)
    if not permissions.can_add_to(session, actor, parent, kind):
        raise Forbidden(Text(CANNOT_ADD[kind]))


def type_of(parent) -> str:
    """"lead", "account", "contact" or "deal" for a record."""
    return next(k for k, m in RECORD_MODELS.items() if isinstance(parent, m))


def add_note(session, actor: User, parent, body, *, strict: bool = False) -> Note:
    """Add a note to `parent`; raises Forbidden, ReadOnlyRecord or Invalid (empty / too long)."""
    check_add(session, actor, parent, "note")
    body = check_value(session, actor, "note", "body", body, strict=strict)
    lock_if_lead(session, parent)
    parent_type = type_of(parent)
    note = Note(body=body, parent_type=parent_type, parent_id=parent.id, author_id=actor.id)
    session.add(note)
    session.flush()
    record_event(session, parent_type, parent.id, "note_added", Text("Note added by {name}", name=actor.display_name),
                 actor.id, {"note_id": note.id})
    return note


def add_task(session, actor: User, parent, subject, due_date=None, owner_id=None,
             kind: str = "task", *, strict: bool = False) -> Task:
    """Add an open task (or call, meeting...) to `parent`; raises Forbidden, ReadOnlyRecord, Invalid
    (every field's problem at once)."""
    check_add(session, actor, parent, "task")
    values, errors = {}, {}
    for name, raw in (("subject", subject), ("due_date", due_date), ("owner_id", owner_id)):
        try:
            values[name] = check_value(session, actor, "task", name, raw, strict=strict)
        except Invalid as e:
            errors.update(e.errors)
    if kind not in ACTIVITY_KINDS:
        errors["kind"] = [Problem("not_choice", choices=", ".join(ACTIVITY_KINDS))]
    raise_errors(errors)
    subject, due_date = values["subject"], values["due_date"]
    lock_if_lead(session, parent)
    parent_type = type_of(parent)
    task = Task(subject=subject, due_date=due_date, owner_id=values["owner_id"] or actor.id, kind=kind,
                status="open", parent_type=parent_type, parent_id=parent.id)
    session.add(task)
    session.flush()
    added = (Text("Task added: {subject} (due {due})", subject=subject, due=due_date.isoformat()) if due_date
             else Text("Task added: {subject}", subject=subject))
    record_event(session, parent_type, parent.id, "task_added", added,
                 actor.id, {"task_id": task.id})
    return task


def complete_task(session, actor: User, task: Task) -> Task:
    """Mark a task done; raises Forbidden or ReadOnlyRecord (a converted lead's task)."""
    parent = permissions.parent_of(session, task)
    if parent is None or not permissions.can_view(session, actor, parent):
        raise Forbidden(Text("You may not see this task."))
    if isinstance(parent, Lead) and parent.converted:
        raise converted_error(parent)
    if not permissions.can_edit(session, actor, task):
        raise Forbidden(Text("You may not change this task."))
    if task.status != "done":
        task.status = "done"
        session.flush()
        record_event(session, task.parent_type, task.parent_id, "task_completed",
                     Text("Task completed: {subject}", subject=task.subject), actor.id, {"task_id": task.id})
    return task


def _check_delete(session, actor: User, row, what: str) -> None:
    """A note or file may go unless its lead is converted (C1.4) or the role may not delete."""
    parent = permissions.parent_of(session, row)
    if isinstance(parent, Lead) and parent.converted:
        raise converted_error(parent)
    if not permissions.can_delete(session, actor, row):
        raise Forbidden(Text(CANNOT_DELETE[what]))


def delete_note(session, actor: User, note: Note) -> None:
    """Delete a note; raises Forbidden (needs the delete right) or ReadOnlyRecord."""
    _check_delete(session, actor, note, "note")
    session.delete(note)
    record_event(session, note.parent_type, note.parent_id, "note_deleted",
                 Text("Note deleted by {name}", name=actor.display_name), actor.id)
    session.flush()


def display_filename(filename: str | None) -> str:
    """The name shown for an upload: the last path segment, trimmed; never used on disk."""
    name = re.split(r"[\\/]", filename or "")[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:255] or "file"


def _content_type(given: str | None, filename: str) -> str:
    given = (given or "").split(";")[0].strip().lower()
    if given and _CONTENT_TYPE.match(given) and len(given) <= 120 and given != "application/octet-stream":
        return given
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


@dataclass
class StoredFile:
    """Where an upload landed on disk, so a caller can remove it if the commit fails."""

    attachment: Attachment
    path: Path


def store_attachment(session, actor: User, parent, stream, filename: str | None,
                     content_type: str | None, upload_folder: str,
                     max_size: int | None = None) -> StoredFile:
    """Write `stream` under `upload_folder` with a random name and add its Attachment row.

    Raises Forbidden, ReadOnlyRecord or Invalid (empty file, too large).
    """
    check_add(session, actor, parent, "attachment")
    if stream is None:
        raise Invalid.on("file", Problem("no_file"))
    lock_if_lead(session, parent)
    name = display_filename(filename)
    folder = Path(upload_folder)
    folder.mkdir(parents=True, exist_ok=True)
    # The user's filename never reaches the file system: only a random token does.
    storage_name = secrets.token_hex(20)
    path = folder / storage_name
    size = 0
    try:
        with open(path, "xb") as out:
            while chunk := stream.read(64 * 1024):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise Invalid.on("file", Problem("file_too_large"))
                out.write(chunk)
        if size == 0:
            raise Invalid.on("file", Problem("file_empty"))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    parent_type = type_of(parent)
    attachment = Attachment(parent_type=parent_type, parent_id=parent.id, filename=name,
                            content_type=_content_type(content_type, name), size=size,
                            storage_name=storage_name, uploaded_by=actor.id)
    session.add(attachment)
    session.flush()
    record_event(session, parent_type, parent.id, "attachment_added", Text("File attached: {name}", name=name),
                 actor.id, {"attachment_id": attachment.id})
    return StoredFile(attachment, path)


def attachment_path(upload_folder: str, attachment: Attachment) -> Path:
    """The file on disk; the stored name is ours (hex), so it cannot climb out of the folder."""
    return Path(upload_folder) / os.path.basename(attachment.storage_name)


def delete_attachment(session, actor: User, attachment: Attachment, upload_folder: str) -> Path:
    """Remove the row (the caller unlinks the returned path after commit); raises Forbidden/ReadOnlyRecord."""
    _check_delete(session, actor, attachment, "file")
    session.delete(attachment)
    record_event(session, attachment.parent_type, attachment.parent_id, "attachment_deleted",
                 Text("File removed: {name}", name=attachment.filename), actor.id)
    session.flush()
    return attachment_path(upload_folder, attachment)


def on_record(model, parent_type: str, parent_id: int):
    """SQL: the rows of `model` (notes, tasks, files, events) shown on a record's page. A deal also
    shows the tasks linked to it by deal_id while they hang on its contact or account (C5.4: the
    conversion's follow-up task; C6.4: the lead's open activities)."""
    clause = (model.parent_type == parent_type) & (model.parent_id == parent_id)
    if model is Task and parent_type == "deal":
        clause = clause | (Task.deal_id == parent_id)
    return clause


def panel_data(session, actor: User, parent, limit: int = 20, today: date | None = None) -> dict:
    """What the activity panel shows: recent notes, upcoming / past tasks (C9.5), files, counts."""
    parent_type = type_of(parent)
    today = today or date.today()

    def rows(model, *where, order):
        base = select(model).where(on_record(model, parent_type, parent.id), *where)
        return list(session.scalars(base.order_by(*order).limit(limit + 1)))

    notes = rows(Note, order=(Note.created_at.desc(), Note.id.desc()))
    open_ = Task.status == "open"
    # Upcoming: open tasks due today or later, or undated; soonest first, undated last.
    upcoming = rows(Task, open_, (Task.due_date >= today) | Task.due_date.is_(None),
                    order=(Task.due_date.is_(None), Task.due_date, Task.id))
    overdue = rows(Task, open_, Task.due_date < today, order=(Task.due_date, Task.id))
    past = rows(Task, Task.status != "open", order=(Task.updated_at.desc(), Task.id.desc()))
    files = rows(Attachment, order=(Attachment.created_at.desc(), Attachment.id.desc()))
    return {
        "parent_type": parent_type,
        "notes": notes[:limit], "more_notes": len(notes) > limit,
        "upcoming": upcoming[:limit], "overdue": overdue[:limit], "past": past[:limit],
        "more_tasks": any(len(x) > limit for x in (upcoming, overdue, past)),
        "attachments": files[:limit], "more_files": len(files) > limit,
        "today": today,
    }


@dataclass
class TimelineItem:
    """One line of a record's timeline: an event, a note or a task."""

    kind: str  # "event" | "note" | "task"
    when: object
    obj: object


def timeline(session, parent_type: str, parent_id: int, before=None, limit: int = 30) -> tuple[list[TimelineItem], object]:
    """Events, notes and tasks of a record, newest first; (items, cursor for older items or None).

    Each source is read newest-first with the same `before` bound and merged, so a page
    costs three indexed queries of `limit` rows whatever the history's length.
    """
    from ..models import TimelineEvent

    def newest(model, stamp, *where):
        query = select(model).where(on_record(model, parent_type, parent_id), *where)
        if before is not None:
            query = query.where(stamp < before)
        return session.scalars(query.order_by(stamp.desc()).limit(limit + 1))

    # The note or task itself stands for its "added" event.
    events = newest(TimelineEvent, TimelineEvent.created_at,
                    TimelineEvent.kind.not_in(("note_added", "task_added")))
    items = [TimelineItem("event", e.created_at, e) for e in events]
    items += [TimelineItem("note", n.created_at, n) for n in newest(Note, Note.created_at)]
    items += [TimelineItem("task", t.created_at, t) for t in newest(Task, Task.created_at)]
    items.sort(key=lambda i: _aware(i.when), reverse=True)
    if len(items) <= limit:
        return items, None
    page = items[:limit]
    return page, page[-1].when


def _aware(when):
    # SQLite hands back naive datetimes; compare everything as UTC.
    from datetime import UTC

    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when
