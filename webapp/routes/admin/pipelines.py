"""Deal pipelines and their stages (issue 10, item 5): the list (keyset pages of pipelines, each
with its stages in order, their probabilities and deals), and a form for each change —
create, rename, make default, delete a pipeline; add, rename / re-weigh, move up or down,
delete a stage (moving its deals to another stage in the same step).

Each change is one services.pipelines call and one commit. With htmx, a stage's change
answers its pipeline's card and a pipeline's change (create, default, delete) the whole list;
without JavaScript the forms post and come back to the page (303). A refusal shows the
posted form again with each reason next to its field (422), or the reason on the pipeline's
card (409), nothing written."""

from __future__ import annotations

from flask import flash, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, DomainError, Text
from ...extensions import db
from ...forms.common import as_choices
from ...forms.pipelines import (
    DeleteStageForm,
    NewPipelineForm,
    NewStageForm,
    RenamePipelineForm,
    StageForm,
)
from ...htmx import is_htmx, redirect, render, vary
from ...i18n import translate
from ...models import Pipeline
from ...services import pipelines as svc
from ..errors import on_error
from . import bp
from .jobs import _int_arg

PAGE_SIZE = 10
CONCURRENT = Text("This change conflicts with another change to the pipelines saved at the same time; "
                  "nothing was saved.")


# ---------------------------------------------------------------- the page's context


def _page(after: int | None) -> tuple[list[Pipeline], int | None]:
    """A page of pipelines in creation order (the seeded one first) with their stages; the id
    to continue after, when there are more."""
    stmt = svc.pipelines_query().order_by(Pipeline.id).limit(PAGE_SIZE + 1)
    if after:
        stmt = stmt.where(Pipeline.id > after)
    rows = list(db.session.scalars(stmt))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].id if more else None)


def _fill_new_stage(form, pipeline) -> None:
    form.position.choices = as_choices(
        [("", _("At the end"))]
        + [(str(s.position), _("Before “%(stage)s”", stage=translate(s.name))) for s in svc.ordered(pipeline)])


def _fill_delete(form, stage, *, suggest: bool = False) -> None:
    """The stages its deals may go to; `suggest` (the page, not a post): the next one (else the
    one before) selected."""
    stages = svc.ordered(stage.pipeline)
    others = [s for s in stages if s is not stage]
    form.move_to.choices = as_choices([(s.name, translate(s.name)) for s in others])
    if suggest and others:
        index = stages.index(stage)
        form.move_to.data = (stages[index + 1] if index + 1 < len(stages) else stages[index - 1]).name


def _forms(pipelines: list[Pipeline], counts: dict) -> dict:
    """Every form of the page, filled from the database (not from a posted body); a stage's
    delete form (where its deals go) only when it holds deals."""
    forms = {"new": NewPipelineForm(formdata=None)}
    for p in pipelines:
        forms[f"p{p.id}"] = RenamePipelineForm(formdata=None, prefix=f"p{p.id}", data={"name": p.name})
        forms[f"a{p.id}"] = form = NewStageForm(formdata=None, prefix=f"a{p.id}", data={"probability": "0"})
        _fill_new_stage(form, p)
        for s in p.stages:
            forms[f"s{s.id}"] = StageForm(formdata=None, prefix=f"s{s.id}",
                                          data={"name": s.name, "probability": str(s.probability)})
            if counts.get((p.id, s.name)):
                forms[f"d{s.id}"] = form = DeleteStageForm(formdata=None, prefix=f"d{s.id}")
                _fill_delete(form, s, suggest=True)
    return forms


def _context(after: int | None, posted: tuple[str, object] | None = None, notes: dict | None = None) -> dict:
    """The page's context: its pipelines, their deals by stage, every form (`posted`: the form
    just posted, as posted, instead of its database twin), `notes` {pipeline id: (kind, text)}."""
    pipelines, older = _page(after)
    counts = svc.deal_counts(db.session, [p.id for p in pipelines])
    forms = _forms(pipelines, counts)
    if posted is not None:
        forms[posted[0]] = posted[1]
    totals: dict[int, int] = {}
    for (pid, _stage), n in counts.items():
        totals[pid] = totals.get(pid, 0) + n
    return {"pipelines": pipelines, "forms": forms, "counts": counts, "totals": totals, "notes": notes or {},
            "after": after, "older": older, "ordered": svc.ordered}


