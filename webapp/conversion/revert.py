"""C9.1: revert a conversion. plan_revert() is the preview (reads only); execute_revert() does it.

    plan_revert(session, actor, conversion) -> RevertPlan
    execute_revert(session, actor, conversion, keep_changed=False) -> RevertPlan (what was done)

Never imports Flask; adds, flushes, never commits (the caller commits once, or rolls back on any
DomainError). Both raise ConversionDenied (403: the "Revert conversions" permission,
permissions.can_revert, and the lead within the actor's edit scope, as for converting it, C7.2),
AlreadyReverted (409) and, for execute_revert without keep_changed, RevertBlocked (409: its
`errors` name every blocker, {"contact.9": [...], "contact.9.phone": [...]}, and its body lists
them as `blockers`).

What a revert does, from the conversion record (C1.5) alone
-----------------------------------------------------------
The plan is a list of Steps (what will happen, record by record) and of Blockers (what cannot be
undone cleanly, each named). execute_revert() carries out exactly the plan's unblocked steps, so
the preview cannot disagree with what happens:

1. the lead: status back to `lead_before["status"]` (when that status was deleted or made a
   "converted" one since: the first open status, a blocker), converted false, conversion_id and
   converted_at cleared; the lead fields the conversion form filled (previous_values["lead"], C7.4)
   back to what they held. A converted lead is read-only (C1.4): nothing can have changed it.
2. fields the conversion filled on merged records (fields_written / previous_values) are restored,
   unless changed since;
3. every moved record (moved_records, copy false) goes back to where it came from (the lead), and
   an open activity loses the deal link the conversion gave it (its "deal_id") if it still has it;
4. the copies are removed: note copies (by id) and tag copies (the tagging of that tag name on that
   record);
5. the records the conversion created (task, deal, contact, account, in that order) are deleted
   when untouched since, with their custom values, taggings and timeline; the conversion record
   keeps their ids and labels in its revert_report, its account_id / contact_id / deal_id / task_id
   of a deleted record become null (the foreign keys forbid anything else).

"Touched since" — decided precisely
-----------------------------------
`since` is the conversion's created_at. Both conversion writers stamp every row they write at or
before it (the executor flushes its records before the conversion row; bulk.py stamps a chunk's
rows and its conversions with one `now`), so "after `since`" means "after the conversion".

* A created record (account, contact, deal) is untouched when all of these hold, else it is kept
  (a blocker per reason):
  - "edited": its updated_at is not after `since` and its timeline has no "updated" event since
    (custom field and tag edits record that event without changing updated_at);
  - "history": its timeline has no other event since, except those this conversion wrote (data
    conversion_id) and the "<row>_added" / "task_completed" ones (the rows they name are judged
    below): a deleted note or file, a merge by another lead... are changes;
  - "new_related": nothing hangs on it that the conversion did not put there (notes, activities,
    files, campaign memberships, tags, product lines, addresses: every such row is either in
    moved_records, a copy, the conversion's task, or was added since), and nothing points at it
    but the conversion's own records: contacts of a created account, deals of a created account or
    contact, subsidiaries, tasks linked to a created deal;
  - "linked_since": no other conversion refers to it (linked or merged into it later; even a
    reverted one: its row keeps the reference);
  - "dependency": no record that is kept refers to it (a kept deal keeps its account and contact,
    a kept task its contact / account and deal, a kept contact its account, an edited note copy
    the record it is on).
* The created follow-up task is untouched when its updated_at is not after `since` (done,
  re-dated, re-assigned: kept).
* A field filled on a merged record is "changed since" when its current value differs from the
  value the conversion wrote (by value: numbers and custom decimals as numbers, dates as dates);
  it then keeps its current value ("field_changed"). Other edits of a merged record block nothing:
  the revert only writes the fields it filled. A merged record deleted since: "record_gone".
* A moved record is moved back when it still hangs where the conversion put it; moved elsewhere
  since ("moved_since") or deleted since ("deleted_since"), it stays as it is. Edited since, it
  goes back with its edits (it is the lead's).
* A note copy edited since (updated_at after `since`) is kept ("copy_edited"); a copy or a tagging
  deleted since needs nothing.

With keep_changed=True every blocked step is skipped (those records and values stay as they are)
and the rest is done; without it, any blocker refuses the whole revert (409) and nothing is
written. A revert is one transaction: the conversion row is claimed first by a conditional UPDATE
(reverted_at IS NULL), so of two concurrent reverts exactly one proceeds, the other gets
AlreadyReverted. Timeline: "Conversion reverted by X" on the lead and on every remaining record it
touched (merged / linked / kept ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    cast,
    delete,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)

from .. import permissions
from ..errors import N_, Conflict, Text
from ..models import (
    Account,
    Address,
    Attachment,
    Campaign,
    CampaignMember,
    Contact,
    Conversion,
    CustomField,
    CustomFieldValue,
    Deal,
    Lead,
    LeadStatus,
    LineItem,
    Note,
    Product,
    Tag,
    Tagging,
    Task,
    TimelineEvent,
    record_event,
    utcnow,
)
from ..services.custom_values import get_custom, set_custom
from .errors import ConversionDenied

RECORDS = {"account": Account, "contact": Contact, "deal": Deal, "task": Task}
CREATED_ORDER = ("task", "deal", "contact", "account")  # deletion order (foreign keys)
# The kinds of moved_records the revert moves back, and their models.
MOVABLE = {"note": Note, "attachment": Attachment, "activity": Task, "campaign_member": CampaignMember,
           "line_item": LineItem, "address": Address}
HANGING = (("note", Note), ("activity", Task), ("attachment", Attachment), ("campaign_member", CampaignMember),
           ("line_item", LineItem), ("address", Address), ("tag", Tagging))
# Timeline events that do not count as a change of the record (the rows they name are judged).
IGNORED_EVENTS = {"note_added", "task_added", "attachment_added", "campaign_added", "line_item_added",
                  "address_added", "task_completed", "conversion_reverted"}
EVENT_KIND = "conversion_reverted"

# A record inside a sentence, by kind ("the contact “Charles Stone”").
REFS = {
    "lead": N_("the lead “{name}”"), "account": N_("the account “{name}”"),
    "contact": N_("the contact “{name}”"), "deal": N_("the deal “{name}”"), "task": N_("the task “{name}”"),
    "note": N_("the note “{name}”"), "activity": N_("the activity “{name}”"),
    "attachment": N_("the file “{name}”"), "campaign_member": N_("the membership of the campaign “{name}”"),
    "tag": N_("the tag “{name}”"), "line_item": N_("the product line “{name}”"),
    "address": N_("the address “{name}”"),
}
# The blockers, by code: {record} (and {other}, {added}, {place}, {field}...) are Texts.
MESSAGES = {
    "edited": N_("Kept: {record}, edited since the conversion."),
    "history": N_("Kept: {record}, changed since the conversion (see its timeline)."),
    "new_related": N_("Kept: {record}, which got {added} since the conversion."),
    "linked_since": N_("Kept: {record}, linked to another conversion since."),
    "dependency": N_("Kept: {record}, because {other} is kept and refers to it."),
    "copy_edited": N_("Kept: {record}, a copy edited since the conversion."),
    "field_changed": N_("Not restored: the field “{field}” of {record}, changed since the conversion."),
    "record_gone": N_("Not restored: the fields of {record}, deleted since the conversion."),
    "moved_since": N_("Not moved back: {record}, moved to {place} since the conversion."),
    "deleted_since": N_("Not moved back: {record}, deleted since the conversion."),
    "unknown_kind": N_("Not moved back: {record}, a kind of record a revert cannot move."),
    "status_gone": N_("Not restored: the status “{status}”, which no longer exists; the lead gets “{fallback}”."),
}
# Field keys whose humanised form is not their label's msgid.
FIELD_WORDS = {"email": N_("E-mail"), "email_opt_out": N_("E-mail opt-out"), "linkedin": N_("LinkedIn"),
               "account_id": N_("Account"), "contact_id": N_("Contact"), "owner_id": N_("Owner"),
               "parent_id": N_("Parent account"), "pipeline_id": N_("Pipeline"), "campaign_id": N_("Campaign")}


class AlreadyReverted(Conflict):
    """C9.1: the conversion was reverted already (reverted_at is set)."""

    code = "already_reverted"
    default_message = N_("This conversion has already been reverted.")


class RevertBlocked(Conflict):
    """C9.1: some changes made since the conversion cannot be undone cleanly; `errors` name each
    blocker and the body lists them (`blockers`). Retry with keep_changed to keep them."""

    code = "revert_blocked"
    default_message = N_("Some records changed since the conversion: keep them and revert, or cancel.")

    def __init__(self, message=None, errors=None, code=None, blockers=None):
        super().__init__(message, errors, code)
        self.blockers = list(blockers or [])

    def extra(self) -> dict:
        return {"blockers": [b.as_dict() for b in self.blockers]}


REF_OTHER = N_("the record “{name}”")


def ref(kind: str, name) -> Text:
    """{record} of a sentence: "the contact “Charles Stone”" (translated when shown)."""
    return Text(REFS.get(kind, REF_OTHER), name=str(name))


def field_word(entity_defs: dict, key: str):
    """A field's name for a sentence: a custom field's label, else the standard label's msgid."""
    if key.startswith("custom."):
        definition = entity_defs.get(key[7:])
        return definition.label if definition is not None else key[7:]
    if key in FIELD_WORDS:
        return Text(FIELD_WORDS[key])
    return Text(key.removesuffix("_id").replace("_", " ").capitalize())


