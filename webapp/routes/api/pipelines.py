"""/pipelines: deal pipelines and their stages (api.md Settings; issue 10, item 5).

`{"id", "name", "default": true, "stages": [{"name", "position", "probability"}]}`. Reading
is for every user (the deal form and integrations need the stages); writing for
administrators (403 for any other role, 401 without a token). A stage is addressed by its
name in its pipeline (deals name their stage the same way): /pipelines/{id}/stages/{name}.
services.pipelines checks every value through the field layer (422 with the field errors,
nothing written) and refuses what the state forbids (409: the default pipeline, deals still
in a pipeline or a stage — with their number in `deals`); one request, one commit.
"""

from __future__ import annotations

from flask import jsonify, request, url_for
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, Text
from ...extensions import db
from ...fields import INT_MAX, PROBABILITY_SPEC, model_specs
from ...models import Pipeline, Stage
from ...services import pipelines as svc
from . import bp
from .conversions import NO_NUL
from .core import current_user, json_body, paginate, reject_unknown_args
from .openapi import add_operation, add_schema, body, path_id, query, ref, responses

CONCURRENT = Text("This change conflicts with another change to the pipelines saved at the same time; "
                  "nothing was saved.")


def _save(write):
    """write() (a service call), then one commit. A unique name or default taken by a
    concurrent request, after the service's own checks, is a 409 (nothing saved)."""
    try:
        result = write()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(CONCURRENT) from None
    return result


def _one(pipeline_id: int, status: int = 200):
    pipeline = svc.get_pipeline(db.session, pipeline_id)
    response = jsonify(svc.as_dict(pipeline))
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.pipelines_show", id=pipeline.id)
    return response


# ---------------------------------------------------------------- views


@bp.get("/pipelines")
def pipelines_index():
    """Every pipeline with its stages in order, newest first, by cursor (every user)."""
    current_user()
    reject_unknown_args(("limit", "cursor"))
    rows, next_cursor = paginate(svc.pipelines_query(), Pipeline.id, {})
    return jsonify(items=[svc.as_dict(p) for p in rows], next_cursor=next_cursor)


@bp.post("/pipelines")
def pipelines_create():
    """Create a pipeline (201); without "stages", it gets the default ones."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    pipeline = _save(lambda: svc.create_pipeline(db.session, user, data, strict=True))
    return _one(pipeline.id, 201)


@bp.get("/pipelines/<int:id>")
def pipelines_show(id: int):
    current_user()
    reject_unknown_args()
    return _one(svc.get_pipeline(db.session, id).id)


def _write(id: int, replace_all: bool):
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    pipeline = svc.get_pipeline(db.session, id)
    _save(lambda: svc.update_pipeline(db.session, user, pipeline, data, strict=True, replace_all=replace_all))
    return _one(id)


@bp.patch("/pipelines/<int:id>")
def pipelines_update(id: int):
    """Change the fields sent: name, default (true), stages (the whole ordered list)."""
    return _write(id, False)


@bp.put("/pipelines/<int:id>")
def pipelines_replace(id: int):
    """Replace a pipeline: name and stages required."""
    return _write(id, True)


@bp.delete("/pipelines/<int:id>")
def pipelines_delete(id: int):
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    pipeline = svc.get_pipeline(db.session, id)
    _save(lambda: svc.delete_pipeline(db.session, user, pipeline))
    return "", 204


@bp.post("/pipelines/<int:id>/stages")
def pipelines_stage_create(id: int):
    """Add a stage (201, the pipeline)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    pipeline = svc.get_pipeline(db.session, id)
    _save(lambda: svc.add_stage(db.session, user, pipeline, data, strict=True))
    return _one(id, 201)


