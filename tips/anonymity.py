"""Identifiers of tips that cannot be traced back to the tipster.

- Tip ids and thread message ids are random (``new_id``): nothing about who sent a tip or
  which Telegram message carried it can be computed from them.
- A pseudonym (``Tipster #A137``) is a random label (``new_pseudonym``). It stays the same
  for one tipster on one notice through a link kept with the tipster's identity (which
  ``/forget`` deletes), and is never computed from who the tipster is.
- ``intake_key`` makes intake idempotent (a redelivered update, a second press of Send, the
  items of one album): an HMAC of the Telegram message under ``TIPS_ID_KEY``, a secret
  from the configuration that is never stored in the database. The key maps to the random
  id in a short-lived ledger, and ``/forget`` deletes the tip's entries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PSEUDONYM_LETTERS = "ACDEFGHJKMNPQRTWXY"


def new_id() -> str:
    """A random identifier (96 bits, hex) for a tip or a thread message."""
    return secrets.token_hex(12)


def new_pseudonym() -> str:
    """``A137``: a letter and three digits (display: ``Tipster #A137``), drawn at random."""
    return f"{secrets.choice(PSEUDONYM_LETTERS)}{secrets.randbelow(1000):03d}"


def intake_key(key: bytes, kind: str, chat_id: int, message_id: int) -> str:
    """The idempotency key of a Telegram message (``kind``: intake, album:<id>, tipster,
    officer, live). Without ``key`` it cannot be computed, so a reader of the database
    cannot test user ids against it."""
    mac = hmac.new(key, f"{kind}:{chat_id}:{message_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]
