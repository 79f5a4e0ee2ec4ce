"""Typed SQLAlchemy 2 models, one module per aggregate; importing this registers them all."""

from sqlalchemy import event
from sqlalchemy.orm import Session

from .accounts import Account
from .activities import ACTIVITY_KINDS, TASK_STATUSES, Attachment, Note, Task
from .audit import AUDIT_ACTIONS, AuditEntry
from .automation import AutomationRule
from .base import PARENT_TYPES, utcnow
from .catalog import (
    Campaign,
    CampaignMember,
    CurrencyRate,
    ExchangeRate,
    LineItem,
    Product,
    Tag,
    Tagging,
)
from .contacts import Contact
from .conversions import Conversion, Setting
from .custom_fields import ENTITIES, FIELD_TYPES, CustomField, CustomFieldValue
from .deals import DEFAULT_PROBABILITIES, DEFAULT_STAGES, Deal, Pipeline, Stage
from .jobs import Job, JobResult
from .leads import ADDRESS_TYPES, DEFAULT_STATUSES, STATUS_CATEGORIES, Address, Lead, LeadStatus
from .stats import lead_stats  # noqa: F401  (the dashboard's counters and their triggers)
from .timeline import TimelineEvent, record_event
from .users import ApiToken, Role, Team, User

# The record kinds by the name used in parent_type, URLs and the API.
RECORD_MODELS = {"lead": Lead, "account": Account, "contact": Contact, "deal": Deal}


@event.listens_for(Session, "before_flush")
def _refresh_normalised_keys(session, flush_context, instances):
    """Keep the duplicate-look-up keys (C4.7) in step with the fields they derive from."""
    for obj in list(session.new) + list(session.dirty):
        refresh = getattr(obj, "refresh_keys", None)
        if refresh is not None:
            refresh()


__all__ = [
    "ACTIVITY_KINDS", "ADDRESS_TYPES", "AUDIT_ACTIONS", "DEFAULT_PROBABILITIES", "DEFAULT_STAGES",
    "DEFAULT_STATUSES", "ENTITIES",
    "FIELD_TYPES", "PARENT_TYPES", "RECORD_MODELS", "STATUS_CATEGORIES", "TASK_STATUSES",
    "Account", "Address", "ApiToken", "Attachment", "AuditEntry", "AutomationRule", "Campaign",
    "CampaignMember", "Contact", "Conversion", "CurrencyRate", "ExchangeRate", "CustomField", "CustomFieldValue",
    "Deal", "Job", "JobResult", "Lead", "LeadStatus", "LineItem", "Note", "Pipeline", "Product",
    "Role", "Setting", "Stage", "Tag", "Tagging", "Task", "Team", "TimelineEvent", "User",
    "record_event", "utcnow",
]
