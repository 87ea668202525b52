"""Replacing secret values with ``***`` in any text the SDK shows or raises.

The server never echoes a secret value, but error text can also come from the
client side (a file that cannot be read, a request that failed on the way), so
every message that leaves the SDK passes through :func:`redact` with the values
of the call that produced it.
"""

from __future__ import annotations

import json
from typing import Iterable

MASK = "***"


def _forms(value: str) -> list[str]:
    # The value itself and how it looks inside a JSON string.
    forms = {value, json.dumps(value)[1:-1]}
    return [f for f in forms if f]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value replaced by ``***``."""
    values = sorted({f for s in secrets if s for f in _forms(s)}, key=len, reverse=True)
    for v in values:
        text = text.replace(v, MASK)
    return text
