from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from broadcasts.delivery import Step, messages_per_group, plan_steps
from broadcasts.model import Notice, NoticeKind, Photo, Urgency
from broadcasts.ratelimit import Limits, RateLimiter, Window
from broadcasts.refs import format_ref, normalize_ref, ref_period, tip_payload
from broadcasts.text import (
    CAPTION_LIMIT,
    check_expiry,
    check_photo_count,
    check_rendered,
    check_title,
    parse_reward,
    utf16_len,
)
from kernel.errors import InvalidInput

T0 = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)


def notice(photos: int = 0, *, urgent: bool = False, pin: bool = False) -> Notice:
    return Notice(
        "n1",
        "N-2611-01",
        NoticeKind.WANTED_PERSON,
        "t",
        "b",
        1,
        T0,
        T0 + timedelta(days=7),
        photos=tuple(Photo(f"f{i}") for i in range(photos)),
        urgency=Urgency.URGENT if urgent else Urgency.NORMAL,
        pin=pin,
    )


def test_utf16_length_counts_like_telegram() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("协查通报") == 4  # BMP: one unit each
    assert utf16_len("🚨") == 2  # astral: a surrogate pair
    assert utf16_len("𠀀") == 2  # CJK extension B
    check_rendered("协" * CAPTION_LIMIT, has_photo=True)
    with pytest.raises(InvalidInput) as err:
        check_rendered("🚨" * 513, has_photo=True)  # 513 characters, 1026 units
    assert err.value.key == "notices.err.caption_long" and err.value.params["over"] == 2
    check_rendered("🚨" * 513, has_photo=False)


def test_input_checks() -> None:
    assert check_title("  寻找   嫌疑人 ") == "寻找 嫌疑人"
    with pytest.raises(InvalidInput):
        check_title("   ")
    with pytest.raises(InvalidInput):
        check_photo_count(11, required=False)
    with pytest.raises(InvalidInput):
        check_photo_count(0, required=True)
    check_photo_count(0, required=False)
    with pytest.raises(InvalidInput):
        check_expiry(T0, T0)
    assert parse_reward("5000 提供关键线索") == (Decimal("5000"), "提供关键线索")
    assert parse_reward("¥1,200.50元")[0] == Decimal("1200.50")
    for bad in ("abc", "-5", "0", "1.234", "nan"):
        with pytest.raises(InvalidInput):
            parse_reward(bad)


def test_refs() -> None:
    assert ref_period(T0) == "2611"
    assert format_ref("2611", 7) == "N-2611-07"
    assert format_ref("2611", 123) == "N-2611-123"
    assert normalize_ref("n-2611-7") == "N-2611-07"
    assert normalize_ref("N2611-07") == "N-2611-07"
    assert normalize_ref("hello") is None
    assert normalize_ref("N-2611-0") is None
    assert tip_payload("N-2611-07") == "tip_N-2611-07"


def test_plan_steps() -> None:
    assert plan_steps(notice(0)) == (Step.TEXT,)
    assert plan_steps(notice(1)) == (Step.PHOTO,)
    assert plan_steps(notice(3)) == (Step.ALBUM, Step.BUTTONS)
    assert plan_steps(notice(3, urgent=True, pin=True)) == (Step.ALBUM, Step.BUTTONS, Step.PIN)
    assert plan_steps(notice(1, urgent=False, pin=True)) == (Step.PHOTO,)
    assert messages_per_group(notice(3)) == 4


def test_window_is_strict_for_any_alignment() -> None:
    w = Window(3, 1.0)
    for t in (0.0, 0.1, 0.2):
        assert w.ready_at(1, t) == t
        w.take(1, t)
    assert w.ready_at(1, 0.3) == pytest.approx(1.0)
    assert w.ready_at(2, 0.3) == pytest.approx(1.1)
    # A request bigger than the limit goes alone into an empty window.
    big = Window(1, 1.0)
    assert big.ready_at(3, 0.0) == 0.0
    big.take(3, 0.0)
    assert big.ready_at(1, 0.5) == pytest.approx(1.0)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def simulate(
    limiter: RateLimiter, clock: FakeClock, chats: list[int], cost: int = 1
) -> list[float]:
    """Send one request per entry, each as early as the limiter allows."""
    times = []
    for chat in chats:
        at = limiter.ready_at(chat, cost, clock.t)
        clock.t = max(clock.t, at)
        limiter.take(chat, cost, clock.t)
        times.append(clock.t)
    return times


