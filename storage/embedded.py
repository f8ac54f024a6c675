"""The embedded development database: a SecantusDB server run as a child process.

SecantusDB is GPL-licensed, so it is never imported: it is started as a separate
server process on loopback and spoken to over the MongoDB wire protocol, exactly like
any other MongoDB. Production deployments set MONGODB_URI and never start it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pymongo.errors import PyMongoError

from storage.client import DatabaseUnavailable, make_client

log = logging.getLogger(__name__)


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: a function for the forked child that makes the server get SIGTERM when the
    bot's process dies, even by SIGKILL or a crash, instead of living on and holding the
    data directory's lock (the next start would then fail until someone killed it by
    hand). Linux sends it when the thread that started the server ends: start it from the
    event loop's (main) thread, as the bot and the tests do. Everything is looked up here,
    in the parent: between fork and exec the child only makes the one call (no imports,
    no locks another thread might have held at the fork)."""
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def in_child() -> None:  # pragma: no cover - runs in the forked child
        prctl(pr_set_pdeathsig, sigterm)

    return in_child


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server_command() -> list[str]:
    exe = Path(sys.executable).with_name("secantusd-py")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("secantusd-py")
    if found:
        return [found]
    raise DatabaseUnavailable(
        "no MONGODB_URI is set and the embedded database (SecantusDB) is not installed: "
        "install it with `pip install -e '.[embedded]'` (scripts/run does this) "
        "or set MONGODB_URI to a MongoDB server"
    )


class EmbeddedMongo:
    """Start/stop a loopback SecantusDB with its data under ``data_dir``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, log_file: Path | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_file = log_file or data_dir / "secantus.log"
        self._proc: asyncio.subprocess.Process | None = None
        self._log_handle: int | None = None

    @property
    def uri(self) -> str:
        # retryWrites=false: a retryable write (the driver's default against a replica
        # set, which SecantusDB reports itself as) makes SecantusDB 0.7 record the reply
        # and scan every record of the last 30 minutes on each write, then sort them all
        # once there are 10,000: per-write CPU grew from ~2 to ~7 ms over a five-minute
        # run (profiled). A loopback server has no failover for a retry to ride out.
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true&retryWrites=false"

    async def start(self, *, deadline_s: float = 30.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            *_server_command(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.data_dir / "db"),
            "--log-level",
            "WARNING",
        ]
        self._log_handle = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=self._log_handle,
            cwd=str(self.data_dir),
            preexec_fn=_die_with_parent(),
        )
        log.info(
            "embedded database starting on 127.0.0.1:%s (data in %s)", self.port, self.data_dir
        )
        await self._wait_ready(deadline_s)
        return self.uri

    async def _wait_ready(self, deadline_s: float) -> None:
        client = make_client(self.uri, timeout_ms=500)
        deadline = time.monotonic() + deadline_s
        try:
            while True:
                if self._proc is not None and self._proc.returncode is not None:
                    raise DatabaseUnavailable(
                        f"the embedded database exited with code {self._proc.returncode}; "
                        f"see {self.log_file}"
                    )
                try:
                    await client.admin.command("ping")
                    return
                except PyMongoError:
                    if time.monotonic() > deadline:
                        await self.stop()
                        raise DatabaseUnavailable(
                            f"the embedded database did not answer ping within {deadline_s:.0f} s;"
                            f" see {self.log_file}"
                        ) from None
                    await asyncio.sleep(0.05)
        finally:
            await client.close()

    async def stop(self, *, timeout_s: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                log.warning("embedded database did not stop in %.0f s; killing it", timeout_s)
                proc.kill()
                await proc.wait()
        if self._log_handle is not None:
            with contextlib.suppress(OSError):
                os.close(self._log_handle)
            self._log_handle = None