@bp.patch("/pipelines/<int:id>/stages/<path:name>")
def pipelines_stage_update(id: int, name: str):
    """Rename a stage (its deals follow), change its probability, move it (position)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args()
    data = json_body()
    stage = svc.stage_named(svc.get_pipeline(db.session, id), name)
    _save(lambda: svc.update_stage(db.session, user, stage, data, strict=True))
    return _one(id)


@bp.delete("/pipelines/<int:id>/stages/<path:name>")
def pipelines_stage_delete(id: int, name: str):
    """Delete a stage; ?move_to= another stage, where its deals go first (required while it
    holds deals: 409 otherwise)."""
    user = current_user()
    svc.require_admin(user)
    reject_unknown_args(("move_to",))
    stage = svc.stage_named(svc.get_pipeline(db.session, id), name)
    _save(lambda: svc.delete_stage(db.session, user, stage, request.args.get("move_to"), strict=True))
    return "", 204


# ---------------------------------------------------------------- JSON Schemas


def _name(model) -> dict:
    return {**model_specs(model)["name"].json_schema(), "minLength": 1}


STAGE_IN = {
    "type": "object", "additionalProperties": False, "required": ["name"],
    "properties": {
        "name": {**_name(Stage), "description": "Unique in the pipeline (case does not count)."},
        "probability": {**PROBABILITY_SPEC.json_schema(), "default": 0, "description": "Percent."},
        "position": {**model_specs(Stage)["position"].json_schema(),
                     "description": "Its place, from 0 (beyond the last: last). In a list, the stages "
                                    "take the list's order unless positions are given."},
    },
}
STAGE_CHANGE = {**STAGE_IN, "required": []}
STAGE_LIST = {"type": "array", "minItems": 1, "maxItems": svc.STAGES_MAX, "items": STAGE_IN,
              "description": "The whole ordered list: stages are matched by name (case aside) and keep their "
                             "deals; new names are added; stages left out are deleted (409 while they hold deals)."}
STAGE_OUT = {
    "type": "object", "required": ["name", "position", "probability"], "additionalProperties": False,
    "properties": {"name": {"type": "string"}, "position": {"type": "integer", "minimum": 0, "maximum": INT_MAX},
                   "probability": {"type": "integer", "minimum": 0, "maximum": 100}},
}
PIPELINE_OUT = {
    "type": "object", "required": ["id", "name", "default", "stages"], "additionalProperties": False,
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                   "default": {"type": "boolean", "description": "Exactly one pipeline is the default."},
                   "stages": {"type": "array", "items": ref("PipelineStage")}},
}


def _input(required: tuple[str, ...], stages: dict) -> dict:
    schema = {"type": "object", "additionalProperties": False, "properties": {
        "name": {**_name(Pipeline), "description": "Unique (case does not count)."},
        "default": {"type": "boolean", "description": "true makes it the default pipeline (the previous default "
                                                      "stops being it); false on the default is a 409."},
        "stages": stages,
    }}
    if required:
        schema["required"] = list(required)
    return schema


add_schema("PipelineStage", STAGE_OUT)
add_schema("Pipeline", PIPELINE_OUT)
add_schema("PipelineStageCreate", STAGE_IN)
add_schema("PipelineStageUpdate", STAGE_CHANGE)
add_schema("PipelineCreate", _input(("name",), {
    **STAGE_LIST, "type": ["array", "null"],
    "description": "In order; absent or null: the default stages (Incoming, Qualification, Proposal, "
                   "Negotiation, Won, Lost)."}))
add_schema("PipelineUpdate", _input((), STAGE_LIST))
add_schema("PipelineReplace", _input(("name", "stages"), STAGE_LIST))
add_schema("PipelineList", {
    "type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
    "properties": {"items": {"type": "array", "items": ref("Pipeline")},
                   "next_cursor": {"type": ["string", "null"]}}})

# ---------------------------------------------------------------- OpenAPI

TAGS = ["pipelines"]
ADMIN = "Administrators only: 403 for any other role."
WRITE = (" 422: errors per field, keyed like the body (`stages.2.probability`); 409: what the pipelines' state "
         "forbids (`error` default_pipeline, pipeline_in_use, stage_in_use with `deals`: their number, last_stage); "
         "nothing is written.")


def _stage_name() -> dict:
    return {"name": "name", "in": "path", "required": True, "description": "The stage's name, exactly.",
            "schema": {"type": "string", "minLength": 1}}


add_operation("/pipelines", "get", {
    "tags": TAGS, "summary": "List pipelines with their stages", "operationId": "list_pipelines",
    "description": "Every user. Newest first; stages in their order.",
    "parameters": [query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                   query("cursor", {"type": "string"}, "Opaque: the next_cursor of the previous page.")],
    "responses": responses({200: ("A page of pipelines", ref("PipelineList"))}, (401, 422)),
})
add_operation("/pipelines", "post", {
    "tags": TAGS, "summary": "Create a pipeline", "operationId": "create_pipeline",
    "description": ADMIN + " The first pipeline is the default." + WRITE, "requestBody": body(ref("PipelineCreate")),
    "responses": responses({201: ("The new pipeline", ref("Pipeline"))}, (400, 401, 403, 409, 422)),
})
add_operation("/pipelines/{id}", "get", {
    "tags": TAGS, "summary": "Get a pipeline", "operationId": "get_pipeline", "description": "Every user.",
    "parameters": [path_id()],
    "responses": responses({200: ("The pipeline", ref("Pipeline"))}, (401, 404, 422)),
})
add_operation("/pipelines/{id}", "patch", {
    "tags": TAGS, "summary": "Change a pipeline (only the fields sent)", "operationId": "update_pipeline",
    "description": ADMIN + WRITE, "parameters": [path_id()], "requestBody": body(ref("PipelineUpdate")),
    "responses": responses({200: ("The pipeline", ref("Pipeline"))}, (400, 401, 403, 404, 409, 422)),
})
add_operation("/pipelines/{id}", "put", {
    "tags": TAGS, "summary": "Replace a pipeline", "operationId": "replace_pipeline",
    "description": ADMIN + " Name and stages required; default: as PATCH." + WRITE,
    "parameters": [path_id()], "requestBody": body(ref("PipelineReplace")),
    "responses": responses({200: ("The pipeline", ref("Pipeline"))}, (400, 401, 403, 404, 409, 422)),
})
add_operation("/pipelines/{id}", "delete", {
    "tags": TAGS, "summary": "Delete a pipeline", "operationId": "delete_pipeline",
    "description": ADMIN + " Refused (409) for the default pipeline, while deals are in it, or while an "
                   "automation rule creates its deal there.", "parameters": [path_id()],
    "responses": responses({204: ("Deleted", None)}, (401, 403, 404, 409, 422)),
})
add_operation("/pipelines/{id}/stages", "post", {
    "tags": TAGS, "summary": "Add a stage", "operationId": "create_pipeline_stage",
    "description": ADMIN + " Last unless `position` says otherwise." + WRITE, "parameters": [path_id()],
    "requestBody": body(ref("PipelineStageCreate")),
    "responses": responses({201: ("The pipeline", ref("Pipeline"))}, (400, 401, 403, 404, 409, 422)),
})
add_operation("/pipelines/{id}/stages/{name}", "patch", {
    "tags": TAGS, "summary": "Rename, re-weigh or move a stage", "operationId": "update_pipeline_stage",
    "description": ADMIN + " A new name is given to the stage's deals and to the automation rules that send "
                   "their deal there, in the same change." + WRITE,
    "parameters": [path_id(), _stage_name()], "requestBody": body(ref("PipelineStageUpdate")),
    "responses": responses({200: ("The pipeline", ref("Pipeline"))}, (400, 401, 403, 404, 409, 422)),
})
add_operation("/pipelines/{id}/stages/{name}", "delete", {
    "tags": TAGS, "summary": "Delete a stage", "operationId": "delete_pipeline_stage",
    "description": ADMIN + " While deals are in the stage, `move_to` is required (409 otherwise, with their "
                   "number in `deals`): they move to that stage first, in the same change.",
    "parameters": [path_id(), _stage_name(),
                   query("move_to", {"type": "string", "maxLength": 100, "pattern": NO_NUL},
                         "Another stage of the pipeline, by name.")],
    "responses": responses({204: ("Deleted", None)}, (401, 403, 404, 409, 422)),
})
