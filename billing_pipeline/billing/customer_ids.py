"""The customer-id rule: which ids the pipeline accepts, so that every Qonto document stays ours.

A customer id travels into the invoice reference ``BP-<period>-<customer_id>`` that we print in the
invoice header and parse back from Qonto's listing to find our invoices before any create. Free
text would make that parse ambiguous (``acme x`` read back as ``acme``, one customer's draft
patched with another's lines), so ids are restricted to a charset that cannot contain the
reference's delimiters: a letter or digit, then letters, digits, ``.``, ``_`` or ``-``, at most 64
characters in all. The rule is checked where the id enters (``customers.csv``), with an error that
names the file, row and field.
"""

from __future__ import annotations

import re

CUSTOMER_ID_MAX_LENGTH = 64
CUSTOMER_ID_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{CUSTOMER_ID_MAX_LENGTH - 1}}}"
CUSTOMER_ID_RULE = (
    f"a customer id is 1 to {CUSTOMER_ID_MAX_LENGTH} characters: a letter or digit, then letters, digits, "
    "'.', '_' or '-' (no spaces or other characters)"
)
_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)


def customer_id(value: str) -> str:
    """``value`` if it follows the customer-id rule, else a ValueError that states the rule."""
    if not _CUSTOMER_ID.fullmatch(value):
        raise ValueError(f"invalid customer id {value!r}: {CUSTOMER_ID_RULE}")
    return value
