"""Lead page writes, Flask-free: create / update a lead, its typed addresses, campaigns, line items.

Status changes go through services.leads.change_status (one path for board, form and API,
so automation rules see every move). Each function adds and flushes; the caller commits.
"""

from __future__ import annotations

from sqlalchemy import select

from .. import entities, permissions
from ..errors import Forbidden, Invalid, NotFound, Problem
from ..fields import ID_SPEC, FieldError, model_specs
from ..models import (
    ADDRESS_TYPES,
    Address,
    Campaign,
    CampaignMember,
    Lead,
    LineItem,
    Product,
    Team,
    User,
    record_event,
)
from .activities import converted_error, lock_if_lead
from .custom_values import get_custom, set_custom
from .tags import get_tags, set_tags

# Lead columns a form or the API may write (status is handled by change_status).
LEAD_FIELDS = (
    "salutation", "first_name", "last_name", "company", "title", "email", "phone", "mobile", "fax",
    "website", "skype", "linkedin", "twitter", "facebook", "industry", "annual_revenue",
    "employees", "lead_source", "rating", "email_opt_out", "description", "street", "city",
    "state", "postal_code", "country", "currency", "owner_id",
)
ADDRESS_LINES = ("street", "city", "state", "postal_code", "country")


def _apply(lead: Lead, values: dict) -> list[str]:
    changed = []
    for name in LEAD_FIELDS:
        if name in values and getattr(lead, name) != values[name]:
            setattr(lead, name, values[name])
            changed.append(name)
    return changed


def _cleaned(session, actor: User, data: dict, lead: Lead | None, strict: bool):
    """The checked values; a form's `team_id` (not an API field) is checked here too."""
    data = dict(data)
    team_given = "team_id" in data
    team_raw = data.pop("team_id", None)
    cleaned = entities.clean(session, actor, "lead", data, lead, strict=strict)
    if team_given:
        try:
            team_id = ID_SPEC.parse(team_raw)
            if team_id is not None and session.get(Team, team_id) is None:
                raise FieldError("no_record", kind="team", id=team_id)
            cleaned.values["team_id"] = team_id
        except FieldError as e:
            cleaned.errors["team_id"] = [e.problem]
    entities.raise_errors(cleaned.errors)
    return cleaned


def create_lead(session, actor: User, data: dict, *, strict: bool = False) -> Lead:
    """Create a lead from `data` (api.md names, also status, tags, custom); raises Forbidden or
    Invalid (every field's problem at once, nothing written)."""
    if not permissions.can_create(actor, "lead"):
        raise Forbidden("Your role may not create leads.")
    cleaned = _cleaned(session, actor, data, None, strict)
    values = {**cleaned.values}
    status = values.pop("status", None)
    team_id = values.pop("team_id", _team_of(session, values.get("owner_id") or actor.id))
    lead = Lead(status=status or "new", owner_id=actor.id, team_id=team_id)
    _apply(lead, values)
    session.add(lead)
    session.flush()
    if cleaned.tags:
        set_tags(session, "lead", lead.id, cleaned.tags)
    if cleaned.custom:
        set_custom(session, "lead", lead.id, cleaned.custom)
    record_event(session, "lead", lead.id, "lead_created", "Lead created", actor.id)
    return lead


def update_lead(session, actor: User, lead: Lead, data: dict, *, strict: bool = False) -> list[str]:
    """Update a lead with the fields present in `data`; returns the names of the changed fields.

    Raises ReadOnlyRecord (converted, C1.4), Forbidden, Invalid, or what change_status raises.
    """
    lock_if_lead(session, lead)
    if lead.converted:
        raise converted_error(lead)
    if not permissions.can_edit(session, actor, lead):
        raise Forbidden("You may not edit this lead.")
    cleaned = _cleaned(session, actor, data, lead, strict)
    values = {**cleaned.values}
    status = values.pop("status", None)
    team_id = values.pop("team_id", None) if "team_id" in values else lead.team_id
    changed = _apply(lead, values)
    if "owner_id" in changed and "team_id" not in cleaned.values:
        team_id = _team_of(session, lead.owner_id)
    if team_id != lead.team_id:
        lead.team_id = team_id
        changed.append("team_id")
    tags = cleaned.tags
    if tags is not None and {t.lower() for t in get_tags(session, "lead", lead.id)} != {t.lower() for t in tags}:
        set_tags(session, "lead", lead.id, tags)
        changed.append("tags")
    if cleaned.custom:
        before = get_custom(session, "lead", lead.id)
        set_custom(session, "lead", lead.id, cleaned.custom)
        if get_custom(session, "lead", lead.id) != before:
            changed.append("custom")
    session.flush()
    if changed:
        record_event(session, "lead", lead.id, "lead_updated",
                     "Lead updated: " + ", ".join(f.replace("_", " ") for f in changed), actor.id,
                     {"fields": changed})
    if status is not None and status != lead.status:
        from .leads import change_status

        change_status(session, actor, lead, status)
        changed.append("status")
    return changed


def _team_of(session, user_id: int | None) -> int | None:
    user = session.get(User, user_id) if user_id else None
    return user.team_id if user else None


