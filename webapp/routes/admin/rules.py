"""Automation rules (issue 10 item 7, C8.6): "when a lead enters status S and matches the
conditions, convert it with options O".

- /admin/rules: every rule in the order they are tried (position, then id; keyset pages), with
  the status it fires on, its conditions in words, active (a toggle), up / down, and its runs
  (the lead timeline's rule events): the latest (when, which lead) and how many converted / did
  not in the last 30 days. Toggle and moves are htmx posts answered with the refreshed panel
  (without JavaScript: a redirect back).
- /admin/rules/new, /admin/rules/<id>: the rule's form — name, status, active, the conditions as
  field / operator / value rows (add / remove a row, a field's operators and value widget:
  /form re-renders the form from what is posted, nothing saved) and the conversion options in
  the bulk panel's own widgets (forms.bulk, the partial leads/bulk/_options.html); its latest
  runs. /admin/rules/<id>/delete asks, then deletes.

services.automation judges and audits every change (the API goes through it too); bad input is
a 422 with each reason next to its field (the service's keys, "conditions.0.value",
"options.deal.pipeline_id", mapped onto the widgets), nothing written; one commit per request.
"""

from __future__ import annotations

import re

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from ...errors import Conflict, Invalid, Problem, Text
from ...extensions import db
from ...fields import INT_MAX
from ...forms import rules as forms
from ...forms.bulk import EXTRA_DEAL_FIELDS
from ...htmx import is_htmx, redirect, render
from ...i18n import translate
from ...models import AutomationRule, Lead, User
from ...services import automation
from ...services.leads import lead_statuses
from ..errors import on_error
from ..leads.bulk import apply_errors as apply_option_errors
from . import bp

PAGE, PANEL = "admin/rules.html", "admin/_rules.html"
FORM_PAGE, FORM = "admin/rule_form.html", "admin/_rule_form.html"
PAGE_SIZE = 20
RECENT_RUNS = 10
_CURSOR = re.compile(r"(\d{1,10})-(\d{1,10})")
_ORDER = (AutomationRule.position, AutomationRule.id)


def _commit() -> None:
    """The one commit; a name taken by a concurrent request (after the service's check) is a 409
    with the reason next to the name."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(Text("This change conflicts with another rule saved at the same time; nothing was saved."),
                       {"name": [Problem("name_taken", automation.NAME_TAKEN)]}) from None


def _rule(rule_id: int) -> AutomationRule:
    return automation.get_rule(db.session, current_user, rule_id)


def _status_labels() -> dict[str, str]:
    return {s.key: translate(s.label) for s in lead_statuses(db.session)}


def _people(ids) -> dict[int, str]:
    ids = {i for i in ids if isinstance(i, int) and 0 < i <= INT_MAX}
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def _owner_ids(conditions) -> list[int]:
    """The users a page's conditions on the owner name (to show their names)."""
    out = []
    for c in conditions:
        if c.get("field") == "owner_id":
            value = c.get("value")
            out += value if isinstance(value, list) else [value]
    return out


# --- the list ----------------------------------------------------------------------------------

def _cursor() -> tuple[int, int] | None:
    """?after=<position>-<id>: the rules after that one (the next page)."""
    match = _CURSOR.fullmatch(request.values.get("after", ""))
    if not match:
        return None
    position, rule_id = int(match.group(1)), int(match.group(2))
    return (position, rule_id) if position <= INT_MAX and rule_id <= INT_MAX else None


