"""Numbers typed in commands or carried by buttons: a whole number within a range, or None.

``int()`` alone is not enough: it takes ``1_000`` and ``+5``, ``str.isdigit`` lets ``²``
through to a ``ValueError``, and an unchecked 20-digit number overflows the database's
64-bit integers. Every handler that reads a number goes through here (or a regular
expression that bounds the digits) and answers a clear refusal when it gets None.
"""

from __future__ import annotations

MAX_DIGITS = 15  # well inside MongoDB's 64-bit integers (and Telegram's 52-bit ids)
# Dates typed in commands lie in these years: far enough for any rota or notice, and far
# from the ends of Python's and BSON's calendars (date arithmetic near them overflows).
FIRST_YEAR, LAST_YEAR = 2000, 2099


def whole(token: str | None, lo: int, hi: int) -> int | None:
    """``token`` as an int in ``[lo, hi]``: decimal digits only (ASCII or the full-width
    digits Chinese keyboards type), optionally after a minus sign; None otherwise."""
    if token is None:
        return None
    s = token.strip()
    negative = s.startswith("-")
    digits = s[1:] if negative else s
    if not digits or len(digits) > MAX_DIGITS or not digits.isdecimal():
        return None
    n = -int(digits) if negative else int(digits)
    return n if lo <= n <= hi else None


def plausible_year(year: int) -> bool:
    return FIRST_YEAR <= year <= LAST_YEAR