def _get_by_id(session, model, field: str, raw):
    """The row of `model` whose id was posted as `raw`; raises Invalid on `field` otherwise."""
    try:
        ident = ID_SPEC.parse(raw)
    except FieldError as e:
        raise Invalid.on(field, e.problem) from None
    row = session.get(model, ident) if ident is not None else None
    if row is None:
        raise Invalid.on(field, Problem("choose_from_list"))
    return row


def _own_row(session, actor: User, lead: Lead, model, row_id: int, missing: str):
    """A row of `model` hanging on the (editable) lead; raises NotFound with `missing` otherwise."""
    _editable(session, actor, lead)
    row = session.get(model, row_id)
    if row is None or row.parent_type != "lead" or row.parent_id != lead.id:
        raise NotFound(missing)
    return row


def _editable(session, actor: User, lead: Lead) -> None:
    if lead.converted:
        raise converted_error(lead)
    if not permissions.can_edit(session, actor, lead):
        raise Forbidden("You may not edit this lead.")
    lock_if_lead(session, lead)


def add_address(session, actor: User, lead: Lead, type_: str, **fields) -> Address:
    """Add a typed address (billing, delivery, default; C9.5) to a lead; raises Invalid with every
    field's problem."""
    _editable(session, actor, lead)
    specs = model_specs(Address)
    values, errors = {}, {}
    if type_ not in ADDRESS_TYPES:
        errors["type"] = [Problem("not_choice", choices=", ".join(ADDRESS_TYPES))]
    for name in ADDRESS_LINES:
        try:
            values[name] = specs[name].parse(fields.get(name))
        except FieldError as e:
            errors[name] = [e.problem]
    if not errors and not any(values.values()):
        errors["street"] = [Problem("address_empty")]
    entities.raise_errors(errors)
    address = Address(parent_type="lead", parent_id=lead.id, type=type_, **values)
    session.add(address)
    session.flush()
    record_event(session, "lead", lead.id, "address_added", f"{type_.title()} address added", actor.id)
    return address


def remove_address(session, actor: User, lead: Lead, address_id: int) -> None:
    """Remove one of the lead's addresses; raises NotFound when it is not the lead's."""
    address = _own_row(session, actor, lead, Address, address_id, "There is no such address on this lead.")
    session.delete(address)
    record_event(session, "lead", lead.id, "address_removed", f"{address.type.title()} address removed", actor.id)
    session.flush()


def add_to_campaign(session, actor: User, lead: Lead, campaign_id, member_status: str = "sent") -> CampaignMember:
    """Make the lead a member of an existing campaign; raises Invalid when unknown or already in."""
    _editable(session, actor, lead)
    campaign = _get_by_id(session, Campaign, "campaign_id", campaign_id)
    exists = session.scalar(select(CampaignMember.id).where(
        CampaignMember.campaign_id == campaign.id, CampaignMember.parent_type == "lead",
        CampaignMember.parent_id == lead.id))
    if exists:
        raise Invalid.on("campaign_id", Problem("already_in_campaign"))
    member = CampaignMember(campaign=campaign, parent_type="lead", parent_id=lead.id,
                            member_status=member_status)
    session.add(member)
    session.flush()
    record_event(session, "lead", lead.id, "campaign_added", f"Added to campaign {campaign.name}", actor.id)
    return member


def remove_from_campaign(session, actor: User, lead: Lead, member_id: int) -> None:
    """Remove a campaign membership of the lead."""
    member = _own_row(session, actor, lead, CampaignMember, member_id, "The lead is not in this campaign.")
    session.delete(member)
    record_event(session, "lead", lead.id, "campaign_removed",
                 f"Removed from campaign {member.campaign.name}", actor.id)
    session.flush()


def add_line_item(session, actor: User, lead: Lead, product_id, quantity, unit_price=None,
                  discount=None) -> LineItem:
    """Add a product line ("products selected", C3.4); the product's price when none is given.
    Values as posted or typed; raises Invalid with every field's problem."""
    _editable(session, actor, lead)
    specs = model_specs(LineItem)
    values, errors = {}, {}
    for name, raw in (("quantity", quantity), ("unit_price", unit_price), ("discount", discount)):
        try:
            values[name] = specs[name].parse(raw)
        except FieldError as e:
            errors[name] = [e.problem]
    if "quantity" not in errors and not values["quantity"]:
        errors["quantity"] = [Problem("quantity_positive")]
    try:
        product = _get_by_id(session, Product, "product_id", product_id)
    except Invalid as e:
        errors.update(e.errors)
    entities.raise_errors(errors)
    price = product.unit_price if values["unit_price"] is None else values["unit_price"]
    line = LineItem(parent_type="lead", parent_id=lead.id, product=product,
                    quantity=values["quantity"], unit_price=price, discount=values["discount"] or 0)
    session.add(line)
    session.flush()
    record_event(session, "lead", lead.id, "line_item_added",
                 f"Product added: {product.name} × {line.quantity.normalize():f}", actor.id)
    return line


def remove_line_item(session, actor: User, lead: Lead, line_id: int) -> None:
    """Remove one of the lead's product lines."""
    line = _own_row(session, actor, lead, LineItem, line_id, "There is no such product line on this lead.")
    session.delete(line)
    record_event(session, "lead", lead.id, "line_item_removed", f"Product removed: {line.product.name}", actor.id)
    session.flush()
