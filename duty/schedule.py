"""The schedule, computed deterministically from a team, its adjustments and absences.

Nothing here reads a clock or a database: the same inputs always give the same shifts,
so the schedule for any past or future window can be recomputed at will.

Rotation: shifts are numbered from the team's start date (``ordinal = days * patterns +
pattern index``); shift ``n`` takes the next ``per_shift`` operators in rotation order,
starting at position ``n * per_shift`` (wrapping). Ten operators, two per shift and two
shifts a day: every operator works one 12-hour shift in five.

Then, in order: adjustments (manager assignments and confirmed swaps, oldest first)
replace people on individual shifts; anyone unavailable during a shift is taken off it
and replaced by the next operator in rotation order who is free, preferring someone not
already working the shift before or after. If nobody is free the shift keeps a gap and
says whose place is unfilled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from duty.model import (
    AdjustKind,
    Adjustment,
    Shift,
    ShiftPattern,
    Slot,
    SlotReason,
    Team,
    Unavailability,
    shift_key,
)

MAX_WINDOW = timedelta(days=62)


def shift_bounds(team: Team, day: date, pattern: ShiftPattern) -> tuple[datetime, datetime]:
    """Start and end (UTC) of a pattern on a local date, by the team's wall clock."""
    tz = team.zone
    start = datetime.combine(day, pattern.start, tzinfo=tz)
    end_day = day + timedelta(days=1) if pattern.crosses_midnight else day
    end = datetime.combine(end_day, pattern.end, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def ordinal(team: Team, day: date, index: int) -> int:
    return (day - team.start_date).days * len(team.patterns) + index


def rotation_slots(team: Team, n: int) -> tuple[int, ...]:
    """Who the plain rotation puts on shift number ``n`` (no adjustments)."""
    ops = team.operators
    if not ops or n < 0:
        return ()
    picked: list[int] = []
    for j in range(team.per_shift):
        uid = ops[(n * team.per_shift + j) % len(ops)]
        if uid not in picked:
            picked.append(uid)
    return tuple(picked)


def _reason(kind: AdjustKind) -> SlotReason:
    return SlotReason.SWAP if kind is AdjustKind.SWAP else SlotReason.ASSIGNED


def _apply_adjustments(slots: list[Slot], adjustments: Sequence[Adjustment]) -> None:
    for adj in adjustments:
        present = [s.user_id for s in slots]
        if adj.user_out is None:
            if adj.user_in not in present:
                slots.append(Slot(adj.user_in, _reason(adj.kind)))
            continue
        if adj.user_out not in present:
            continue  # stale: that person is no longer on the shift
        i = present.index(adj.user_out)
        if adj.user_in in present:
            del slots[i]
        else:
            slots[i] = Slot(adj.user_in, _reason(adj.kind), covers_for=adj.user_out)


def _adjusted(team: Team, day: date, index: int, adjustments: Sequence[Adjustment]) -> list[Slot]:
    """Rotation plus assignments and swaps (no absences) for one shift."""
    key = shift_key(team.code, day, index)
    slots = [Slot(uid) for uid in rotation_slots(team, ordinal(team, day, index))]
    mine = sorted((a for a in adjustments if a.shift_key == key), key=lambda a: a.at)
    _apply_adjustments(slots, mine)
    return slots


def _neighbour_slots(
    team: Team, day: date, index: int, adjustments: Sequence[Adjustment]
) -> list[Slot]:
    """Who works the shifts right before and after (so a filler is not kept on for 24 h)."""
    count = len(team.patterns)
    before = (day, index - 1) if index > 0 else (day - timedelta(days=1), count - 1)
    after = (day, index + 1) if index + 1 < count else (day + timedelta(days=1), 0)
    out: list[Slot] = []
    for d, i in (before, after):
        out.extend(_adjusted(team, d, i, adjustments))
    return out


def build_shift(
    team: Team,
    day: date,
    index: int,
    adjustments: Sequence[Adjustment] = (),
    unavailable: Sequence[Unavailability] = (),
) -> Shift:
    pattern = team.patterns[index]
    start, end = shift_bounds(team, day, pattern)
    n = ordinal(team, day, index)
    key = shift_key(team.code, day, index)
    slots = _adjusted(team, day, index, adjustments)

    def busy(uid: int) -> bool:
        return any(u.user_id == uid and u.overlaps(start, end) for u in unavailable)

    unfilled: list[int] = []
    absent = [s for s in slots if busy(s.user_id)]
    if absent:
        neighbours = {s.user_id for s in _neighbour_slots(team, day, index, adjustments)}
        ops = team.operators
        for gone in absent:
            slots.remove(gone)
            taken = {s.user_id for s in slots} | {a.user_id for a in absent}
            begin = (n * team.per_shift + team.per_shift) % len(ops) if ops else 0
            order = [ops[(begin + k) % len(ops)] for k in range(len(ops))]
            free = [u for u in order if u not in taken and not busy(u)]
            rested = [u for u in free if u not in neighbours]
            pool = rested or free
            choice = pool[0] if pool else None
            if choice is None:
                unfilled.append(gone.user_id)
            else:
                slots.append(Slot(choice, SlotReason.FILL, covers_for=gone.user_id))
    return Shift(
        team=team.code,
        key=key,
        day=day,
        index=index,
        start=start,
        end=end,
        label=pattern.label(),
        required=team.per_shift,
        slots=tuple(slots),
        unfilled=tuple(unfilled),
    )


def shifts_between(
    team: Team,
    start: datetime,
    end: datetime,
    adjustments: Sequence[Adjustment] = (),
    unavailable: Sequence[Unavailability] = (),
) -> list[Shift]:
    """Every shift overlapping ``[start, end)``, in order of start."""
    if end - start > MAX_WINDOW:
        end = start + MAX_WINDOW
    tz = team.zone
    day = max(team.start_date, start.astimezone(tz).date() - timedelta(days=1))
    last = end.astimezone(tz).date()
    out: list[Shift] = []
    while day <= last:
        for index, pattern in enumerate(team.patterns):
            s, e = shift_bounds(team, day, pattern)
            if s < end and start < e:
                out.append(build_shift(team, day, index, adjustments, unavailable))
        day += timedelta(days=1)
    out.sort(key=lambda sh: (sh.start, sh.index))
    return out


def shifts_at(
    team: Team,
    when: datetime,
    adjustments: Sequence[Adjustment] = (),
    unavailable: Sequence[Unavailability] = (),
) -> list[Shift]:
    """The shift(s) in progress at ``when`` (several only if patterns touch at a DST jump)."""
    window = shifts_between(
        team, when - timedelta(days=1), when + timedelta(minutes=1), adjustments, unavailable
    )
    return [s for s in window if s.contains(when)]


def on_duty(
    team: Team,
    when: datetime,
    adjustments: Sequence[Adjustment] = (),
    unavailable: Sequence[Unavailability] = (),
) -> tuple[int, ...]:
    seen: list[int] = []
    for shift in shifts_at(team, when, adjustments, unavailable):
        for uid in shift.operators:
            if uid not in seen:
                seen.append(uid)
    return tuple(seen)


def next_shift(
    team: Team,
    when: datetime,
    adjustments: Sequence[Adjustment] = (),
    unavailable: Sequence[Unavailability] = (),
) -> Shift | None:
    for shift in shifts_between(team, when, when + timedelta(days=3), adjustments, unavailable):
        if shift.start > when:
            return shift
    return None


def previous_shift(team: Team, shift: Shift) -> tuple[date, int] | None:
    """The (day, index) of the shift before ``shift`` in the team's pattern."""
    if shift.index > 0:
        return shift.day, shift.index - 1
    day = shift.day - timedelta(days=1)
    if day < team.start_date:
        return None
    return day, len(team.patterns) - 1


def coverage_gaps(shifts: Sequence[Shift]) -> list[Shift]:
    return [s for s in shifts if s.gap > 0]
