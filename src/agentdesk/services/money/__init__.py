"""Money: refunds and voids, payments, payouts, credit memos, settlement, instruments, gateways."""
