"""Policy: what someone may do and what money moves (limits, ceilings, gateways, notify addresses), in the store."""
