"""The activity panel on any record: notes, tasks, attachments, timeline (issue 3; C1.4, C9.5)."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import assert_unchanged, csrf_token_from, db_rows
from webapp.models import Attachment, Lead, Note, Task, TimelineEvent, utcnow
from webapp.services import activities as service

HX = {"HX-Request": "true"}


@pytest.fixture
def lead(make_lead, users):
    return make_lead(owner_id=users["sales"].id)


@pytest.fixture
def other_lead(make_lead, users):
    return make_lead(owner_id=users["other_sales"].id, email="other@example.com")


@pytest.fixture
def converted(make_lead, users):
    return make_lead(owner_id=users["sales"].id, converted=True, status="converted", converted_at=utcnow())


@pytest.fixture
def parents(lead, make_account, make_contact, make_deal, users):
    """One record of each kind, all owned by the sales user."""
    owner = users["sales"].id
    return {"lead": lead, "account": make_account(owner_id=owner), "contact": make_contact(owner_id=owner),
            "deal": make_deal(owner_id=owner)}


def count(db, model, **where) -> int:
    query = select(func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return db.session.scalar(query)


def events(db, parent_type, parent_id) -> list[str]:
    return list(db.session.scalars(select(TimelineEvent.message).where(
        TimelineEvent.parent_type == parent_type, TimelineEvent.parent_id == parent_id)))


def upload(client, path, content=b"hello, file", name="report.txt", headers=None, mimetype="text/plain"):
    return client.post(path, data={"file-file": (io.BytesIO(content), name, mimetype)},
                       content_type="multipart/form-data", headers=headers or {})


# --- The panel: every record kind, every role ------------------------------------------------

@pytest.mark.parametrize("kind", ["lead", "account", "contact", "deal"])
@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 200), ("anonymous", 302)])
def test_panel_rights(as_user, parents, kind, role, status):
    response = as_user(role).get(f"/records/{kind}/{parents[kind].id}/activity", headers=HX)
    assert response.status_code == status
    if status == 200:
        html = response.get_data(as_text=True)
        assert "<html" not in html and 'class="activity-panel"' in html
        assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 403), ("sales", 403),
                                         ("viewer", 200), ("anonymous", 302)])
def test_panel_of_someone_elses_lead(as_user, other_lead, role, status):
    assert as_user(role).get(f"/records/lead/{other_lead.id}/activity").status_code == status


def test_panel_without_htmx_is_a_page(as_user, lead):
    html = as_user("sales").get(f"/records/lead/{lead.id}/activity").get_data(as_text=True)
    assert "<html" in html and "activity-panel" in html and f'href="/leads/{lead.id}"' in html


@pytest.mark.parametrize("url", ["/records/widget/1/activity", "/records/lead/999/activity",
                                 "/records/account/999/activity", "/records/lead/999/timeline"])
def test_unknown_parent_is_404(as_user, url):
    assert as_user("admin").get(url).status_code == 404


def test_viewer_sees_no_forms(as_user, lead):
    html = as_user("viewer").get(f"/records/lead/{lead.id}/activity", headers=HX).get_data(as_text=True)
    assert "Save note" not in html and "Add task" not in html and "Upload" not in html


# --- Notes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 403), ("anonymous", 302)])
def test_add_note_rights(as_user, db, lead, role, status):
    response = as_user(role).post(f"/records/lead/{lead.id}/notes", data={"note-body": "Called"}, headers=HX)
    assert response.status_code == status
    assert count(db, Note) == (1 if status == 200 else 0)


@pytest.mark.parametrize("kind", ["lead", "account", "contact", "deal"])
def test_add_note_on_every_kind_records_an_event(as_user, db, parents, kind):
    parent = parents[kind]
    response = as_user("sales").post(f"/records/{kind}/{parent.id}/notes", data={"note-body": "Met <b>them</b>"}, headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Met &lt;b&gt;them&lt;/b&gt;" in html and "<b>them" not in html
    note = db.session.scalar(select(Note))
    assert (note.parent_type, note.parent_id, note.body) == (kind, parent.id, "Met <b>them</b>")
    assert any(m.startswith("Note added") for m in events(db, kind, parent.id))


def test_add_note_plain_form_redirects_to_the_record(as_user, lead):
    response = as_user("sales").post(f"/records/lead/{lead.id}/notes", data={"note-body": "Hi"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/leads/{lead.id}")


@pytest.mark.parametrize("body,message", [("", "Note is required."), ("   ", "Note is required."),
                                          ("x" * 10_001, "Note is at most 10000 characters.")])
def test_bad_note_is_422_next_to_the_field(as_user, db, lead, body, message):
    response = as_user("sales").post(f"/records/lead/{lead.id}/notes", data={"note-body": body}, headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html.split('id="note-body-error"', 1)[1].split("</div>", 1)[0]
    assert count(db, Note) == 0


def test_add_note_to_converted_lead_is_409(as_user, db, converted):
    """C1.4: a converted lead is read-only; the panel says so and nothing is written."""
    response = as_user("admin").post(f"/records/lead/{converted.id}/notes", data={"note-body": "late"}, headers=HX)
    assert response.status_code == 409
    assert "This lead was converted on" in response.get_data(as_text=True)
    assert count(db, Note) == 0


def test_someone_elses_lead_refuses_notes(as_user, db, other_lead):
    response = as_user("sales").post(f"/records/lead/{other_lead.id}/notes", data={"note-body": "x"})
    assert response.status_code == 403 and count(db, Note) == 0


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 403),
                                         ("viewer", 403), ("anonymous", 302)])
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_delete_note_rights(as_user, db, lead, make_note, users, role, status, method):
    note = make_note(parent_id=lead.id, author_id=users["sales"].id)
    client = as_user(role)
    if method == "POST":
        response = client.post(f"/notes/{note.id}/delete", headers=HX)
    else:
        response = client.delete(f"/notes/{note.id}", headers=HX)
    assert response.status_code == status
    assert count(db, Note) == (0 if status == 200 else 1)


def test_delete_unknown_note_is_404(as_user, db, make_note, lead):
    make_note(parent_id=lead.id)
    before = db_rows(db)
    assert as_user("admin").post("/notes/999/delete").status_code == 404
    assert_unchanged(db, before)


# --- Tasks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 403), ("anonymous", 302)])
def test_add_task_rights(as_user, db, lead, role, status):
    data = {"task-subject": "Call back", "task-kind": "call", "task-due_date": "2030-01-02"}
    response = as_user(role).post(f"/records/lead/{lead.id}/tasks", data=data, headers=HX)
    assert response.status_code == status
    assert count(db, Task) == (1 if status == 200 else 0)


def test_add_task_defaults_owner_and_records_event(as_user, db, lead, users):
    response = as_user("sales").post(f"/records/lead/{lead.id}/tasks",
                                     data={"task-subject": "Send quote", "task-kind": "task", "task-due_date": "2030-01-02"},
                                     headers=HX)
    assert response.status_code == 200
    task = db.session.scalar(select(Task))
    assert (task.owner_id, task.status, task.due_date) == (users["sales"].id, "open", date(2030, 1, 2))
    assert "Task added: Send quote (due 2030-01-02)" in events(db, "lead", lead.id)


@pytest.mark.parametrize("data,field,message", [
    ({"task-subject": ""}, "task-subject", "Subject is required."),
    ({"task-subject": "x" * 256}, "task-subject", "Subject is at most 255 characters."),
    ({"task-subject": "x", "task-due_date": "31/12/2030"}, "task-due_date", "Due must be a date (YYYY-MM-DD)."),
    ({"task-subject": "x", "task-kind": "party"}, "task-kind", "Activity type must be one of: Task, Call, Meeting, E-mail."),
    ({"task-subject": "x", "task-owner_id": "999"}, "task-owner_id", "Assigned to is not an active user (id 999)."),
])
def test_bad_task_is_422_next_to_the_field(as_user, db, lead, users, data, field, message):
    response = as_user("sales").post(f"/records/lead/{lead.id}/tasks", data={"task-kind": "task", **data}, headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html.split(f'id="{field}-error"', 1)[1].split("</div>", 1)[0]
    assert count(db, Task) == 0


def test_sales_cannot_assign_a_task_to_someone_else(as_user, db, lead, users):
    data = {"task-subject": "x", "task-kind": "task", "task-owner_id": str(users["other_sales"].id)}
    assert as_user("sales").post(f"/records/lead/{lead.id}/tasks", data=data).status_code == 422
    assert count(db, Task) == 0


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 403), ("anonymous", 302)])
def test_complete_task_rights(as_user, db, lead, make_task, users, role, status):
    task = make_task(parent_id=lead.id, owner_id=users["sales"].id)
    response = as_user(role).post(f"/tasks/{task.id}/done", headers=HX)
    assert response.status_code == status
    db.session.expire_all()
    assert (db.session.get(Task, task.id).status == "done") == (status == 200)
    if status == 200:
        assert "Task completed: Call back" in events(db, "lead", lead.id)


def test_complete_unknown_task_is_404(as_user, db, make_task, lead):
    make_task(parent_id=lead.id)
    before = db_rows(db)
    assert as_user("admin").post("/tasks/999/done").status_code == 404
    assert_unchanged(db, before)


def test_complete_task_of_converted_lead_is_409(as_user, db, converted, make_task, users):
    task = make_task(parent_id=converted.id, owner_id=users["sales"].id)
    assert as_user("sales").post(f"/tasks/{task.id}/done", headers=HX).status_code == 409
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "open"


def test_panel_splits_upcoming_overdue_and_past(as_user, lead, make_task):
    """C9.5: the activity tab shows upcoming and past activities."""
    today = date.today()
    make_task(parent_id=lead.id, subject="Future call", due_date=today + timedelta(days=3))
    make_task(parent_id=lead.id, subject="Late call", due_date=today - timedelta(days=3))
    make_task(parent_id=lead.id, subject="Old call", status="done")
    html = as_user("sales").get(f"/records/lead/{lead.id}/activity", headers=HX).get_data(as_text=True)
    upcoming, past = html.split("Past activities", 1)
    assert "Future call" in upcoming and "Late call" in upcoming and "Overdue" in upcoming
    assert "Old call" in past and "Old call" not in upcoming


# --- Attachments ------------------------------------------------------------------------------

@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 403), ("anonymous", 302)])
def test_upload_rights(as_user, db, lead, role, status):
    response = upload(as_user(role), f"/records/lead/{lead.id}/attachments", headers=HX)
    assert response.status_code == status
    assert count(db, Attachment) == (1 if status == 200 else 0)


def test_upload_stores_under_a_random_name_and_downloads(as_user, app, db, lead):
    client = as_user("sales")
    name = "evil <img src=x onerror=alert(1)>.txt"
    response = upload(client, f"/records/lead/{lead.id}/attachments", b"secret plans", name, headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "evil &lt;img src=x onerror=alert(1)&gt;.txt" in html and "<img src=x" not in html
    attachment = db.session.scalar(select(Attachment))
    assert attachment.filename == name and attachment.size == 12
    assert attachment.content_type == "text/plain"
    stored = Path(app.config["UPLOAD_FOLDER"]) / attachment.storage_name
    assert stored.read_bytes() == b"secret plans"
    assert "evil" not in attachment.storage_name and len(list(stored.parent.iterdir())) == 1
    assert any(m.startswith("File attached") for m in events(db, "lead", lead.id))
    with client.get(f"/attachments/{attachment.id}") as download:
        assert download.status_code == 200
        assert download.data == b"secret plans"
        assert download.headers["Content-Type"].startswith("text/plain")
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "evil_img_srcx_onerroralert1.txt" in disposition
        assert download.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 200),
                                         ("viewer", 200), ("anonymous", 302)])
def test_download_rights(as_user, app, db, lead, users, role, status):
    stored = service.store_attachment(db.session, users["sales"], lead, io.BytesIO(b"abc"), "a.txt",
                                      "text/plain", app.config["UPLOAD_FOLDER"])
    db.session.commit()
    with as_user(role).get(f"/attachments/{stored.attachment.id}") as response:
        assert response.status_code == status


def test_download_of_someone_elses_lead_file_is_403(as_user, app, db, other_lead, users):
    stored = service.store_attachment(db.session, users["other_sales"], other_lead, io.BytesIO(b"abc"),
                                      "a.txt", None, app.config["UPLOAD_FOLDER"])
    db.session.commit()
    assert as_user("sales").get(f"/attachments/{stored.attachment.id}").status_code == 403


def test_download_unknown_is_404(as_user):
    assert as_user("admin").get("/attachments/999").status_code == 404


def test_upload_without_file_is_422(as_user, db, lead):
    before = db_rows(db)
    response = as_user("sales").post(f"/records/lead/{lead.id}/attachments", data={}, headers=HX,
                                     content_type="multipart/form-data")
    assert response.status_code == 422
    assert "File is missing: choose a file to upload." in response.get_data(as_text=True)
    assert_unchanged(db, before)


def test_empty_file_is_422(as_user, db, lead, app):
    response = upload(as_user("sales"), f"/records/lead/{lead.id}/attachments", b"", headers=HX)
    assert response.status_code == 422
    assert "File is empty." in response.get_data(as_text=True)
    assert count(db, Attachment) == 0
    assert not list(Path(app.config["UPLOAD_FOLDER"]).glob("*"))


def test_too_large_upload_is_413_with_message_next_to_the_field(as_user, db, lead, app):
    # A hand-built body (bytes): the test client would spool a big `data=` dict to a temp file.
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file-file\"; filename=\"big.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    body += b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1) + f"\r\n--{boundary}--\r\n".encode()
    response = as_user("sales").post(f"/records/lead/{lead.id}/attachments", data=body, headers=HX,
                                     content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "The file is too large: the limit is 2 MB." in html.split('id="file-file-error"', 1)[1]
    assert "<html" not in html and count(db, Attachment) == 0


def test_upload_to_converted_lead_is_409(as_user, db, converted):
    response = upload(as_user("sales"), f"/records/lead/{converted.id}/attachments", headers=HX)
    assert response.status_code == 409 and count(db, Attachment) == 0


@pytest.mark.parametrize("role,status", [("admin", 200), ("manager", 200), ("sales", 403), ("viewer", 403)])
def test_delete_attachment_rights(as_user, app, db, lead, users, role, status):
    stored = service.store_attachment(db.session, users["sales"], lead, io.BytesIO(b"abc"), "a.txt",
                                      None, app.config["UPLOAD_FOLDER"])
    db.session.commit()
    response = as_user(role).post(f"/attachments/{stored.attachment.id}/delete", headers=HX)
    assert response.status_code == status
    assert stored.path.exists() == (status != 200)


# --- Timeline ---------------------------------------------------------------------------------

def test_timeline_merges_events_notes_tasks_newest_first(as_user, db, lead, users):
    sales = users["sales"]
    service.add_note(db.session, sales, lead, "First note")
    service.add_task(db.session, sales, lead, "Then a task")
    service.add_note(db.session, sales, lead, "Latest note")
    db.session.commit()
    html = as_user("sales").get(f"/records/lead/{lead.id}/timeline", headers=HX).get_data(as_text=True)
    assert "<html" not in html
    assert html.index("Latest note") < html.index("Then a task") < html.index("First note")
    assert "Note added" not in html  # the note itself stands for its event


def test_timeline_pages_with_show_older(as_user, db, lead, users):
    for i in range(35):
        service.add_note(db.session, users["sales"], lead, f"note {i:02d}")
    db.session.commit()
    client = as_user("sales")
    first = client.get(f"/records/lead/{lead.id}/timeline", headers=HX).get_data(as_text=True)
    assert "note 34" in first and "note 00" not in first and "Show older" in first
    older = first.split('hx-get="', 2)[-1].split('"', 1)[0].replace("&amp;", "&")
    rest = client.get(older, headers=HX).get_data(as_text=True)
    assert "note 00" in rest and "note 34" not in rest and "<ol" not in rest


def test_bad_timeline_cursor_is_400(as_user, lead):
    assert as_user("sales").get(f"/records/lead/{lead.id}/timeline?before=yesterday").status_code == 400


# --- CSRF on every POST -----------------------------------------------------------------------

@pytest.mark.csrf
@pytest.mark.parametrize("path", ["/records/lead/{lead}/notes", "/records/lead/{lead}/tasks",
                                  "/records/lead/{lead}/attachments", "/tasks/{task}/done",
                                  "/notes/{note}/delete"])
def test_posts_without_csrf_token_are_refused(as_user, db, lead, make_task, make_note, path):
    task, note = make_task(parent_id=lead.id), make_note(parent_id=lead.id)
    url = path.format(lead=lead.id, task=task.id, note=note.id)
    response = as_user("admin").post(url, data={"note-body": "x", "task-subject": "x"}, headers=HX)
    assert response.status_code == 400
    assert (count(db, Note), count(db, Task), count(db, Attachment)) == (1, 1, 0)
    assert db.session.get(Task, task.id).status == "open"


@pytest.mark.csrf
def test_note_with_csrf_header_is_accepted(as_user, db, lead):
    client = as_user("sales")
    token = csrf_token_from(client.get(f"/leads/{lead.id}").get_data(as_text=True))
    response = client.post(f"/records/lead/{lead.id}/notes", data={"note-body": "ok"},
                           headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 200 and count(db, Note) == 1


# --- The services without a client ------------------------------------------------------------

def test_service_refuses_converted_lead(db, converted, users):
    with pytest.raises(service.ReadOnlyRecord, match="converted on"):
        service.add_note(db.session, users["admin"], converted, "x")
    with pytest.raises(service.ReadOnlyRecord):
        service.add_task(db.session, users["admin"], converted, "x")


def test_service_refuses_viewer(db, lead, users):
    with pytest.raises(service.Forbidden):
        service.add_note(db.session, users["viewer"], lead, "x")


def test_service_sees_a_conversion_committed_meanwhile(db, lead, users):
    """The lead row is re-read under lock: a conversion committed since loading wins (C1.3)."""
    db.session.execute(Lead.__table__.update().where(Lead.id == lead.id).values(converted=True))
    with pytest.raises(service.ReadOnlyRecord):
        service.add_note(db.session, users["sales"], lead, "x")


def test_service_store_attachment_limits_size(db, lead, users, tmp_path):
    folder = tmp_path / "files"
    with pytest.raises(service.Invalid, match="too large"):
        service.store_attachment(db.session, users["sales"], lead, io.BytesIO(b"x" * 11), "a.txt", None,
                                 str(folder), max_size=10)
    assert not list(folder.iterdir())


def test_display_filename_strips_paths():
    assert service.display_filename("C:\\Users\\me\\plan.pdf") == "plan.pdf"
    assert service.display_filename("../../etc/passwd") == "passwd"
    assert service.display_filename("") == "file"
