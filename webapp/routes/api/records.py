"""/leads, /accounts, /contacts, /deals, /tasks, /notes: list, create, show, update, delete.

Validation and documentation come from webapp.schemas (one field table); writes go through
the Flask-free services the pages use (services.leads, services.records,
services.activities, services.leads.change_status), so the API and the pages behave alike.
"""

from __future__ import annotations

from flask import jsonify, url_for
from sqlalchemy import delete, false, func, or_, select
from sqlalchemy.exc import IntegrityError

from ... import permissions
from ...entities import ENTITIES, Entity, choices_of, clean, noun, raise_errors
from ...errors import N_, BadRequest, Conflict, DomainError, Forbidden, Invalid, Problem, Text
from ...extensions import db
from ...models import (
    RECORD_MODELS,
    Address,
    Attachment,
    CampaignMember,
    CustomFieldValue,
    Lead,
    LineItem,
    Note,
    Tagging,
    Task,
    TimelineEvent,
    record_event,
)
from ...schemas import filter_schema, input_schema, output_schema, to_dict
from ...services import activities, leads, records
from ...services.custom_values import customs_for
from ...services.tags import tags_for
from . import bp
from .core import (
    current_user,
    get_or_404,
    json_body,
    paginate,
    query_bool,
    query_int,
    query_limit,
    query_str,
    reject_unknown_args,
)
from .openapi import add_operation, add_schema, body, path_id, query, ref, responses

RECORD_KINDS = ("lead", "account", "contact", "deal")
# Rows of these kinds hang on a record by (parent_type, parent_id) and go when it goes.
DEPENDENTS = (Note, Task, Attachment, Tagging, CustomFieldValue, TimelineEvent, Address, LineItem,
              CampaignMember)


# ---------------------------------------------------------------- errors and rights


def translate(e: Exception) -> Exception:
    """A bad cursor is a bad query parameter (422) in the API; other refusals pass as they are."""
    if isinstance(e, BadRequest) and "cursor" in e.errors:
        return Invalid(Text("Some query parameters need attention."), {"cursor": [e.message]})
    return e


SERVICE_ERRORS = (DomainError,)
# A task's or a note's timeline line after a PATCH (a template per kind: translated when shown).
UPDATED = {"task": N_("Task updated: {fields}"), "note": N_("Note updated: {fields}")}


def _perm_name(entity: Entity) -> str:
    return entity.name


def _converted(lead: Lead) -> Conflict:
    return Conflict(activities.converted_message(lead), conversion_id=lead.conversion_id)


def _parent_lock(obj) -> None:
    """Raises 409 when `obj` is a converted lead, or a note/task on one (read-only, C1.4)."""
    target = permissions.parent_of(db.session, obj) if isinstance(obj, Note | Task) else obj
    if isinstance(target, Lead) and target.converted:
        raise _converted(target)


def require_view(entity: Entity, obj) -> None:
    if not permissions.can_view(db.session, current_user(), obj):
        if entity.name not in permissions.RECORD_ENTITIES:  # a note or task: read with its record
            raise Forbidden(Text("You may not view this {entity}: the record it is on is outside the records "
                                 "your role can see.", entity=noun(entity.name)))
        permission = entity.name + ".read"
        raise Forbidden(Text("You may not view this {entity}: it is outside the records your role can see "
                             "({permission} or your owner scope).", entity=noun(entity.name),
                             permission=permission))


def require_edit(entity: Entity, obj, action: str = "edit") -> None:
    user = current_user()
    perm = f"{entity.name}.edit"
    delete = entity.name + ".delete"
    if action == "delete" and not permissions.has_perm(user, delete):
        raise Forbidden(Text("Your role lacks the {permission} permission: deleting needs it besides {edit}.",
                             permission=delete, edit=perm))
    if not permissions.has_perm(user, perm):
        raise Forbidden(Text("Your role lacks the {permission} permission.", permission=perm))
    if not permissions.can_edit(db.session, user, obj):
        template = (N_("You may not delete this {entity}: it is outside your owner scope ({scope}).")
                    if action == "delete" else
                    N_("You may not edit this {entity}: it is outside your owner scope ({scope})."))
        raise Forbidden(Text(template, entity=noun(entity.name), scope=user.role.scope))


