"""``python -m console``: settings -> database -> the console; stops on SIGINT/SIGTERM.

Exit codes as ``python -m bot``: 2 configuration (also: the port is taken, or no
MONGODB_URI), 3 database unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from bot.config import Settings, describe_error
from bot.logs import configure_logging
from console.app import ConsoleBindError
from console.runner import ConsoleConfigError, run
from storage.client import DatabaseUnavailable


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, stop)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"six-circles console: {describe_error(exc)}", file=sys.stderr)
        return 2
    secrets = [settings.bot_token.get_secret_value()]
    if settings.mongodb_uri is not None:
        secrets.append(settings.mongodb_uri.get_secret_value())
    configure_logging(settings.log_level, secrets)
    try:
        asyncio.run(_main(settings))
    except (ConsoleConfigError, ConsoleBindError) as exc:
        print(f"six-circles console: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"six-circles console: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        pass
    logging.getLogger("six_circles").info("console stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
