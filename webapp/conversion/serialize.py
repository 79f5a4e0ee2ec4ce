"""conversion_as_dict(): a Conversion as the API's 201 / GET response (api.md "Conversions")."""

from __future__ import annotations

from ..models import Conversion


def _when(value):
    return value.isoformat() if value is not None else None


def conversion_as_dict(conversion: Conversion) -> dict:
    """The response shape of POST / GET /api/v1/lead-conversions."""
    c = conversion
    return {
        "id": c.id, "lead_id": c.lead_id, "created_by": c.created_by,
        "created_at": _when(c.created_at), "reverted_at": _when(c.reverted_at),
        "account": {"id": c.account_id, "action": c.account_action, "reason": c.account_reason},
        "contact": {"id": c.contact_id, "action": c.contact_action, "reason": c.contact_reason},
        "deal": {"id": c.deal_id, "action": c.deal_action, "reason": None},
        "task": {"id": c.task_id, "action": c.task_action, "reason": None},
        "fields_written": dict(c.fields_written or {}),
        "not_updated": list(c.not_updated or []),
        "moved": dict(c.moved or {}),
    }
