"""The sender's Pacer: who goes first when outgoing traffic has to wait."""

from __future__ import annotations

import asyncio
import time

from bot.sender import Pacer
from broadcasts.ratelimit import Limits, RateLimiter

# Every window 50 times shorter than Telegram's: one message per 20 ms overall.
FAST = 50.0


def pacer(**limits: float) -> Pacer:
    values = {"global_per_s": 1.0, "global_slices": 1, "time_scale": FAST} | limits
    return Pacer(RateLimiter(Limits(**values), time.monotonic))  # type: ignore[arg-type]


async def served(p: Pacer, requests: list[tuple[str, int | None, bool]]) -> list[str]:
    """Queue the requests at once (in this order) and return the order they were let go."""
    order: list[str] = []

    async def one(name: str, chat: int | None, urgent: bool) -> None:
        await p.acquire(chat, 1, urgent)
        order.append(name)

    await asyncio.gather(*(one(*r) for r in requests))
    return order


async def test_urgent_requests_jump_the_queue_normal_ones_keep_their_order() -> None:
    p = pacer()
    # Telegram said "retry after" for everything: every request below has to wait, so
    # all of them are queued before the first is let go.
    p.retry_after(None, 0.3)
    order = await served(
        p,
        [
            ("n1", -1, False),
            ("n2", -2, False),
            ("u1", -3, True),
            ("n3", -4, False),
            ("u2", -5, True),
        ],
    )
    assert order == ["u1", "u2", "n1", "n2", "n3"]
    await p.close()


async def test_urgent_request_held_by_its_own_chat_does_not_hold_others() -> None:
    p = pacer(global_per_s=100.0, time_scale=2.0)  # a group: one message per 0.55 s
    await p.acquire(-1, 1)  # group -1 just got a message
    order = await served(p, [("urgent to -1", -1, True), ("normal to -2", -2, False)])
    assert order == ["normal to -2", "urgent to -1"]
    await p.close()


async def test_single_messages_use_units_an_album_cannot_use_yet_bounded() -> None:
    p = pacer(global_per_s=4.0)  # 4 units per 20 ms
    await p.acquire(-1, 2)  # 2 of the 4 units are used: an album of 3 has to wait
    order: list[str] = []

    async def one(name: str, chat: int, cost: int) -> None:
        await p.acquire(chat, cost)
        order.append(name)

    album = asyncio.ensure_future(one("album", -2, 3))  # tasks start in this order
    singles = [asyncio.ensure_future(one(f"m{i}", -(10 + i), 1)) for i in range(4)]
    await asyncio.gather(album, *singles)
    # Two single messages use the two free units at once (fewer than the album's 3 in
    # all); the rest keep their place behind the album.
    assert order[:2] == ["m0", "m1"]
    assert order[2:] == ["album", "m2", "m3"]
    await p.close()


async def test_a_refused_request_gives_its_units_back() -> None:
    # A group's 20-a-minute allowance (the minute 50 times shorter: 1.2 s). An album of
    # 3 refused with 429 seven times in a row used to be charged 21 units, so the eighth
    # try waited for the first to age out of the minute although Telegram counted none.
    p = pacer(global_per_s=1000.0, chat_per_s=1000.0, time_scale=FAST)
    for _ in range(7):
        granted = await p.acquire(-1, 3)
        p.retry_after(-1, 0.0, (3, granted))  # Telegram: 429, retry at once
    limiter = p.limiter
    now = time.monotonic()
    assert limiter.chat_ready_at(-1, 3, now) <= now + 0.05  # not a group-minute away
    assert limiter.retries_after_429 == 7
    await p.close()


async def test_a_retry_keeps_its_place_in_line() -> None:
    p = pacer()  # one message per 20 ms overall
    first = p.ticket()
    granted = await p.acquire(-1, 1, ticket=first)
    # Telegram refused it (retry after 30 ms); meanwhile 20 requests for other groups queue.
    p.retry_after(-1, 0.03, (1, granted))
    order: list[str] = []

    async def one(name: str, chat: int, ticket: int | None = None) -> None:
        await p.acquire(chat, 1, ticket=ticket)
        order.append(name)

    others = [asyncio.ensure_future(one(f"m{i}", -(10 + i))) for i in range(20)]
    await asyncio.sleep(0)  # they are queued first
    retry = asyncio.ensure_future(one("retry", -1, first))
    await asyncio.gather(retry, *others)
    # Not behind the 20: as soon as its group may be written to again, it goes next.
    assert order.index("retry") <= 3, order
    await p.close()
