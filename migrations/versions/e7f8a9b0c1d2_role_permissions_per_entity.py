"""roles: per-entity read and delete permissions (issue 10, roles and people)

Revision ID: e7f8a9b0c1d2
Revises: a9b0c1d2e3f4
Create Date: 2026-12-04 09:00:00

Written by hand, data only: the stored roles' permissions in the per-entity vocabulary of
webapp/permissions.py, granting exactly what they granted before:
- "record.read_all" (read every account, contact and deal) -> account.read, contact.read,
  deal.read;
- "record.delete" (delete what one may edit) -> <entity>.delete for every entity;
- a role that edited nothing read every lead: it gets lead.read;
- the administrators' preset ("admin") gets every permission.
The downgrade writes the old names back.
"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e7f8a9b0c1d2'
down_revision = 'a9b0c1d2e3f4'
branch_labels = None
depends_on = None

RECORDS = ("lead", "account", "contact", "deal")
ENTITIES = RECORDS + ("task", "note", "attachment")
SPECIAL = ("lead.convert", "conversion.revert", "admin")
ALL = sorted([f"{e}.{a}" for e in ENTITIES for a in ("create", "edit", "delete")]
             + [f"{e}.read" for e in RECORDS] + list(SPECIAL))

roles = sa.table("roles", sa.column("key", sa.String), sa.column("permissions", sa.JSON))


def _load(value):
    if isinstance(value, str):
        value = json.loads(value)
    return [p for p in (value or []) if isinstance(p, str)]


def _upgrade(key, old):
    if key == "admin":
        return list(ALL)
    new = set(old) - {"record.read_all", "record.delete"}
    if "record.read_all" in old:
        new |= {"account.read", "contact.read", "deal.read"}
    if "record.delete" in old:
        new |= {f"{e}.delete" for e in ENTITIES}
    if not any(p.endswith(".edit") for p in old):
        new.add("lead.read")
    return sorted(new)


def _downgrade(key, new):
    old = {p for p in new if not p.endswith((".read", ".delete"))}
    if {"account.read", "contact.read", "deal.read"} <= set(new):
        old.add("record.read_all")
    if any(p.endswith(".delete") for p in new):
        old.add("record.delete")
    if key == "admin":
        old |= {"record.read_all", "record.delete"}
    return sorted(old)


def _rewrite(change):
    bind = op.get_bind()
    for key, value in bind.execute(sa.select(roles.c.key, roles.c.permissions)).all():
        perms = _load(value)
        bind.execute(roles.update().where(roles.c.key == key).values(permissions=change(key, perms)))


def upgrade():
    _rewrite(_upgrade)


def downgrade():
    _rewrite(_downgrade)
