"""Rights and required fields (C7): who may convert this lead (C7.1, C7.2), the create
permission of every entity the conversion creates (C7.1), and the required fields still
empty (C7.4), which the plan lists for the modal instead of refusing."""

from __future__ import annotations

from .. import permissions
from ..errors import N_, Text
from .errors import AlreadyConverted, ConversionDenied
from .mapping import is_empty
from .plan import EntityPlan, Planning

# The standard fields each created record must have (custom required ones come from their definitions).
REQUIRED = {"account": ("name",), "contact": ("last_name",), "deal": ("name", "stage"), "task": ("subject",)}
# C7.1: the refusal when the role may not create a record the conversion needs, per entity.
CANNOT_CREATE = {
    "account": N_("Your role may not create accounts, which this conversion needs."),
    "contact": N_("Your role may not create contacts, which this conversion needs."),
    "deal": N_("Your role may not create deals, which this conversion needs."),
    "task": N_("Your role may not create tasks, which this conversion needs."),
}


def check_may_convert(session, actor, lead) -> None:
    """C7.1 / C7.2 / C1.4: "Convert leads", a lead not converted yet, and one the actor may edit."""
    if not permissions.can_convert(actor):
        message = Text("Your role lacks the “Convert leads” permission.")
        raise ConversionDenied(message, {"lead": [message]})
    if lead.converted:
        raise AlreadyConverted(conversion_id=lead.conversion_id)
    allowed, reason = permissions.may_convert_lead(session, actor, lead)
    if not allowed:
        raise ConversionDenied(reason, {"lead": [reason]})


def check_rights(actor, *plans: EntityPlan) -> None:
    """C7.1: the create permission of every entity the conversion creates."""
    for p in plans:
        if p.action == "created" and not permissions.can_create(actor, p.entity):
            message = Text(CANNOT_CREATE[p.entity])
            raise ConversionDenied(message, {p.entity: [message]})


def missing(p: Planning, *plans: EntityPlan) -> dict[str, list[str]]:
    """C7.4: the lead's required custom fields, then each created record's required fields."""
    out: dict[str, list[str]] = {}
    provided = None  # the created records' filled fields, read only when a lead field needs them
    for key, f in p.defs.get("lead", {}).items():
        if not f.required or not is_empty(p.lead_custom.get(key)):
            continue
        if provided is None:
            provided = {(e.entity, k) for e in plans if e.action == "created" for k, v in e.values.items()
                        if not is_empty(v)}
        # Satisfied when a target's form field receiving it (same key or mapped) is filled.
        targets = {(e, p.mapping.get(e, {}).get(f"custom.{key}")) for e in ("account", "contact", "deal")}
        targets |= {(e, f"custom.{key}") for e in ("account", "contact", "deal")}
        if not any((e, t) in provided and t in p.overrides.get(e, {}) for e, t in targets):
            out.setdefault("lead", []).append(f"custom.{key}")
    for e in plans:
        if e.action != "created":
            continue
        names = list(REQUIRED[e.entity])
        names += [f"custom.{k}" for k, f in p.defs.get(e.entity, {}).items() if f.required]
        lacking = [n for n in names if is_empty(e.values.get(n))]
        if lacking:
            out[e.entity] = lacking
    return out
