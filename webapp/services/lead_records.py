"""Lead page writes, Flask-free: create / update a lead, its typed addresses, campaigns, line items.

Status changes go through services.leads.change_status (one path for board, form and API,
so automation rules see every move). Each function adds and flushes; the caller commits.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from .. import permissions
from ..models import (
    ADDRESS_TYPES,
    Address,
    Campaign,
    CampaignMember,
    Lead,
    LineItem,
    Product,
    User,
    record_event,
)
from ..records import set_custom, set_tags
from ..errors import Forbidden, Invalid, NotFound, ReadOnlyRecord
from .activities import converted_message, lock_if_lead

# Lead columns a form or the API may write (status is handled by change_status).
LEAD_FIELDS = (
    "salutation", "first_name", "last_name", "company", "title", "email", "phone", "mobile", "fax",
    "website", "skype", "linkedin", "twitter", "facebook", "industry", "annual_revenue",
    "employees", "lead_source", "rating", "email_opt_out", "description", "street", "city",
    "state", "postal_code", "country", "currency", "owner_id", "team_id",
)


def _money(value):
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def _apply(lead: Lead, values: dict) -> list[str]:
    changed = []
    for name in LEAD_FIELDS:
        if name not in values:
            continue
        value = _money(values[name]) if name == "annual_revenue" else values[name]
        if getattr(lead, name) != value:
            setattr(lead, name, value)
            changed.append(name)
    return changed


def _check_owner(session, actor: User, owner_id: int | None) -> None:
    if owner_id is None:
        return
    owner = session.get(User, owner_id)
    if owner is None or not owner.active:
        raise Invalid.on("owner_id", "Choose an active user.")


def create_lead(session, actor: User, values: dict, status: str | None = None,
                tags: list[str] | None = None, custom: dict | None = None) -> Lead:
    """Create a lead (values already validated); raises Forbidden or Invalid."""
    if not permissions.can_create(actor, "lead"):
        raise Forbidden("Your role may not create leads.")
    if not (values.get("last_name") or values.get("company")):
        raise Invalid.on("last_name", "A lead needs a last name or a company.")
    values = {"owner_id": actor.id, **values}
    _check_owner(session, actor, values["owner_id"])
    lead = Lead(status=status or "new")
    _apply(lead, values)
    session.add(lead)
    session.flush()
    if tags:
        set_tags(session, "lead", lead.id, tags)
    if custom:
        set_custom(session, "lead", lead.id, custom)
    record_event(session, "lead", lead.id, "lead_created", "Lead created", actor.id)
    return lead


def update_lead(session, actor: User, lead: Lead, values: dict, status: str | None = None,
                tags: list[str] | None = None, custom: dict | None = None) -> list[str]:
    """Update a lead; returns the names of the changed fields.

    Raises ReadOnlyRecord (converted, C1.4), Forbidden, Invalid, or what change_status raises.
    """
    lock_if_lead(session, lead)
    if not permissions.can_edit(session, actor, lead):
        raise Forbidden("You may not edit this lead.")
    merged = {name: values.get(name, getattr(lead, name)) for name in ("last_name", "company")}
    if not (merged["last_name"] or merged["company"]):
        raise Invalid.on("last_name", "A lead needs a last name or a company.")
    if "owner_id" in values:
        _check_owner(session, actor, values["owner_id"])
    changed = _apply(lead, values)
    if tags is not None:
        from ..records import clean_tags, get_tags

        if {t.lower() for t in get_tags(session, "lead", lead.id)} != {t.lower() for t in clean_tags(tags)}:
            set_tags(session, "lead", lead.id, tags)
            changed.append("tags")
    if custom:
        set_custom(session, "lead", lead.id, custom)
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


def _editable(session, actor: User, lead: Lead) -> None:
    if lead.converted:
        raise ReadOnlyRecord(converted_message(lead))
    if not permissions.can_edit(session, actor, lead):
        raise Forbidden("You may not edit this lead.")
    lock_if_lead(session, lead)


def add_address(session, actor: User, lead: Lead, type_: str, **fields) -> Address:
    """Add a typed address (billing, delivery, default; C9.5) to a lead."""
    _editable(session, actor, lead)
    if type_ not in ADDRESS_TYPES:
        raise Invalid.on("type", "Choose billing, delivery or default.")
    fields = {k: v for k, v in fields.items() if k in ("street", "city", "state", "postal_code", "country")}
    if not any(fields.values()):
        raise Invalid.on("street", "Fill at least one line of the address.")
    address = Address(parent_type="lead", parent_id=lead.id, type=type_, **fields)
    session.add(address)
    session.flush()
    record_event(session, "lead", lead.id, "address_added", f"{type_.title()} address added", actor.id)
    return address


def remove_address(session, actor: User, lead: Lead, address_id: int) -> None:
    """Remove one of the lead's addresses; raises NotFound when it is not the lead's."""
    _editable(session, actor, lead)
    address = session.get(Address, address_id)
    if address is None or address.parent_type != "lead" or address.parent_id != lead.id:
        raise NotFound("There is no such address on this lead.")
    session.delete(address)
    record_event(session, "lead", lead.id, "address_removed", f"{address.type.title()} address removed", actor.id)
    session.flush()


def add_to_campaign(session, actor: User, lead: Lead, campaign_id: int, member_status: str = "sent") -> CampaignMember:
    """Make the lead a member of an existing campaign; raises Invalid when unknown or already in."""
    _editable(session, actor, lead)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise Invalid.on("campaign_id", "Choose a campaign from the list.")
    exists = session.scalar(select(CampaignMember.id).where(
        CampaignMember.campaign_id == campaign.id, CampaignMember.parent_type == "lead",
        CampaignMember.parent_id == lead.id))
    if exists:
        raise Invalid.on("campaign_id", "The lead is already in this campaign.")
    member = CampaignMember(campaign=campaign, parent_type="lead", parent_id=lead.id,
                            member_status=member_status)
    session.add(member)
    session.flush()
    record_event(session, "lead", lead.id, "campaign_added", f"Added to campaign {campaign.name}", actor.id)
    return member


def remove_from_campaign(session, actor: User, lead: Lead, member_id: int) -> None:
    """Remove a campaign membership of the lead."""
    _editable(session, actor, lead)
    member = session.get(CampaignMember, member_id)
    if member is None or member.parent_type != "lead" or member.parent_id != lead.id:
        raise NotFound("The lead is not in this campaign.")
    session.delete(member)
    record_event(session, "lead", lead.id, "campaign_removed",
                 f"Removed from campaign {member.campaign.name}", actor.id)
    session.flush()


def add_line_item(session, actor: User, lead: Lead, product_id: int, quantity: Decimal,
                  unit_price: Decimal | None = None, discount: Decimal | None = None) -> LineItem:
    """Add a product line ("products selected", C3.4); the product's price when none is given."""
    _editable(session, actor, lead)
    product = session.get(Product, product_id)
    if product is None:
        raise Invalid.on("product_id", "Choose a product from the list.")
    if quantity is None or quantity <= 0:
        raise Invalid.on("quantity", "The quantity must be more than 0.")
    price = product.unit_price if unit_price is None else unit_price
    line = LineItem(parent_type="lead", parent_id=lead.id, product=product,
                    quantity=Decimal(quantity).quantize(Decimal("0.01")), unit_price=_money(price),
                    discount=_money(discount or 0))
    session.add(line)
    session.flush()
    record_event(session, "lead", lead.id, "line_item_added",
                 f"Product added: {product.name} × {line.quantity.normalize():f}", actor.id)
    return line


def remove_line_item(session, actor: User, lead: Lead, line_id: int) -> None:
    """Remove one of the lead's product lines."""
    _editable(session, actor, lead)
    line = session.get(LineItem, line_id)
    if line is None or line.parent_type != "lead" or line.parent_id != lead.id:
        raise NotFound("There is no such product line on this lead.")
    session.delete(line)
    record_event(session, "lead", lead.id, "line_item_removed", f"Product removed: {line.product.name}", actor.id)
    session.flush()
