"""Date ranges typed by officers (``/near``): ``2026-11-01..2026-11-20``, open-ended
``2026-11-01..`` / ``..2026-11-20``, or one day ``2026-11-20``.

Dates are calendar days in the team's time zone; both ends are inclusive. The result is a
half-open interval of instants, ``since <= created_at < until``: ``since`` is the start of
the first day, ``until`` the start of the day after the last one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from kernel.errors import InvalidInput

_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_RANGE_RE = re.compile(rf"^({_DATE})?\.\.({_DATE})?$")
_DAY_RE = re.compile(rf"^{_DATE}$")
# Days officers search lie in these years (both ends of the calendar overflow once a day is
# turned into an instant in a time zone and stored).
FIRST_YEAR, LAST_YEAR = 2000, 2099
_SEPARATORS = str.maketrans({"／": "/", "－": "-", "—": "-", "–": "-", "。": "."})


@dataclass(frozen=True, slots=True)
class Period:
    since: datetime | None  # inclusive
    until: datetime | None  # exclusive
    first_day: date | None
    last_day: date | None

    def label(self) -> str:
        """``2026-11-01..2026-11-20`` (open ends left empty): parses back to this period."""
        first = self.first_day.isoformat() if self.first_day else ""
        last = self.last_day.isoformat() if self.last_day else ""
        return f"{first}..{last}"


def looks_like_period(token: str) -> bool:
    """Whether ``token`` is meant as a date or date range (then it parses or is refused)."""
    s = token.strip().translate(_SEPARATORS)
    return ".." in s or bool(_DAY_RE.match(s))


def _day(text: str, token: str) -> date:
    try:
        y, m, d = (int(p) for p in text.split("-"))
        day = date(y, m, d)
    except ValueError:
        raise InvalidInput("tips.near_bad_date", date=text, token=token[:40]) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput("tips.near_date_range", date=text, first=FIRST_YEAR, last=LAST_YEAR)
    return day


def _start(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def parse_period(token: str, tz: tzinfo) -> Period | None:
    """The period ``token`` names, None when it is not a date or date range at all, and
    ``InvalidInput`` for a malformed one, an impossible date or a reversed range."""
    s = token.strip().translate(_SEPARATORS)
    if not looks_like_period(s):
        return None
    first: date | None
    last: date | None
    if _DAY_RE.match(s):
        first = last = _day(s, token)
    else:
        m = _RANGE_RE.match(s)
        if m is None or (m.group(1) is None and m.group(2) is None):
            raise InvalidInput("tips.near_bad_range", token=token[:40])
        first = _day(m.group(1), token) if m.group(1) else None
        last = _day(m.group(2), token) if m.group(2) else None
    if first is not None and last is not None and last < first:
        raise InvalidInput(
            "tips.near_range_reversed", since=first.isoformat(), until=last.isoformat()
        )
    return Period(
        since=_start(first, tz) if first else None,
        until=_start(last + timedelta(days=1), tz) if last and last < date.max else None,
        first_day=first,
        last_day=last,
    )
