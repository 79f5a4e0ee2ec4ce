"""The one serializer of the conversion's API shapes (api.md "Conversions"):

- conversion_as_dict(conversion): a Conversion as the 201 / GET response;
- plan_as_dict(plan): a ConversionPlan as the dry-run response (200);
- jsonable(values): {field: value} with Decimals and dates as JSON text (stored fills,
  previous values and fields_written use it too).

Both shapes share entity_as_dict() for their account / contact / deal / task parts.
"""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal


def jsonable(values: dict) -> dict:
    """A copy of `values` with Decimal as its string ("12.50") and dates as ISO 8601 text."""
    out = {}
    for k, v in values.items():
        if isinstance(v, Decimal):
            v = str(v)
        elif isinstance(v, date):  # datetime is a date too: isoformat() keeps its time
            v = v.isoformat()
        out[k] = v
    return out


def when(value) -> str | None:
    """ISO 8601 with offset, as api.md requires: SQLite hands back naive datetimes, which are UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def entity_as_dict(record_id: int | None, action: str, reason: str | None) -> dict:
    """One entity's part of both shapes: {"id", "action", "reason"}."""
    return {"id": record_id, "action": action, "reason": reason}


def conversion_as_dict(conversion) -> dict:
    """The response shape of POST (201) / GET /api/v1/lead-conversions."""
    c = conversion
    return {
        "id": c.id, "lead_id": c.lead_id, "created_by": c.created_by,
        "created_at": when(c.created_at), "reverted_at": when(c.reverted_at),
        "account": entity_as_dict(c.account_id, c.account_action, c.account_reason),
        "contact": entity_as_dict(c.contact_id, c.contact_action, c.contact_reason),
        "deal": entity_as_dict(c.deal_id, c.deal_action, None),
        "task": entity_as_dict(c.task_id, c.task_action, None),
        "fields_written": dict(c.fields_written or {}),
        "not_updated": list(c.not_updated or []),
        "moved": dict(c.moved or {}),
    }


def plan_as_dict(plan) -> dict:
    """The dry-run response (200): the 201 shape with id null, dry_run true and the candidates."""
    return {
        "id": None, "lead_id": plan.lead.id, "created_by": None, "created_at": None,
        "reverted_at": None, "dry_run": True,
        **{p.entity: entity_as_dict(p.record_id, p.action, p.reason) for p in plan.entities()},
        "fields_written": plan.fields_written(), "not_updated": plan.not_updated(),
        "moved": dict(plan.moves),
        "candidates": {e: [{"id": c.id, "name": c.name, "reason": c.reason} for c in cs]
                       for e, cs in plan.candidates.items()},
    }


__all__ = ["conversion_as_dict", "entity_as_dict", "jsonable", "plan_as_dict", "when"]