def _card(pipeline_id: int, status: int = 200, **kw):
    """One pipeline's card (htmx) — or the whole page (no JavaScript) — after a stage change."""
    after = _int_arg("after")
    ctx = _context(after, **kw)
    pipeline = next((p for p in ctx["pipelines"] if p.id == pipeline_id), None)
    if is_htmx() and pipeline is None:  # not on this page: the first page
        ctx = _context(None, **kw)
        pipeline = next((p for p in ctx["pipelines"] if p.id == pipeline_id), None)
    if is_htmx() and pipeline is not None:
        return vary(make_response(render_template("admin/_pipeline.html", p=pipeline, **ctx), status))
    return render("admin/pipelines.html", "admin/_pipelines.html", status, **ctx)


def _list(status: int = 200, **kw):
    """The list of pipelines (htmx) or the page, after a pipeline's change."""
    return render("admin/pipelines.html", "admin/_pipelines.html", status, **_context(_int_arg("after"), **kw))


def _back(pipeline_id: int | None = None):
    """After a change without JavaScript: the page again (its anchor: the pipeline changed)."""
    url = url_for("admin.pipelines", after=_int_arg("after"))
    return redirect(url + (f"#pipeline-{pipeline_id}" if pipeline_id else ""))


def _save(write):
    """write() (one service call), then one commit; returns what write() returned. A unique name
    or the default taken meanwhile by someone else (the service checked before) is a 409."""
    try:
        result = write()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(CONCURRENT) from None
    return result


def _refusals(key: str, form, pipeline_id: int | None, answer) -> None:
    """For this request: a refusal shows `form` (the one posted, under `key`) with each reason
    next to its field, and a Conflict's sentence on the pipeline's card (or above the list)."""
    def view(e: DomainError):
        form.apply_errors(e.errors)
        notes = {}
        if isinstance(e, Conflict) or not e.errors:
            notes[pipeline_id or 0] = ("error", translate(e.message))
        return answer(e.status, posted=(key, form), notes=notes)

    on_error(DomainError, view)


def _done(pipeline_id: int, message: str, answer):
    """A change made: with htmx, the card (or list) with `message`; else the page, flashed."""
    if is_htmx():
        return answer(200, notes={pipeline_id: ("success", message)})
    flash(message, "success")
    return _back(pipeline_id)


def _card_answer(pipeline_id: int):
    return lambda status, **kw: _card(pipeline_id, status, **kw)


def _list_answer(status, **kw):
    return _list(status, **kw)


# ---------------------------------------------------------------- views


@bp.get("/pipelines")
def pipelines():
    """The pipelines, oldest first (the seeded one leads); ?after= a pipeline id (next page)."""
    return render("admin/pipelines.html", "admin/_pipelines.html", **_context(_int_arg("after")))


@bp.post("/pipelines")
def pipelines_create():
    form = NewPipelineForm()
    _refusals("new", form, None, _list_answer)
    data = {"name": form.name.data, "stages": svc.form_stages(form.stages.data), "default": form.default.data}
    pipeline = _save(lambda: svc.create_pipeline(db.session, current_user, data))
    return _done(pipeline.id, _("Pipeline “%(name)s” created.", name=pipeline.name), _list_answer)


@bp.post("/pipelines/<int:pipeline_id>/rename")
def pipelines_rename(pipeline_id: int):
    pipeline = svc.get_pipeline(db.session, pipeline_id)
    form = RenamePipelineForm(prefix=f"p{pipeline_id}")
    answer = _card_answer(pipeline_id)
    _refusals(f"p{pipeline_id}", form, pipeline_id, answer)
    _save(lambda: svc.rename_pipeline(db.session, current_user, pipeline, form.name.data))
    return _done(pipeline_id, _("Pipeline renamed “%(name)s”.", name=pipeline.name), answer)


