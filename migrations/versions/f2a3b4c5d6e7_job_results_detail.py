"""job_results: detail (the reason's template and code) and the (job, outcome, lead) index; jobs may
be cancelled (issue 9, bulk conversion)

Revision ID: f2a3b4c5d6e7
Revises: d1e2f3a4b5c6
Create Date: 2026-12-02 14:00:00

Written by hand. A bulk job keeps one row per lead: pending until its chunk is converted, then
converted / skipped / failed / cancelled. The index serves the job's next pending leads and the
results filtered by outcome. "cancelled" fits jobs.status (String(10)): no column change.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2a3b4c5d6e7'
down_revision = 'd1e2f3a4b5c6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detail', sa.JSON(), nullable=True))
        batch_op.create_index('ix_job_results_outcome', ['job_id', 'outcome', 'lead_id'], unique=False)


def downgrade():
    with op.batch_alter_table('job_results', schema=None) as batch_op:
        batch_op.drop_index('ix_job_results_outcome')
        batch_op.drop_column('detail')
