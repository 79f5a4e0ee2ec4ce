"""exchange_rates: dated exchange rates (issue 10 item 8, C5.3)

Revision ID: d6e7f8a9b0c1
Revises: c5d6e7f8a9b0
Create Date: 2026-12-03 10:00:00

Written by hand. Each currency keeps its row in currency_rates (the CRM's currencies, the
company currency `is_base`, and the rate in force today); its rate history moves to
exchange_rates: one row per (currency, valid_from). An existing rate (other than the company
currency's) becomes a rate valid from the day of the upgrade.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd6e7f8a9b0c1'
down_revision = 'c5d6e7f8a9b0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'exchange_rates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('rate', sa.Numeric(precision=18, scale=8), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['currency'], ['currency_rates.code']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('currency', 'valid_from', name='uq_exchange_rates_currency_day'),
    )
    with op.batch_alter_table('exchange_rates', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_rates_day', ['valid_from', 'id'], unique=False)
    op.execute(
        "INSERT INTO exchange_rates (currency, rate, valid_from) "
        "SELECT code, rate, CURRENT_DATE FROM currency_rates WHERE NOT is_base AND rate > 0"
    )


def downgrade():
    with op.batch_alter_table('exchange_rates', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_rates_day')
    op.drop_table('exchange_rates')
