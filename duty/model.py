"""Duty teams, shift patterns, schedule adjustments and computed shifts (pure data)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kernel.errors import InvalidInput

TEAM_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
TIME_RE = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
MAX_OPERATORS = 200
MAX_PER_SHIFT = 20


def parse_hhmm(text: str) -> time | None:
    """``08:00`` -> time(8, 0); ``24:00`` means midnight at the end of the day (time(0))."""
    m = TIME_RE.match(text.strip())
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour == 24:
        return time(0, 0) if minute == 0 else None
    return time(hour, minute)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("duty.bad_tz", tz=name[:64]) from exc


@dataclass(frozen=True, slots=True)
class ShiftPattern:
    """A daily shift in the team's local wall-clock time; ``end <= start`` crosses midnight."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def minutes(self) -> int:
        s = self.start.hour * 60 + self.start.minute
        e = self.end.hour * 60 + self.end.minute
        return (e - s) % (24 * 60) or 24 * 60

    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_patterns(text: str) -> tuple[ShiftPattern, ...]:
    """``08:00-20:00,20:00-08:00``, or a shorthand ``2x12`` (from 08:00) / ``3x8`` (from 00:00)."""
    raw = text.strip().lower()
    short = re.fullmatch(r"(\d)x(\d{1,2})(?:@(\d{1,2}:\d{2}))?", raw)
    if short:
        count, hours = int(short.group(1)), int(short.group(2))
        if count < 1 or count * hours != 24:
            raise InvalidInput("duty.bad_patterns", patterns=text[:64])
        first = parse_hhmm(short.group(3) or ("08:00" if count == 2 else "00:00"))
        if first is None:
            raise InvalidInput("duty.bad_patterns", patterns=text[:64])
        base = first.hour * 60 + first.minute
        marks = [(base + i * hours * 60) % (24 * 60) for i in range(count + 1)]
        pats = tuple(
            ShiftPattern(time(a // 60, a % 60), time(b // 60, b % 60))
            for a, b in itertools.pairwise(marks)
        )
        return validate_patterns(pats, text)
    pats_list: list[ShiftPattern] = []
    for part in raw.split(","):
        bits = part.strip().split("-")
        if len(bits) != 2:
            raise InvalidInput("duty.bad_patterns", patterns=text[:64])
        start, end = parse_hhmm(bits[0]), parse_hhmm(bits[1])
        if start is None or end is None:
            raise InvalidInput("duty.bad_patterns", patterns=text[:64])
        pats_list.append(ShiftPattern(start, end))
    return validate_patterns(tuple(pats_list), text)


def validate_patterns(pats: tuple[ShiftPattern, ...], text: str = "") -> tuple[ShiftPattern, ...]:
    if not pats or len(pats) > 12:
        raise InvalidInput("duty.bad_patterns", patterns=text[:64])
    ordered = tuple(sorted(pats, key=lambda p: (p.start.hour, p.start.minute)))
    if sum(p.minutes for p in ordered) > 24 * 60:
        raise InvalidInput("duty.patterns_overlap", patterns=text[:64])
    # Consecutive patterns (cyclically) must not overlap.
    for i, p in enumerate(ordered):
        nxt = ordered[(i + 1) % len(ordered)]
        s = p.start.hour * 60 + p.start.minute
        gap = (nxt.start.hour * 60 + nxt.start.minute - s) % (24 * 60) or 24 * 60
        if p.minutes > gap:
            raise InvalidInput("duty.patterns_overlap", patterns=text[:64])
    return ordered


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Minutes without acknowledgement before the backup level, then before investigators."""

    first_min: int = 5
    second_min: int = 15

    def __post_init__(self) -> None:
        if not (1 <= self.first_min <= 24 * 60) or not (1 <= self.second_min <= 24 * 60):
            raise InvalidInput("duty.bad_policy")


@dataclass(frozen=True, slots=True)
class Team:
    code: str
    name: str
    tz: str
    patterns: tuple[ShiftPattern, ...]
    per_shift: int
    start_date: date  # local date of the rotation's first shift
    operators: tuple[int, ...] = ()  # rotation order
    managers: tuple[int, ...] = ()  # the backup level of escalation, warned about coverage
    sector: str | None = None
    area: str | None = None
    policy: EscalationPolicy = field(default_factory=EscalationPolicy)
    duty_chat_id: int | None = None  # cards go to this officers' group instead of privately
    created_by: int | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if not TEAM_CODE_RE.match(self.code):
            raise InvalidInput("duty.bad_team_code", code=self.code[:32])
        if not (1 <= self.per_shift <= MAX_PER_SHIFT):
            raise InvalidInput("duty.bad_per_shift", max=MAX_PER_SHIFT)
        if len(self.operators) > MAX_OPERATORS or len(set(self.operators)) != len(self.operators):
            raise InvalidInput("duty.bad_operators")
        zone(self.tz)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.tz)

    def covers(self, sector: str | None, area: str | None) -> bool:
        if self.sector is not None and self.sector != sector:
            return False
        return self.area is None or self.area == area

    @property
    def specificity(self) -> int:
        return (2 if self.sector else 0) + (1 if self.area else 0)

    def scope_label(self) -> str:
        return "/".join(p for p in (self.sector, self.area) if p) or "*"


class AdjustKind(StrEnum):
    ASSIGN = "assign"  # a manager puts someone on a shift (optionally instead of someone)
    SWAP = "swap"  # confirmed by both operators: one slot changes hands


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A change to one shift: ``user_in`` takes ``user_out``'s place (or an extra place)."""

    team: str
    shift_key: str
    user_in: int
    user_out: int | None
    kind: AdjustKind
    by: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Unavailability:
    user_id: int
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    id: str = ""
    reason: str = ""

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


class SlotReason(StrEnum):
    ROTATION = "rotation"
    ASSIGNED = "assigned"
    SWAP = "swap"
    FILL = "fill"  # filled from the rotation because someone is unavailable


@dataclass(frozen=True, slots=True)
class Slot:
    user_id: int
    reason: SlotReason = SlotReason.ROTATION
    covers_for: int | None = None  # whose place this is (assign, swap, fill)


@dataclass(frozen=True, slots=True)
class Shift:
    team: str
    key: str  # "<team>:<local date>:<slot index>", stable
    day: date  # local date the shift starts on
    index: int  # which pattern of the day
    start: datetime  # aware UTC
    end: datetime  # aware UTC
    label: str  # "08:00-20:00"
    required: int
    slots: tuple[Slot, ...]
    unfilled: tuple[int, ...] = ()  # unavailable people nobody could replace

    @property
    def operators(self) -> tuple[int, ...]:
        return tuple(s.user_id for s in self.slots)

    @property
    def gap(self) -> int:
        return max(0, self.required - len(self.slots))

    def contains(self, when: datetime) -> bool:
        return self.start <= when < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def shift_key(team: str, day: date, index: int) -> str:
    return f"{team}:{day.isoformat()}:{index}"


def parse_shift_key(key: str) -> tuple[str, date, int] | None:
    try:
        team, day, index = key.rsplit(":", 2)
        return team, date.fromisoformat(day), int(index)
    except ValueError:
        return None
