"""What moves with the lead (C6): notes, attachments, activities, campaigns, tags, line items,
addresses. Nothing is deleted; every move is listed with where it came from (C1.5, for C9.1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, or_, select

from ..entities import noun
from ..errors import Text
from ..models import Address, Attachment, CampaignMember, LineItem, Note, Tag, Tagging, Task


@dataclass
class Targets:
    """The records the conversion produced (None when absent) and which may be written to."""

    account: object | None = None
    contact: object | None = None
    deal: object | None = None
    writable: set = field(default_factory=set)  # entity names the actor may write to (tags, addresses)
    # The planner's counts (C6): a kind counted 0 is not queried again.
    counts: dict | None = None

    def get(self, entity: str):
        return getattr(self, entity)

    def present(self) -> set[str]:
        return {e for e in ("account", "contact", "deal") if self.get(e) is not None}

    def pick(self, *order: str) -> tuple[str, object] | None:
        """The first present record in `order`: the chosen target, then its fallbacks."""
        entity = first_of(order, self.present())
        return (entity, self.get(entity)) if entity else None


FALLBACKS = {"contact": ("contact", "account"), "account": ("account", "contact"),
             "deal": ("deal", "contact", "account")}


# --- where things go: pure functions of which records the conversion produces ----------------
# The moves below and the preview (destinations(), ConversionPlan.destinations) both use them,
# so the preview cannot disagree with what happens.
def first_of(order, present: set[str]) -> str | None:
    """The first entity of `order` that the conversion produces."""
    return next((e for e in order if e in present), None)


def note_places(present: set[str]) -> tuple[str | None, list[str]]:
    """C6.2: where the notes go (deal, else contact, else account) and where copies go (with a deal:
    the account and the contact)."""
    dest = first_of(("deal", "contact", "account"), present)
    return dest, [e for e in ("account", "contact") if e in present] if dest == "deal" else []


def tag_places(present: set[str], writable: set[str], tags_to) -> list[str]:
    """C6.5: the records the tags are copied to; "account" without an account means the contact."""
    out: list[str] = []
    for entity in tags_to:
        if entity == "account" and "account" not in present:
            entity = "contact"
        if entity in present and entity in writable and entity not in out:
            out.append(entity)
    return out


def address_place(present: set[str], writable: set[str]) -> str | None:
    """C9.5: typed addresses go to the account, when the actor may write to it."""
    return "account" if "account" in present and "account" in writable else None


def destinations(present: set[str], writable: set[str], options) -> dict[str, list[str]]:
    """Where each kind of related record goes (C6), in words for the preview:
    {"notes": ["deal", "account (copy)"], "activities": ["contact", "deal (open ones)"], ...};
    an empty list means it stays on the lead. Each word is a Text (the English; translated
    when shown with |t / i18n.translate)."""
    notes, copies = note_places(present)
    attachments = first_of(FALLBACKS[options.attachments_to], present)
    activities = first_of(FALLBACKS[options.activities_to], present)
    addresses = address_place(present, writable)
    return {
        "notes": [noun(notes), *(Text("{entity} (copy)", entity=noun(e)) for e in copies)] if notes else [],
        "attachments": [noun(attachments)] if attachments else [],
        "activities": ([noun(activities), *([Text("deal (open ones)")] if "deal" in present else [])]
                       if activities else []),
        "campaigns": [noun(activities)] if activities else [],
        "tags": [noun(e) for e in tag_places(present, writable, options.tags_to)],
        "line_items": [noun("deal")] if "deal" in present else [],
        "addresses": [noun(addresses)] if addresses else [],
    }


@dataclass
class Transfer:
    moved: dict[str, int] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

    def log(self, kind: str, obj, src, dst, **extra) -> None:
        self.records.append({"type": kind, "id": obj.id, "from": list(src), "to": list(dst), **extra})


_KINDS = {"Note": "notes", "Attachment": "attachments", "Task": "activities", "CampaignMember": "campaigns",
          "LineItem": "line_items", "Address": "addresses"}


# The rows of each kind that hang on a lead, oldest first (built once).
_OF_LEAD = {model: select(model).where(model.parent_type == "lead", model.parent_id == bindparam("lead_id"))
            .order_by(model.id) for model in (Note, Attachment, Task, CampaignMember, LineItem, Address)}


def _of_lead(session, model, lead_id: int, targets: Targets | None = None) -> list:
    if targets is not None and targets.counts is not None and not targets.counts.get(_KINDS[model.__name__]):
        return []
    return list(session.scalars(_OF_LEAD[model], {"lead_id": lead_id}))


def _move(t: Transfer, kind: str, obj, entity: str, record, lead_id: int, **extra) -> None:
    obj.parent_type, obj.parent_id = entity, record.id
    t.log(kind, obj, ("lead", lead_id), (entity, record.id), **extra)


def move_notes(session, lead, targets: Targets, t: Transfer) -> None:
    """C6.2: with a deal, to the deal plus a copy on account and contact; else to the contact;
    a company-only conversion gives them to the account."""
    dest, copies = note_places(targets.present())
    notes = _of_lead(session, Note, lead.id, targets)
    if dest is None or not notes:
        t.moved["notes"] = 0
        return
    made = []  # (the copy, its log entry): one flush gives every copy its id
    for note in notes:
        _move(t, "note", note, dest, targets.get(dest), lead.id, copy=False)
        for entity in copies:
            record = targets.get(entity)
            copy = Note(body=note.body, parent_type=entity, parent_id=record.id, author_id=note.author_id,
                        copy_of_id=note.id, created_at=note.created_at)
            session.add(copy)
            entry = {"type": "note", "id": None, "from": None, "to": [entity, record.id], "copy": True,
                     "copy_of": note.id}
            t.records.append(entry)
            made.append((copy, entry))
    if made:
        session.flush()
        for copy, entry in made:
            entry["id"] = copy.id
    t.moved["notes"] = len(notes)


def move_attachments(session, lead, targets: Targets, attachments_to: str, t: Transfer) -> None:
    """C6.3: to the chosen record, falling back when it was not produced."""
    dest = targets.pick(*FALLBACKS[attachments_to])
    rows = _of_lead(session, Attachment, lead.id, targets) if dest else []
    for row in rows:
        _move(t, "attachment", row, *dest, lead.id)
    t.moved["attachments"] = len(rows)


def move_activities(session, lead, targets: Targets, activities_to: str, t: Transfer) -> None:
    """C6.4: activities to the contact or account chosen; open ones also linked to the deal."""
    dest = targets.pick(*FALLBACKS[activities_to])
    rows = _of_lead(session, Task, lead.id, targets) if dest else []
    for task in rows:
        extra = {}
        if targets.deal is not None and task.status == "open" and task.deal_id is None:
            task.deal_id = targets.deal.id
            extra["deal_id"] = targets.deal.id
        _move(t, "activity", task, *dest, lead.id, **extra)
    t.moved["activities"] = len(rows)


def move_campaigns(session, lead, targets: Targets, activities_to: str, t: Transfer) -> None:
    """C6.4: memberships follow the activities; one the target already has stays on the lead."""
    dest = targets.pick(*FALLBACKS[activities_to])
    rows = _of_lead(session, CampaignMember, lead.id, targets) if dest else []
    moved = 0
    if rows:
        have = set(session.scalars(select(CampaignMember.campaign_id).where(
            CampaignMember.parent_type == dest[0], CampaignMember.parent_id == dest[1].id)))
        for row in rows:
            if row.campaign_id in have:
                continue
            _move(t, "campaign_member", row, *dest, lead.id)
            moved += 1
    t.moved["campaigns"] = moved


def copy_tags(session, lead, targets: Targets, tags_to: list[str], t: Transfer) -> None:
    """C6.5: copied to each chosen record; "account" without an account goes to the contact."""
    counted = targets.counts is None or targets.counts.get("tags")
    places = tag_places(targets.present(), targets.writable, tags_to)
    tags = session.execute(
        select(Tag.id, Tag.name).join(Tagging, Tagging.tag_id == Tag.id)
        .where(Tagging.parent_type == "lead", Tagging.parent_id == lead.id).order_by(Tag.name)
    ).all() if counted and places else []
    if tags:
        # The lead's own Tag rows are reused (same tag, whatever the case); what a target already
        # has is read in one query, the new taggings written in one statement.
        records = {entity: targets.get(entity).id for entity in places}
        have = set(session.execute(select(Tagging.parent_type, Tagging.parent_id, Tagging.tag_id).where(
            or_(*[(Tagging.parent_type == e) & (Tagging.parent_id == rid) for e, rid in records.items()]),
            Tagging.tag_id.in_([tag.id for tag in tags]))).all())
        rows = []
        for entity, rid in records.items():
            for tag in tags:
                if (entity, rid, tag.id) not in have:
                    rows.append({"tag_id": tag.id, "parent_type": entity, "parent_id": rid})
                    t.records.append({"type": "tag", "name": tag.name, "from": ["lead", lead.id],
                                      "to": [entity, rid], "copy": True})
        if rows:
            session.execute(insert(Tagging), rows)
    t.moved["tags"] = len(tags) if places else 0


def move_line_items(session, lead, targets: Targets, t: Transfer) -> None:
    """C3.4: the lead's products go to the new deal."""
    rows = _of_lead(session, LineItem, lead.id, targets) if targets.deal is not None else []
    for row in rows:
        _move(t, "line_item", row, "deal", targets.deal, lead.id)
    t.moved["line_items"] = len(rows)


def move_addresses(session, lead, targets: Targets, t: Transfer) -> None:
    """C9.5: the lead's typed addresses go to the account."""
    ok = address_place(targets.present(), targets.writable) is not None
    rows = _of_lead(session, Address, lead.id, targets) if ok else []
    for row in rows:
        _move(t, "address", row, "account", targets.account, lead.id)
    t.moved["addresses"] = len(rows)


def transfer_all(session, lead, targets: Targets, options) -> Transfer:
    """Move / copy everything C6 lists; returns the counts and the moved records."""
    t = Transfer()
    move_notes(session, lead, targets, t)
    move_attachments(session, lead, targets, options.attachments_to, t)
    move_activities(session, lead, targets, options.activities_to, t)
    move_campaigns(session, lead, targets, options.activities_to, t)
    copy_tags(session, lead, targets, options.tags_to, t)
    move_line_items(session, lead, targets, t)
    move_addresses(session, lead, targets, t)
    session.flush()
    return t
