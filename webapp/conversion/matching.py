"""Duplicate finding (C4): exact normalised keys, in C4.1 order, each match with its reason.

Every look-up is one indexed query with a LIMIT (email_norm, name_norm, company_norm,
custom_field_values(field_id, value_norm)), so the cost does not grow with the tables.
Visibility (C4.8) is decided per row with permissions.can_view, so that hidden matches can
be counted (to refuse a conversion that would duplicate them) but never shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from .. import permissions
from ..models import Account, Contact, CustomFieldValue
from ..services.custom_values import custom_norm
from .mapping import is_empty

LIMIT = 10  # matches looked at per step: enough to choose, never a table scan


@dataclass
class Match:
    """One existing record that matched, and why ("email", "company_name", "full_name", "unique:<key>")."""

    record: Account | Contact
    reason: str
    visible: bool

    @property
    def id(self) -> int:
        return self.record.id


@dataclass
class Matches:
    """The matches of every C4.1 step, best first within a step."""

    contact_unique: list[Match] = field(default_factory=list)  # (a)
    account_unique: list[Match] = field(default_factory=list)  # (b)
    contact_email: list[Match] = field(default_factory=list)   # (c)
    account_name: list[Match] = field(default_factory=list)    # (d)
    contact_name: list[Match] = field(default_factory=list)    # (e)
    name_is_automatic: bool = False  # C4.2: (e) decides only when email and company are empty

    def steps(self) -> list[tuple[str, list[Match]]]:
        """The automatic steps in C4.1 order, as (entity, matches)."""
        steps = [("contact", self.contact_unique), ("account", self.account_unique),
                 ("contact", self.contact_email), ("account", self.account_name)]
        if self.name_is_automatic:
            steps.append(("contact", self.contact_name))
        return steps

    def hidden(self, entity: str) -> list[Match]:
        """Matches of `entity` the actor may not see, from the steps that decide automatically."""
        return [m for e, ms in self.steps() if e == entity for m in ms if not m.visible]

    def candidates(self, entity: str) -> list[Match]:
        """Visible matches of `entity`, each record once with its best reason (C4.3, C4.8)."""
        if entity == "account":
            lists = [self.account_unique, self.account_name]
        else:
            lists = [self.contact_unique, self.contact_email, self.contact_name]
        seen: set[int] = set()
        out = []
        for ms in lists:
            for m in ms:
                if m.visible and m.id not in seen:
                    seen.add(m.id)
                    out.append(m)
        return out


def unique_keys(entity: str, mapping: dict, defs: dict, lead, lead_custom: dict) -> list[tuple]:
    """The (unique custom field of `entity`, normalised value) pairs the lead's mapped values
    give: what C4.1 a/b look records up by, and what a created record will carry."""
    out = []
    for src, tgt in (mapping.get(entity) or {}).items():
        if not tgt.startswith("custom."):
            continue
        target = defs.get(entity, {}).get(tgt[len("custom."):])
        if target is None or not target.unique:
            continue
        value = (lead_custom.get(src[len("custom."):]) if src.startswith("custom.")
                 else getattr(lead, src, None))
        if not is_empty(value):
            out.append((target, custom_norm(target, value)))
    return out


class Matcher:
    """Finds the duplicates of one lead for one actor."""

    def __init__(self, session, actor, lead, mapping: dict, defs: dict, lead_custom: dict):
        self.session = session
        self.actor = actor
        self.lead = lead
        self.mapping = mapping
        self.defs = defs
        self.lead_custom = lead_custom

    def _wrap(self, records, reason: str) -> list[Match]:
        return [Match(r, reason, permissions.can_view(self.session, self.actor, r)) for r in records]

    def unique(self, entity: str) -> list[Match]:
        """C4.1 a/b: records whose unique custom field equals the value mapped from the lead."""
        model = Account if entity == "account" else Contact
        out: list[Match] = []
        for target, key in unique_keys(entity, self.mapping, self.defs, self.lead, self.lead_custom):
            # A field belongs to one entity (uq_cfv_field_record: one value per field and record),
            # so its field_id alone says the values hang on `entity`'s records.
            rows = self.session.scalars(
                select(model).join(CustomFieldValue, CustomFieldValue.parent_id == model.id)
                .where(CustomFieldValue.field_id == target.id, CustomFieldValue.value_norm == key)
                .order_by(model.id).limit(LIMIT)
            ).all()
            out += self._wrap(rows, f"unique:{target.key}")
        return out

    def contacts_by_email(self, account_id: int | None = None) -> list[Match]:
        if not self.lead.email_norm:
            return []
        q = select(Contact).where(Contact.email_norm == self.lead.email_norm)
        if account_id is not None:
            q = q.where(Contact.account_id == account_id)
        return self._wrap(self.session.scalars(q.order_by(Contact.id).limit(LIMIT)).all(), "email")

    def contacts_by_name(self, account_id: int | None = None) -> list[Match]:
        if not self.lead.name_norm:
            return []
        q = select(Contact).where(Contact.name_norm == self.lead.name_norm)
        if account_id is not None:
            q = q.where(Contact.account_id == account_id)
        return self._wrap(self.session.scalars(q.order_by(Contact.id).limit(LIMIT)).all(), "full_name")

    def accounts_by_name(self) -> list[Match]:
        if not self.lead.company_norm:
            return []
        rows = self.session.scalars(
            select(Account).where(Account.name_norm == self.lead.company_norm).order_by(Account.id).limit(LIMIT)
        ).all()
        return self._wrap(rows, "company_name")

    def find(self, *, contacts: bool = True, accounts: bool = True) -> Matches:
        """Every C4.1 step's matches (a constant number of indexed queries)."""
        return Matches(
            contact_unique=self.unique("contact") if contacts else [],
            account_unique=self.unique("account") if accounts else [],
            contact_email=self.contacts_by_email() if contacts else [],
            account_name=self.accounts_by_name() if accounts else [],
            contact_name=self.contacts_by_name() if contacts else [],
            name_is_automatic=not self.lead.email_norm and not self.lead.company_norm,
        )
