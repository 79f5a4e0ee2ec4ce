"""The automation rules screen's forms (admin, issue 10 item 7, C8.6): widgets only.

services.automation judges every value (the name's column rules, the status, each condition
through the field layer, the options through the bulk engine); what is here only carries the
widgets to the body the service takes, the API's own shape:

- RuleForm: the name, the status the rule fires on, active.
- The conditions, rows of field / operator / value posted as conditions-<n>-field, -op,
  -value. The fields and operators offered are the service's (condition_specs, ops_for), so the
  screen offers exactly what a rule accepts. Values are typed as JSON would carry them (digits as
  a whole number, "true" / "false" as booleans, a number typed the reader's way as plain text,
  "is one of": one value a line) and anything else is handed on for the service to refuse.
- The conversion options: the bulk panel's own form (forms.bulk.BulkConvertForm, bulk_form,
  options_from_form). The options a rule may hold that the panel has no widget for (set through
  the API: account / contact action, activities destination, the deal's campaign, owner and
  fields, the task's owner) are kept as they are when the rule is saved here (kept_options).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as _field

from wtforms import BooleanField
from wtforms.fields.choices import SelectChoice

from ..errors import N_, Problem, Text
from ..fields import FieldSpec
from ..i18n import _l, parse_locale_decimal, translate
from ..models import AutomationRule
from ..services.automation import CONDITIONS_MAX, OPS, VALUELESS_OPS, condition_specs, ops_for
from .bulk import DEFAULT_TEMPLATE, EXTRA_DEAL_FIELDS, BulkConvertForm, bulk_form, options_from_form
from .common import EditForm, as_choices, choice, column_input, owner_choices, status_choices
from .conversions import TARGETS

OP_LABELS = {"equals": _l("is"), "not_equals": _l("is not"), "contains": _l("contains"),
             "empty": _l("is empty"), "not_empty": _l("is not empty"), "in": _l("is one of")}
# A tags condition tests the lead's tags: the same operators, in the words of a set of tags.
TAG_OP_LABELS = {"contains": _l("has the tag"), "in": _l("has one of the tags"), "empty": _l("has no tag"),
                 "not_empty": _l("has a tag")}
PART_LABELS = {"field": _l("Field"), "op": _l("Operator"), "value": _l("Value")}
YES_NO = (("true", _l("Yes")), ("false", _l("No")))
ACTION_WORDS = {"auto": _l("Automatic"), "create": _l("Always create"), "none": _l("Do not create")}
TARGET_WORDS = dict(TARGETS)
# The options a rule may hold without a widget here (set through the API), by their key.
OPTION_LABELS = {"account": _l("Account"), "account.parent_id": _l("Parent account"), "contact": _l("Contact"),
                 "activities_to": _l("Activities go to"), "deal.campaign_id": _l("Campaign"),
                 "deal.owner_id": _l("Deal owner"), "deal.fields": _l("Deal fields"), "task.owner_id": _l("Task owner")}
PREFIX = "conditions-"
ACTION = "conditions-action"  # the add / remove buttons: the form again, nothing saved
_ROW_KEY = re.compile(r"conditions-(\d{1,4})-(field|op|value)")
_DIGITS = re.compile(r"[0-9]{1,100}")
# The condition fields shown with a select (their values are a closed list).
CHOICE_KINDS = ("checkbox", "currency", "lookup:users", "picklist")


class RuleForm(EditForm):
    name = column_input(AutomationRule, "name", _l("Name"), required=True)
    on_status = choice(_l("Status"), required=True)
    active = BooleanField(_l("Active"), default=True)

    def setup(self) -> RuleForm:
        from flask_babel import pgettext

        self.on_status.choices = as_choices([("", _l("— Choose a status —")), *status_choices()])
        self.active.label.text = pgettext("automation rule", "Active")  # a rule's gender in French
        return self

    def to_data(self) -> dict:
        return {"name": self.name.data, "on_status": self.on_status.data or None, "active": bool(self.active.data)}


# --- the conditions ---------------------------------------------------------------------------


def field_labels(specs: dict[str, FieldSpec]) -> dict[str, str]:
    """Each condition field's label in the reader's language: the lead form's own label for a
    lead field, the custom field's label (the administrator's words) for a custom one."""
    from .leads import LeadForm

    out = {}
    for name, spec in specs.items():
        unbound = getattr(LeadForm, name, None) if not spec.custom else None
        label = (unbound.args[0] if unbound.args else unbound.kwargs.get("label")) if unbound is not None else None
        out[name] = str(label) if label is not None else spec.label
    return out


def op_labels(spec: FieldSpec | None) -> dict[str, str]:
    words = {**OP_LABELS, **(TAG_OP_LABELS if spec is not None and spec.kind == "tags" else {})}
    return {op: str(words[op]) for op in (ops_for(spec) if spec is not None else OPS)}


@dataclass
class ConditionRow:
    """One row as posted (or read from a rule): the value as typed — text, one value a line for
    "is one of" — or, for a field with a closed list, the values chosen."""

    field: str = ""
    op: str = "equals"
    value: str | list[str] = ""
    errors: dict[str, list[str]] = _field(default_factory=dict)  # "field" / "op" / "value" / "row"

    @property
    def blank(self) -> bool:
        return not self.field and not (self.value.strip() if isinstance(self.value, str) else any(self.value))


def rows_from_form(formdata, keep_blank: bool = False) -> list[ConditionRow]:
    """The posted rows in their order (numbers may have gaps); those with neither field nor
    value only while the form is edited (`keep_blank`: a row just added); at most one more than
    a rule may hold (the service says so)."""
    indices = sorted({int(m.group(1)) for key in formdata if (m := _ROW_KEY.fullmatch(key))})
    rows = []
    for i in indices:
        values = [v for v in formdata.getlist(f"{PREFIX}{i}-value") if isinstance(v, str)]
        row = ConditionRow(field=formdata.get(f"{PREFIX}{i}-field") or "", op=formdata.get(f"{PREFIX}{i}-op") or "",
                           value=values if len(values) > 1 else (values[0] if values else ""))
        if keep_blank or not row.blank:
            rows.append(row)
        if len(rows) > CONDITIONS_MAX:
            break
    return rows


def _as_text(value) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def rows_from_rule(conditions: list[dict], specs: dict[str, FieldSpec]) -> list[ConditionRow]:
    rows = []
    for c in conditions or []:
        spec = specs.get(c.get("field"))
        value = c.get("value")
        if isinstance(value, list):
            items = [_as_text(v) for v in value]
            value = items if spec is not None and spec.kind in CHOICE_KINDS else "\n".join(items)
        else:
            value = _as_text(value)
        rows.append(ConditionRow(field=c.get("field") or "", op=c.get("op") or "", value=value))
    return rows


def describe(condition: dict, specs: dict[str, FieldSpec], labels: dict[str, str], people: dict[int, str]) -> str:
    """One stored condition in words: "Company is “Acme”", "Tags has one of the tags “vip”, “fair”"."""
    name, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    spec = specs.get(name)
    if spec is None:
        return translate(Text(N_("{field} (a field that no longer exists)"), field=str(name)))
    words = op_labels(spec).get(op, str(op))
    if op in VALUELESS_OPS:
        return translate(Text(N_("{field} {op}"), field=labels[name], op=words))

    def shown(v) -> str:
        if spec.kind == "checkbox":
            v = dict(YES_NO).get(_as_text(v), v)
        elif spec.kind == "lookup:users" and isinstance(v, int):
            v = people.get(v, f"#{v}")
        return translate(Text(N_("“{value}”"), value=str(v)))

    values = ", ".join(shown(v) for v in (value if isinstance(value, list) else [value]))
    return translate(Text(N_("{field} {op} {values}"), field=labels[name], op=words, values=values))


def _typed(spec: FieldSpec | None, text: str):
    """A value typed as JSON carries it, for the field's kind; what does not read so is handed
    on as it is (the service refuses it with its reason)."""
    text = text.strip() if isinstance(text, str) else text
    if text == "":
        return None  # a blank input is no value (the service: "is required")
    if spec is None or not isinstance(text, str):
        return text
    kind = spec.kind
    if kind == "checkbox":
        return {"true": True, "false": False}.get(text, text)
    if kind == "number" or kind.startswith("lookup:"):
        return int(text) if _DIGITS.fullmatch(text) else text
    if kind == "decimal":
        return parse_locale_decimal(text)
    return text


def condition_value(spec: FieldSpec | None, op: str, raw):
    if op in VALUELESS_OPS:
        return None
    if op == "in":
        items = raw if isinstance(raw, list) else raw.splitlines()
        return [_typed(spec, item) for item in items if item.strip()]
    return _typed(spec, raw[0] if isinstance(raw, list) and raw else raw if isinstance(raw, str) else "")


def conditions_data(rows: list[ConditionRow], specs: dict[str, FieldSpec]) -> list[dict]:
    """The rows as the service takes them ([{"field", "op", "value"}])."""
    return [{"field": r.field or None, "op": r.op or None, "value": condition_value(specs.get(r.field), r.op, r.value)}
            for r in rows]


def settle(rows: list[ConditionRow], specs: dict[str, FieldSpec]) -> None:
    """Before the form is shown again while being edited: a row whose field no longer takes its
    operator (text -> number: "contains") gets the field's first one."""
    for row in rows:
        spec = specs.get(row.field)
        if spec is not None and row.op not in ops_for(spec):
            row.op = ops_for(spec)[0]