@dataclass
class Blocker:
    """What cannot be undone cleanly: a record (type, id) or one of its fields, and why (code)."""

    type: str
    id: int | None
    label: str
    code: str
    message: Text
    field: str | None = None

    @property
    def key(self) -> str:
        """The API's `errors` key: "contact.9", "contact.9.phone", "lead.12.status"."""
        return ".".join(str(p) for p in (self.type, self.id, self.field) if p is not None)

    def as_dict(self, translate=str, stored: bool = False) -> dict:
        out = {"type": self.type, "id": self.id, "label": self.label, "field": self.field,
               "reason": self.code, "message": translate(self.message)}
        if stored:  # the revert report keeps the sentence's template, to show it in any language
            out["text"] = self.message.to_json()
        return out


@dataclass
class Step:
    """One thing the revert does. action: restore_lead (status), restore_field, keep_existing (a
    merged / linked record that keeps its values), move_back, remove_copy, remove_tag, delete.
    `blocked`: not done because of a blocker (skipped with keep_changed)."""

    action: str
    type: str
    id: int | None
    label: str = ""
    field: str | None = None
    value: object = None       # restore_field / restore_lead: the value written back
    current: object = None     # ... and the value it replaces
    place: list | None = None  # move_back / remove_copy / remove_tag: where the row is now
    to: list | None = None     # move_back: where it goes back to
    deal_id: int | None = None  # move_back of an activity: the deal link it loses
    blocked: bool = False

    def as_dict(self) -> dict:
        out = {"action": self.action, "type": self.type, "id": self.id, "label": self.label}
        for name in ("field", "place", "to", "deal_id"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.action in ("restore_field", "restore_lead"):
            out["value"], out["current"] = _json(self.value), _json(self.current)
        return out


@dataclass
class RevertPlan:
    """The preview of a revert (and, once executed, what it did)."""

    conversion: Conversion
    lead: Lead
    steps: list[Step] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    fallback_status: str | None = None
    records: dict = field(default_factory=dict, repr=False)  # entity -> the record (present ones)
    defs: dict = field(default_factory=dict, repr=False)     # entity -> {key: CustomField}

    def errors(self) -> dict[str, list[Text]]:
        """The blockers as the API's `errors`: {"contact.9": ["Kept: ..."], ...}."""
        out: dict[str, list[Text]] = {}
        for b in self.blockers:
            out.setdefault(b.key, []).append(b.message)
        return out

    def by_action(self, action: str, blocked: bool | None = None) -> list[Step]:
        return [s for s in self.steps if s.action == action and (blocked is None or s.blocked == blocked)]

    def as_dict(self, translate=str) -> dict:
        """The dry run's shape: {"conversion_id", "lead_id", "dry_run", "steps", "blockers"}."""
        return {"conversion_id": self.conversion.id, "lead_id": self.lead.id, "dry_run": True,
                "steps": [s.as_dict() for s in self.steps],
                "blockers": [b.as_dict(translate) for b in self.blockers]}


# --- permission -------------------------------------------------------------------------------------
def check_may_revert(session, actor, lead: Lead | None) -> None:
    """C9.1: "Revert conversions", and a lead the actor could edit were it not converted (C7.2)."""
    if not permissions.can_revert(actor):
        raise ConversionDenied(Text("Your role lacks the “Revert conversions” permission."))
    # can_edit() refuses every converted lead (C1.4): ask for the edit right and the scope instead.
    if lead is None or not (permissions.has_perm(actor, "lead.edit")
                            and permissions._in_scope(session, actor, lead)):
        raise ConversionDenied(Text("You may only revert conversions of leads you can edit."))


def may_revert(session, actor, conversion: Conversion, lead: Lead | None = None) -> bool:
    """Whether to offer "Revert…": the same checks, on a conversion not reverted yet."""
    if conversion is None or conversion.reverted_at is not None:
        return False
    try:
        check_may_revert(session, actor, lead or session.get(Lead, conversion.lead_id))
    except ConversionDenied:
        return False
    return True


# --- the plan -------------------------------------------------------------------------------------
def plan_revert(session, actor, conversion: Conversion) -> RevertPlan:
    """What reverting `conversion` would do, and what blocks it (reads only)."""
    lead = session.get(Lead, conversion.lead_id)
    check_may_revert(session, actor, lead)
    if conversion.reverted_at is not None:
        raise AlreadyReverted()
    return _Planner(session, conversion, lead).build()


def execute_revert(session, actor, conversion: Conversion, keep_changed: bool = False) -> RevertPlan:
    """Revert `conversion` in the caller's transaction; returns the plan it carried out.

    Raises ConversionDenied, AlreadyReverted, and RevertBlocked unless keep_changed; after any of
    them the caller must roll back."""
    lead = session.get(Lead, conversion.lead_id)
    check_may_revert(session, actor, lead)
    if conversion.reverted_at is not None:
        raise AlreadyReverted()
    now = utcnow()
    # Claim the conversion first: a concurrent revert waits here, then finds it reverted (the
    # in-memory conversion is synchronised by the ORM-enabled UPDATE).
    claimed = session.execute(
        update(Conversion).where(Conversion.id == conversion.id, Conversion.reverted_at.is_(None))
        .values(reverted_at=now, reverted_by=actor.id)).rowcount
    if claimed != 1:
        raise AlreadyReverted()
    plan = _Planner(session, conversion, lead).build()
    if plan.blockers and not keep_changed:
        raise RevertBlocked(errors=plan.errors(), blockers=plan.blockers)
    _Executor(session, actor, plan, keep_changed, now).run()
    return plan


def _aware(value):
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def _json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _label(kind: str, obj) -> str:
    if obj is None:
        return ""
    for attr in ("display_name", "subject", "filename"):
        value = getattr(obj, attr, None)
        if value:
            return str(value)
    if kind == "note":
        return _short(obj.body) or f"#{obj.id}"
    return f"#{obj.id}"


def _short(text: str | None, limit: int = 200) -> str:
    """A note by its text as typed (most are short), cut only when long."""
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


class _Planner:
    def __init__(self, session, conversion: Conversion, lead: Lead):
        self.s, self.c, self.lead = session, conversion, lead
        self.since = _aware(conversion.created_at)
        self.plan = RevertPlan(conversion, lead)
        self.kept: dict[str, list[Blocker]] = {}  # created entity -> its blockers
        self.created: dict[str, object] = {}
        self.moves = [m for m in (conversion.moved_records or []) if isinstance(m, dict)]

    def build(self) -> RevertPlan:
        c = self.c
        if not self.lead.converted or self.lead.conversion_id != c.id:
            raise Conflict(Text("The lead is no longer converted by this conversion: there is nothing to revert."))
        for entity, model in RECORDS.items():
            rid = getattr(c, f"{entity}_id")
            record = self.s.get(model, rid) if rid else None
            if record is not None:
                self.plan.records[entity] = record
                if getattr(c, f"{entity}_action") == "created":
                    self.created[entity] = record
        self._lead()
        self._merged()
        self._moves()
        self._copies()
        self._created()
        return self.plan

    def block(self, kind: str, rid, label: str, code: str, on_field: str | None = None, **params) -> Blocker:
        b = Blocker(kind, rid, label, code, Text(MESSAGES[code], record=ref(kind, label), **params), on_field)
        self.plan.blockers.append(b)
        return b

    def defs(self, entity: str) -> dict:
        if entity not in self.plan.defs:
            self.plan.defs[entity] = {f.key: f for f in self.s.scalars(
                select(CustomField).where(CustomField.entity == entity))}
        return self.plan.defs[entity]

    # 1. the lead
    def _lead(self) -> None:
        lead, before = self.lead, self.c.lead_before or {}
        key = before.get("status") or "new"
        status = self.s.get(LeadStatus, key)
        label = lead.display_name
        if status is None or status.category == "converted":
            fallback = self.s.scalar(select(LeadStatus.key).where(LeadStatus.category == "open")
                                     .order_by(LeadStatus.position, LeadStatus.key).limit(1))
            self.plan.fallback_status = fallback
            fallback_row = self.s.get(LeadStatus, fallback) if fallback else None
            self.block("lead", lead.id, label, "status_gone", "status",
                       status=Text(status.label) if status is not None else key,
                       fallback=Text(fallback_row.label) if fallback_row is not None else fallback)
            key = fallback
        self.plan.steps.append(Step("restore_lead", "lead", lead.id, label, "status", key, lead.status))
        for name, previous in ((self.c.previous_values or {}).get("lead") or {}).items():
            written = ((self.c.fields_written or {}).get("lead") or {}).get(name)
            self.plan.steps.append(Step("restore_field", "lead", lead.id, label, name, previous, written))

    # 2. fields filled on merged records
    def _merged(self) -> None:
        c = self.c
        for entity in ("account", "contact", "deal"):
            action = getattr(c, f"{entity}_action", "none")
            if action not in ("merged", "linked"):
                continue
            rid = getattr(c, f"{entity}_id")
            record = self.plan.records.get(entity)
            written = (c.fields_written or {}).get(entity) or {}
            previous = (c.previous_values or {}).get(entity) or {}
            if record is None:
                if written and rid:
                    self.block(entity, rid, f"#{rid}", "record_gone")
                continue
            label = _label(entity, record)
            if not written:
                self.plan.steps.append(Step("keep_existing", entity, record.id, label))
                continue
            custom_keys = [k for k in written if k.startswith("custom.")]
            current_custom = get_custom(self.s, entity, record.id) if custom_keys else {}
            defs = self.defs(entity) if custom_keys else {}
            for key, value in written.items():
                if key.startswith("custom."):
                    definition = defs.get(key[7:])
                    if definition is None:
                        continue  # the field was deleted since: nothing to restore
                    current = current_custom.get(key[7:])
                    numeric = definition.type in ("number", "decimal")
                else:
                    current = getattr(record, key, None)
                    numeric = _is_numeric(type(record), key)
                step = Step("restore_field", entity, record.id, label, key, previous.get(key), current)
                if not _same(current, value, numeric):
                    step.blocked = True
                    self.block(entity, record.id, label, "field_changed", key,
                               field=field_word(self.defs(entity), key))
                self.plan.steps.append(step)

    # 3. moved records
    def _moves(self) -> None:
        entries: dict[str, list[dict]] = {}
        for m in self.moves:
            if m.get("copy"):
                continue
            entries.setdefault(m.get("type"), []).append(m)
        for kind, items in entries.items():
            model = MOVABLE.get(kind)
            if model is None:
                for m in items:
                    self.block(kind or "record", m.get("id"), f"#{m.get('id')}", "unknown_kind")
                continue
            ids = [m["id"] for m in items if isinstance(m.get("id"), int)]
            rows = {r.id: r for r in self.s.execute(_current_rows(kind, model, ids))} if ids else {}
            for m in items:
                row = rows.get(m.get("id"))
                if row is None:
                    self.block(kind, m.get("id"), f"#{m.get('id')}", "deleted_since")
                    continue
                label = _row_label(kind, row)
                where = [row.parent_type, row.parent_id]
                step = Step("move_back", kind, row.id, label, place=list(m.get("to") or []),
                            to=list(m.get("from") or ["lead", self.lead.id]))
                if where != step.place:
                    step.blocked = True
                    self.block(kind, row.id, label, "moved_since", place=ref(where[0], self._name(*where)))
                elif kind == "activity" and m.get("deal_id") and row.deal_id == m.get("deal_id"):
                    step.deal_id = m["deal_id"]
                self.plan.steps.append(step)

    def _name(self, kind: str, rid) -> str:
        model = {"lead": Lead, **RECORDS}.get(kind)
        obj = self.s.get(model, rid) if model is not None and isinstance(rid, int) else None
        return _label(kind, obj) if obj is not None else f"#{rid}"

    # 4. copies
    def _copies(self) -> None:
        notes = [m for m in self.moves if m.get("copy") and m.get("type") == "note" and isinstance(m.get("id"), int)]
        if notes:
            rows = {r.id: r for r in self.s.execute(
                select(Note.id, Note.parent_type, Note.parent_id, Note.updated_at, Note.body.label("name"))
                .where(Note.id.in_([m["id"] for m in notes])))}
            for m in notes:
                row = rows.get(m["id"])
                if row is None:
                    continue  # deleted since: nothing to remove
                label = _row_label("note", row)
                step = Step("remove_copy", "note", row.id, label, place=[row.parent_type, row.parent_id])
                if _aware(row.updated_at) > self.since:
                    step.blocked = True
                    self.block("note", row.id, label, "copy_edited")
                    self._keep_for(row.parent_type, row.parent_id, "note", label)
                self.plan.steps.append(step)
        tags = [m for m in self.moves if m.get("type") == "tag" and m.get("copy") and isinstance(m.get("to"), list)]
        if tags:
            places = {tuple(m["to"]) for m in tags}
            found = {}
            for tid, name, ptype, pid in self.s.execute(
                    select(Tagging.id, Tag.name, Tagging.parent_type, Tagging.parent_id).join(Tag, Tag.id == Tagging.tag_id)
                    .where(or_(*[(Tagging.parent_type == t) & (Tagging.parent_id == i) for t, i in places]),
                           Tag.name.in_({m.get("name") for m in tags}))):
                found[(name, ptype, pid)] = tid
            for m in tags:
                tid = found.get((m.get("name"), *m["to"]))
                if tid is not None:
                    self.plan.steps.append(Step("remove_tag", "tag", tid, m.get("name") or "", place=list(m["to"])))

    def _keep_for(self, kind: str, rid, why_kind: str, why_label: str) -> None:
        """An edited copy stays: the created record it is on stays too."""
        for entity, record in self.created.items():
            if entity == kind and record.id == rid:
                self._keep(entity, "dependency", other=ref(why_kind, why_label))

    def _keep(self, entity: str, code: str, **params) -> None:
        record = self.created[entity]
        label = _label(entity, record)
        blockers = self.kept.setdefault(entity, [])
        if code == "dependency" and any(b.code == "dependency" for b in blockers):
            return
        if code in ("edited", "history") and any(b.code == code for b in blockers):
            return
        blockers.append(self.block(entity, record.id, label, code, **params))

    # 5. created records
    def _created(self) -> None:
        c, created = self.c, self.created
        if not created:
            return
        pairs = [(e, r.id) for e, r in created.items() if e != "task"]
        # (a) edited
        for entity, record in created.items():
            if _aware(record.updated_at) > self.since:
                self._keep(entity, "edited")
        if pairs:
            self._events(pairs)
            self._hanging(pairs)
            self._references()
        # Other conversions referring to a created record (a task is never linked: only created).
        linkable = {e: r for e, r in created.items() if e != "task"}
        if linkable:
            refs = [getattr(Conversion, f"{e}_id") == r.id for e, r in linkable.items()]
            for other in self.s.execute(select(Conversion.id, Conversion.account_id, Conversion.contact_id,
                                               Conversion.deal_id).where(or_(*refs), Conversion.id != c.id)):
                for entity, record in linkable.items():
                    if getattr(other, f"{entity}_id") == record.id:
                        self._keep(entity, "linked_since")
        self._dependencies()
        for entity in CREATED_ORDER:
            record = created.get(entity)
            if record is not None:
                self.plan.steps.append(Step("delete", entity, record.id, _label(entity, record),
                                            blocked=entity in self.kept))

    def _events(self, pairs) -> None:
        rows = self.s.execute(select(TimelineEvent.parent_type, TimelineEvent.parent_id, TimelineEvent.kind,
                                     TimelineEvent.data)
                              .where(or_(*[(TimelineEvent.parent_type == t) & (TimelineEvent.parent_id == i)
                                           for t, i in pairs])))
        for ptype, _pid, kind, data in rows:
            if isinstance(data, dict) and data.get("conversion_id") == self.c.id:
                continue
            if kind in IGNORED_EVENTS:
                continue
            self._keep(ptype, "edited" if kind == "updated" else "history")

    def _hanging(self, pairs) -> None:
        """Rows hanging on a created record that the conversion did not put there."""
        expected = {(m.get("type"), m.get("id")) for m in self.moves if m.get("type") != "tag"}
        if self.c.task_id:
            expected.add(("activity", self.c.task_id))
        tag_names = {(m.get("name"), *m["to"]) for m in self.moves
                     if m.get("type") == "tag" and isinstance(m.get("to"), list)}
        where = {model: or_(*[(model.parent_type == t) & (model.parent_id == i) for t, i in pairs])
                 for _kind, model in HANGING}
        deal = self.created.get("deal")
        task_clause = where[Task] | (Task.deal_id == deal.id) if deal is not None else where[Task]
        parts = []
        for kind, model in HANGING:
            if model is Tagging:
                parts.append(select(_const(kind).label("kind"), Tagging.id, Tagging.parent_type, Tagging.parent_id,
                                    Tag.name.label("name")).join(Tag, Tag.id == Tagging.tag_id).where(where[Tagging]))
                continue
            clause = task_clause if model is Task else where[model]
            parts.append(select(_const(kind).label("kind"), model.id, model.parent_type, model.parent_id,
                                cast(null(), String).label("name")).where(clause))
        for kind, rid, ptype, pid, name in self.s.execute(union_all(*parts)):
            if kind == "tag":
                if (name, ptype, pid) in tag_names:
                    continue
                label = name
            elif (kind, rid) in expected:
                continue
            else:
                label = self._row_name(kind, rid)
            # A task hangs on the record, or is linked to the created deal by its deal_id.
            entity = ptype if (ptype, pid) in pairs else "deal"
            self._keep(entity, "new_related", added=ref(kind, label))

    def _row_name(self, kind: str, rid: int) -> str:
        rows = list(self.s.execute(_current_rows(kind, MOVABLE[kind], [rid])))
        return _row_label(kind, rows[0]) if rows else f"#{rid}"

    def _references(self) -> None:
        """Contacts, deals and subsidiaries pointing at a created record, besides the conversion's own
        (tasks linked to a created deal are rows hanging on it: _hanging)."""
        c, created = self.c, self.created
        account, contact = created.get("account"), created.get("contact")
        parts = []
        if account is not None:
            parts.append(select(_const("contact").label("kind"), Contact.id, _const("account").label("target"))
                         .where(Contact.account_id == account.id, Contact.id != (c.contact_id or 0)))
            parts.append(select(_const("account"), Account.id, _const("account")).where(Account.parent_id == account.id))
            parts.append(select(_const("deal"), Deal.id, _const("account"))
                         .where(Deal.account_id == account.id, Deal.id != (c.deal_id or 0)))
        if contact is not None:
            parts.append(select(_const("deal"), Deal.id, _const("contact"))
                         .where(Deal.contact_id == contact.id, Deal.id != (c.deal_id or 0)))
        if not parts:
            return
        for kind, rid, target in self.s.execute(union_all(*parts)):
            model = {"contact": Contact, "account": Account, "deal": Deal}[kind]
            self._keep(target, "new_related", added=ref(kind, _label(kind, self.s.get(model, rid))))

    def _dependencies(self) -> None:
        """A kept record keeps the created records it refers to (foreign keys), to a fixed point."""
        created = self.created

        def is_created(entity, rid) -> bool:
            return entity in created and rid is not None and created[entity].id == rid

        changed = True
        while changed:
            changed = False
            for entity in list(self.kept):
                record = created[entity]
                label = _label(entity, record)
                needs = []
                if entity == "task":
                    needs += [(record.parent_type, record.parent_id), ("deal", record.deal_id)]
                elif entity == "deal":
                    needs += [("account", record.account_id), ("contact", record.contact_id)]
                elif entity == "contact":
                    needs += [("account", record.account_id)]
                for other, rid in needs:
                    if is_created(other, rid) and other not in self.kept:
                        self._keep(other, "dependency", other=ref(entity, label))
                        changed = True


def _is_numeric(model, key: str) -> bool:
    column = model.__table__.c.get(key)
    return column is not None and isinstance(column.type, Numeric | Integer) and not isinstance(column.type, Boolean)


def _same(current, written, numeric: bool) -> bool:
    """Does the field still hold what the conversion wrote? By value (JSON forms compared)."""
    a, b = _json(current), _json(written)
    if a == b:
        return True
    if a in (None, "") and b in (None, ""):
        return True
    if numeric and a is not None and b is not None:
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except (InvalidOperation, ValueError):
            return False
    if isinstance(a, str) and isinstance(b, str) and len(a) >= 10 and len(b) >= 10:
        try:  # a date stored as a datetime, or the reverse
            return date.fromisoformat(a[:10]) == date.fromisoformat(b[:10]) and a[10:] in ("", "T00:00:00")
        except ValueError:
            return False
    return False


def _const(text: str):
    """A constant string column (a kind name) that unions type alike on SQLite and PostgreSQL."""
    return cast(literal_column(f"'{text}'"), String)


def _current_rows(kind: str, model, ids):
    """Where each row hangs now, with a `name` to show (a note's body, a task's subject...)."""
    cols = [model.id, model.parent_type, model.parent_id]
    no_deal = cast(null(), Integer).label("deal_id")
    if model is Task:
        stmt = select(*cols, Task.deal_id, Task.subject.label("name"))
    elif model is Note:
        stmt = select(*cols, no_deal, Note.body.label("name"))
    elif model is Attachment:
        stmt = select(*cols, no_deal, Attachment.filename.label("name"))
    elif model is CampaignMember:
        stmt = (select(*cols, no_deal, Campaign.name.label("name"))
                .join(Campaign, Campaign.id == CampaignMember.campaign_id))
    elif model is LineItem:
        stmt = (select(*cols, no_deal, Product.name.label("name"))
                .join(Product, Product.id == LineItem.product_id))
    else:  # Address
        stmt = select(*cols, no_deal, Address.city.label("name"), Address.street, Address.type)
    return stmt.where(model.id.in_(list(ids)))


def _row_label(kind: str, row) -> str:
    """A moved row as people know it: a note by its first words, an address by its lines."""
    name = getattr(row, "name", None)
    if kind == "address":
        name = ", ".join(p for p in (row.street, name) if p) or row.type
    if kind == "note":
        name = _short(name)
    return str(name) if name else f"#{row.id}"


# --- execution ------------------------------------------------------------------------------------
def _typed(model, key: str, value):
    """A stored JSON value back in its column's type (previous_values are jsonable)."""
    column = model.__table__.c.get(key)
    if column is None or value is None:
        return value
    kind = column.type
    try:
        if isinstance(kind, Boolean):
            return bool(value)
        if isinstance(kind, Numeric) and not isinstance(kind, Integer):
            return Decimal(str(value))
        if isinstance(kind, Integer):
            return int(value)
        if isinstance(kind, DateTime) and isinstance(value, str):
            return datetime.fromisoformat(value)
        if isinstance(kind, Date) and isinstance(value, str):
            return date.fromisoformat(value[:10])
    except (InvalidOperation, ValueError, TypeError):
        return value
    return value


def _typed_custom(definition: CustomField, value):
    if value is None or value == "":
        return None
    if definition.type == "checkbox":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if definition.type in ("number", "decimal"):
        return Decimal(str(value))
    if definition.type == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


class _Executor:
    def __init__(self, session, actor, plan: RevertPlan, keep_changed: bool, now):
        self.s, self.actor, self.plan, self.keep_changed, self.now = session, actor, plan, keep_changed, now
        self.c, self.lead = plan.conversion, plan.lead
        self.fields: dict[str, list[str]] = {}  # entity -> fields restored

    def run(self) -> None:
        steps = [s for s in self.plan.steps if not s.blocked]
        self._move_back([s for s in steps if s.action == "move_back"])
        copies = [s.id for s in steps if s.action == "remove_copy"]
        if copies:
            self._exec(delete(Note).where(Note.id.in_(copies)))
        tags = [s.id for s in steps if s.action == "remove_tag"]
        if tags:
            self._exec(delete(Tagging).where(Tagging.id.in_(tags)))
        self._restore_fields([s for s in steps if s.action == "restore_field" and s.type != "lead"])
        deleted = self._delete([s for s in steps if s.action == "delete"])
        self._restore_lead([s for s in steps if s.type == "lead"])
        self._events(deleted)
        self.c.revert_report = {
            "keep_changed": self.keep_changed,
            "steps": [s.as_dict() for s in steps],
            "kept": [s.as_dict() for s in self.plan.steps if s.blocked],
            "blockers": [b.as_dict(stored=True) for b in self.plan.blockers],
        }
        self.s.flush()

    def _exec(self, stmt):
        return self.s.execute(stmt)

    def _move_back(self, steps: list[Step]) -> None:
        groups: dict[tuple, list[int]] = {}
        for s in steps:
            groups.setdefault((s.type, tuple(s.place), tuple(s.to), s.deal_id), []).append(s.id)
        for (kind, place, to, deal_id), ids in groups.items():
            model = MOVABLE[kind]
            values = {"parent_type": to[0], "parent_id": to[1]}
            if deal_id is not None:
                values["deal_id"] = None
            stmt = update(model).where(model.id.in_(ids), model.parent_type == place[0],
                                       model.parent_id == place[1]).values(**values)
            self._exec(stmt)

    def _restore_fields(self, steps: list[Step]) -> None:
        by_record: dict[str, list[Step]] = {}
        for s in steps:
            by_record.setdefault(s.type, []).append(s)
        for entity, items in by_record.items():
            record = self.plan.records.get(entity)
            if record is None:
                continue
            custom = {}
            for s in items:
                if s.field.startswith("custom."):
                    definition = self.plan.defs.get(entity, {}).get(s.field[7:])
                    if definition is not None:
                        custom[s.field[7:]] = _typed_custom(definition, s.value)
                else:
                    setattr(record, s.field, _typed(type(record), s.field, s.value))
                self.fields.setdefault(entity, []).append(s.field)
            if custom:
                set_custom(self.s, entity, record.id, custom, self.plan.defs.get(entity))
        self.s.flush()
        for entity in by_record:
            if entity in self.plan.records:
                self.s.expire(self.plan.records[entity])  # relationships follow the restored ids

    def _delete(self, steps: list[Step]) -> list[dict]:
        """The created records, untouched: task, deal, contact, account (foreign keys), each with
        its custom values, taggings and timeline. The conversion's reference goes first."""
        order = {e: i for i, e in enumerate(CREATED_ORDER)}
        steps = sorted(steps, key=lambda s: order[s.type])
        deleted = [{"type": s.type, "id": s.id, "label": s.label} for s in steps]
        for s in steps:
            setattr(self.c, f"{s.type}_id", None)
        if steps:
            self.s.flush()
        records = [(s.type, s.id) for s in steps if s.type != "task"]
        if records:
            # What hangs on them and nothing else refers to (one statement a table; no object of
            # these kinds is worth synchronising: the request ends with the commit).
            for table in (CustomFieldValue, Tagging, TimelineEvent):
                self.s.execute(delete(table).where(or_(*[(table.parent_type == t) & (table.parent_id == i)
                                                         for t, i in records]))
                               .execution_options(synchronize_session=False))
        for s in steps:
            # A plain DELETE, not session.delete(): the ORM would null the account_id of a contact
            # added concurrently (it loads Account.contacts); the foreign key refuses it instead.
            self.plan.records.pop(s.type, None)
            model = RECORDS[s.type]
            self._exec(delete(model).where(model.id == s.id))
        return deleted

    def _restore_lead(self, steps: list[Step]) -> None:
        lead = self.lead
        custom = {}
        defs = None
        for s in steps:
            if s.action == "restore_lead":
                lead.status = s.value
            elif s.field.startswith("custom."):
                defs = defs if defs is not None else {f.key: f for f in self.s.scalars(
                    select(CustomField).where(CustomField.entity == "lead"))}
                definition = defs.get(s.field[7:])
                if definition is not None:
                    custom[s.field[7:]] = _typed_custom(definition, s.value)
            else:
                setattr(lead, s.field, _typed(Lead, s.field, s.value))
        if custom:
            set_custom(self.s, "lead", lead.id, custom, defs)
        lead.converted, lead.conversion_id, lead.converted_at = False, None, None
        self.s.flush()
        self.s.expire(lead, ["status_ref"])

    def _events(self, deleted: list[dict]) -> None:
        message = Text("Conversion reverted by {name}", name=self.actor.display_name)
        lead_link = {"type": "lead", "id": self.lead.id, "label": self.lead.display_name}
        links = [{"type": e, "id": r.id, "label": _label(e, r)} for e, r in self.plan.records.items()
                 if e != "task"]
        record_event(self.s, "lead", self.lead.id, EVENT_KIND, message, self.actor.id,
                     {"conversion_id": self.c.id, "links": links, "deleted": deleted})
        for entity, record in self.plan.records.items():
            if entity == "task":
                continue
            record_event(self.s, entity, record.id, EVENT_KIND, message, self.actor.id,
                         {"conversion_id": self.c.id, "links": [lead_link],
                          "fields": sorted(self.fields.get(entity, []))})


__all__ = ["AlreadyReverted", "Blocker", "RevertBlocked", "RevertPlan", "Step", "check_may_revert",
           "execute_revert", "may_revert", "plan_revert"]
