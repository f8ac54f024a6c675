from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kernel.errors import InvalidInput
from rewards.ledger import build_ledger, ledger_csv, parse_period, parse_range
from rewards.model import (
    REWARD_ID_RE,
    Basis,
    CorruptHistory,
    EventKind,
    Outcome,
    PayMethod,
    RewardEvent,
    RewardRecord,
    RewardState,
    apply,
    fold,
    format_money,
    new_reward_id,
    normalize_tip_code,
    parse_amount,
    parse_method,
    parse_outcome,
    split,
)

MAX = Decimal("1000000")
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("500", "500.00", None),
        ("500.5", "500.50", None),
        ("1,200.75", "1200.75", None),
        ("¥300", "300.00", "CNY"),
        ("300元", "300.00", "CNY"),
        ("300 cny", "300.00", "CNY"),
        ("0.01", "0.01", None),
        ("1000000", "1000000.00", None),
    ],
)
def test_amounts_parse_exactly(text: str, amount: str, currency: str | None) -> None:
    value, cur = parse_amount(text, max_amount=MAX)
    assert isinstance(value, Decimal) and value == Decimal(amount) and str(value) == amount
    assert cur == currency


@pytest.mark.parametrize(
    "text",
    ["0", "-5", "abc", "1e3", "NaN", "Infinity", "1.234", "1,23", "", "5..0", "0.00", "1000000.01"],
)
def test_malformed_amounts_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(text, max_amount=MAX)


def test_split_is_exact_and_fair() -> None:
    assert split(Decimal("1000.00"), 2) == [Decimal("500.00"), Decimal("500.00")]
    parts = split(Decimal("100.00"), 3)
    assert parts == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert sum(parts) == Decimal("100.00")
    assert split(Decimal("0.01"), 2) == [Decimal("0.01"), Decimal("0.00")]
    with pytest.raises(ValueError):
        split(Decimal(1), 0)


def test_parsers_and_formats() -> None:
    assert parse_outcome("关键") is Outcome.DECISIVE and parse_outcome("USEFUL") is Outcome.USEFUL
    assert parse_outcome("not_useful").tip_status == "not_useful"
    assert Outcome.DECISIVE.tip_status == "verified"
    with pytest.raises(InvalidInput):
        parse_outcome("great")
    assert parse_method("微信") is PayMethod.WECHAT
    with pytest.raises(InvalidInput):
        parse_method("bitcoin")
    assert normalize_tip_code(" t-7k3q9 ") == "T-7K3Q9"
    with pytest.raises(InvalidInput):
        normalize_tip_code("<script>")
    assert format_money(Decimal("1234.5"), "CNY") == "¥1,234.50"
    assert format_money(Decimal("3"), "USD") == "3.00 USD"
    assert all(REWARD_ID_RE.match(new_reward_id()) for _ in range(50))


def record(rid: str = "R-ABCDEF", **kw: object) -> RewardRecord:
    base: dict[str, object] = {
        "reward_id": rid,
        "tip_id": f"tip-{rid}",
        "tip_code": f"T-{rid[2:]}",
        "notice_id": "n1",
        "notice_ref": "N-2611-07",
        "sector": "drivers",
        "area": "town-a",
        "basis": Basis.OFFER,
        "currency": "CNY",
        "created_at": T0,
    }
    base.update(kw)
    return RewardRecord(**base)  # type: ignore[arg-type]


def ev(seq: int, kind: EventKind, actor: int | None, at: datetime, **kw: object) -> RewardEvent:
    return RewardEvent("R-ABCDEF", seq, kind, actor, at, **kw)  # type: ignore[arg-type]


def history() -> list[RewardEvent]:
    return [
        ev(1, EventKind.PROPOSED, 10, T0, amount=Decimal("1000.00")),
        ev(2, EventKind.RESPLIT, 11, T0 + timedelta(hours=1), amount=Decimal("500.00")),
        ev(3, EventKind.AMENDED, 12, T0 + timedelta(hours=2), amount=Decimal("600.00"), reason="r"),
        ev(4, EventKind.APPROVED, 20, T0 + timedelta(days=1)),
        ev(
            5,
            EventKind.PAID,
            21,
            T0 + timedelta(days=2),
            method=PayMethod.CASH,
            reference="RC-1",
            paid_on=date(2026, 11, 4),
        ),
    ]


def test_fold_derives_the_state_from_events_in_any_order() -> None:
    events = history()
    r = fold(record(), reversed(events))
    assert r.state is RewardState.PAID and r.version == 5
    assert r.amount == Decimal("600.00")
    assert r.proposers == frozenset({10, 12})  # a re-split is not a proposal
    assert r.amended and r.approved_by == 20 and r.paid_by == 21
    assert r.paid_on == date(2026, 11, 4) and r.reference == "RC-1"
    # Each prefix of the history is a valid state, and replay is deterministic.
    assert fold(record(), events[:3]).state is RewardState.PROPOSED
    assert fold(record(), events) == r


