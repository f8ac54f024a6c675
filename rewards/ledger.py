"""The ledger: open items, totals per notice/sector/area/month, and CSV for a period.

Dates are local dates in the platform's time zone. A reward counts as *approved* in the
period in which it was approved (and stays counted once paid; a cancellation after
approval removes it), and as *paid* in the period of its payment date.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from kernel.errors import InvalidInput
from rewards.model import Reward, RewardState

DIMENSIONS = ("notice", "sector", "area", "month")
NONE_KEY = "-"
MAX_CSV_DAYS = 3660


@dataclass(frozen=True, slots=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive
    label: str

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


ALL_TIME = Period(date(2000, 1, 1), date(2999, 12, 31), "all")

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_YEAR = re.compile(r"^(\d{4})$")
_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def _month(year: int, month: int) -> tuple[date, date]:
    if not 1 <= month <= 12:
        raise ValueError("month")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _bound(text: str, *, end: bool) -> date:
    text = text.strip()
    try:
        if m := _DAY.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _MONTH.match(text):
            first, last = _month(int(m[1]), int(m[2]))
            return last if end else first
        if m := _YEAR.match(text):
            return date(int(m[1]), 12, 31) if end else date(int(m[1]), 1, 1)
    except ValueError:
        pass
    raise InvalidInput("rewards.bad_period", value=text[:24])


def parse_period(text: str | None, today: date) -> Period:
    """``""`` (this month), ``2026-11``, ``2026``, ``all``, or ``<from> <to>``."""
    parts = (text or "").split()
    if not parts:
        first, last = _month(today.year, today.month)
        return Period(first, last, f"{today.year}-{today.month:02d}")
    if len(parts) == 1 and parts[0].lower() in ("all", "全部"):
        return ALL_TIME
    if len(parts) == 1:
        return Period(_bound(parts[0], end=False), _bound(parts[0], end=True), parts[0])
    if len(parts) == 2:
        return parse_range(parts[0], parts[1])
    raise InvalidInput("rewards.bad_period", value=" ".join(parts)[:24])


def parse_range(start: str, end: str) -> Period:
    first, last = _bound(start, end=False), _bound(end, end=True)
    if last < first:
        raise InvalidInput("rewards.bad_range", start=first.isoformat(), end=last.isoformat())
    if (last - first).days > MAX_CSV_DAYS:
        raise InvalidInput("rewards.range_too_long")
    return Period(first, last, f"{first.isoformat()}..{last.isoformat()}")


@dataclass
class Amounts:
    approved: Decimal = Decimal("0.00")
    paid: Decimal = Decimal("0.00")
    approved_count: int = 0
    paid_count: int = 0


TotalsKey = tuple[str, str]  # (group key, currency)


@dataclass
class LedgerReport:
    period: Period
    proposed: list[Reward] = field(default_factory=list)  # awaiting approval (any date)
    unpaid: list[Reward] = field(default_factory=list)  # approved, not yet paid (any date)
    totals: dict[str, dict[TotalsKey, Amounts]] = field(
        default_factory=lambda: {d: {} for d in DIMENSIONS}
    )


def local(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def _keys(reward: Reward, day: date) -> dict[str, str]:
    rec = reward.record
    return {
        "notice": rec.notice_ref or NONE_KEY,
        "sector": rec.sector or NONE_KEY,
        "area": rec.area or NONE_KEY,
        "month": f"{day.year}-{day.month:02d}",
    }


def build_ledger(
    rewards: Iterable[Reward],
    period: Period,
    tz: ZoneInfo,
    visible: Callable[[Reward], bool] = lambda _r: True,
) -> LedgerReport:
    report = LedgerReport(period)
    for reward in rewards:
        if not visible(reward):
            continue
        if reward.state is RewardState.PROPOSED:
            report.proposed.append(reward)
        elif reward.state is RewardState.APPROVED:
            report.unpaid.append(reward)
        if reward.state in (RewardState.APPROVED, RewardState.PAID) and reward.approved_at:
            day = local(reward.approved_at, tz)
            if day in period:
                for dim, key in _keys(reward, day).items():
                    a = report.totals[dim].setdefault((key, reward.currency), Amounts())
                    a.approved += reward.amount
                    a.approved_count += 1
        if reward.state is RewardState.PAID and reward.paid_on in period:
            assert reward.paid_on is not None
            for dim, key in _keys(reward, reward.paid_on).items():
                a = report.totals[dim].setdefault((key, reward.currency), Amounts())
                a.paid += reward.amount
                a.paid_count += 1
    report.proposed.sort(key=lambda r: (r.waiting_since, r.reward_id))
    report.unpaid.sort(key=lambda r: (r.approved_at or r.waiting_since, r.reward_id))
    return report


CSV_COLUMNS = (
    "reward_id",
    "tip_code",
    "notice_ref",
    "sector",
    "area",
    "basis",
    "state",
    "amount",
    "currency",
    "proposed_at",
    "proposed_by",
    "approved_at",
    "approved_by",
    "rejected_at",
    "rejected_by",
    "reject_reason",
    "paid_on",
    "paid_by",
    "method",
    "reference",
    "cancelled_at",
    "cancelled_by",
    "cancel_reason",
    "events",
)


def _cell(value: object) -> str:
    """A CSV cell that spreadsheets will not execute (formula injection)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _ts(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else ""


def touched_in(reward: Reward, period: Period, tz: ZoneInfo) -> bool:
    """Whether anything happened to the reward in the period (an event or the payment date)."""
    if reward.paid_on in period:
        return True
    return any(local(e.at, tz) in period for e in reward.events)


def ledger_csv(
    rewards: Iterable[Reward],
    period: Period,
    tz: ZoneInfo,
    visible: Callable[[Reward], bool] = lambda _r: True,
) -> str:
    """Every reward with activity in the period, one row each, oldest first (UTF-8 with BOM
    so spreadsheet programs read the Chinese text correctly)."""
    rows = [r for r in rewards if visible(r) and touched_in(r, period, tz)]
    rows.sort(key=lambda r: (r.record.created_at, r.reward_id))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        rec = r.record
        writer.writerow(
            [
                _cell(v)
                for v in (
                    rec.reward_id,
                    rec.tip_code,
                    rec.notice_ref,
                    rec.sector,
                    rec.area,
                    rec.basis.value,
                    r.state.value,
                    f"{r.amount:.2f}",
                    rec.currency,
                    _ts(rec.created_at, tz),
                    r.proposed_by,
                    _ts(r.approved_at, tz),
                    r.approved_by,
                    _ts(r.rejected_at, tz),
                    r.rejected_by,
                    r.reject_reason,
                    r.paid_on.isoformat() if r.paid_on else "",
                    r.paid_by,
                    r.method.value if r.method else "",
                    r.reference,
                    _ts(r.cancelled_at, tz),
                    r.cancelled_by,
                    r.cancel_reason,
                    len(r.events),
                )
            ]
        )
    return "\ufeff" + out.getvalue()
