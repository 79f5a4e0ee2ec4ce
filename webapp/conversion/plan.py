"""The plan's data types: ConversionPlan (what a conversion will do), EntityPlan (one entity's
outcome), Candidate (an existing record offered for "Add to existing"), and Planning (the state
the planner's parts share while they build a plan). Pure data: no queries here."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Problem, Text
from ..models import Lead
from .errors import DuplicatesHidden, MissingRequired
from .options import ConversionOptions
from .serialize import jsonable, plan_as_dict

ENTITIES = ("account", "contact", "deal", "task")


@dataclass
class Candidate:
    """An existing record offered for "Add to existing" (C4.3), with why it matched."""

    id: int
    name: str
    reason: str


@dataclass
class EntityPlan:
    """What happens to one entity: created / merged / linked / none (C1.1, C3.5, C7.3)."""

    entity: str
    action: str = "none"  # created | merged | linked | none
    record_id: int | None = None
    reason: str | None = None
    label: str = ""
    values: dict = field(default_factory=dict)  # a created record's values
    fills: dict = field(default_factory=dict)   # a merged record's empty fields that get filled
    read_only: bool = False
    record: object | None = field(default=None, repr=False)  # the existing record (merged / linked)


@dataclass
class ConversionPlan:
    """The whole outcome of a conversion before it happens (C8.7)."""

    lead: Lead
    options: ConversionOptions
    account: EntityPlan
    contact: EntityPlan
    deal: EntityPlan
    task: EntityPlan
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    moves: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    blocked: DuplicatesHidden | None = None
    mapping: dict = field(default_factory=dict, repr=False)
    # C7.4: the lead fields the form fills ({"industry": "IT", "custom.vat": "FR1"}), written first.
    lead_values: dict = field(default_factory=dict)
    # C6 in words: {"notes": ["deal", "account (copy)", ...], "tags": ["contact", "deal"], ...}.
    destinations: dict[str, list[str]] = field(default_factory=dict)
    defs: dict = field(default_factory=dict, repr=False)  # the custom field definitions, by entity

    def entities(self) -> list[EntityPlan]:
        return [self.account, self.contact, self.deal, self.task]

    def present(self) -> set[str]:
        """The account / contact / deal this conversion produces (created, merged or linked)."""
        return {p.entity for p in (self.account, self.contact, self.deal) if p.action != "none"}

    def writable(self) -> set[str]:
        """Those the actor may write to (tags, addresses): all but a read-only link (C7.3)."""
        return {p.entity for p in (self.account, self.contact, self.deal)
                if p.action in ("created", "merged") or (p.action == "linked" and not p.read_only)}

    def errors(self) -> dict[str, list[str]]:
        """The missing required fields as form errors: {"contact.last_name": ["is required"]}."""
        return {f"{entity}.{name}": [Problem("required")] for entity, names in self.missing.items()
                for name in names}

    def field_name(self, key: str) -> str:
        """A field of errors() for a sentence: a custom field by its label (as its administrator
        typed it), a standard one by its key ("contact.last_name")."""
        entity, _sep, rest = key.partition(".")
        if rest.startswith("custom."):
            definition = (self.defs or {}).get(entity, {}).get(rest[len("custom."):])
            if definition is not None:
                return definition.label
        return key

    def check(self) -> None:
        """Raise what forbids applying this plan: DuplicatesHidden (C4.8), MissingRequired (C7.4)."""
        if self.blocked is not None:
            raise self.blocked
        if self.missing:
            names = ", ".join(self.field_name(key) for key in self.errors())
            raise MissingRequired(Text("Fill the required fields before converting: {fields}.", fields=names),
                                  self.errors())

    def fields_written(self) -> dict:
        """Values written on existing records: merged ones' empty fields (C3.5), the lead's (C7.4)."""
        out = {p.entity: jsonable(p.fills) for p in (self.account, self.contact)
               if p.action == "merged" and p.fills}
        if self.lead_values:
            out["lead"] = jsonable(self.lead_values)
        return out

    def not_updated(self) -> list[dict]:
        return [{"entity": p.entity, "id": p.record_id, "reason": "read_only"}
                for p in (self.account, self.contact) if p.read_only]

    def as_dict(self) -> dict:
        """The dry-run response of api.md (200): serialize.plan_as_dict (kept for callers)."""
        return plan_as_dict(self)


@dataclass
class Planning:
    """What the planner's parts (resolve, values, requirements) share while building one plan.

    Filled in that order by planner.plan(): the lead and the reference data first, then the
    validated field values, then each part's decisions. Field errors are collected here
    (`err`) and raised together, once, as one InvalidOptions (C7.5)."""

    session: object
    actor: object
    options: ConversionOptions
    lead: Lead | None = None
    source: object | None = None  # the lead as the form's lead fields leave it (values.LeadView)
    defs: dict = field(default_factory=dict)
    mapping: dict = field(default_factory=dict)
    lead_custom: dict = field(default_factory=dict)
    lead_values: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)  # entity -> validated `fields`
    owner_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    users: dict = field(default_factory=dict)  # user id -> User, read once per plan
    # Reference data read once for many plans (conversion/bulk.py shares one dict across a chunk:
    # the pipeline, the currency rates, merged records' custom values); None: read per plan.
    memo: dict | None = None

    def err(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)


def label_of(record) -> str:
    return getattr(record, "display_name", None) or f"#{record.id}"


__all__ = ["ENTITIES", "Candidate", "ConversionPlan", "EntityPlan", "Planning", "label_of"]
