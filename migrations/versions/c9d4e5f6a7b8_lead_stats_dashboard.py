"""lead_stats and two lead indexes: the dashboard's counters (home page)

Revision ID: c9d4e5f6a7b8
Revises: b8c2d3e4f5a6
Create Date: 2026-12-01 13:30:00

Written by hand. lead_stats counts leads per owner, team, source, status, converted and month
created; triggers on leads keep it (webapp.models.stats), like lead_counts. The upgrade
creates the triggers, then counts the existing leads once. ix_leads_created_stats reads a
period's first and last days of leads from the index alone; ix_leads_conversions (partial:
converted leads only) serves conversions per week and the time to convert.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c9d4e5f6a7b8'
down_revision = 'b8c2d3e4f5a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lead_stats',
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('converted', sa.Boolean(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('owner_id', 'team_id', 'source', 'status', 'converted', 'month')
    )
    # Plain CREATE INDEX, not a batch operation: rebuilding the leads table on SQLite would
    # drop its triggers (lead_counts').
    op.create_index('ix_leads_created_stats', 'leads',
                    ['created_at', 'owner_id', 'team_id', 'lead_source', 'status', 'converted'], unique=False)
    op.create_index('ix_leads_conversions', 'leads',
                    ['converted_at', 'converted', 'owner_id', 'team_id', 'lead_source', 'created_at'],
                    unique=False, sqlite_where=sa.text('converted_at IS NOT NULL'),
                    postgresql_where=sa.text('converted_at IS NOT NULL'))

    from webapp.models.stats import create_lead_stats_triggers, rebuild_lead_stats

    create_lead_stats_triggers(op.get_bind())
    rebuild_lead_stats(op.get_bind())


def downgrade():
    from webapp.models.stats import drop_lead_stats_triggers

    drop_lead_stats_triggers(op.get_bind())
    op.drop_index('ix_leads_conversions', table_name='leads')
    op.drop_index('ix_leads_created_stats', table_name='leads')
    op.drop_table('lead_stats')