def _shown(reason, labels: dict[str, str]):
    """A "must be one of: equals, in" in the words the select shows ("is, is one of")."""
    if getattr(reason, "code", None) != "not_choice":
        return reason
    codes = str(reason.params.get("choices", "")).split(", ")
    if not all(c in labels for c in codes):
        return reason
    return Problem(reason.code, reason.template, **{**reason.params, "choices": ", ".join(labels[c] for c in codes)})


def apply_condition_errors(rows: list[ConditionRow], errors: dict, specs: dict[str, FieldSpec]) -> list[str]:
    """Each "conditions.<n>.<part>" reason next to its row's widget (a sentence with the part's
    label: "Value 2 must be a whole number." for the second value of "is one of"); the reasons
    about the conditions as a whole are returned."""
    general = []
    for key, reasons in errors.items():
        parts = key.split(".")
        if len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= len(rows):
            general += [translate(Text(N_("Conditions: {reason}."), reason=r)) for r in reasons]
            continue
        row = rows[int(parts[1])]
        part = parts[2] if len(parts) > 2 and parts[2] in PART_LABELS else "row"
        if part == "row":
            label = translate(Text(N_("Condition {n}"), n=int(parts[1]) + 1))
        elif part == "value" and len(parts) > 3 and parts[3].isdigit():
            label = translate(Text(N_("Value {n}"), n=int(parts[3]) + 1))
        else:
            label = str(PART_LABELS[part])
        labels = op_labels(specs.get(row.field)) if part == "op" else {}
        row.errors.setdefault(part if part != "row" else "row", []).extend(
            translate(Text(N_("{label} {reason}."), label=label, reason=_shown(r, labels))) for r in reasons)
    return general


