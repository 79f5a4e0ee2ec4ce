"""conversions.revert_report: what a revert did (C9.1)

Revision ID: b0c1d2e3f4a5
Revises: e7f8a9b0c1d2
Create Date: 2026-12-10 09:00:00

Written by hand: one nullable JSON column, filled by webapp/conversion/revert.py.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b0c1d2e3f4a5'
down_revision = 'e7f8a9b0c1d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revert_report', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('conversions', schema=None) as batch_op:
        batch_op.drop_column('revert_report')
