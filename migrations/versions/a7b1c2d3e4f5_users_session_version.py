"""users.session_version: logout and a password change end every session

Revision ID: a7b1c2d3e4f5
Revises: e833aacc276a
Create Date: 2026-12-01 09:30:00

Written by hand. The login cookie carries "id:version"; existing rows get version 0, which
is also what a cookie written before this revision (a bare "id") stands for, so nobody is
signed out by the upgrade, and the first logout ends those old cookies too.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7b1c2d3e4f5'
down_revision = 'e833aacc276a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False,
                                      server_default=sa.text('0')))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