def require_create(entity: Entity) -> None:
    if not permissions.can_create(current_user(), entity.name):
        permission = f"{entity.name}.create"
        raise Forbidden(Text("Your role lacks the {permission} permission.", permission=permission))


# ---------------------------------------------------------------- serialisation


def serialize(entity: Entity, rows: list) -> list[dict]:
    """Rows as API dicts, with tags and custom values read in one query per kind."""
    ids = [r.id for r in rows]
    tags = tags_for(db.session, entity.name, ids) if entity.has("tags") else {}
    custom = customs_for(db.session, entity.name, ids) if entity.has("custom") else {}
    return [to_dict(entity, r, tags.get(r.id), custom.get(r.id)) for r in rows]


def one(entity: Entity, obj, status: int = 200):
    response = jsonify(serialize(entity, [obj])[0])
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for(f"api.{entity.plural}_show", id=obj.id)
    return response


# ---------------------------------------------------------------- lists


def _parent_visible(model):
    """SQL: notes/tasks whose parent record the caller may see."""
    session, user = db.session, current_user()
    clauses = [
        (model.parent_type == kind) & model.parent_id.in_(
            select(rec.id).where(permissions.visible_clause(session, user, rec)))
        for kind, rec in RECORD_MODELS.items()
    ]
    return or_(*clauses) if clauses else false()


def _enum_param(entity: Entity, name: str, errors: dict) -> str | None:
    from flask import request

    raw = request.args.get(name)
    if raw is None:
        return None
    f = next(f for f in entity.filters if f.name == name)
    allowed = choices_of(db.session, f)
    if raw not in allowed:
        errors[name] = [Problem("not_choice", choices=", ".join(allowed))]
        return None
    return raw


def list_rows(entity: Entity) -> tuple[list, str | None]:
    """The page of rows the caller may see under the query's filters; raises Invalid."""
    from flask import request



    reject_unknown_args([f.name for f in entity.filters] + ["limit", "cursor"])
    errors: dict = {}
    session, user = db.session, current_user()
    owner_id = query_int("owner_id", errors)
    if entity.name == "lead":
        filters = leads.LeadFilters(
            q=query_str("q", errors, leads.Q_MAX) or "", status=_enum_param(entity, "status", errors) or "all",
            owner_id=owner_id, tag=query_str("tag", errors, 60) or "",
            converted=query_bool("converted", errors))
        limit = query_limit(errors)
        if errors:
            raise Invalid(Text("Some query parameters need attention."), errors)
        try:
            page = leads.list_leads(session, user, filters, cursor=request.args.get("cursor") or None,
                                    limit=limit, owners=False)
        except BadRequest as e:
            raise translate(e) from None
        return page.items, page.next_cursor
    if entity.name in ("account", "contact", "deal"):
        filters = {"owner_id": owner_id, "tag": query_str("tag", errors, 60)}
        for name in ("account_id", "contact_id"):
            if any(f.name == name for f in entity.filters):
                filters[name] = query_int(name, errors)
        if entity.name == "deal":
            filters["stage"] = _enum_param(entity, "stage", errors)
        q = query_str("q", errors, 200)
        limit = query_limit(errors)
        if errors:
            raise Invalid(Text("Some query parameters need attention."), errors)
        try:
            page = records.list_records(session, user, entity.name, q=q, filters=filters, sort="-created",
                                        cursor=request.args.get("cursor") or None, limit=limit,
                                        related=False)
        except BadRequest as e:
            raise translate(e) from None
        return page.items, page.next_cursor
    model = entity.model
    stmt = select(model).where(_parent_visible(model))
    parent_type = _enum_param(entity, "parent_type", errors)
    parent_id = query_int("parent_id", errors)
    if parent_type and parent_id:
        stmt = stmt.where(activities.on_record(model, parent_type, parent_id))  # a deal's tasks: deal_id too (C5.4)
    elif parent_type:
        stmt = stmt.where(model.parent_type == parent_type)
    elif parent_id:
        stmt = stmt.where(model.parent_id == parent_id)
    return paginate(stmt, model.id, errors)


# ---------------------------------------------------------------- writes