def _panel(status: int = 200, *, message: str | None = None, notice: str | None = None):
    after = _cursor()
    stmt = automation.list_rules(db.session, current_user).order_by(*_ORDER)
    before = 0
    if after is not None:
        later = or_(AutomationRule.position > after[0],
                    and_(AutomationRule.position == after[0], AutomationRule.id > after[1]))
        stmt = stmt.where(later)
        before = db.session.scalar(select(func.count()).select_from(AutomationRule).where(~later))
    rows = list(db.session.scalars(stmt.limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    runs = automation.last_runs(db.session, current_user, [r.id for r in rows])
    lead_ids = {r.latest.parent_id for r in runs.values() if r.latest is not None}
    leads = ({lead.id: lead for lead in db.session.scalars(select(Lead).where(Lead.id.in_(lead_ids)))}
             if lead_ids else {})
    specs, labels = forms.condition_fields(db.session)
    people = _people(_owner_ids([c for r in rows for c in r.conditions or []]))
    described = {r.id: [forms.describe(c, specs, labels, people) for c in r.conditions or []] for r in rows}
    last = rows[-1] if more else None
    return render(PAGE, PANEL, status, rules=rows, runs=runs, leads=leads, described=described,
                  statuses=_status_labels(), before=before, after=request.values.get("after") if after else None,
                  next_after=f"{last.position}-{last.id}" if last else None, more=more,
                  days=automation.RUNS_DAYS, message=message, notice=notice)


def _done(message: str):
    """After a change on the list: the refreshed panel saying so (htmx), else back to the page."""
    if is_htmx():
        return _panel(message=message)
    flash(message, "success")
    after = _cursor()
    return redirect(url_for("admin.rules", after=f"{after[0]}-{after[1]}") if after else url_for("admin.rules"))


def _list_refusals() -> None:
    on_error(Invalid, lambda e: _panel(422, notice=translate(e.message)))
    on_error(Conflict, lambda e: _panel(409, notice=translate(e.message)))


@bp.get("/rules")
def rules():
    """Every automation rule, in the order they are tried."""
    return _panel()


@bp.post("/rules/<int:rule_id>/active")
def rules_toggle(rule_id: int):
    """active=1 activates the rule, active=0 deactivates it."""
    rule = _rule(rule_id)
    _list_refusals()
    wanted = request.form.get("active", "")
    automation.update_rule(db.session, current_user, rule, {"active": {"1": True, "0": False}.get(wanted, wanted)})
    _commit()
    if rule.active:
        return _done(_("“%(name)s” is active: it converts the leads that enter its status.", name=rule.name))
    return _done(_("“%(name)s” is inactive: it converts no lead until it is activated.", name=rule.name))


@bp.post("/rules/<int:rule_id>/move")
def rules_move(rule_id: int):
    rule = _rule(rule_id)
    _list_refusals()
    direction = request.form.get("direction", "")
    moved = automation.move_rule(db.session, current_user, rule, direction)
    _commit()
    if not moved:
        return _done(_("“%(name)s” is first already.", name=rule.name) if direction == "up"
                     else _("“%(name)s” is last already.", name=rule.name))
    place = db.session.scalar(select(func.count()).select_from(AutomationRule).where(
        or_(AutomationRule.position < rule.position,
            and_(AutomationRule.position == rule.position, AutomationRule.id < rule.id)))) + 1
    return _done(_("“%(name)s” moved to place %(n)s.", name=rule.name, n=place))


# --- the form ------------------------------------------------------------------------------------

class Editor:
    """The form of one rule (None: a new one) as posted or as stored, and its refusals."""

    def __init__(self, rule: AutomationRule | None, posted: bool):
        self.rule = rule
        self.specs, self.labels = forms.condition_fields(db.session)
        self.focus: str | None = None
        self.general: list[str] = []
        if posted:
            self.form = forms.RuleForm().setup()
            self.options = forms.options_form(current_user, request.form)
            self.rows = forms.rows_from_form(request.form, keep_blank=True)
        else:
            self.form = forms.RuleForm(formdata=None, obj=rule).setup()
            self.options = forms.options_form(current_user, options=rule.options if rule else None)
            self.rows = forms.rows_from_rule(rule.conditions if rule else [], self.specs)
        self.options.other_errors = []

    def row_action(self, action: str) -> None:
        """Add a row (the focus on its field) or remove one (the focus on "Add a condition")."""
        if action == "add" and len(self.rows) < automation.CONDITIONS_MAX:
            self.rows.append(forms.ConditionRow())
            self.focus = f"conditions-{len(self.rows) - 1}-field"
        elif action.startswith("remove-") and action[7:].isdigit() and int(action[7:]) < len(self.rows):
            del self.rows[int(action[7:])]
            self.focus = "add-condition"

    def data(self) -> dict:
        """The body the service takes (the API's shape)."""
        self.rows = [r for r in self.rows if not r.blank]
        stored = self.rule.options if self.rule is not None else None
        return {**self.form.to_data(), "conditions": forms.conditions_data(self.rows, self.specs),
                "options": forms.rule_options(self.options, stored)}

    def refuse(self, errors: dict) -> None:
        """Each reason next to its widget: the rule's fields, the condition rows, the options."""
        mine, conditions, options = {}, {}, {}
        for key, reasons in errors.items():
            if key == "conditions" or key.startswith("conditions."):
                conditions[key] = reasons
            elif key.startswith("options."):
                options[key[8:]] = reasons
            else:
                mine[key] = reasons
        self.form.apply_errors(mine)
        self.general = forms.apply_condition_errors(self.rows, conditions, self.specs)
        apply_option_errors(self.options, forms.option_error_keys(self.options, options))
        self.options.deal_shown.data = ",".join(self.options.shown())

    def render(self, status: int = 200, notice: str | None = None):
        forms.settle(self.rows, self.specs)
        rule = self.rule
        runs, leads = [], {}
        if rule is not None:
            runs = automation.recent_runs(db.session, current_user, rule, RECENT_RUNS)
            ids = {e.parent_id for e in runs}
            leads = {lead.id: lead for lead in db.session.scalars(select(Lead).where(Lead.id.in_(ids)))} if ids else {}
        stored = rule.options if rule is not None else {}
        people = _people([(stored.get("deal") or {}).get("owner_id"), (stored.get("task") or {}).get("owner_id")])
        return render(FORM_PAGE, FORM, status, rule=rule, form=self.form, options=self.options,
                      views=forms.row_views(self.rows, self.specs, self.labels), row_values=forms.row_values,
                      general=self.general, focus=self.focus, notice=notice, extra_fields=EXTRA_DEAL_FIELDS,
                      kept=forms.kept_options(stored, people), conditions_max=automation.CONDITIONS_MAX,
                      runs=runs, leads=leads, statuses=_status_labels())

    def refusals(self) -> None:
        def invalid(e):
            self.refuse(e.errors)
            return self.render(422, notice=None if e.errors else translate(e.message))

        def conflict(e):
            self.refuse(e.errors)
            return self.render(409, notice=translate(e.message))

        on_error(Invalid, invalid)
        on_error(Conflict, conflict)


@bp.get("/rules/new")
def rules_new():
    return Editor(None, posted=False).render()


@bp.post("/rules/new/form", defaults={"rule_id": None})
@bp.post("/rules/<int:rule_id>/form")
def rules_form(rule_id: int | None):
    """The form again from what is posted (htmx: a row added or removed, a field, operator,
    pipeline or deal field changed); nothing is saved."""
    editor = Editor(_rule(rule_id) if rule_id is not None else None, posted=True)
    editor.row_action(request.form.get(forms.ACTION, ""))
    return editor.render()


@bp.post("/rules")
def rules_create():
    editor = Editor(None, posted=True)
    editor.refusals()
    rule = automation.create_rule(db.session, current_user, editor.data())
    name = rule.name
    _commit()
    flash(_("Rule “%(name)s” created.", name=name), "success")
    return redirect(url_for("admin.rules"))


@bp.get("/rules/<int:rule_id>")
def rules_edit(rule_id: int):
    return Editor(_rule(rule_id), posted=False).render()


@bp.post("/rules/<int:rule_id>")
def rules_update(rule_id: int):
    editor = Editor(_rule(rule_id), posted=True)
    editor.refusals()
    rule = automation.update_rule(db.session, current_user, editor.rule, editor.data())
    name = rule.name
    _commit()
    flash(_("Rule “%(name)s” saved.", name=name), "success")
    return redirect(url_for("admin.rules"))


@bp.get("/rules/<int:rule_id>/delete")
def rules_delete(rule_id: int):
    """Asks before deleting."""
    rule = _rule(rule_id)
    return render("admin/rule_delete.html", "admin/rule_delete.html", rule=rule, statuses=_status_labels())


@bp.post("/rules/<int:rule_id>/delete")
def rules_destroy(rule_id: int):
    rule = _rule(rule_id)
    name = rule.name
    automation.delete_rule(db.session, current_user, rule)
    _commit()
    flash(_("Rule “%(name)s” deleted. The leads it converted stay converted.", name=name), "success")
    return redirect(url_for("admin.rules"))
