"""Scheduled work on APScheduler, with MongoDB as the source of truth.

Features register *sweeps*: idempotent coroutines that process whatever is due at
``clock.now()`` (escalations, shift changes, scheduled notices, reminders), claiming each
item atomically in MongoDB. APScheduler only decides *when* to sweep: periodically, and
early via ``wake_at`` for a known due time. So a restart loses nothing (the next sweep
finds what is due) and nothing fires twice (claims are atomic).

When several bot processes share a database, only the holder of the ``scheduler`` lease
runs sweeps; the others take over when it stops renewing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from kernel.clock import Clock
from storage.leases import MongoLeases

log = logging.getLogger(__name__)

Sweep = Callable[[], Awaitable[None]]
LEASE = "scheduler"


class Jobs:
    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        leases: MongoLeases,
        clock: Clock,
        *,
        lease_ttl_s: float = 30.0,
    ) -> None:
        self._scheduler = scheduler
        self._leases = leases
        self._clock = clock
        self._ttl = lease_ttl_s
        self.holder_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._sweeps: dict[str, tuple[float, Sweep]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.is_leader = False
        self._lease_until: datetime | None = None
        self._stopped = False

    @property
    def leases(self) -> MongoLeases:
        """The process's leases (take any other lease through it: /status lists it)."""
        return self._leases

    def every(self, name: str, seconds: float, sweep: Sweep) -> None:
        """Run ``sweep`` every ``seconds`` on the lease holder."""
        if name in self._sweeps:
            raise ValueError(f"sweep {name!r} registered twice")
        self._sweeps[name] = (seconds, sweep)
        self._locks[name] = asyncio.Lock()

    def wake_at(self, name: str, when: datetime) -> None:
        """Run sweep ``name`` at ``when`` as well (a hint; the periodic run is the guarantee)."""
        if name not in self._sweeps or not self._scheduler.running:
            return
        self._scheduler.add_job(
            self._run,
            "date",
            run_date=when,
            args=[name],
            id=f"wake:{name}:{when.isoformat()}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def wake_in(self, name: str, seconds: float) -> None:
        """Run sweep ``name`` once more in ``seconds`` (on the scheduler's own clock), e.g. to
        retry work that has to wait for a claim to lapse. A hint, like ``wake_at``."""
        if name not in self._sweeps or not self._scheduler.running:
            return
        when = datetime.now(UTC) + timedelta(seconds=seconds)
        # At most one such wake per sweep, the earliest asked for: the run it makes asks
        # again if there is still work that has to wait.
        job_id = f"wake:{name}:in"
        job = self._scheduler.get_job(job_id)
        if job is not None and job.next_run_time is not None and job.next_run_time <= when:
            return
        self._scheduler.add_job(
            self._run,
            "date",
            run_date=when,
            args=[name],
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def renew(self) -> bool:
        if self._stopped:
            return False
        now = self._clock.now()
        try:
            self.is_leader = await self._leases.acquire(LEASE, self.holder_id, now, self._ttl)
        except Exception:
            log.exception("lease renewal failed")
            self.is_leader = False
        self._lease_until = now + timedelta(seconds=self._ttl) if self.is_leader else None
        return self.is_leader

    async def _run(self, name: str) -> None:
        if self._stopped:
            return
        # A lease that ran out since the last renewal (a paused process, a slow event
        # loop) may already belong to another process: re-check before sweeping.
        if self.is_leader and (self._lease_until is None or self._clock.now() >= self._lease_until):
            await self.renew()
        if not self.is_leader:
            return
        async with self._locks[name]:  # never overlap a sweep with itself
            if not self.is_leader:  # stopped while waiting for the lock
                return
            try:
                await self._sweeps[name][1]()
            except Exception:
                log.exception("sweep %s failed", name)

    async def run_now(self, *names: str) -> None:
        """Run sweeps immediately (all when none named): tests and operators use this."""
        for name in names or tuple(self._sweeps):
            async with self._locks[name]:
                await self._sweeps[name][1]()

    async def start(self) -> None:
        await self.renew()
        self._scheduler.add_job(
            self.renew, "interval", seconds=self._ttl / 3, id="lease", replace_existing=True
        )
        for name, (seconds, _) in self._sweeps.items():
            self._scheduler.add_job(
                self._run,
                "interval",
                seconds=seconds,
                args=[name],
                id=f"sweep:{name}",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )

    async def stop(self) -> None:
        self._stopped = True  # no renewals and no new sweeps from here on
        was_leader, self.is_leader = self.is_leader, False
        # Let sweeps in flight finish (they may be sending) before the database closes.
        for lock in self._locks.values():
            try:
                await asyncio.wait_for(lock.acquire(), timeout=10)
            except TimeoutError:
                log.warning("a sweep is still running at shutdown")
                continue
            lock.release()
        if was_leader:
            try:
                await self._leases.release(LEASE, self.holder_id)
            except Exception:
                log.exception("lease release failed")
        self.is_leader = False
        self._lease_until = None
