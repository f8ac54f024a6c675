"""What one bot instance is and does: the facts behind ``GET /status`` and the /status command.

Several instances may share one database (docs/deployment.md). Each has an id (its
scheduler lease holder id, ``host:pid:random``) and holds zero or more leases: the roles
only one instance at a time may play (``scheduler`` today). The roles are read from the
process's ``MongoLeases`` (``Jobs.leases``), so a lease added later appears by itself.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import App
    from storage.leases import Lease

DIST_NAME = "six-circles"
# Process start, as near as Python lets us see it: this module is imported at start-up.
STARTED_AT = datetime.now(UTC)
_STARTED_MONOTONIC = time.monotonic()


def app_version() -> str:
    try:
        return version(DIST_NAME)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def uptime_s() -> float:
    return time.monotonic() - _STARTED_MONOTONIC


def format_uptime(seconds: float) -> str:
    """``3d 04:05:06`` / ``04:05:06``: the same in every language."""
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    hms = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {hms}" if days else hms


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    instance: str | None  # None until the app is built (start-up in progress)
    host: str
    pid: int
    version: str
    mode: str
    started_at: datetime
    uptime_s: float
    ready: bool
    leases: list[str]  # leases this instance holds now: its roles

    def to_json(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "mode": self.mode,
            "started_at": self.started_at.isoformat(),
            "uptime_s": round(self.uptime_s, 1),
            "ready": self.ready,
            "leases": list(self.leases),
        }


def instance_status(app: App | None, mode: str, *, ready: bool) -> InstanceStatus:
    """This instance's facts, without a database round trip."""
    held: list[str] = []
    instance = None
    if app is not None:
        instance = app.ctx.jobs.holder_id
        held = [lease.name for lease in app.ctx.jobs.leases.held(app.ctx.clock.now())]
    return InstanceStatus(
        instance=instance,
        host=socket.gethostname(),
        pid=os.getpid(),
        version=app_version(),
        mode=mode,
        started_at=STARTED_AT,
        uptime_s=uptime_s(),
        ready=ready,
        leases=held,
    )


def lease_json(lease: Lease, now: datetime) -> dict[str, Any]:
    return {
        "name": lease.name,
        "holder": lease.holder,
        "until": lease.until.isoformat(),
        "expired": not lease.valid_at(now),
    }
