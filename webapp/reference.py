"""Reference data every database needs: roles, lead statuses, the default pipeline, base currency."""

from __future__ import annotations

from sqlalchemy import select

from .models import (
    DEFAULT_PROBABILITIES,
    DEFAULT_STAGES,
    DEFAULT_STATUSES,
    CurrencyRate,
    LeadStatus,
    Pipeline,
    Stage,
)
from .permissions import ensure_roles
from .services import currencies


def ensure_reference_data(session) -> None:
    """Add what is missing (idempotent; never overwrites what an administrator edited)."""
    ensure_roles(session)
    if session.scalar(select(LeadStatus.key).limit(1)) is None:
        for position, (key, label, category) in enumerate(DEFAULT_STATUSES):
            session.add(LeadStatus(key=key, label=label, category=category, position=position))
    if session.scalar(select(Pipeline.id).limit(1)) is None:
        pipeline = Pipeline(name="Sales", is_default=True)
        pipeline.stages = [
            Stage(name=name, position=i, probability=probability)
            for i, (name, probability) in enumerate(zip(DEFAULT_STAGES, DEFAULT_PROBABILITIES, strict=True))
        ]
        session.add(pipeline)
    if session.scalar(select(CurrencyRate.code).limit(1)) is None:
        session.add_all([
            CurrencyRate(code="EUR", rate=1, is_base=True),
            CurrencyRate(code="USD", rate="0.92"),
            CurrencyRate(code="GBP", rate="1.17"),
            CurrencyRate(code="CHF", rate="1.05"),
        ])
    session.flush()
    currencies.ensure_dated_rates(session)  # the seeded rates, valid from today
