"""The embedded SecantusDB as the bot starts it: how the driver talks to it, and that it
never outlives the bot."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from pymongo import monitoring

from storage.client import make_client
from storage.embedded import EmbeddedMongo
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


class Writes(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in {"insert", "update", "delete", "findAndModify"}:
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


async def test_writes_to_the_embedded_database_are_not_retryable_writes(
    mongo_server: EmbeddedMongo, db_name: str
) -> None:
    # SecantusDB records every retryable write and rescans the records on each write,
    # so per-write CPU grows with traffic; a loopback server has no failover to retry.
    writes = Writes()
    client = make_client(mongo_server.uri, event_listeners=[writes])  # as the bot connects
    try:
        c = client[db_name].probe
        await c.insert_one({"_id": 1, "n": 0})
        await c.update_one({"_id": 1}, {"$inc": {"n": 1}})
        await c.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}})
        await c.delete_one({"_id": 1})
    finally:
        await client.close()
    assert len(writes.commands) == 4
    assert not [w for w in writes.commands if "txnNumber" in w]


CHILD = """
import asyncio, sys
from pathlib import Path
from storage.client import make_client
from storage.embedded import EmbeddedMongo

async def main():
    server = EmbeddedMongo(Path(sys.argv[1]))
    await server.start()
    print(server._proc.pid, flush=True)
    await asyncio.Event().wait()  # until the test kills this process

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_the_embedded_database_dies_with_the_bot_even_on_sigkill(tmp_path: Path) -> None:
    # Otherwise it lives on holding the data directory, and the next start fails.
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(tmp_path / "data"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    server_pid = 0
    try:
        assert bot.stdout is not None
        server_pid = int(await asyncio.wait_for(bot.stdout.readline(), 60))
        assert alive(server_pid)
        bot.send_signal(signal.SIGKILL)
        await asyncio.wait_for(bot.wait(), 10)
        await wait_until(lambda: not alive(server_pid))
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
        if server_pid and alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)
