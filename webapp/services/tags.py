"""Tags on any record (lead, account, contact, deal): read, replace, add (Flask-free)."""

from __future__ import annotations

from sqlalchemy import delete, select

from ..fields import clean_tags
from ..models import Tag, Tagging

__all__ = ["add_tags", "clean_tags", "get_tags", "set_tags", "tags_for"]


def get_tags(session, parent_type: str, parent_id: int) -> list[str]:
    return list(session.scalars(
        select(Tag.name).join(Tagging).where(
            Tagging.parent_type == parent_type, Tagging.parent_id == parent_id
        ).order_by(Tag.name)
    ))


def tags_for(session, parent_type: str, ids) -> dict[int, list[str]]:
    """Tags of many records in one query (for lists)."""
    result: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return result
    rows = session.execute(
        select(Tagging.parent_id, Tag.name).join(Tag).where(
            Tagging.parent_type == parent_type, Tagging.parent_id.in_(list(ids))
        ).order_by(Tag.name)
    )
    for pid, name in rows:
        result[pid].append(name)
    return result


def _tag(session, name: str) -> Tag:
    tag = session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        # Same tag whatever the case: reuse an existing spelling.
        for existing in session.scalars(select(Tag).where(Tag.name.ilike(name))):
            if existing.name.lower() == name.lower():
                return existing
        tag = Tag(name=name)
        session.add(tag)
        session.flush()
    return tag


def set_tags(session, parent_type: str, parent_id: int, names) -> list[str]:
    """Replace the record's tags; raises ValueError on a bad name."""
    names = clean_tags(names)
    session.execute(delete(Tagging).where(
        Tagging.parent_type == parent_type, Tagging.parent_id == parent_id))
    for name in names:
        session.add(Tagging(tag=_tag(session, name), parent_type=parent_type, parent_id=parent_id))
    session.flush()
    return names


def add_tags(session, parent_type: str, parent_id: int, names) -> list[str]:
    """Add tags to a record, keeping those it has; returns the names actually added."""
    have = {n.lower() for n in get_tags(session, parent_type, parent_id)}
    added = [n for n in clean_tags(names) if n.lower() not in have]
    for name in added:
        session.add(Tagging(tag=_tag(session, name), parent_type=parent_type, parent_id=parent_id))
    session.flush()
    return added
