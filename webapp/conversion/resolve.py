"""Duplicate decisions (C2, C4): created / merged / linked for the account and the contact, the
candidates offered (C4.3), the refusal when the only duplicates are hidden (C4.8), and the
write lock on the match keys that makes concurrent conversions see each other's records.

Built on matching.py (the look-ups); this module decides what the matches mean."""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from .. import permissions
from ..errors import N_, Text
from ..models import Account, Contact
from ..normalize import norm_company, norm_email, norm_name
from .errors import DuplicatesHidden, RecordNotFound
from .mapping import is_empty
from .matching import LIMIT, Match, Matcher, Matches, unique_keys
from .plan import EntityPlan, Planning, label_of

# The sentences of a refusal, per entity (a template each: translated when shown).
NO_SUCH = {
    "account": (N_("This account does not exist."), N_("no such account")),
    "contact": (N_("This contact does not exist."), N_("no such contact")),
}
# C4.8, by the kinds of the hidden duplicates; {names}: who may convert the lead instead.
HIDDEN = {
    ("accounts",): N_("This lead matches existing accounts you are not allowed to see, so converting it would "
                      "create duplicates. Ask {names} to convert it."),
    ("contacts",): N_("This lead matches existing contacts you are not allowed to see, so converting it would "
                      "create duplicates. Ask {names} to convert it."),
    ("accounts", "contacts"): N_("This lead matches existing accounts and contacts you are not allowed to see, "
                                 "so converting it would create duplicates. Ask {names} to convert it."),
}


# --- serialising concurrent conversions on their match keys -----------------------------------
def match_keys(p: Planning) -> list[str]:
    """The normalised keys this conversion looks duplicates up by, and those of the records it may
    create: "company:<norm>", "email:<norm>", "name:<norm>", "unique:<entity>:<field>:<norm>"
    for unique custom fields (sorted, no repeats)."""
    src, acc, con = p.source, p.overrides.get("account", {}), p.overrides.get("contact", {})
    first = con.get("first_name", src.first_name)
    last = con.get("last_name", src.last_name)
    keys = {
        ("company", src.company_norm), ("company", norm_company(acc.get("name")) if acc.get("name") else None),
        ("email", src.email_norm), ("email", norm_email(con.get("email")) if con.get("email") else None),
        ("name", src.name_norm), ("name", norm_name(first, last)),
    }
    if p.mapping:
        keys |= {(f"unique:{entity}:{target.key}", value) for entity in ("account", "contact")
                 for target, value in unique_keys(entity, p.mapping, p.defs, src, p.lead_custom)}
    return sorted(f"{kind}:{value}" for kind, value in keys if value)


def key_hash(key: str) -> int:
    """A stable signed 64-bit number for a key (pg_advisory_xact_lock takes a bigint)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
# Many keys (a bulk chunk's union): one round trip, the locks still taken in sorted order.
_ADVISORY_LOCKS = text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                       "(SELECT k FROM unnest(CAST(:ks AS bigint[])) AS u(k) ORDER BY k) AS s")
MANY_KEYS = 8


def lock_match_keys(session, keys: list[str]) -> None:
    """Hold, until the transaction ends, the write lock that serialises conversions sharing a key,
    so that the duplicate look-up that follows sees what a concurrent conversion created.

    PostgreSQL: a transaction-level advisory lock per key, taken in sorted order (no deadlock
    between two conversions). SQLite serialises writers anyway: the point is to hold its write
    lock *before* the look-up, so the transaction is upgraded to BEGIN IMMEDIATE (when it has
    not written yet; once it has, it already holds the lock)."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        numbers = sorted({key_hash(k) for k in keys})
        if len(numbers) > MANY_KEYS:
            connection.execute(_ADVISORY_LOCKS, {"ks": numbers})
            return
        for number in numbers:
            connection.execute(_ADVISORY_LOCK, {"k": number})
    elif dialect == "sqlite":
        driver = connection.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN IMMEDIATE")


# --- decisions (C2, C4.3-C4.6) ---------------------------------------------------------------
def resolve(p: Planning, matcher: Matcher | None = None) -> tuple[EntityPlan, EntityPlan, Matches]:
    """Decide created / merged / linked for account and contact (C2, C4.3-C4.6).

    `matcher` answers the look-ups (default: a matching.Matcher querying for this lead); the bulk
    engine passes one answering from a chunk's prefetched rows (conversion/bulk.py), so both paths
    take these very decisions."""
    lead, opts = p.source, p.options
    account, contact = EntityPlan("account"), EntityPlan("contact")
    has_company = bool(lead.company_norm) or not is_empty(p.overrides["account"].get("name"))
    has_name = bool(lead.name_norm) or any(
        not is_empty(p.overrides["contact"].get(k)) for k in ("first_name", "last_name"))
    # C2.1 / C2.4: an account needs a company; a company lead without a person gives no contact.
    want_account = opts.account.action == "link" or (opts.account.action != "none" and has_company)
    want_contact = opts.contact.action == "link" or (
        opts.contact.action != "none" and (has_name or not has_company))
    if opts.account.action == "none" and opts.contact.action != "none":
        want_contact = True
    if matcher is None:
        matcher = Matcher(p.session, p.actor, lead, p.mapping, p.defs, p.lead_custom)
    # C4.8: "create" looks too, only for hidden matches (the person chose not to merge).
    matches = matcher.find(
        contacts=want_contact and opts.contact.action in ("auto", "create"),
        accounts=opts.account.action == "auto" or (opts.account.action == "create" and want_account))

    if opts.account.action == "link" and opts.account.id is not None:
        choose(p, account, linked_record(p, Account, opts.account.id, "account"), "chosen")
    if opts.contact.action == "link" and opts.contact.id is not None:
        choose(p, contact, linked_record(p, Contact, opts.contact.id, "contact"), "chosen")

    if opts.account.action == "auto" or (opts.contact.action == "auto" and want_contact):
        auto(p, account, contact, matches, matcher, want_account, want_contact)

    if account.action == "none" and want_account and opts.account.action in ("auto", "create"):
        account.action = "created"
    if contact.action == "none" and want_contact and opts.contact.action in ("auto", "create"):
        contact.action = "created"
    if account.action == "none" and contact.action == "none" and "contact.action" not in p.errors:
        p.err("contact.action", Text("an account or a contact must be created or linked"))
    return account, contact, matches


