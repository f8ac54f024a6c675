"""Pseudonyms and opaque keys, so tips never carry a tipster's Telegram identity.

A pseudonym is stable for one tipster on one notice (``Tipster #A137`` on every tip they
send about it) and different across notices, so tips cannot be linked across notices by
the label. It is an HMAC under a secret kept in the database, truncated so short that
it cannot be inverted to a user id.
"""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_LETTERS = "ACDEFGHJKMNPQRTWXY"


def _mac(secret: bytes, message: str) -> bytes:
    return hmac.new(secret, message.encode(), hashlib.sha256).digest()


def pseudonym(secret: bytes, user_id: int, notice_id: str | None) -> str:
    """``A137``: a letter and three digits (display: ``Tipster #A137``)."""
    digest = _mac(secret, f"pseudonym:{user_id}:{notice_id or '-'}")
    letter = PSEUDONYM_LETTERS[digest[0] % len(PSEUDONYM_LETTERS)]
    number = int.from_bytes(digest[1:4], "big") % 1000
    return f"{letter}{number:03d}"


def opaque_key(secret: bytes, kind: str, chat_id: int, message_id: int) -> str:
    """A key for a Telegram message that does not reveal the (private) chat id."""
    return _mac(secret, f"{kind}:{chat_id}:{message_id}").hex()[:24]
