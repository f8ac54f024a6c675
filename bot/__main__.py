"""``python -m bot``: settings -> database -> polling or webhook; stops on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from bot.config import Settings, describe_error
from bot.logs import configure_logging
from bot.runner import StartupError, freeze_heap, run
from console.app import ConsoleBindError
from storage.client import DatabaseUnavailable, InvalidDatabaseUri


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    freeze_heap()
    await run(settings, stop)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"six-circles: {describe_error(exc)}", file=sys.stderr)
        return 2
    secrets = [settings.bot_token.get_secret_value()]
    if settings.webhook_secret is not None:
        secrets.append(settings.webhook_secret.get_secret_value())
    if settings.mongodb_uri is not None:
        secrets.append(settings.mongodb_uri.get_secret_value())
    if settings.tips_id_key is not None:
        secrets.append(settings.tips_id_key.get_secret_value())
    configure_logging(settings.log_level, secrets)
    try:
        asyncio.run(_main(settings))
    except InvalidDatabaseUri as exc:
        print(f"six-circles: invalid configuration: MONGODB_URI: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"six-circles: {exc}", file=sys.stderr)
        return 3
    except ConsoleBindError as exc:  # CONSOLE_HOST/CONSOLE_PORT: configuration
        print(f"six-circles: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"six-circles: {exc}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        pass
    logging.getLogger("six_circles").info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
