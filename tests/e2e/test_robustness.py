"""Issue 13, bad input and honesty: the real bot over the fake Bot API and the real database.

Each test here failed before its fix: a flood guard that forgot nothing and let edits and
join requests through, numbers that overflowed the database, buttons left spinning, relays
that failed silently, scope leaks of /remove and /ban, an acknowledgement the tipster never
heard of.
"""

from __future__ import annotations

from tests.e2e.harness import BotRunner, World, wait_until

GROUP = -1001300000001


async def test_flood_guard_covers_edits_and_join_requests_and_forgets(
    world: World, runner: BotRunner
) -> None:
    await runner.restart(throttle_messages=2, throttle_window_s=10)
    guard = world.app.ctx.services["throttle"]
    now = [1000.0]
    guard.clock = lambda: now[0]
    world.tg.add_group(GROUP, "Drivers")
    ann = world.person("ann", lang="en")

    await ann.says("/start")
    await ann.expect("Six Circles")
    said = await ann.says("/whoami")
    await ann.expect("User id")
    # Third update in the window: an edit. Refused, and said once.
    await world.tg.edit_message(said, "/whoami again")
    await ann.expect("Too many requests")
    # A button press is answered even when the warning was already given.
    qid = await world.tg.press(ann.user, said, "zz:nothing", strict=False)
    await wait_until(lambda: world.tg.answered_callback(qid) is not None)
    # A join request is declined (left pending nobody would decide it) and explained.
    await world.tg.join_request(ann.id, GROUP)
    await world.tg.wait_for_call("declineChatJoinRequest", chat_id=GROUP)
    await ann.expect("ask to join again")
    assert await world.db.applications.count_documents({}) == 0

    # Many people hit the guard; a window later it remembers none of them.
    for i in range(5):
        p = world.person(f"p{i}", lang="en")
        for _ in range(3):
            await p.says("/whoami")
        await p.expect("Too many requests")
    assert guard.tracked() == (6, 6)
    now[0] += 11
    await ann.says("/whoami")
    await ann.expect("User id")
    assert guard.tracked() == (1, 0)
