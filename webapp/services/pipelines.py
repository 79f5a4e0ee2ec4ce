"""Pipelines and their stages (issue 10, item 5; C5): what an administrator changes, one service
call per change, in the caller's transaction (the route commits once), each change audited
(area "pipeline").

The rules:
- A pipeline's name is unique (case does not count); a pipeline keeps at least one stage.
- Exactly one pipeline is the default at any time (the conversion's and a new deal's, C5.2):
  making one the default takes it from the other; the default cannot stop being the default
  nor be deleted (make another one the default first); the first pipeline is the default.
  The partial unique index uq_pipelines_default settles a race between two administrators.
- Deals name their stage (deals.stage, in their pipeline deals.pipeline_id): a stage's name is
  unique in its pipeline (case does not count), and renaming a stage renames it on the
  pipeline's deals, and on the automation rules whose deal goes to that stage, in the same
  transaction.
- Stages are ordered by position, kept 0..n-1; a probability is a whole percent (0-100,
  fields.PROBABILITY_SPEC).
- A stage holding deals is deleted only with `move_to`: its deals (and the rules naming it) go
  to that stage of the same pipeline first, in the same call. A pipeline holding deals, or
  where an automation rule creates its deals, cannot be deleted.

Values come as form text (strict=False) or JSON (strict=True, the API): every one goes
through the field layer (webapp/fields.py); refusals are DomainErrors with every field's
problem at once (Invalid, 422) or the state that prevents the change (Conflict, 409), and
nothing is written. Reads are for every user; writes for administrators (Forbidden, 403).
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from .. import permissions
from ..errors import N_, Conflict, Forbidden, Invalid, NotFound, Problem, Text
from ..fields import INT_MAX, PROBABILITY_SPEC, FieldError, model_specs
from ..models import DEFAULT_STAGES, AutomationRule, Deal, Pipeline, Stage
from ..models.deals import DEFAULT_PROBABILITIES
from . import audit

AREA = "pipeline"
STAGES_MAX = 50  # stages of one pipeline
PIPELINE_FIELDS = ("name", "default", "stages")
STAGE_FIELDS = ("name", "position", "probability")

ADMIN_ONLY = N_("Your role lacks the “Administration” permission, which changing pipelines needs.")
NAME_TAKEN = N_("is already the name of another pipeline")
STAGE_TAKEN = N_("is already the name of another stage of this pipeline")
NOT_STAGES = N_("must be a list of stages")
NO_STAGES = N_("must hold at least one stage")
SAME_STAGE = N_("must be another stage than the one deleted")
ALWAYS_DEFAULT = N_("stays true: make another pipeline the default instead")
DEFAULT_KEPT = N_("There is always one default pipeline: make another pipeline the default instead.")
DEFAULT_UNDELETABLE = N_("The default pipeline cannot be deleted: make another pipeline the default first.")
PIPELINE_HAS_DEALS = N_("Deals in the pipeline “{pipeline}”: {count}. Move them to another pipeline before "
                        "deleting it.")
PIPELINE_HAS_RULES = N_("Automation rules that create their deal in the pipeline “{pipeline}”: {count}. Change "
                        "them before deleting it.")
STAGE_HAS_DEALS = N_("Deals in the stage “{stage}”: {count}. Choose the stage they move to, then delete it.")
STAGES_HAVE_DEALS = N_("Some stages left out still hold deals; delete them one by one, choosing where their "
                       "deals go.")
STAGE_DEALS = N_("“{stage}” holds deals ({count})")
MOVE_TO_WHERE = N_("names the stage its deals move to")
LAST_STAGE = N_("A pipeline keeps at least one stage: add another stage before deleting this one.")
TOO_MANY_STAGES = N_("A pipeline has at most {max} stages.")


# ---------------------------------------------------------------- rights and reads


def require_admin(actor) -> None:
    """Raises Forbidden unless `actor` has the "admin" permission."""
    if not permissions.is_admin(actor):
        raise Forbidden(Text(ADMIN_ONLY))


def pipelines_query():
    """Every pipeline with its stages (one more query), by id (the first is the seeded one)."""
    return select(Pipeline).options(selectinload(Pipeline.stages))


def get_pipeline(session, pipeline_id) -> Pipeline:
    """One pipeline; raises NotFound."""
    pipeline = (session.get(Pipeline, pipeline_id)
                if isinstance(pipeline_id, int) and 0 < pipeline_id <= INT_MAX else None)
    if pipeline is None:
        raise NotFound(Text("There is no pipeline with id {id}.", id=pipeline_id))
    return pipeline


def get_stage(session, stage_id) -> Stage:
    """One stage by id (the admin pages); raises NotFound."""
    stage = session.get(Stage, stage_id) if isinstance(stage_id, int) and 0 < stage_id <= INT_MAX else None
    if stage is None:
        raise NotFound(Text("There is no stage with id {id}.", id=stage_id))
    return stage


def stage_named(pipeline: Pipeline, name) -> Stage:
    """The stage of `pipeline` called `name` exactly (the API's address of a stage; compared
    here, never sent to the database); raises NotFound."""
    stage = next((s for s in pipeline.stages if s.name == name), None) if isinstance(name, str) else None
    if stage is None:
        raise NotFound(Text("The pipeline “{pipeline}” has no stage “{stage}”.", pipeline=_shown(pipeline.name),
                            stage=str(name)[:100]))
    return stage


def _shown(name: str) -> Text:
    """A pipeline's or stage's name inside a sentence: shown in the reader's words when the
    catalogue has them (the seeded names are English data, as pages show them with |t)."""
    return Text(name)


def ordered(pipeline: Pipeline) -> list[Stage]:
    """The stages in their order (position, then id)."""
    return sorted(pipeline.stages, key=lambda s: (s.position, s.id or INT_MAX))


def as_dict(pipeline: Pipeline) -> dict:
    """A pipeline as the API answers it (api.md Settings)."""
    return {"id": pipeline.id, "name": pipeline.name, "default": bool(pipeline.is_default),
            "stages": [{"name": s.name, "position": s.position, "probability": s.probability}
                       for s in ordered(pipeline)]}


def deal_counts(session, pipeline_ids) -> dict[tuple[int, str], int]:
    """{(pipeline id, stage name): number of deals} of these pipelines."""
    ids = list(pipeline_ids)
    if not ids:
        return {}
    rows = session.execute(select(Deal.pipeline_id, Deal.stage, func.count()).where(Deal.pipeline_id.in_(ids))
                           .group_by(Deal.pipeline_id, Deal.stage))
    return {(pid, stage): n for pid, stage, n in rows}


def _stage_deals(session, stage: Stage) -> int:
    return session.scalar(select(func.count()).select_from(Deal)
                          .where(Deal.pipeline_id == stage.pipeline_id, Deal.stage == stage.name))


def _pipeline_deals(session, pipeline: Pipeline) -> int:
    return session.scalar(select(func.count()).select_from(Deal).where(Deal.pipeline_id == pipeline.id))


def _rules_in(session, pipeline: Pipeline, stage: str | None = None) -> list[AutomationRule]:
    """The automation rules whose deal goes to `pipeline` (named, or the default when they name
    none), to its stage `stage` when given."""
    out = []
    for rule in session.scalars(select(AutomationRule).order_by(AutomationRule.id)):
        deal = (rule.options or {}).get("deal")
        if not isinstance(deal, dict):
            continue
        target = deal.get("pipeline_id")
        if target == pipeline.id or (target is None and stage is not None and pipeline.is_default):
            if stage is None or deal.get("stage") == stage:
                out.append(rule)
    return out


# ---------------------------------------------------------------- values (the field layer)


def _value(spec, raw, strict: bool, errors: dict, key: str, *, required: bool = True):
    """`raw` through its FieldSpec; a problem goes into `errors` under `key` (None then)."""
    try:
        value = spec.parse(raw, strict=strict)
    except FieldError as e:
        errors[key] = [e.problem]
        return None
    if value is None and required:
        errors[key] = [Problem("required" if spec.kind != "checkbox" else "not_null")]
    return value


def _fold(name: str) -> str:
    return name.casefold()


def _pipeline_name_taken(session, name: str, pipeline_id: int | None) -> bool:
    """Another pipeline has this name, whatever its case (compared here: Unicode case folding,
    which SQLite's lower() does not do; pipelines are few)."""
    return any(_fold(other) == _fold(name)
               for pid, other in session.execute(select(Pipeline.id, Pipeline.name)) if pid != pipeline_id)


def _check_keys(data, allowed: tuple[str, ...], errors: dict, prefix: str = "") -> dict:
    if not isinstance(data, dict):
        raise Invalid(errors={prefix.rstrip(".") or "body": [Problem("not_object")]})
    for key in data:
        if key == "id" and not prefix:
            errors["id"] = [Problem("read_only")]
        elif key not in allowed:
            errors[prefix + (key if isinstance(key, str) and "\x00" not in key else "?")[:60]] = \
                [Problem("unknown_field")]
    return data


def _stage_values(data, strict: bool, errors: dict, prefix: str = "", *, creating: bool) -> dict:
    """The checked name / probability / position of one stage body ({"name", "probability",
    "position"}); errors keyed `prefix` + field ("stages.2.name")."""
    _check_keys(data, STAGE_FIELDS, errors, prefix)
    values: dict = {}
    specs = model_specs(Stage)
    if "name" in data:
        values["name"] = _value(specs["name"], data["name"], strict, errors, prefix + "name")
    elif creating:
        errors[prefix + "name"] = [Problem("required")]
    if "probability" in data:
        values["probability"] = _value(PROBABILITY_SPEC, data["probability"], strict, errors, prefix + "probability")
    if "position" in data:
        values["position"] = _value(specs["position"], data["position"], strict, errors, prefix + "position")
    return values


def _stage_list(raw, strict: bool, errors: dict) -> list[dict]:
    """A body's "stages": [{"name", "probability", "position"}], in the order they take: by
    position when given (ties and absent ones by their place in the list)."""
    if not isinstance(raw, list):
        errors["stages"] = [Problem("not_list", NOT_STAGES)]
        return []
    if not raw:
        errors["stages"] = [Problem("required", NO_STAGES)]
        return []
    if len(raw) > STAGES_MAX:
        errors["stages"] = [Problem("too_many", max=STAGES_MAX)]
        return []
    items, seen = [], {}
    for i, item in enumerate(raw):
        values = _stage_values(item, strict, errors, f"stages.{i}.", creating=True)
        name = values.get("name")
        if name:
            if _fold(name) in seen:
                errors[f"stages.{i}.name"] = [Problem("name_taken", STAGE_TAKEN)]
            seen[_fold(name)] = i
        position = values.get("position")
        items.append((i if position is None else position, i, values))
    return [values for _, _, values in sorted(items, key=lambda t: (t[0], t[1]))]


def form_stages(text: str | None) -> list[dict] | None:
    """The stages typed in a form's text area, one a line (None when it is empty: the default
    stages), as the service's "stages" body."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return [{"name": line} for line in lines] or None


def default_stages() -> list[dict]:
    """The stages of a pipeline created without any: DEFAULT_STAGES with their probabilities."""
    return [{"name": name, "probability": p} for name, p in zip(DEFAULT_STAGES, DEFAULT_PROBABILITIES, strict=True)]


# ---------------------------------------------------------------- audit snapshots


def _snapshot(pipeline: Pipeline) -> dict:
    return {"name": pipeline.name, "default": bool(pipeline.is_default),
            "stages": [{"name": s.name, "probability": s.probability} for s in ordered(pipeline)]}


def _stage_key(pipeline: Pipeline, name: str) -> str:
    return f"{pipeline.name} / {name}"


def _stage_snapshot(stage: Stage) -> dict:
    return {"name": stage.name, "position": stage.position, "probability": stage.probability}


# ---------------------------------------------------------------- pipelines


def _take_default(session, actor, pipeline: Pipeline) -> None:
    """Make `pipeline` the default: the previous default loses it first (flushed, so that the
    unique index never sees two)."""
    for other in session.scalars(select(Pipeline).where(Pipeline.is_default.is_(True))):
        if other is not pipeline:
            other.is_default = False
            audit.record(session, actor, AREA, other.name, "updated", {"default": True}, {"default": False})
    session.flush()
    pipeline.is_default = True


def create_pipeline(session, actor, data, *, strict: bool = False) -> Pipeline:
    """A new pipeline from {"name", "default", "stages"} ("stages" absent or null: the default
    stages). The first pipeline is the default whatever `default` says. Raises Forbidden, Invalid."""
    require_admin(actor)
    errors: dict = {}
    _check_keys(data, PIPELINE_FIELDS, errors)
    name = _value(model_specs(Pipeline)["name"], data.get("name"), strict, errors, "name")
    if name and _pipeline_name_taken(session, name, None):
        errors["name"] = [Problem("name_taken", NAME_TAKEN)]
    default = False
    if "default" in data:
        default = _value(model_specs(Pipeline)["is_default"], data["default"], strict, errors, "default")
    raw_stages = data.get("stages")
    items = _stage_list(raw_stages, strict, errors) if raw_stages is not None else default_stages()
    if errors:
        raise Invalid(errors=errors)
    first = session.scalar(select(Pipeline.id).limit(1)) is None
    pipeline = Pipeline(name=name, is_default=False)
    pipeline.stages = [Stage(name=item["name"], position=i, probability=item.get("probability") or 0)
                       for i, item in enumerate(items)]
    session.add(pipeline)
    if default or first:
        _take_default(session, actor, pipeline)
    session.flush()
    audit.record(session, actor, AREA, pipeline.name, "created", None, _snapshot(pipeline))
    return pipeline


def update_pipeline(session, actor, pipeline: Pipeline, data, *, strict: bool = False,
                    replace_all: bool = False) -> Pipeline:
    """Change what `data` holds: "name", "default" (true makes it the default; false on the
    default is a Conflict), "stages" (the whole ordered list: stages matched by name, case
    aside, keep their deals; new names are added; stages left out are deleted, refused while
    they hold deals). `replace_all` (PUT): name and stages required. Raises Forbidden, Invalid,
    Conflict."""
    require_admin(actor)
    errors: dict = {}
    _check_keys(data, PIPELINE_FIELDS, errors)
    values: dict = {}
    if "name" in data:
        values["name"] = _value(model_specs(Pipeline)["name"], data["name"], strict, errors, "name")
        if values["name"] and _pipeline_name_taken(session, values["name"], pipeline.id):
            errors["name"] = [Problem("name_taken", NAME_TAKEN)]
    if "default" in data:
        values["default"] = _value(model_specs(Pipeline)["is_default"], data["default"], strict, errors, "default")
    items = None
    if "stages" in data:
        items = _stage_list(data["stages"], strict, errors)
    if replace_all:
        for key in ("name", "stages"):
            if key not in data and key not in errors:
                errors[key] = [Problem("required")]
    if errors:
        raise Invalid(errors=errors)
    if values.get("default") is False and pipeline.is_default:
        raise Conflict(Text(DEFAULT_KEPT), {"default": [Problem("default_kept", ALWAYS_DEFAULT)]},
                       code="default_pipeline")
    if items is not None:
        _replace_stages(session, actor, pipeline, items)
    before = {"name": pipeline.name, "default": bool(pipeline.is_default)}
    if values.get("name") and values["name"] != pipeline.name:
        pipeline.name = values["name"]
    if values.get("default") and not pipeline.is_default:
        _take_default(session, actor, pipeline)
    session.flush()
    audit.record(session, actor, AREA, pipeline.name, "updated", before,
                 {"name": pipeline.name, "default": bool(pipeline.is_default)})
    return pipeline


def rename_pipeline(session, actor, pipeline: Pipeline, name, *, strict: bool = False) -> Pipeline:
    return update_pipeline(session, actor, pipeline, {"name": name}, strict=strict)


def set_default(session, actor, pipeline: Pipeline) -> Pipeline:
    """Make `pipeline` the default one (the previous default stops being it)."""
    return update_pipeline(session, actor, pipeline, {"default": True}, strict=True)


def delete_pipeline(session, actor, pipeline: Pipeline) -> None:
    """Delete a pipeline and its stages; refused (Conflict) for the default one, while deals are
    in it (with their number) or while an automation rule creates its deal there."""
    require_admin(actor)
    if pipeline.is_default:
        raise Conflict(Text(DEFAULT_UNDELETABLE), code="default_pipeline")
    count = _pipeline_deals(session, pipeline)
    if count:
        raise Conflict(Text(PIPELINE_HAS_DEALS, pipeline=_shown(pipeline.name), count=count), code="pipeline_in_use",
                       deals=count)
    rules = _rules_in(session, pipeline)
    if rules:
        raise Conflict(Text(PIPELINE_HAS_RULES, pipeline=_shown(pipeline.name), count=len(rules)), code="pipeline_in_use",
                       rules=len(rules))
    snapshot = _snapshot(pipeline)
    for stage in list(pipeline.stages):
        session.delete(stage)
    session.delete(pipeline)
    session.flush()
    audit.record(session, actor, AREA, snapshot["name"], "deleted", snapshot, None)


# ---------------------------------------------------------------- stages


def _stage_name_taken(pipeline: Pipeline, name: str, stage: Stage | None) -> bool:
    return any(_fold(s.name) == _fold(name) for s in pipeline.stages if s is not stage)


def _place(session, actor, pipeline: Pipeline, stages: list[Stage], *, record: bool) -> None:
    """Positions 0..n-1 in the order of `stages`; `record`: audit each stage that moved."""
    for i, stage in enumerate(stages):
        if stage.position != i:
            if record and stage.id is not None:
                audit.record(session, actor, AREA, _stage_key(pipeline, stage.name), "updated",
                             {"position": stage.position}, {"position": i})
            stage.position = i


def _rename_references(session, actor, pipeline: Pipeline, old: str, new: str) -> int:
    """Deals of `pipeline` at stage `old` (and rules sending their deal there) go to `new`;
    the number of deals."""
    moved = session.execute(update(Deal).where(Deal.pipeline_id == pipeline.id, Deal.stage == old)
                            .values(stage=new)).rowcount
    for rule in _rules_in(session, pipeline, old):
        options = dict(rule.options)
        options["deal"] = {**options["deal"], "stage": new}
        rule.options = options
        audit.record(session, actor, "automation_rule", rule.name, "updated", {"deal stage": old}, {"deal stage": new})
    return moved or 0


def add_stage(session, actor, pipeline: Pipeline, data, *, strict: bool = False) -> Stage:
    """A new stage {"name", "probability" (default 0), "position" (default: last)}. Raises
    Forbidden, Invalid, Conflict (a full pipeline)."""
    require_admin(actor)
    errors: dict = {}
    values = _stage_values(data, strict, errors, creating=True)
    if values.get("name") and _stage_name_taken(pipeline, values["name"], None):
        errors["name"] = [Problem("name_taken", STAGE_TAKEN)]
    if errors:
        raise Invalid(errors=errors)
    stages = ordered(pipeline)
    if len(stages) >= STAGES_MAX:
        raise Conflict(Text(TOO_MANY_STAGES, max=STAGES_MAX), code="too_many_stages")
    position = values.get("position")
    position = len(stages) if position is None else min(position, len(stages))
    stage = Stage(name=values["name"], probability=values.get("probability") or 0, position=position)
    pipeline.stages.append(stage)
    stages.insert(position, stage)
    _place(session, actor, pipeline, stages, record=False)
    session.flush()
    audit.record(session, actor, AREA, _stage_key(pipeline, stage.name), "created", None, _stage_snapshot(stage))
    return stage


def update_stage(session, actor, stage: Stage, data, *, strict: bool = False) -> Stage:
    """Change a stage's "name" (its deals and the rules naming it follow), "probability" and
    "position" (moved there, the others shifting; beyond the last: last). Raises Forbidden,
    Invalid."""
    require_admin(actor)
    pipeline = stage.pipeline
    errors: dict = {}
    values = _stage_values(data, strict, errors, creating=False)
    if values.get("name") and _stage_name_taken(pipeline, values["name"], stage):
        errors["name"] = [Problem("name_taken", STAGE_TAKEN)]
    if errors:
        raise Invalid(errors=errors)
    before = {"name": stage.name, "probability": stage.probability}
    after = dict(before)
    if values.get("name") and values["name"] != stage.name:
        moved = _rename_references(session, actor, pipeline, stage.name, values["name"])
        stage.name = after["name"] = values["name"]
        if moved:
            after["deals renamed"] = moved
    if values.get("probability") is not None:
        stage.probability = after["probability"] = values["probability"]
    audit.record(session, actor, AREA, _stage_key(pipeline, before["name"]), "updated", before, after)
    if values.get("position") is not None:
        stages = [s for s in ordered(pipeline) if s is not stage]
        stages.insert(min(values["position"], len(stages)), stage)
        _place(session, actor, pipeline, stages, record=True)
    session.flush()
    return stage


def move_stage(session, actor, stage: Stage, offset: int) -> Stage:
    """Move a stage `offset` places (-1: up, 1: down), within the pipeline's ends."""
    require_admin(actor)
    stages = ordered(stage.pipeline)
    index = stages.index(stage)
    target = max(0, min(len(stages) - 1, index + offset))
    if target != index:
        stages.insert(target, stages.pop(index))
        _place(session, actor, stage.pipeline, stages, record=True)
        session.flush()
    return stage


def delete_stage(session, actor, stage: Stage, move_to=None, *, strict: bool = False) -> int:
    """Delete a stage. While deals are in it, `move_to` (another stage of the same pipeline, by
    name) is required: its deals, and the rules naming it, go there first, in this call. Raises
    Forbidden, Invalid (an unknown `move_to`), Conflict (deals and no `move_to`, with their
    number; the last stage). Returns the number of deals moved. Without `move_to`, a rule still
    naming the stage converts into the pipeline's first stage (C5.2's fallback)."""
    require_admin(actor)
    pipeline = stage.pipeline
    stages = ordered(pipeline)
    if len(stages) <= 1:
        raise Conflict(Text(LAST_STAGE), code="last_stage")
    target = None
    if move_to not in (None, ""):
        errors: dict = {}
        name = _value(model_specs(Stage)["name"], move_to, strict, errors, "move_to")
        if name is not None:
            target = next((s for s in stages if _fold(s.name) == _fold(name)), None)
            if target is None:
                errors["move_to"] = [Problem("not_stage", pipeline=pipeline.name,
                                             choices=", ".join(s.name for s in stages if s is not stage))]
            elif target is stage:
                errors["move_to"] = [Problem("same_stage", SAME_STAGE)]
        if errors:
            raise Invalid(errors=errors)
    count = _stage_deals(session, stage)
    if count and target is None:
        raise Conflict(Text(STAGE_HAS_DEALS, stage=_shown(stage.name), count=count),
                       {"move_to": [Problem("required", MOVE_TO_WHERE)]}, code="stage_in_use", deals=count)
    before = _stage_snapshot(stage)
    moved = 0
    if target is not None:
        moved = _rename_references(session, actor, pipeline, stage.name, target.name)
        if moved:
            before.update({"deals moved": moved, "moved to": target.name})
    pipeline.stages.remove(stage)
    session.delete(stage)
    _place(session, actor, pipeline, [s for s in stages if s is not stage], record=False)
    session.flush()
    audit.record(session, actor, AREA, _stage_key(pipeline, before["name"]), "deleted", before, None)
    return moved


def _replace_stages(session, actor, pipeline: Pipeline, items: list[dict]) -> None:
    """The whole ordered list (update_pipeline's "stages"): existing stages matched by name (case
    aside: a new case renames it, deals following) keep their deals; new names are created;
    those left out are deleted — refused with the deals of each while any holds some."""
    current = {_fold(s.name): s for s in pipeline.stages}
    wanted = {_fold(item["name"]) for item in items}
    dropped = [s for key, s in current.items() if key not in wanted]
    counts = deal_counts(session, [pipeline.id])
    busy = [(s.name, counts[(pipeline.id, s.name)]) for s in dropped if counts.get((pipeline.id, s.name))]
    if busy:
        raise Conflict(Text(STAGES_HAVE_DEALS),
                       {"stages": [Text(STAGE_DEALS, stage=_shown(name), count=n) for name, n in busy]},
                       code="stage_in_use", deals=sum(n for _, n in busy))
    for stage in dropped:
        audit.record(session, actor, AREA, _stage_key(pipeline, stage.name), "deleted", _stage_snapshot(stage), None)
        pipeline.stages.remove(stage)
        session.delete(stage)
    order, created = [], []
    for item in items:
        stage = current.get(_fold(item["name"]))
        if stage is None:
            stage = Stage(name=item["name"], probability=item.get("probability") or 0, position=len(order))
            pipeline.stages.append(stage)
            created.append(stage)
        else:
            before = _stage_snapshot(stage)
            if item["name"] != stage.name:
                _rename_references(session, actor, pipeline, stage.name, item["name"])
                stage.name = item["name"]
            if item.get("probability") is not None:
                stage.probability = item["probability"]
            stage.position = len(order)
            audit.record(session, actor, AREA, _stage_key(pipeline, before["name"]), "updated", before,
                         _stage_snapshot(stage))
        order.append(stage)
    session.flush()
    for stage in created:
        audit.record(session, actor, AREA, _stage_key(pipeline, stage.name), "created", None, _stage_snapshot(stage))
