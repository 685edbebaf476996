"""the catalog, orders with their own terms, coupons, invoices, usage, account charges, commissions (issue 12)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22 05:40:00

Plans gain their kind (one-time, subscription, trial-only), recurrence, trial price,
setup fee, billing timing, metered price, invoice shifts and commission rate;
products their shipping flag and options. Each order item gets its own copy of
its plan's terms (filled here from the plan for existing orders), so per-order
overrides never touch the catalog. Orders get what the billing engine needs:
their current period (filled from `next_bill_date` for active subscriptions),
cycles billed (their sales that took money, voided ones included: the
period was billed), autopay, abandon and delinquency terms.
New tables: coupons and redemptions, invoices with lines and discounts, credit
drawn from memos, usage records, account charges, affiliate commissions, and
shipping rates. Transactions point at the invoice they pay.

Columns are added in place (SQLite: ALTER TABLE … ADD COLUMN, references
included), never by copying the big `transaction` and `orders` tables.
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

FALSE = sa.text("false")
TRUE = sa.text("true")
ZERO = sa.text("0")

PLAN_COLUMNS: list[sa.Column] = [
    sa.Column('kind', sa.String(length=24), server_default='subscription', nullable=False),
    sa.Column('cycles', sa.Integer(), nullable=True),
    sa.Column('trial_price', sa.BigInteger(), server_default=ZERO, nullable=False),
    sa.Column('setup_fee', sa.BigInteger(), server_default=ZERO, nullable=False),
    sa.Column('billing_timing', sa.String(length=24), server_default='advance', nullable=False),
    sa.Column('metered_unit_price', sa.BigInteger(), nullable=True),
    sa.Column('invoice_issue_days', sa.Integer(), server_default=ZERO, nullable=False),
    sa.Column('invoice_due_days', sa.Integer(), server_default=ZERO, nullable=False),
    sa.Column('commission_rate_bp', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=TRUE, nullable=False),
]
PRODUCT_COLUMNS: list[sa.Column] = [
    sa.Column('requires_shipping', sa.Boolean(), server_default=FALSE, nullable=False),
    sa.Column('options', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=TRUE, nullable=False),
]
ITEM_COLUMNS: list[sa.Column] = [
    sa.Column('plan_name', AutoString(length=200), nullable=True),
    sa.Column('kind', sa.String(length=24), server_default='subscription', nullable=False),
    sa.Column('interval', sa.String(length=24), server_default='month', nullable=False),
    sa.Column('interval_count', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('cycles', sa.Integer(), nullable=True),
    sa.Column('trial_days', sa.Integer(), server_default=ZERO, nullable=False),
    sa.Column('trial_price', sa.BigInteger(), server_default=ZERO, nullable=False),
    sa.Column('setup_fee', sa.BigInteger(), server_default=ZERO, nullable=False),
    sa.Column('billing_timing', sa.String(length=24), server_default='advance', nullable=False),
    sa.Column('metered_unit_price', sa.BigInteger(), nullable=True),
    sa.Column('invoice_issue_days', sa.Integer(), server_default=ZERO, nullable=False),
    sa.Column('invoice_due_days', sa.Integer(), server_default=ZERO, nullable=False),
    sa.Column('options', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('customised', sa.JSON(), server_default='[]', nullable=False),
]
ORDER_COLUMNS: list[sa.Column] = [
    sa.Column('autopay', sa.Boolean(), server_default=TRUE, nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('trial_ends_on', sa.Date(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('cycles_billed', sa.Integer(), server_default=ZERO, nullable=False),
    sa.Column('abandon_at', UTCDateTime(), nullable=True),
    sa.Column('delinquency_days', sa.Integer(), nullable=True),
    sa.Column('in_credit_control', sa.Boolean(), server_default=FALSE, nullable=False),
    sa.Column('shipping_amount', sa.BigInteger(), server_default=ZERO, nullable=False),
    sa.Column('invoice_notes', AutoString(length=1000), nullable=True),
    sa.Column('cancelled_at', UTCDateTime(), nullable=True),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=True),
]
REFERENCES = [
    # (table, column, referenced table, constraint name)
    ('orders', 'shipping_address_id', 'address', 'fk_orders_shipping_address'),
    ('orders', 'agent_id', 'agent', 'fk_orders_agent'),
    ('transaction', 'invoice_id', 'invoice', 'fk_transaction_invoice'),
]


def _add_columns(table: str, columns: list[sa.Column]) -> None:
    for column in columns:
        op.add_column(table, column)


def _add_reference(table: str, column: str, target: str, name: str) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} INTEGER REFERENCES {target} (id)')
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(name, table, target, [column], ['id'])


def upgrade() -> None:
    op.create_table('shipping_rate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('country', AutoString(length=2), nullable=False),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('country', 'currency', name='uq_shipping_rate_country_currency')
    )
    op.create_table('coupon',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', AutoString(length=40), nullable=False),
    sa.Column('description', AutoString(length=500), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('percent_bp', sa.Integer(), nullable=True),
    sa.Column('amounts', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('duration', sa.String(length=16), nullable=False),
    sa.Column('duration_cycles', sa.Integer(), nullable=True),
    sa.Column('plan_codes', sa.JSON(), server_default='[]', nullable=False),
    sa.Column('minimum', sa.JSON(), server_default='{}', nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.Column('max_redemptions', sa.Integer(), nullable=True),
    sa.Column('redemptions', sa.Integer(), nullable=False),
    sa.Column('expired_at', UTCDateTime(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('coupon_redemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('coupon_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('cycles_applied', sa.Integer(), nullable=False),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('redeemed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupon.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('coupon_redemption', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_redemption_coupon_id'), ['coupon_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_redemption_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_redemption_order_id'), ['order_id'], unique=False)

    op.create_table('invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', AutoString(length=40), nullable=False),
    sa.Column('billing_key', AutoString(length=100), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('cycle', sa.Integer(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('subtotal', sa.BigInteger(), nullable=False),
    sa.Column('discount', sa.BigInteger(), nullable=False),
    sa.Column('credit_applied', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('amount_paid', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('issued_at', UTCDateTime(), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('paid_at', UTCDateTime(), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=True),
    sa.Column('notes', AutoString(length=1000), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('billing_key'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_customer_issued', ['customer_id', 'issued_at', 'id'], unique=False)
        batch_op.create_index('ix_invoice_dunning', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_order_id'), ['order_id'], unique=False)

    op.create_table('account_charge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('description', AutoString(length=200), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('account_charge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_charge_customer_id'), ['customer_id'], unique=False)

    op.create_table('credit_application',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_memo_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['credit_memo_id'], ['credit_memo.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('credit_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_application_credit_memo_id'), ['credit_memo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_application_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('invoice_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('order_item_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('description', AutoString(length=200), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('discount', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.ForeignKeyConstraint(['order_item_id'], ['order_item.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('invoice_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_line_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('usage_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_item_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('used_on', sa.Date(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', AutoString(length=100), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.ForeignKeyConstraint(['order_item_id'], ['order_item.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('usage_record', schema=None) as batch_op:
        batch_op.create_index('ix_usage_item_unbilled', ['order_item_id', 'invoice_id'], unique=False)

    op.create_table('affiliate_commission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('affiliate', AutoString(length=100), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('base_amount', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', AutoString(length=3), nullable=False),
    sa.Column('adjusted_by', sa.Integer(), nullable=True),
    sa.Column('adjustment_reason', AutoString(length=500), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['adjusted_by'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.ForeignKeyConstraint(['transaction_id'], ['transaction.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id')
    )
    with op.batch_alter_table('affiliate_commission', schema=None) as batch_op:
        batch_op.create_index('ix_affiliate_commission_affiliate', ['affiliate', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_affiliate_commission_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_affiliate_commission_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('invoice_discount',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_line_id', sa.Integer(), nullable=False),
    sa.Column('redemption_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_line_id'], ['invoice_line.id'], ),
    sa.ForeignKeyConstraint(['redemption_id'], ['coupon_redemption.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_line_id', 'redemption_id', name='uq_invoice_discount_line')
    )
    with op.batch_alter_table('invoice_discount', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_discount_invoice_line_id'), ['invoice_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_discount_redemption_id'), ['redemption_id'], unique=False)

    _add_columns('plan', PLAN_COLUMNS)
    _add_columns('product', PRODUCT_COLUMNS)
    _add_columns('order_item', ITEM_COLUMNS)
    _add_columns('orders', ORDER_COLUMNS)
    for table, column, target, name in REFERENCES:
        _add_reference(table, column, target, name)
    op.create_index('ix_orders_due', 'orders', ['status', 'next_bill_date', 'id'], unique=False)
    op.create_index('ix_transaction_invoice_id', 'transaction', ['invoice_id'], unique=False)

    op.execute("UPDATE plan SET kind = 'one_time' WHERE interval = 'one_time'")
    op.execute(
        "UPDATE order_item SET kind = (SELECT p.kind FROM plan p WHERE p.id = order_item.plan_id),"
        " interval = (SELECT p.interval FROM plan p WHERE p.id = order_item.plan_id),"
        " interval_count = (SELECT p.interval_count FROM plan p WHERE p.id = order_item.plan_id),"
        " trial_days = (SELECT p.trial_days FROM plan p WHERE p.id = order_item.plan_id)"
    )
    op.execute(
        "UPDATE orders SET cycles_billed = (SELECT count(*) FROM \"transaction\" t"
        " WHERE t.order_id = orders.id AND t.type = 'sale'"
        " AND t.status IN ('approved', 'partially_refunded', 'refunded', 'voided')),"
        " period_end = next_bill_date"
    )


def downgrade() -> None:
    for index, table in [('ix_transaction_invoice_id', 'transaction'), ('ix_orders_due', 'orders')]:
        op.drop_index(index, table_name=table)
    for table, columns in [('orders', ORDER_COLUMNS), ('order_item', ITEM_COLUMNS), ('product', PRODUCT_COLUMNS),
                           ('plan', PLAN_COLUMNS)]:
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                batch_op.drop_column(column.name)
    for table, name, _, constraint in REFERENCES:
        with op.batch_alter_table(table) as batch_op:
            if op.get_bind().dialect.name != 'sqlite':
                batch_op.drop_constraint(constraint, type_='foreignkey')
            batch_op.drop_column(name)
    for table in ['invoice_discount', 'affiliate_commission', 'usage_record', 'invoice_line', 'credit_application',
                  'account_charge', 'invoice', 'coupon_redemption', 'coupon', 'shipping_rate']:
        op.drop_table(table)
