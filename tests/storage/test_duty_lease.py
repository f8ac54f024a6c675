"""The scheduler lease duty's sweeps run under: one holder, takeover when it stops renewing."""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.jobs import LEASE, Jobs
from kernel.clock import ManualClock
from storage.client import Database
from storage.leases import MongoLeases


def process(db: Database, clock: ManualClock, runs: list[str], name: str) -> Jobs:
    jobs = Jobs(AsyncIOScheduler(), MongoLeases(db), clock, lease_ttl_s=30)

    async def sweep() -> None:
        runs.append(name)

    jobs.every("duty.escalate", 15, sweep)
    return jobs


async def test_only_the_holder_sweeps_and_another_takes_over(db: Database) -> None:
    clock = ManualClock()
    runs: list[str] = []
    a, b = process(db, clock, runs, "a"), process(db, clock, runs, "b")
    assert await a.renew() and not await b.renew()
    await a._run("duty.escalate")
    await b._run("duty.escalate")
    assert runs == ["a"]
    # a keeps renewing within its lease: b still cannot take it.
    clock.advance(20)
    assert await a.renew() and not await b.renew()
    # a stops renewing (crashed, paused): once its lease runs out, b takes over.
    clock.advance(31)
    assert await b.renew()
    assert await MongoLeases(db).holder(LEASE) == b.holder_id
    # a still believes it leads (no renewal since); it re-checks before sweeping.
    assert a.is_leader
    await a._run("duty.escalate")
    await b._run("duty.escalate")
    assert runs == ["a", "b"] and not a.is_leader
    # a stopping does not release b's lease; b stopping hands it over at once.
    await a.stop()
    assert await MongoLeases(db).holder(LEASE) == b.holder_id
    assert not await a.renew()  # a stopped process never leads again
    c = process(db, clock, runs, "c")
    assert not await c.renew()
    await b.stop()
    assert await c.renew()
    await c._run("duty.escalate")
    await b._run("duty.escalate")
    assert runs == ["a", "b", "c"]
