"""SLA figures and the escalation timing, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from duty.alerts import Alert, AlertKind, AlertState, Level, Step, after, due_for
from duty.model import EscalationPolicy
from duty.sla import median, percentile, sla_report
from kernel.errors import InvalidInput

T0 = datetime(2026, 3, 2, 1, tzinfo=UTC)


def alert(
    i: int,
    ack_after_s: float | None,
    by: int | None = None,
    team: str = "a",
    kind: AlertKind = AlertKind.TIP,
    policy: EscalationPolicy | None = None,
) -> Alert:
    acked = ack_after_s is not None
    return Alert(
        id=f"x{i}",
        tip_id=f"t{i}",
        code=f"T-{i}",
        kind=kind,
        team=team,
        notice_id=None,
        sector=None,
        area=None,
        created_at=T0,
        policy=policy or EscalationPolicy(),
        state=AlertState.ACKNOWLEDGED if acked else AlertState.OPEN,
        acked_by=by if acked else None,
        acked_at=T0 + timedelta(seconds=ack_after_s) if ack_after_s is not None else None,
    )


def test_percentiles() -> None:
    assert percentile([], 90) is None and median([]) is None
    assert percentile([5.0], 90) == 5.0
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 90) == 9.0 and percentile(values, 100) == 10.0
    assert median(values) == 5.5 and median([3.0, 1.0, 2.0]) == 2.0


def test_report_per_team_and_operator() -> None:
    alerts = [
        alert(1, 60, by=11),
        alert(2, 299, by=11),
        alert(3, 301, by=12),  # just outside the 5-minute first step
        alert(4, None),
        alert(5, 30, by=12, team="b"),
        alert(6, 10, by=11, kind=AlertKind.MESSAGE),  # thread messages are not tips received
        alert(7, 400, by=13, team="b", policy=EscalationPolicy(10, 15)),  # its own first step
    ]
    report = sla_report(alerts, {"a": 2})
    assert report.total.received == 6 and report.total.acknowledged == 5
    assert report.total.median_s == 299 and report.total.p90_s == 400
    assert report.total.within_first == pytest.approx(4 / 6)
    a, b = report.teams
    assert (a.label, a.received, a.acknowledged, a.within_first) == ("a", 4, 3, 0.5)
    assert (b.label, b.received, b.median_s) == ("b", 2, 215)
    ops = {r.label: r for r in report.operators}
    assert ops["11"].acknowledged == 2 and ops["11"].median_s == pytest.approx(179.5)
    assert ops["12"].within_first == 0.5
    assert report.total_gap_shifts == 2
    empty = sla_report([])
    assert empty.total.received == 0 and empty.total.within_first is None


def test_escalation_due_times_follow_the_policy() -> None:
    policy = EscalationPolicy(5, 15)
    assert due_for(T0, policy, Level.BACKUP) == T0 + timedelta(minutes=5)
    assert due_for(T0, policy, Level.INVESTIGATORS) == T0 + timedelta(minutes=20)
    assert due_for(T0, policy, Level.DONE) is None
    assert after(Level.DUTY) is Level.BACKUP and after(Level.DONE) is Level.DONE
    with pytest.raises(InvalidInput):
        EscalationPolicy(0, 15)
    with_steps = alert(2, 90, by=11)
    assert with_steps.time_to_ack == timedelta(seconds=90)
    esc = Alert(
        "e", "t", "T", AlertKind.TIP, "a", None, None, None, T0, policy,
        steps=(Step(Level.DUTY, T0, (1, 2)), Step(Level.BACKUP, T0, (3,))),
    )  # fmt: skip
    assert esc.escalated and esc.notified == frozenset({1, 2, 3})