def test_limiter_global_group_and_chat_limits() -> None:
    clock = FakeClock()
    lim = RateLimiter(Limits(global_per_s=25, group_per_min=20, chat_per_s=1, jitter_s=0), clock)
    # 100 different groups: bounded by 25/s globally, each second's 25 spread over quarters
    # (at most 8 per 0.25 s): the 100th goes at 3.75 s.
    times = simulate(lim, clock, [-i for i in range(1, 101)])
    assert times[7] == 0.0 and times[8] == pytest.approx(0.25)
    assert times[24] == pytest.approx(0.75) and times[25] == pytest.approx(1.0)
    assert times[-1] == pytest.approx(3.75)
    clock1 = FakeClock()  # without smoothing, a second's allowance leaves at once
    burst = RateLimiter(Limits(global_per_s=25, global_slices=1, jitter_s=0), clock1)
    assert simulate(burst, clock1, [-i for i in range(1, 27)])[24:] == pytest.approx([0.0, 1.0])
    # One group: one per second, and no more than 20 in any minute.
    clock2 = FakeClock()
    lim2 = RateLimiter(Limits(), clock2)
    one = simulate(lim2, clock2, [-5] * 21)
    assert one[1] == pytest.approx(1.1)  # one per second, with a margin for network jitter
    assert one[20] == pytest.approx(60.0)
    # Private chats have no per-minute limit and allow a short burst (a reply and the next
    # question) at the same average of one per second.
    clock3 = FakeClock()
    lim3 = RateLimiter(Limits(), clock3)
    private = simulate(lim3, clock3, [7] * 21)
    assert private[:4] == [0.0] * 4 and private[4] == pytest.approx(4.4)
    assert private[20] == pytest.approx(22.0)
    clock4 = FakeClock()
    strict = simulate(RateLimiter(Limits(private_burst=1, chat_margin=1), clock4), clock4, [7] * 3)
    assert strict == pytest.approx([0.0, 1.0, 2.0])
    # A fractional rate stretches the window rather than rounding to nothing.
    clock5 = FakeClock()
    slow = RateLimiter(Limits(chat_per_s=0.5, chat_margin=1), clock5)
    assert simulate(slow, clock5, [-9] * 3) == pytest.approx([0.0, 2.0, 4.0])


def test_album_items_count_each() -> None:
    clock = FakeClock()
    lim = RateLimiter(Limits(global_per_s=10, group_per_min=20, chat_per_s=1, jitter_s=0), clock)
    times = simulate(lim, clock, [-1, -2, -3, -4], cost=3)
    assert times[:3] == pytest.approx([0.0, 0.25, 0.5])  # 4 per quarter second
    assert times[3] == pytest.approx(1.0)  # 9 used: a fourth album of 3 must wait


def test_quiet_chats_windows_are_dropped() -> None:
    clock = FakeClock()
    lim = RateLimiter(Limits(global_per_s=1000, jitter_s=0), clock)
    simulate(lim, clock, [-i for i in range(1, 101)] + [i for i in range(1, 101)])
    assert lim.tracked_chats == 200
    clock.t = 61.0  # longer than any window (a group's minute): the next send sweeps
    simulate(lim, clock, [-1])
    assert lim.tracked_chats == 1


def test_global_window_keeps_a_margin_for_jitter_and_a_fractional_rate() -> None:
    clock = FakeClock()
    lim = RateLimiter(Limits(global_per_s=2, global_slices=1, jitter_s=0.01), clock)
    # Let go exactly one window after the first, a message could arrive inside it.
    assert simulate(lim, clock, [-1, -2, -3]) == pytest.approx([0.0, 0.0, 1.01])
    # 2.5 per second: 2 in any second (a shorter window would let 3 into some second);
    # 0.5 per second: 1 per 2 s.
    clock2 = FakeClock()
    frac = RateLimiter(Limits(global_per_s=2.5, global_slices=1, jitter_s=0), clock2)
    assert simulate(frac, clock2, [-1, -2, -3, -4, -5]) == pytest.approx([0.0, 0.0, 1.0, 1.0, 2.0])
    clock3 = FakeClock()
    slow = RateLimiter(Limits(global_per_s=0.5, global_slices=1, jitter_s=0), clock3)
    assert simulate(slow, clock3, [-1, -2, -3]) == pytest.approx([0.0, 2.0, 4.0])


def test_429_holds_the_chat_and_slows_down_then_recovers() -> None:
    clock = FakeClock()
    limits = Limits(
        global_per_s=20, slowdown=0.5, recover_after_s=10, cluster=3, cluster_s=2, jitter_s=0
    )
    lim = RateLimiter(limits, clock)
    lim.retry_after(-1, 5, clock.t)
    assert lim.ready_at(-1, 1, 0.0) == pytest.approx(5.0)
    assert lim.ready_at(-2, 1, 0.0) == 0.0
    assert lim.factor == 1.0  # a lone 429 is most likely that chat's own limit, or jitter
    lim.retry_after(-3, 1, 1.5)
    assert lim.factor == 1.0  # two: still not a cluster of three
    lim.retry_after(-4, 1, 4.0)
    assert lim.factor == 1.0  # the first has left the 2 s cluster window
    lim.retry_after(-5, 1, 4.5)
    assert lim.factor == 1.0
    lim.retry_after(-6, 1, 5.0)
    assert lim.factor == 0.5  # three within 2 s: the bot as a whole is too fast
    clock.t = 5.0
    times = simulate(lim, clock, [-(i + 10) for i in range(11)])
    assert times[10] == pytest.approx(6.0)  # only 10/s now
    clock.t = 25.0
    lim.ready_at(-99, 1, clock.t)
    assert lim.factor == 1.0
    lim.retry_after(None, 1, clock.t)
    assert lim.factor == 0.5  # a 429 that names no chat is the bot's own limit
    lim.forget_idle(100.0)
