"""Short notice references such as ``N-2611-07``: year, month, sequence in the month."""

from __future__ import annotations

import re
from datetime import datetime

REF_RE = re.compile(r"^N-(\d{2})(\d{2})-(\d{2,6})$")


def ref_period(when: datetime) -> str:
    return f"{when.year % 100:02d}{when.month:02d}"


def format_ref(period: str, seq: int) -> str:
    if seq < 1:
        raise ValueError("sequence starts at 1")
    return f"N-{period}-{seq:02d}"


def normalize_ref(text: str) -> str | None:
    """Accept ``n-2611-7``, ``N2611-07`` or ``N-2611-07``; None if it is not a reference."""
    raw = text.strip().upper().replace("_", "-")
    if raw.startswith("N") and not raw.startswith("N-"):
        raw = "N-" + raw[1:]
    m = re.match(r"^N-(\d{4})-(\d{1,6})$", raw)
    if not m:
        return None
    return format_ref(m.group(1), int(m.group(2))) if int(m.group(2)) > 0 else None


def tip_payload(ref: str) -> str:
    """The deep-link payload of the "report a tip" button (tips feature handles it)."""
    return f"tip_{ref}"