@dataclass
class RowView:
    """What the template shows of a row: its choices and the widget its value takes."""

    index: int
    row: ConditionRow
    field_choices: list[SelectChoice]
    op_choices: list[SelectChoice]
    widget: str  # none | select | multi | lines | date | text
    value_choices: list[SelectChoice] = _field(default_factory=list)
    inputmode: str | None = None


def _value_choices(spec: FieldSpec, current) -> list[SelectChoice]:
    if spec.kind == "checkbox":
        pairs = [(v, str(label)) for v, label in YES_NO]
    elif spec.kind == "lookup:users":
        pairs = owner_choices()
    else:
        pairs = [(o, o) for o in spec.options]
    known = {str(v) for v, _label in pairs}
    extra = [c for c in (current if isinstance(current, list) else [current]) if c and str(c) not in known]
    return as_choices([*pairs, *((c, c) for c in extra)])


def row_views(rows: list[ConditionRow], specs: dict[str, FieldSpec], labels: dict[str, str]) -> list[RowView]:
    fields = as_choices([("", _l("— Choose a field —")), *((name, labels[name]) for name in specs)])
    views = []
    for i, row in enumerate(rows):
        spec = specs.get(row.field)
        ops = op_labels(spec)
        if row.op and row.op not in ops:
            ops[row.op] = row.op  # as posted, for the service's reason to name
        view = RowView(i, row, fields, as_choices(ops.items()), "text")
        if row.op in VALUELESS_OPS:
            view.widget = "none"
        elif spec is not None and spec.kind in CHOICE_KINDS:
            view.widget = "multi" if row.op == "in" else "select"
            view.value_choices = _value_choices(spec, row.value)
            if view.widget == "select":
                view.value_choices = as_choices([("", "—")]) + view.value_choices
        elif row.op == "in":
            view.widget = "lines"
        elif spec is not None and spec.kind == "date":
            view.widget = "date"
        elif spec is not None and spec.kind in ("number", "decimal"):
            view.inputmode = "numeric" if spec.kind == "number" else "decimal"
        views.append(view)
    return views


def row_values(view: RowView) -> list[str]:
    """The values a select shows as chosen."""
    value = view.row.value
    return [str(v) for v in value] if isinstance(value, list) else [value] if value else []


# --- the conversion options (the bulk panel's form) --------------------------------------------


def options_form(actor, formdata=None, options: dict | None = None) -> BulkConvertForm:
    """The bulk panel's form: posted (`formdata`), or filled from a rule's stored options (None:
    a new rule, the panel's own starting values)."""
    if formdata is not None:
        form = bulk_form(actor, formdata=formdata)
    else:
        form = bulk_form(actor, formdata=None, data=_form_data(options))
    form.deal_shown.data = ",".join(form.shown())
    form.add_field.data = ""
    return form


