"""Run the real bot (``bot.runner.run``) against the fake Bot API and the real database.

Scenario helpers make tests read like what people do::

    async def test_grant(world: World) -> None:
        boss, ann = world.superadmin(), world.person("ann")
        await ann.says("/start")
        await boss.says("/grant investigator @ann")
        await boss.expect("investigator")
        await ann.expect("granted")
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Settings
from bot.runner import run
from kernel.clock import ManualClock
from storage.embedded import EmbeddedMongo, free_port
from tests.fakebot import FakeTelegram
from tests.waiting import DEADLINE_S, wait_until  # noqa: F401 (re-exported to the e2e tests)

BOT_ID = 4_242_000
TOKEN = f"{BOT_ID}:" + "T" * 35
SUPERADMIN_ID = 1001
WEBHOOK_SECRET = "test-webhook-secret_123"
TIPS_ID_KEY = "e2e-tips-id-key-" + "k" * 32  # the bot refuses to start without one here
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai


def test_settings(
    tg: FakeTelegram, mongo_uri: str | None, db_name: str, data_dir: Path, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "mongodb_uri": mongo_uri,
        "mongodb_db": db_name,
        "telegram_api_url": tg.base_url,
        "superadmin_ids": [SUPERADMIN_ID],
        "tips_id_key": TIPS_ID_KEY,
        "default_locale": "zh-CN",
        "data_dir": data_dir,
        "polling_timeout_s": 2,
        "log_level": "WARNING",
        # Scenario people answer within milliseconds, no human does: let private chats
        # burst (pacing itself is covered by the limiter's unit tests and the notices tests).
        "send_private_burst": 30,
        # The officer console (its own port, a change stream) only where a test asks for it:
        # tests/console/ starts it on a free port.
        "console_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def button_labels(message: dict[str, Any]) -> list[str]:
    """The texts of a message's inline buttons, row by row."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b.get("text", "") for row in rows for b in row]


def button_data(message: dict[str, Any], label: str) -> str | None:
    """The callback data of the button labelled exactly ``label`` (None when absent)."""
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        for b in row:
            if b.get("text") == label and "callback_data" in b:
                return str(b["callback_data"])
    return None