def auto(p: Planning, account: EntityPlan, contact: EntityPlan, matches: Matches, matcher: Matcher,
         want_account: bool, want_contact: bool) -> None:
    """The non-interactive rules: first visible match in C4.1 order, then C4.4-C4.6 follow-ups."""
    opts = p.options
    auto_account = opts.account.action == "auto"
    auto_contact = opts.contact.action == "auto" and want_contact
    # The anchor: the first step with a visible match, among the entities still to decide.
    anchor: tuple[str, Match] | None = None
    if account.action == "none" and contact.action == "none":
        for entity, ms in matches.steps():
            if (entity == "account" and not auto_account) or (entity == "contact" and not auto_contact):
                continue
            if entity == "account" and not want_account:
                continue
            visible = [m for m in ms if m.visible]
            if visible:
                anchor = (entity, visible[0])
                break
        if anchor:
            entity, match = anchor
            choose(p, account if entity == "account" else contact, match.record, match.reason)

    # C4.4 / C4.6: a contact (matched or chosen) keeps its account, else gets one.
    if contact.record is not None and auto_account and account.action == "none":
        if contact.record.account_id:
            choose(p, account, contact.record.account, "contact_account", link_only=True)
        elif want_account:
            first_visible(p, account, matches.account_unique + matches.account_name)
    # C4.5 / C4.6: an account (matched or chosen) has its contacts searched.
    if account.record is not None and auto_contact and contact.action == "none":
        account_id = account.record.id
        by_unique = account.reason and account.reason.startswith("unique:")
        by_name = None
        found = of_account(matches.contact_email, account_id, matcher.contacts_by_email)
        if not any(m.visible for m in found) and (by_unique or matches.name_is_automatic):
            found = by_name = of_account(matches.contact_name, account_id, matcher.contacts_by_name)
        if not first_visible(p, contact, found):
            # Suggestions for a person (C4.2): same name among the account's contacts first.
            if by_name is None:
                by_name = of_account(matches.contact_name, account_id, matcher.contacts_by_name)
            matches.contact_name = [m for m in by_name if m.visible] + matches.contact_name
    # No anchor at all: the remaining account comes from the company name, if visible.
    if auto_account and account.action == "none" and want_account:
        first_visible(p, account, matches.account_unique + matches.account_name)


def of_account(everywhere: list[Match], account_id: int, look_up) -> list[Match]:
    """The matches among one account's contacts: filtered from the step's own matches when that
    list is complete (shorter than matching.LIMIT), else looked up (look_up(account_id))."""
    if len(everywhere) < LIMIT:
        return [m for m in everywhere if m.record.account_id == account_id]
    return look_up(account_id)


def first_visible(p: Planning, plan: EntityPlan, ms: list[Match]) -> bool:
    for m in ms:
        if m.visible:
            choose(p, plan, m.record, m.reason)
            return True
    return False


def linked_record(p: Planning, model, record_id: int, entity: str):
    record = p.session.get(model, record_id)
    if record is None or not permissions.can_view(p.session, p.actor, record):
        message, reason = NO_SUCH[entity]
        raise RecordNotFound(Text(message), {f"{entity}.id": [Text(reason)]})
    return record


def choose(p: Planning, plan: EntityPlan, record, reason: str, link_only: bool = False) -> None:
    """Merge into `record` (C3.5), or only link when the actor may not edit it (C7.3)."""
    plan.record, plan.record_id, plan.reason, plan.label = record, record.id, reason, label_of(record)
    plan.read_only = not permissions.can_edit(p.session, p.actor, record)
    plan.action = "linked" if (link_only or plan.read_only) else "merged"


def hidden_duplicates(p: Planning, matches: Matches, account: EntityPlan, contact: EntityPlan):
    """C4.8: creating a record whose only duplicates the actor may not see is refused."""
    hidden = []
    for plan in (account, contact):
        if plan.action == "created":
            hidden += matches.hidden(plan.entity)
    if not hidden:
        return None
    people = [u for u in permissions.who_can_edit(p.session, p.lead)
              if u.id != p.actor.id and permissions.can_convert(u)
              and all(permissions.can_view(p.session, u, m.record) for m in hidden)]
    names = ", ".join(u.display_name for u in people) or Text("an administrator")
    kinds = tuple(sorted({m.record.__class__.__name__.lower() + "s" for m in hidden}))
    return DuplicatesHidden(
        Text(HIDDEN[kinds], names=names),
        {"lead": [Text("matches records you may not see")]}, who=people)