def _form_data(options: dict | None) -> dict:
    from flask_babel import gettext as _

    options = options or {}
    deal, task = options.get("deal"), options.get("task")
    data = {"create_deal": deal is not None, "deal_name": DEFAULT_TEMPLATE, "create_task": task is not None,
            "task_subject": _("Follow up"), "attachments_to": options.get("attachments_to") or "contact",
            "tags_to": list(options.get("tags_to") if options.get("tags_to") is not None else ["contact", "deal"]),
            "owner_mode": "one" if options.get("owner_id") else "each",
            "owner_id": str(options["owner_id"]) if options.get("owner_id") else None}
    if deal is not None:
        data.update(deal_name=deal.get("name") or DEFAULT_TEMPLATE,
                    deal_pipeline_id=str(deal["pipeline_id"]) if deal.get("pipeline_id") else None,
                    deal_stage=deal.get("stage"))
        for name, _label in EXTRA_DEAL_FIELDS:
            if deal.get(name) not in (None, ""):
                data[f"deal_{name}"] = str(deal[name])
    if task is not None:
        data.update(task_subject=task.get("subject"), task_due_date=task.get("due_date"))
    return data


def rule_options(form: BulkConvertForm, stored: dict | None) -> dict:
    """The options body of the rule: the panel's widgets, and what the rule already holds that
    they do not show (kept_options)."""
    body = options_from_form(form)
    stored = stored or {}
    for entity in ("account", "contact"):
        if isinstance(stored.get(entity), dict):
            body[entity] = dict(stored[entity])
    if stored.get("activities_to"):
        body["activities_to"] = stored["activities_to"]
    if body.get("deal") is not None and isinstance(stored.get("deal"), dict):
        for key in ("campaign_id", "owner_id", "fields"):
            if stored["deal"].get(key) not in (None, {}):
                body["deal"][key] = stored["deal"][key]
    if body.get("task") is not None and isinstance(stored.get("task"), dict) and stored["task"].get("owner_id"):
        body["task"]["owner_id"] = stored["task"]["owner_id"]
    return body


def option_error_keys(form: BulkConvertForm, errors: dict) -> dict:
    """The engine's option keys as the panel's widgets take them: a list item's reason
    ("tags_to.0") on the list's widget; the reasons of an option without a widget (one set
    through the API) named by its label ("Account: must be one of…")."""
    out: dict[str, list] = {}
    for key, reasons in errors.items():
        head = re.sub(r"(\.\d+)+$", "", key)
        if head.replace(".", "_") in form:
            out.setdefault(head, []).extend(reasons)
            continue
        parts = head.split(".")
        label = next((OPTION_LABELS[k] for n in range(len(parts), 0, -1) if (k := ".".join(parts[:n])) in OPTION_LABELS),
                     None)
        out.setdefault(key, []).extend(Text(N_("{label}: {reason}"), label=label, reason=r) if label else r
                                       for r in reasons)
    return out


def kept_options(stored: dict | None, people: dict[int, str]) -> list[tuple[str, str]]:
    """(label, value) of each option the rule holds that the panel has no widget for, when it is
    not the default: saved as it is."""
    stored = stored or {}
    out = []
    account, contact = stored.get("account") or {}, stored.get("contact") or {}
    if account.get("action") not in (None, "auto"):
        out.append((_l("Account"), ACTION_WORDS.get(account["action"], account["action"])))
    if account.get("parent_id"):
        out.append((_l("Parent account"), f"#{account['parent_id']}"))
    if contact.get("action") not in (None, "auto"):
        out.append((_l("Contact"), ACTION_WORDS.get(contact["action"], contact["action"])))
    if stored.get("activities_to") not in (None, "contact"):
        out.append((_l("Activities go to"), TARGET_WORDS.get(stored["activities_to"], stored["activities_to"])))
    deal, task = stored.get("deal") or {}, stored.get("task") or {}
    if deal.get("campaign_id"):
        out.append((_l("Campaign"), f"#{deal['campaign_id']}"))
    if deal.get("owner_id"):
        out.append((_l("Deal owner"), people.get(deal["owner_id"], f"#{deal['owner_id']}")))
    if deal.get("fields"):
        out.append((_l("Deal fields"), ", ".join(f"{k}: {v}" for k, v in deal["fields"].items())))
    if task.get("owner_id"):
        out.append((_l("Task owner"), people.get(task["owner_id"], f"#{task['owner_id']}")))
    return [(str(label), str(value)) for label, value in out]


def condition_fields(session) -> tuple[dict[str, FieldSpec], dict[str, str]]:
    """(the service's condition fields, their labels)."""
    specs = condition_specs(session)
    return specs, field_labels(specs)
