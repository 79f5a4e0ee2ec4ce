"""automation_rules: position, created_at, updated_at, a unique name (issue 9, C8.6)

Revision ID: d1e2f3a4b5c6
Revises: c9d4e5f6a7b8
Create Date: 2026-12-02 10:00:00

Written by hand. The table existed since the initial schema but nothing wrote it: the new
columns get a server default only while they are added (existing rows: position 0, the
migration's time), then the defaults go, as the models declare none. The status index gains
the position (the hook reads the active rules of a status in order); names become unique
(the API refuses a duplicate with a field error; the index settles a race).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd1e2f3a4b5c6'
down_revision = 'c9d4e5f6a7b8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('automation_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=False,
                                      server_default=sa.func.current_timestamp()))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False,
                                      server_default=sa.func.current_timestamp()))
        batch_op.drop_index('ix_rules_status')
        batch_op.create_index('ix_rules_status', ['on_status', 'active', 'position'], unique=False)
        batch_op.create_index('uq_automation_rules_name', ['name'], unique=True)
    with op.batch_alter_table('automation_rules', schema=None) as batch_op:
        batch_op.alter_column('position', server_default=None)
        batch_op.alter_column('created_at', server_default=None)
        batch_op.alter_column('updated_at', server_default=None)


def downgrade():
    with op.batch_alter_table('automation_rules', schema=None) as batch_op:
        batch_op.drop_index('uq_automation_rules_name')
        batch_op.drop_index('ix_rules_status')
        batch_op.create_index('ix_rules_status', ['on_status', 'active'], unique=False)
        batch_op.drop_column('updated_at')
        batch_op.drop_column('created_at')
        batch_op.drop_column('position')
