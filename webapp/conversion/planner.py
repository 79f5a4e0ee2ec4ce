"""plan(): everything a conversion will do, computed without writing (the preview and the dry run).

Puts the parts together, in this order:
  requirements.check_may_convert   who may convert this lead (C7.1, C7.2, C1.4)
  values.validate_fields           the options' `fields` typed per column (C7.5, C7.4)
  resolve.lock_match_keys          (apply only) serialise conversions sharing a match key
  resolve.resolve                  created / merged / linked (C2, C4)
  values.fill_* / plan_*           mapped values, fills, deal and currency, task (C3, C5)
  requirements.check_rights        create permissions (C7.1); requirements.missing (C7.4)
Every field error, the options parser's (ConversionOptions.parse) and the parts', is raised
together in one InvalidOptions.

Reads a constant number of indexed rows: the lead, its custom values, the mapping and the
custom field definitions, one query per duplicate step (C4.1), the merged records' custom
values, the pipeline, the currency rates and one query counting what moves (C6).
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, literal, select, union_all
from sqlalchemy.orm.util import identity_key

from .. import permissions
from ..errors import Text
from ..fields import INT_MAX
from ..models import Address, Attachment, CampaignMember, Lead, LineItem, Note, Tagging, Task
from ..services.custom_values import get_custom
from .errors import InvalidOptions, RecordNotFound
from .mapping import ENTITY_MODELS, custom_definitions, effective_mapping, is_empty, load_mapping
from .options import ConversionOptions
from .plan import Candidate, ConversionPlan, EntityPlan, Planning, label_of
from .requirements import check_may_convert, check_rights, missing
from .resolve import hidden_duplicates, lock_match_keys, match_keys, resolve
from .serialize import jsonable
from .transfer import destinations
from .values import (
    LeadView,
    fill_account,
    fill_contact,
    plan_deal,
    plan_task,
    user_id,
    validate_fields,
)


def plan(session, actor, lead_id: int, options: ConversionOptions | None = None, *,
         lock: bool = False) -> ConversionPlan:
    """Plan the conversion of lead `lead_id` by `actor` (reads only).

    Raises RecordNotFound, ConversionDenied, AlreadyConverted, InvalidOptions (with the parse
    errors the options carry, see ConversionOptions.parse) and, unless options.interactive,
    DuplicatesHidden. Missing required fields are on plan.missing.

    lock=True (what apply() uses) takes the write lock on the lead's match keys before the
    duplicate look-up (resolve.lock_match_keys), inside the caller's transaction."""
    options = options or ConversionOptions()
    p = Planning(session, actor, options)
    p.errors = {k: list(v) for k, v in options.errors.items()}
    lead = load_lead(p, lead_id)
    p.lead = lead
    p.defs = custom_definitions(session)
    p.mapping, p.warnings = effective_mapping(session, load_mapping(session), p.defs)
    p.lead_custom = get_custom(session, "lead", lead.id) if p.defs.get("lead") else {}
    p.owner_id = user_id(p, options.owner_id, "owner_id") or lead.owner_id
    # C7.4: the lead as the form's lead fields leave it is what the mapping and matching read.
    p.lead_values = validate_fields(p, "lead", options.lead.fields)
    standard = {k: v for k, v in p.lead_values.items() if not k.startswith("custom.")}
    p.source = LeadView(lead, standard) if standard else lead
    p.lead_custom.update({k[7:]: v for k, v in jsonable(p.lead_values).items() if k.startswith("custom.")})
    p.overrides = {e: validate_fields(p, e, getattr(options, e).fields) for e in ("account", "contact")}
    p.overrides["deal"] = validate_fields(p, "deal", options.deal.fields) if options.deal else {}
    if lock:
        lock_match_keys(session, match_keys(p))

    account, contact, matches, deal, task = decide(p)

    result = ConversionPlan(
        lead=lead, options=options, account=account, contact=contact, deal=deal, task=task,
        candidates={e: [Candidate(m.id, label_of(m.record), m.reason) for m in matches.candidates(e)]
                    for e in ("account", "contact")},
        moves=count_moves(session, lead.id, deal),
        missing=missing(p, account, contact, deal, task),
        mapping=p.mapping, lead_values=p.lead_values, defs=p.defs,
    )
    result.destinations = destinations(result.present(), result.writable(), options)
    result.blocked = hidden_duplicates(p, matches, account, contact)
    if result.blocked is not None and not options.interactive:
        raise result.blocked
    warn_lead_source(p, contact, deal)
    if "account" in options.tags_to and account.action == "none" and result.moves.get("tags", 0):
        p.warnings.append(Text("No account is created or found: the tags go to the contact (C6.5)."))
    result.warnings = p.warnings
    return result


