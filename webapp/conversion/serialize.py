"""conversion_as_dict(): a Conversion as the API's 201 / GET response (api.md "Conversions")."""

from __future__ import annotations

from datetime import UTC

from ..models import Conversion


def _when(value) -> str | None:
    """ISO 8601 with offset, as api.md requires: SQLite hands back naive datetimes, which are UTC."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


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
