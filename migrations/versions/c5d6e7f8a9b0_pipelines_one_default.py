"""pipelines: at most one default; stages: a name is unique in its pipeline (issue 10, item 5)

Revision ID: c5d6e7f8a9b0
Revises: a3b4c5d6e7f8
Create Date: 2026-12-03 12:00:00

Written by hand. services/pipelines keeps exactly one default pipeline and refuses a stage name
its pipeline already has; these two unique indexes settle the races (two administrators making
two pipelines the default at once; deals name their stage, so two stages of one pipeline
cannot share a name). The partial index holds only the default row (PostgreSQL and SQLite).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c5d6e7f8a9b0'
down_revision = 'a3b4c5d6e7f8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.create_index('uq_pipelines_default', ['is_default'], unique=True,
                              sqlite_where=sa.text('is_default'), postgresql_where=sa.text('is_default'))
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.create_index('uq_stages_pipeline_name', ['pipeline_id', 'name'], unique=True)


def downgrade():
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_index('uq_stages_pipeline_name')
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.drop_index('uq_pipelines_default')
