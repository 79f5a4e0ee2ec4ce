"""timeline_events kind index: the automation rules' runs (issue 10 item 7, admin.rules)

Revision ID: a9b0c1d2e3f4
Revises: d6e7f8a9b0c1
Create Date: 2026-12-08 09:00:00

Written by hand: the rules screen counts each rule's runs of the last 30 days and finds its
latest one, the timeline events of kind "rule_converted" / "rule_not_converted"; without this
index that is a scan of every lead's timeline.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a9b0c1d2e3f4'
down_revision = 'd6e7f8a9b0c1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.create_index('ix_timeline_kind', ['kind', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.drop_index('ix_timeline_kind')