@bp.post("/pipelines/<int:pipeline_id>/default")
def pipelines_default(pipeline_id: int):
    pipeline = svc.get_pipeline(db.session, pipeline_id)
    _refusals(f"p{pipeline_id}", RenamePipelineForm(formdata=None, prefix=f"p{pipeline_id}",
                                                     data={"name": pipeline.name}), pipeline_id, _list_answer)
    _save(lambda: svc.set_default(db.session, current_user, pipeline))
    return _done(pipeline_id, _("“%(name)s” is now the default pipeline.", name=translate(pipeline.name)),
                 _list_answer)


@bp.post("/pipelines/<int:pipeline_id>/delete")
def pipelines_delete(pipeline_id: int):
    pipeline = svc.get_pipeline(db.session, pipeline_id)
    name = pipeline.name
    _refusals(f"p{pipeline_id}", RenamePipelineForm(formdata=None, prefix=f"p{pipeline_id}",
                                                     data={"name": name}), pipeline_id, _list_answer)
    _save(lambda: svc.delete_pipeline(db.session, current_user, pipeline))
    message = _("Pipeline “%(name)s” deleted.", name=translate(name))
    if is_htmx():
        return _list(notes={0: ("success", message)})
    flash(message, "success")
    return _back()


@bp.post("/pipelines/<int:pipeline_id>/stages")
def pipelines_stage_add(pipeline_id: int):
    pipeline = svc.get_pipeline(db.session, pipeline_id)
    form = NewStageForm(prefix=f"a{pipeline_id}")
    _fill_new_stage(form, pipeline)
    answer = _card_answer(pipeline_id)
    _refusals(f"a{pipeline_id}", form, pipeline_id, answer)
    data = {"name": form.name.data, "probability": form.probability.data}
    if form.position.data not in (None, ""):
        data["position"] = form.position.data
    stage = _save(lambda: svc.add_stage(db.session, current_user, pipeline, data))
    return _done(pipeline_id, _("Stage “%(name)s” added.", name=stage.name), answer)


@bp.post("/pipelines/stages/<int:stage_id>")
def pipelines_stage_update(stage_id: int):
    stage = svc.get_stage(db.session, stage_id)
    pipeline_id = stage.pipeline_id
    form = StageForm(prefix=f"s{stage_id}")
    answer = _card_answer(pipeline_id)
    _refusals(f"s{stage_id}", form, pipeline_id, answer)
    data = {"name": form.name.data, "probability": form.probability.data}
    _save(lambda: svc.update_stage(db.session, current_user, stage, data))
    return _done(pipeline_id, _("Stage “%(name)s” saved.", name=stage.name), answer)


@bp.post("/pipelines/stages/<int:stage_id>/move")
def pipelines_stage_move(stage_id: int):
    """direction=up|down: one place (keyboard reordering; focus stays on the pressed button)."""
    stage = svc.get_stage(db.session, stage_id)
    pipeline_id = stage.pipeline_id
    offset = {"up": -1, "down": 1}.get(request.form.get("direction", ""), 0)
    _save(lambda: svc.move_stage(db.session, current_user, stage, offset))
    return _done(pipeline_id, _("“%(name)s” is now at place %(place)s.", name=translate(stage.name),
                                place=stage.position + 1), _card_answer(pipeline_id))


@bp.post("/pipelines/stages/<int:stage_id>/delete")
def pipelines_stage_delete(stage_id: int):
    """Delete a stage; move_to= another stage, where its deals go first (when it holds some)."""
    stage = svc.get_stage(db.session, stage_id)
    pipeline_id, name = stage.pipeline_id, stage.name
    form = DeleteStageForm(prefix=f"d{stage_id}")
    _fill_delete(form, stage)
    answer = _card_answer(pipeline_id)
    _refusals(f"d{stage_id}", form, pipeline_id, answer)
    moved = _save(lambda: svc.delete_stage(db.session, current_user, stage, form.move_to.data))
    target = form.move_to.data
    if moved:
        message = _("Stage “%(name)s” deleted; its deals moved to “%(target)s”.", name=translate(name),
                    target=translate(target))
    else:
        message = _("Stage “%(name)s” deleted.", name=translate(name))
    return _done(pipeline_id, message, answer)
