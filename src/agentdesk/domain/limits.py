"""How long each stored text may be and how large a stored number: the one definition.

The models size their columns from these constants and the services validate
input against the same ones before writing, so PostgreSQL (which refuses an
over-long value) and SQLite (which would keep it) accept exactly the same data.
Lengths are in characters.
"""

from __future__ import annotations

NAME = 200
"""A person's first or last name, an organization, a job title, an agent's or a website's name."""
EMAIL = 320
PHONE = 40
PHONE_DIGITS = 20
CONTACT_LABEL = 20
""""mobile", "work", … beside a phone number."""
ADDRESS_LINE = 200
CITY = 100
REGION = 100
POSTAL_CODE = 20
EXTERNAL_ID = 100
"""The merchant's own customer id."""
LOGIN = 64
WEBSITE_CODE = 64
TAG = 64
TAX_ID = 64
ORDER_NUMBER = 40
INVOICE_NUMBER = 40
SKU = 64
PLAN_CODE = 64
COUPON_CODE = 40
PRODUCT_DESCRIPTION = 1000
INVOICE_NOTES = 1000
LINE_DESCRIPTION = 200
AFFILIATE = 100
CARRIER = 64
TRACKING_NUMBER = 100
ENTITLEMENT = 100
SEGMENT_NAME = 100
SEARCH = 200
"""What an agent types to search customers or a timeline."""
BLOCK_VALUE = 320
"""A blocklist entry's value (an email is the longest kind)."""
REASON = 500
"""Why a refund, a credit or a block was made."""
DESCRIPTION = 500
"""A payment's, an attachment's or a link's description."""
GATEWAY_MESSAGE = 500
NOTE = 4000
CUSTOM_FIELD_VALUE = 200
LEAD_FIELD = 300
AML_SOURCE = 64
ATTACHMENT_NAME = 255
SETTING_VALUE = 400
QUOTE_TERMS = 4000
REDIRECT_URL = 2000
PASSWORD_HASH = 200

INT64_MAX = 2**63 - 1
"""What a BIGINT (PostgreSQL) or INTEGER (SQLite) column holds."""
INT32_MAX = 2**31 - 1
"""What an INTEGER column holds on PostgreSQL: ids and counts."""
AMOUNT_MAX = 999_999_999_999_999
"""The largest amount in minor units a service takes: what `parse_amount` can produce (12 whole digits
and up to 3 decimals), exact as a JSON number, and far enough below 2**63 that sums of amounts
(lifetime values, credits) cannot overflow their 64-bit columns."""


def in_id_range(value: int) -> bool:
    """Whether `value` can be a row id at all; anything else names no row and must not reach a query
    (SQLite raises OverflowError above 2**63)."""
    return 0 < value <= INT32_MAX