def _parent_for(data: dict, values: dict):
    """The visible record a new note/task hangs on; 422 when missing or out of sight."""
    parent_type, parent_id = values["parent_type"], values["parent_id"]
    model = RECORD_MODELS[parent_type]
    parent = db.session.get(model, parent_id)
    if parent is None or not permissions.can_view(db.session, current_user(), parent):
        raise Invalid.on("parent_id", Problem("no_record", kind=noun(parent_type), id=parent_id))
    return parent


def create(entity: Entity, data: dict):
    """Create one record through the service of its kind (which validates it); returns the row."""
    session, user = db.session, current_user()
    if entity.name in RECORD_KINDS:
        require_create(entity)
    if entity.name == "lead":
        return leads.create_lead(session, user, data, strict=True)
    if entity.name in RECORD_KINDS:
        return records.create(session, user, entity.name, data, strict=True)
    cleaned = clean(session, user, entity.name, data, strict=True)
    raise_errors(cleaned.errors)
    values = cleaned.values
    parent = _parent_for(data, values)
    if entity.name == "note":
        return activities.add_note(session, user, parent, values["body"])
    task = activities.add_task(session, user, parent, values["subject"], values.get("due_date"),
                               values.get("owner_id"))
    if values.get("status") not in (None, "open"):
        task.status = values["status"]
        session.flush()
    return task


def update(entity: Entity, obj, data: dict) -> None:
    """Apply a PATCH through the service of its kind."""
    session, user = db.session, current_user()
    _parent_lock(obj)
    require_edit(entity, obj)
    if entity.name == "lead":
        leads.update_lead(session, user, obj, data, strict=True)
        return
    if entity.name in RECORD_KINDS:
        records.update(session, user, obj, data, strict=True)
        return
    cleaned = clean(session, user, entity.name, data, obj, strict=True)
    raise_errors(cleaned.errors)
    values = cleaned.values
    changed = [k for k, v in values.items() if getattr(obj, k) != v]
    for key in changed:
        setattr(obj, key, values[key])
    if changed:
        session.flush()
        record_event(session, obj.parent_type, obj.parent_id, f"{entity.name}_updated",
                     Text(UPDATED[entity.name], fields=", ".join(k.replace("_", " ") for k in changed)),
                     user.id, {f"{entity.name}_id": obj.id, "fields": changed})


def _blockers(obj) -> dict[str, list[str]]:
    """Rows that still refer to `obj` through a foreign key (a subsidiary, a conversion...)."""
    found: dict[str, list[str]] = {}
    table = obj.__table__
    for other in db.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is table:
                count = db.session.scalar(select(func.count()).select_from(other).where(fk.parent == obj.id))
                if count:
                    found.setdefault(other.name, []).append(
                        Text("{count} row(s) refer to it through {column}", count=count, column=fk.parent.name))
    return found


def remove(entity: Entity, obj) -> list:
    """Delete the record and what hangs on it; returns attachment files to unlink after commit."""
    session, user = db.session, current_user()
    _parent_lock(obj)
    require_edit(entity, obj, "delete")
    blockers = _blockers(obj)
    if blockers:
        raise Conflict(Text("Other records still refer to this {entity}; detach them first.",
                            entity=noun(entity.name)), blockers)
    if isinstance(obj, Note):
        activities.delete_note(session, user, obj)
        return []
    files = []
    if entity.name in RECORD_KINDS:
        files = list(session.scalars(select(Attachment).where(
            Attachment.parent_type == entity.name, Attachment.parent_id == obj.id)))
        for model in DEPENDENTS:
            session.execute(delete(model).where(model.parent_type == entity.name, model.parent_id == obj.id))
    else:
        record_event(session, obj.parent_type, obj.parent_id, "task_deleted",
                     Text("Task deleted: {subject}", subject=obj.subject), user.id)
    session.delete(obj)
    session.flush()
    from flask import current_app

    return [activities.attachment_path(current_app.config["UPLOAD_FOLDER"], a) for a in files]


# ---------------------------------------------------------------- views


def _fetch(entity: Entity, ident: int):
    obj = get_or_404(entity.model, ident, entity.name)
    require_view(entity, obj)
    return obj


def _commit_or_conflict():
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(Text("This change conflicts with other records; nothing was saved.")) from None


