"""Tip codes: short, unambiguous, easy to read aloud (``T-7K3Q9``).

The alphabet leaves out characters people confuse when reading or typing: 0/O, 1/I/L,
2/Z, 5/S, 8/B, U/V, and T (the prefix).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "34679ACDEFGHJKMNPQRWXY"
LENGTH = 5
PREFIX = "T-"
CODE_RE = re.compile(rf"^{PREFIX}[{ALPHABET}]{{{LENGTH}}}$")
_LOOSE = re.compile(r"[\s\-_.·]")


def new_code() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_code(text: str) -> str | None:
    """``t-7k3q9``, ``7K3Q9``, ``T 7K3Q9`` → ``T-7K3Q9``; None when it cannot be a code."""
    raw = _LOOSE.sub("", text.strip().upper())
    if raw.startswith("T") and len(raw) == LENGTH + 1:
        raw = raw[1:]
    code = PREFIX + raw
    return code if CODE_RE.match(code) else None