def decide(p: Planning, matcher=None):
    """The decisions of one conversion, shared with a bulk chunk's (bulk.py, with its chunk
    matcher): duplicates (C4), values (C3, C5), then the options' errors and the rights (C7)."""
    account, contact, matches = resolve(p, matcher)
    fill_account(p, account)
    fill_contact(p, contact, account)
    deal = plan_deal(p)
    task = plan_task(p)
    if p.errors:
        raise InvalidOptions(errors=p.errors)
    check_rights(p.actor, account, contact, deal, task)
    return account, contact, matches, deal, task


def load_lead(p: Planning, lead_id) -> Lead:
    """The lead, when it exists, is visible and may be converted by the actor."""
    # An id no integer column can hold is unknown, never sent to the database.
    valid_id = isinstance(lead_id, int) and not isinstance(lead_id, bool) and 1 <= lead_id <= INT_MAX
    lead = None
    if valid_id:  # the session's own copy when it has one, else one prebuilt query
        lead = (p.session.identity_map.get(identity_key(Lead, lead_id))
                or p.session.scalars(_LEAD, {"id": lead_id}).first())
    if lead is None or not permissions.can_view(p.session, p.actor, lead):
        raise RecordNotFound(Text("This lead does not exist."), {"lead_id": [Text("no such lead")]})
    check_may_convert(p.session, p.actor, lead)
    return lead


def count_moves(session, lead_id: int, deal: EntityPlan) -> dict[str, int]:
    """C6: how many related records move, in one query."""
    counts = {kind: n for kind, n in session.execute(_COUNT_MOVES, {"lead_id": lead_id})}
    if deal.action != "created":
        counts["line_items"] = 0  # they stay on the lead: only a deal takes them (C3.4)
    return counts


def warn_lead_source(p: Planning, contact: EntityPlan, deal: EntityPlan) -> None:
    """C6.6: say so when the mapping drops the lead source."""
    if is_empty(p.source.lead_source):
        return
    kept = any(
        e.action != "none" and "lead_source" in (p.mapping.get(e.entity) or {})
        for e in (contact, deal)
    ) or "lead_source" in (p.mapping.get("account") or {})
    if not kept:
        p.warnings.append(Text("The lead source “{source}” is not mapped to the records this conversion "
                               "produces: it will only stay on the converted lead.", source=p.source.lead_source))


_LEAD = select(Lead).where(Lead.id == bindparam("id"))


def _count(name: str, model):
    return select(literal(name).label("kind"), func.count().label("n")).select_from(model).where(
        model.parent_type == "lead", model.parent_id == bindparam("lead_id"))


# Built once: one round trip counts everything that moves (C6) for the preview and the record.
_COUNT_MOVES = union_all(
    _count("notes", Note), _count("attachments", Attachment), _count("activities", Task),
    _count("campaigns", CampaignMember), _count("tags", Tagging), _count("addresses", Address),
    _count("line_items", LineItem))


__all__ = ["Candidate", "ConversionPlan", "EntityPlan", "plan", "ENTITY_MODELS"]