def register(entity: Entity) -> None:
    """Add the five routes and their OpenAPI operations for one entity."""
    plural = entity.plural

    def index():
        rows, next_cursor = list_rows(entity)
        return jsonify(items=serialize(entity, rows), next_cursor=next_cursor)

    def create_view():
        reject_unknown_args()
        data = json_body()
        try:
            obj = create(entity, data)
        except SERVICE_ERRORS as e:
            db.session.rollback()
            raise translate(e) from None
        _commit_or_conflict()
        return one(entity, obj, 201)

    def show(id: int):
        reject_unknown_args()
        return one(entity, _fetch(entity, id))

    def update_view(id: int):
        reject_unknown_args()
        data = json_body()
        obj = _fetch(entity, id)
        try:
            update(entity, obj, data)
        except SERVICE_ERRORS as e:
            db.session.rollback()
            raise translate(e) from None
        _commit_or_conflict()
        db.session.refresh(obj)
        return one(entity, obj)

    def delete_view(id: int):
        reject_unknown_args()
        obj = _fetch(entity, id)
        try:
            files = remove(entity, obj)
        except SERVICE_ERRORS as e:
            db.session.rollback()
            raise translate(e) from None
        _commit_or_conflict()
        for path in files:
            path.unlink(missing_ok=True)
        return "", 204

    bp.add_url_rule(f"/{plural}", f"{plural}_index", index, methods=["GET"])
    bp.add_url_rule(f"/{plural}", f"{plural}_create", create_view, methods=["POST"])
    bp.add_url_rule(f"/{plural}/<int:id>", f"{plural}_show", show, methods=["GET"])
    bp.add_url_rule(f"/{plural}/<int:id>", f"{plural}_update", update_view, methods=["PATCH"])
    bp.add_url_rule(f"/{plural}/<int:id>", f"{plural}_delete", delete_view, methods=["DELETE"])
    _document(entity)


def _document(entity: Entity) -> None:
    t, plural = entity.title, entity.plural
    add_schema(t, lambda s: output_schema(s, entity))
    add_schema(f"{t}Create", lambda s: input_schema(s, entity, create=True))
    add_schema(f"{t}Update", lambda s: input_schema(s, entity, create=False))
    add_schema(f"{t}List", {
        "type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": ref(t)},
                       "next_cursor": {"type": ["string", "null"]}},
    })
    tags = [plural]

    def list_op(s):
        params = [query(f.name, filter_schema(s, f)) for f in entity.filters]
        params += [query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                   query("cursor", {"type": "string"}, "Opaque: the next_cursor of the previous page.")]
        return {"tags": tags, "summary": f"List {plural}", "operationId": f"list_{plural}",
                "parameters": params,
                "responses": responses({200: (f"A page of {plural}", ref(f"{t}List"))}, (401, 422))}

    add_operation(f"/{plural}", "get", list_op)
    create_errors = (400, 401, 403, 409, 422) if entity.name in ("lead", "note", "task") else (400, 401, 403, 422)
    add_operation(f"/{plural}", "post", lambda s: {
        "tags": tags, "summary": f"Create a {entity.name}", "operationId": f"create_{entity.name}",
        "requestBody": body(ref(f"{t}Create")),
        "responses": responses({201: (f"The new {entity.name}", ref(t))}, create_errors)})
    add_operation(f"/{plural}/{{id}}", "get", lambda s: {
        "tags": tags, "summary": f"Get a {entity.name}", "operationId": f"get_{entity.name}",
        "parameters": [path_id()],
        "responses": responses({200: (f"The {entity.name}", ref(t))}, (401, 403, 404, 422))})
    add_operation(f"/{plural}/{{id}}", "patch", lambda s: {
        "tags": tags, "summary": f"Change a {entity.name} (only the fields sent)",
        "operationId": f"update_{entity.name}", "parameters": [path_id()],
        "requestBody": body(ref(f"{t}Update")),
        "responses": responses({200: (f"The {entity.name}", ref(t))}, (400, 401, 403, 404, 409, 422))})
    add_operation(f"/{plural}/{{id}}", "delete", lambda s: {
        "tags": tags, "summary": f"Delete a {entity.name}", "operationId": f"delete_{entity.name}",
        "parameters": [path_id()],
        "responses": responses({204: ("Deleted", None)}, (401, 403, 404, 409, 422))})


for _entity in ENTITIES.values():
    register(_entity)
