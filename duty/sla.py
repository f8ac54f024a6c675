"""Service-level figures: how fast tips were acknowledged, per team and per operator."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from duty.alerts import Alert, AlertKind, AlertState


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(frozen=True, slots=True)
class SlaRow:
    label: str
    received: int
    acknowledged: int
    median_s: float | None
    p90_s: float | None
    within_first: float | None  # share (0..1) of received acknowledged within the first step


@dataclass(frozen=True, slots=True)
class SlaReport:
    total: SlaRow
    teams: tuple[SlaRow, ...]
    operators: tuple[SlaRow, ...]  # label: operator user id as text
    gap_shifts: dict[str, int] = field(default_factory=dict)  # team -> shifts with a gap

    @property
    def total_gap_shifts(self) -> int:
        return sum(self.gap_shifts.values())


def _row(label: str, alerts: Sequence[Alert], received: int | None = None) -> SlaRow:
    acked = [a for a in alerts if a.state is AlertState.ACKNOWLEDGED and a.acked_at is not None]
    secs = [max(0.0, (a.acked_at - a.created_at).total_seconds()) for a in acked if a.acked_at]
    within = sum(
        1
        for a in acked
        if a.acked_at and a.acked_at - a.created_at <= timedelta(minutes=a.policy.first_min)
    )
    n = len(alerts) if received is None else received
    return SlaRow(
        label=label,
        received=n,
        acknowledged=len(acked),
        median_s=median(secs),
        p90_s=percentile(secs, 90),
        within_first=(within / n) if n else None,
    )


def sla_report(alerts: Iterable[Alert], gap_shifts: dict[str, int] | None = None) -> SlaReport:
    """Figures over new-tip alerts (thread messages are not counted as received tips)."""
    tips = [a for a in alerts if a.kind is AlertKind.TIP]
    by_team: dict[str, list[Alert]] = {}
    by_op: dict[int, list[Alert]] = {}
    for a in tips:
        by_team.setdefault(a.team or "-", []).append(a)
        if a.acked_by is not None and a.state is AlertState.ACKNOWLEDGED:
            by_op.setdefault(a.acked_by, []).append(a)
    return SlaReport(
        total=_row("*", tips),
        teams=tuple(_row(team, items) for team, items in sorted(by_team.items())),
        operators=tuple(
            _row(str(uid), items, received=len(items)) for uid, items in sorted(by_op.items())
        ),
        gap_shifts=dict(gap_shifts or {}),
    )