def test_whoever_resplit_an_amount_counts_as_having_set_it() -> None:
    events = history()
    r = fold(record(), events[:2])
    assert r.proposers == frozenset({10}) and r.resplit_by == frozenset({11})
    assert r.amount_setters == frozenset({10, 11}) and not r.amended
    r = fold(record(), events)
    assert r.amount_setters == frozenset({10, 11, 12})
    # The system's own re-split (no actor) bars nobody.
    system = apply(
        fold(record(), events[:1]),
        ev(2, EventKind.RESPLIT, None, T0, amount=Decimal("500.00")),
    )
    assert system.amount_setters == frozenset({10}) and system.resplit_by == frozenset()


def test_fold_refuses_impossible_histories() -> None:
    events = history()
    with pytest.raises(CorruptHistory):
        fold(record(), [])
    with pytest.raises(CorruptHistory):
        fold(record(), events[1:])  # no proposal
    with pytest.raises(CorruptHistory):
        fold(record(), [events[0], events[4]])  # paid without approval (and a gap)
    approved = fold(record(), events[:4])
    with pytest.raises(CorruptHistory):
        apply(approved, ev(5, EventKind.AMENDED, 1, T0, amount=Decimal(1)))
    with pytest.raises(CorruptHistory):
        apply(approved, ev(5, EventKind.REJECTED, 1, T0, reason="x"))
    rejected = apply(fold(record(), events[:1]), ev(2, EventKind.REJECTED, 3, T0, reason="no"))
    assert rejected.state is RewardState.REJECTED and rejected.reject_reason == "no"
    for kind in EventKind:
        if kind is not EventKind.PROPOSED:
            with pytest.raises(CorruptHistory):
                apply(rejected, ev(3, kind, 1, T0, amount=Decimal(1)))


def test_periods() -> None:
    today = date(2026, 11, 23)
    p = parse_period("", today)
    assert (p.start, p.end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert parse_period("2026-02", today).end == date(2026, 2, 28)
    assert parse_period("2026", today).start == date(2026, 1, 1)
    assert parse_period("all", today).label == "all"
    assert parse_range("2026-10", "2026-11-05").end == date(2026, 11, 5)
    for bad in ("2026-13", "nov", "2026-02-30"):
        with pytest.raises(InvalidInput):
            parse_period(bad, today)
    with pytest.raises(InvalidInput):
        parse_range("2026-12-01", "2026-11-01")


def test_ledger_totals_and_csv_from_known_data() -> None:
    paid = fold(record(), history())  # approved 11-03 local, paid 11-04, 600
    approved = fold(
        record(
            "R-BBBBBB", sector="landlords", area=None, notice_ref=None, basis=Basis.DISCRETIONARY
        ),
        [
            RewardEvent("R-BBBBBB", 1, EventKind.PROPOSED, 10, T0, amount=Decimal("200.00")),
            RewardEvent(
                "R-BBBBBB", 2, EventKind.APPROVED, 20, datetime(2026, 10, 31, 17, tzinfo=UTC)
            ),
        ],
    )  # approved 2026-11-01 01:00 local time: November, although October in UTC
    proposed = fold(
        record("R-CCCCCC", notice_ref="=HYPERLINK()"),
        [RewardEvent("R-CCCCCC", 1, EventKind.PROPOSED, 10, T0, amount=Decimal("50.00"))],
    )
    rewards = [paid, approved, proposed]
    report = build_ledger(rewards, parse_period("2026-11", date(2026, 11, 23)), TZ)
    assert [r.reward_id for r in report.proposed] == ["R-CCCCCC"]
    assert [r.reward_id for r in report.unpaid] == ["R-BBBBBB"]
    notice = report.totals["notice"][("N-2611-07", "CNY")]
    assert (notice.approved, notice.paid) == (Decimal("600.00"), Decimal("600.00"))
    assert report.totals["sector"][("landlords", "CNY")].approved == Decimal("200.00")
    assert report.totals["area"][("-", "CNY")].paid == Decimal("0.00")
    month = report.totals["month"][("2026-11", "CNY")]
    assert (month.approved, month.paid, month.approved_count) == (
        Decimal("800.00"),
        Decimal("600.00"),
        2,
    )
    october = build_ledger(rewards, parse_period("2026-10", date(2026, 11, 23)), TZ)
    assert october.totals["month"] == {}
    # Only what the caller may see.
    scoped = build_ledger(
        rewards,
        parse_period("2026-11", date(2026, 11, 23)),
        TZ,
        lambda r: r.record.sector == "drivers",
    )
    assert ("landlords", "CNY") not in scoped.totals["sector"]

    text = ledger_csv(rewards, parse_range("2026-11-01", "2026-11-30"), TZ)
    assert text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("reward_id,tip_code,notice_ref")
    assert len(lines) == 4
    assert "R-ABCDEF,T-ABCDEF,N-2611-07,drivers,town-a,offer,paid,600.00,CNY" in lines[1]
    assert "2026-11-04" in lines[1] and "RC-1" in lines[1]
    assert "'=HYPERLINK()" in text  # formula injection neutralised
    assert len(ledger_csv(rewards, parse_range("2026-12-01", "2026-12-31"), TZ).splitlines()) == 1
