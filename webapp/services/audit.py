"""The settings audit (issue 10): services that change a setting call record() in the same
transaction, with the setting's values before and after (snapshot() of the row). Nothing is
recorded when nothing changed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from ..models import AuditEntry

# The kinds of settings ("area"), as the audit page filters and names them.
AREAS = ("lead_status", "pipeline", "custom_field", "conversion_mapping", "layout", "role", "user", "team",
         "automation_rule", "currency", "list_view", "api_token")


def _plain(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value


def snapshot(row, *names: str) -> dict:
    """The JSON values of a model row's columns (all of them, or `names`)."""
    names = names or tuple(c.key for c in row.__table__.columns)
    return {n: _plain(getattr(row, n)) for n in names}


def record(session, actor, area: str, key, action: str, before: dict | None = None,
           after: dict | None = None) -> AuditEntry | None:
    """Add the entry of one settings change (not committed: the change's own transaction). An
    update that changed nothing records nothing; an update keeps only the values that changed."""
    before, after = _plain(before), _plain(after)
    if action == "updated":
        changed = sorted(k for k in set(before or {}) | set(after or {})
                         if (before or {}).get(k) != (after or {}).get(k))
        if not changed:
            return None
        before = {k: (before or {}).get(k) for k in changed}
        after = {k: (after or {}).get(k) for k in changed}
    entry = AuditEntry(actor_id=getattr(actor, "id", None), area=area, key=str(key)[:200], action=action,
                       before=before, after=after)
    session.add(entry)
    return entry


def entries(area: str | None = None, before: int | None = None):
    """The entries newest first (all areas or one; `before`: an entry id, to page to older ones)."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    if area:
        stmt = stmt.where(AuditEntry.area == area)
    if before:
        stmt = stmt.where(AuditEntry.id < before)
    return stmt