class BotRunner:
    """Start, stop and restart the bot in-process, like ``python -m bot`` does."""

    def __init__(
        self, tg: FakeTelegram, mongo_uri: str | None, db_name: str, data_dir: Path
    ) -> None:
        self.tg = tg
        self.mongo_uri = mongo_uri
        self.db_name = db_name
        self.data_dir = data_dir
        self.clock = ManualClock(START)
        self.app: App | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self.overrides: dict[str, Any] = {}
        # Keyword arguments for bot.runner.run besides the settings (e.g. console_pages).
        self.run_options: dict[str, Any] = {}

    def settings(self, **overrides: Any) -> Settings:
        merged = self.overrides | overrides
        return test_settings(self.tg, self.mongo_uri, self.db_name, self.data_dir, **merged)

    async def start(self, **overrides: Any) -> App:
        if self._task is not None:
            raise RuntimeError("bot already running")
        self.overrides |= overrides
        settings = self.settings()
        ready: asyncio.Future[App] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()

        def on_ready(app: App) -> None:
            ready.set_result(app)

        self._task = asyncio.create_task(
            run(settings, self._stop, clock=self.clock, on_ready=on_ready, **self.run_options)
        )
        done, _ = await asyncio.wait(
            {self._task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )  # type: ignore[arg-type]
        if ready not in done:
            task, self._task = self._task, None
            if task in done:
                task.result()  # raises the start-up error
            task.cancel()
            raise AssertionError("bot did not become ready within 30 s")
        self.app = ready.result()
        return self.app

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        assert self._stop is not None
        self._stop.set()
        try:
            await asyncio.wait_for(task, timeout=30)
        finally:
            self.app = None

    async def crash(self) -> None:
        """Stop without a clean shutdown of in-flight work: cancel the runner task."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.app = None

    async def restart(self, **overrides: Any) -> App:
        await self.stop()
        return await self.start(**overrides)


class Person:
    """A Telegram user acting on the bot, with an inbox cursor for their private chat."""

    def __init__(self, world: World, user: dict[str, Any]) -> None:
        self.world = world
        self.user = user
        self.id: int = user["id"]
        self._seen = 0

    @property
    def tg(self) -> FakeTelegram:
        return self.world.tg

    async def says(self, text: str, chat: Any = None, **kw: Any) -> dict[str, Any]:
        return await self.tg.send_message(self.user, chat=chat, text=text, **kw)

    async def sends(self, chat: Any = None, **kw: Any) -> dict[str, Any]:
        return await self.tg.send_message(self.user, chat=chat, **kw)

    async def presses(self, message: dict[str, Any], data: str) -> str:
        return await self.tg.press(self.user, message, data)

    async def taps(
        self, label: str, message: dict[str, Any] | None = None, *, chat: Any = None
    ) -> str:
        """Press the inline button labelled ``label``, as a person does: on ``message``, or on
        the newest message in this person's private chat (or in ``chat``) that has one.
        Returns the callback query id."""
        message = message if message is not None else self.message_with(label, chat=chat)
        data = button_data(self.tg.message_rec(message).data, label)
        if data is None:
            raise AssertionError(
                f"no button {label!r} on message {message.get('message_id')}; "
                f"buttons: {button_labels(self.tg.message_rec(message).data)}"
            )
        return await self.tg.press(self.user, message, data)

    def message_with(self, label: str, *, chat: Any = None) -> dict[str, Any]:
        """The newest message (current version) carrying a button labelled ``label``."""
        for msg in reversed(self.tg.sent_to(chat if chat is not None else self.id)):
            if button_data(msg, label) is not None:
                return msg
        raise AssertionError(f"no message with a button {label!r}")

    def inbox(self) -> list[dict[str, Any]]:
        return self.tg.sent_to(self.id)

    async def expect(
        self, contains: str | None = None, *, timeout: float = DEADLINE_S
    ) -> dict[str, Any]:
        """Wait for the next message the bot sends this person (containing ``contains``)."""
        found: list[dict[str, Any]] = []

        def check() -> bool:
            for i, msg in enumerate(self.inbox()[self._seen :], start=self._seen):
                text = msg.get("text") or msg.get("caption") or ""
                if contains is None or contains in text:
                    found.append(msg)
                    self._seen = i + 1
                    return True
            return False

        await self.tg.wait_for(check, timeout=timeout)
        return found[0]

    async def expect_nothing_new(self) -> None:
        """Assert the bot has sent nothing new to this person (after the bot went idle)."""
        await self.world.idle()
        new = self.inbox()[self._seen :]
        assert not new, [m.get("text") for m in new]

    def skip_inbox(self) -> None:
        self._seen = len(self.inbox())


class World:
    """The fake Telegram, the running bot, and the people in the scenario."""

    def __init__(self, tg: FakeTelegram, runner: BotRunner) -> None:
        self.tg = tg
        self.runner = runner
        self._people: dict[str, Person] = {}
        self._next_id = 2000

    @property
    def app(self) -> App:
        assert self.runner.app is not None, "bot is not running"
        return self.runner.app

    @property
    def clock(self) -> ManualClock:
        return self.runner.clock

    @property
    def db(self) -> Any:
        return self.app.ctx.db

    def person(
        self,
        name: str,
        *,
        user_id: int | None = None,
        lang: str = "zh-hans",
        started: bool = True,
    ) -> Person:
        if name in self._people:
            return self._people[name]
        if user_id is None:
            self._next_id += 1
            user_id = self._next_id
        user = self.tg.add_user(
            user_id, name.capitalize(), username=name, language_code=lang, started=started
        )
        person = Person(self, user)
        self._people[name] = person
        return person

    def superadmin(self, lang: str = "zh-hans") -> Person:
        return self.person("boss", user_id=SUPERADMIN_ID, lang=lang)

    async def idle(self, timeout: float = DEADLINE_S) -> None:
        """Wait until the bot has fetched every injected update and finished handling it
        (and the background work handlers started, e.g. duty cards)."""
        await self.tg.wait_until_idle(timeout=timeout)
        # The fake saw every update confirmed (next getUpdates) or answered (webhook): by
        # then the bot has started feeding each one, and counts it until it is handled.
        inflight = self.app.ctx.inflight
        assert await inflight.drained(timeout), f"{inflight.count} update(s) still in flight"

    async def advance(self, seconds: float, *sweeps: str) -> None:
        """Move the bot's clock and run scheduled sweeps (all when none named)."""
        self.clock.advance(seconds)
        self.tg.advance(seconds)
        await self.app.ctx.jobs.run_now(*sweeps)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(bot_id=BOT_ID) as fake:
        yield fake


@pytest.fixture
async def runner(
    tg: FakeTelegram, mongo_server: EmbeddedMongo, db_name: str, tmp_path: Path
) -> AsyncIterator[BotRunner]:
    r = BotRunner(tg, mongo_server.uri, db_name, tmp_path)
    yield r
    await r.stop()


@pytest.fixture
async def world(tg: FakeTelegram, runner: BotRunner) -> World:
    await runner.start()
    return World(tg, runner)


@pytest.fixture
async def webhook_world(tg: FakeTelegram, runner: BotRunner) -> World:
    port = free_port()
    await runner.start(
        bot_mode="webhook",
        webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
        webhook_secret=WEBHOOK_SECRET,
        webhook_host="127.0.0.1",
        webhook_port=port,
    )
    return World(tg, runner)
