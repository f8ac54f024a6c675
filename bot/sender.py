"""Every request the bot makes goes through here: one rate limiter for all outgoing
traffic (global, per group, per chat; urgent first; 429s honoured), and the notice
sender adapter that turns Telegram's answers into delivery outcomes.

Installed on the Bot's session by ``install_sender`` (bot/app.py), so any feature's
``bot.send_message`` is paced without knowing about it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, SendMediaGroup, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    FSInputFile,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)

from bot.notice_views import NoticeViews
from broadcasts.delivery import ChatGone, Migrated, Outcome, Rejected, Sent, Step, Transient
from broadcasts.model import Delivery, Notice, Photo
from broadcasts.ratelimit import Limits, RateLimiter

log = logging.getLogger(__name__)

# Set by whoever sends urgent traffic; requests made in that task jump the queue.
URGENT: ContextVar[bool] = ContextVar("six_circles_urgent", default=False)

PACED_PREFIXES = ("send", "copy", "forward", "edit", "pin", "unpin", "stop")
UNPACED = frozenset({"sendChatAction"})


@contextlib.contextmanager
def urgent(flag: bool = True) -> Iterator[None]:
    token = URGENT.set(flag)
    try:
        yield
    finally:
        URGENT.reset(token)


def request_cost(method: TelegramMethod[Any]) -> int:
    if isinstance(method, SendMediaGroup):
        return max(1, len(method.media))  # each album item counts as one message
    return 1


class Pacer:
    """An async gate over the pure RateLimiter: waiters are served urgent first, then in
    arrival order; a waiter held only by its own chat's limit does not hold others, and
    one waiting for several global units lets a few single ones past (bounded)."""

    def __init__(self, limiter: RateLimiter, clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = limiter
        self._clock = clock
        self._seq = itertools.count()
        self._waiters: list[tuple[int, int, int | None, int, asyncio.Future[float]]] = []
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._bypassed: dict[int, int] = {}  # waiter seq -> units let past it
        self.stats: Counter[str] = Counter()

    def ticket(self) -> int:
        """A place in line; a request keeps it across its retries."""
        return next(self._seq)

    async def acquire(
        self, chat_id: int | None, cost: int, urgent: bool = False, ticket: int | None = None
    ) -> float:
        """Wait until the request may go; returns the time it was let go (for
        :meth:`retry_after`). A retry passes the ``ticket`` of its first attempt, so it
        goes ahead of everything queued after that attempt, not to the back of the line."""
        now = self._clock()
        if not self._waiters and self.limiter.ready_at(chat_id, cost, now) <= now:
            self.limiter.take(chat_id, cost, now)
            self.stats["granted"] += cost
            return now
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        seq = self.ticket() if ticket is None else ticket
        bisect.insort(self._waiters, (0 if urgent else 1, seq, chat_id, cost, fut))
        if self._event is None:
            self._event = asyncio.Event()
        self._event.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="sender-pacer")
        granted = await fut
        self.stats["granted"] += cost
        return granted

    def retry_after(
        self,
        chat_id: int | None,
        seconds: float,
        refused: tuple[int, float] | None = None,
    ) -> None:
        """Telegram answered 429: hold the chat (or everything) for ``seconds``.
        ``refused`` is the refused request's (cost, time let go): its units are given
        back, since Telegram did not count it either."""
        now = self._clock()
        if refused is not None:
            self.limiter.give_back(chat_id, refused[0], refused[1])
        self.limiter.retry_after(chat_id, seconds, now)
        self.stats["429"] += 1
        if self._event is not None:
            self._event.set()

    async def _run(self) -> None:
        assert self._event is not None
        rounds = 0
        while self._waiters:
            now = self._clock()
            next_t = float("inf")
            keep = []
            # The first waiter the global limit holds back. Nobody behind it takes a global
            # slot first, except a cheaper request of the same urgency using units it cannot
            # use yet (a button message while an album of 3 waits for 3 free units), and
            # fewer units in all than the blocked one's own cost, so it is delayed a little
            # but never starved.
            blocked: tuple[int, int, int] | None = None  # urgency, seq, cost
            for w in self._waiters:
                urgency, seq, chat_id, cost, fut = w
                if fut.done():
                    continue
                if blocked is not None and not (
                    urgency == blocked[0]
                    and cost < blocked[2]
                    and self._bypassed.get(blocked[1], 0) + cost < blocked[2]
                ):
                    keep.append(w)
                    continue
                g = self.limiter.global_ready_at(cost, now)
                if g > now:
                    if blocked is None:
                        blocked = (urgency, seq, cost)
                    next_t = min(next_t, g)
                    keep.append(w)
                    continue
                c = self.limiter.chat_ready_at(chat_id, cost, now)
                if c > now:
                    next_t = min(next_t, c)
                    keep.append(w)
                    continue
                self.limiter.take(chat_id, cost, now)
                if blocked is not None:
                    self._bypassed[blocked[1]] = self._bypassed.get(blocked[1], 0) + cost
                self._bypassed.pop(seq, None)
                fut.set_result(now)
            self._waiters = keep
            rounds += 1
            if rounds % 1000 == 0:
                live = {w[1] for w in keep}
                self._bypassed = {k: v for k, v in self._bypassed.items() if k in live}
            if not keep:
                self._bypassed.clear()
                break
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), max(0.0, next_t - self._clock()))

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for *_, fut in self._waiters:
            if not fut.done():
                fut.cancel()
        self._waiters.clear()


class PacingMiddleware(BaseRequestMiddleware):
    """Paces every outgoing message/edit/pin and retries 429s after ``retry_after``."""

    def __init__(self, pacer: Pacer, *, max_retries: int = 5) -> None:
        self.pacer = pacer
        self.max_retries = max_retries

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        api = method.__api_method__
        if api in UNPACED or not api.startswith(PACED_PREFIXES):
            return await make_request(bot, method)
        raw_chat = getattr(method, "chat_id", None)
        chat_id = raw_chat if isinstance(raw_chat, int) else None
        cost = request_cost(method)
        attempt = 0
        ticket = self.pacer.ticket()
        while True:
            granted = await self.pacer.acquire(chat_id, cost, URGENT.get(), ticket)
            self.pacer.stats["requests"] += 1
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                self.pacer.retry_after(chat_id, float(exc.retry_after), (cost, granted))
                attempt += 1
                log.warning(
                    "429 on %s chat=%s retry_after=%s (attempt %s)",
                    api,
                    chat_id if chat_id is not None and chat_id < 0 else "private",  # log policy
                    exc.retry_after,
                    attempt,
                )
                if attempt > self.max_retries:
                    raise


def install_sender(bot: Bot, limits: Limits, *, max_retries: int = 5) -> Pacer:
    """Put the shared limiter on ``bot``'s session; returns it (for stats and shutdown)."""
    pacer = Pacer(RateLimiter(limits, time.monotonic))
    bot.session.middleware(PacingMiddleware(pacer, max_retries=max_retries))
    return pacer


# -- Telegram errors as delivery outcomes ------------------------------------------------
GONE_MARKERS = (
    "chat not found",
    "group chat was deactivated",
    "bot was kicked",
    "bot is not a member",
    "chat_write_forbidden",
    "peer_id_invalid",
    "user is deactivated",
    "bot was blocked",
)
RIGHTS_MARKERS = ("not enough rights", "have no rights", "need administrator rights")


def outcome_of(exc: TelegramAPIError) -> Outcome:
    desc = (exc.message or "").lower()
    if isinstance(exc, TelegramMigrateToChat):
        return Migrated(exc.migrate_to_chat_id)
    if isinstance(exc, TelegramForbiddenError):
        return ChatGone(
            "bot_removed" if "kicked" in desc or "not a member" in desc else "forbidden"
        )
    if isinstance(exc, TelegramNotFound):
        return ChatGone("chat_not_found")
    if isinstance(exc, TelegramBadRequest):
        if any(m in desc for m in RIGHTS_MARKERS):
            return Rejected("no_rights")
        if any(m in desc for m in GONE_MARKERS):
            return ChatGone("chat_not_found" if "not found" in desc else "bot_removed")
        return Rejected(f"bad_request: {exc.message[:120]}")
    if isinstance(exc, TelegramRetryAfter):
        return Transient("flood")
    if isinstance(exc, TelegramServerError | TelegramNetworkError):
        return Transient(f"network: {exc.message[:80]}")
    return Transient(f"error: {exc.message[:80]}")


def _photo_input(photo: Photo) -> str | FSInputFile | BufferedInputFile:
    if photo.file_id:
        return photo.file_id
    if photo.source is None:
        raise ValueError("photo without file_id or source")
    return FSInputFile(Path(photo.source))


def _largest(message: Message) -> str | None:
    return message.photo[-1].file_id if message.photo else None


class TelegramNoticeMessenger:
    """The NoticeMessenger port over aiogram (paced by the session middleware)."""

    def __init__(self, bot: Bot, views: NoticeViews) -> None:
        self._bot = bot
        self.views = views

    async def _username(self) -> None:
        if not self.views.bot_username:
            me = await self._bot.me()
            self.views.bot_username = me.username or ""

    async def send_step(
        self, notice: Notice, chat_id: int, step: Step, shown: tuple[int, ...]
    ) -> Outcome:
        try:
            await self._username()
            with urgent(notice.urgent):
                return await self._send(notice, chat_id, step, shown)
        except TelegramAPIError as exc:
            return outcome_of(exc)

    async def _send(
        self, notice: Notice, chat_id: int, step: Step, shown: tuple[int, ...]
    ) -> Outcome:
        v = self.views
        bot = self._bot
        # A closed notice is sent only as a fresh copy for a group that moved to a
        # supergroup: the closed version, without the tip button.
        markup = None if notice.status.is_closed else v.keyboard(notice)
        if step is Step.TEXT:
            m = await bot.send_message(chat_id, v.main_text(notice), reply_markup=markup)
            return Sent((m.message_id,))
        if step is Step.PHOTO:
            m = await bot.send_photo(
                chat_id,
                _photo_input(notice.photos[0]),
                caption=v.main_text(notice),
                reply_markup=markup,
            )
            fid = _largest(m)
            return Sent((m.message_id,), (fid,) if fid else ())
        if step is Step.ALBUM:
            media = [
                InputMediaPhoto(
                    media=_photo_input(p), caption=v.main_text(notice) if i == 0 else None
                )
                for i, p in enumerate(notice.photos)
            ]
            msgs = await bot.send_media_group(chat_id, media)  # type: ignore[arg-type]
            fids = tuple(f for f in (_largest(m) for m in msgs) if f)
            return Sent(tuple(m.message_id for m in msgs), fids if len(fids) == len(msgs) else ())
        if step is Step.BUTTONS:
            reply = (
                ReplyParameters(message_id=shown[0], allow_sending_without_reply=True)
                if shown
                else None
            )
            m = await bot.send_message(
                chat_id,
                v.buttons_text(notice),
                reply_markup=markup,
                reply_parameters=reply,
            )
            return Sent((m.message_id,))
        if step is Step.PIN:
            if not shown:
                return Rejected("nothing_to_pin")
            await bot.pin_chat_message(chat_id, shown[0], disable_notification=False)
            return Sent(())
        raise ValueError(step)

    async def sync_copy(self, notice: Notice, delivery: Delivery) -> Outcome:
        if not delivery.message_ids:
            return Sent(())
        chat = delivery.chat_id
        v = self.views
        ids = delivery.message_ids
        try:
            await self._username()
            with urgent(notice.urgent):
                main = ids[0]
                markup: InlineKeyboardMarkup | None = v.keyboard(notice)
                n = len(notice.photos)
                if n == 0:
                    await self._ignore_unchanged(
                        self._bot.edit_message_text(
                            chat_id=chat,
                            message_id=main,
                            text=v.main_text(notice),
                            reply_markup=markup,
                        )
                    )
                elif n == 1:
                    await self._ignore_unchanged(
                        self._bot.edit_message_caption(
                            chat_id=chat,
                            message_id=main,
                            caption=v.main_text(notice),
                            reply_markup=markup,
                        )
                    )
                else:
                    await self._ignore_unchanged(
                        self._bot.edit_message_caption(
                            chat_id=chat, message_id=main, caption=v.main_text(notice)
                        )
                    )
                    if len(ids) > n:
                        await self._ignore_unchanged(
                            self._bot.edit_message_text(
                                chat_id=chat,
                                message_id=ids[n],
                                text=v.buttons_text(notice),
                                reply_markup=markup,
                            )
                        )
                if notice.status.is_closed and delivery.pinned_id is not None:
                    with contextlib.suppress(TelegramBadRequest):
                        await self._bot.unpin_chat_message(
                            chat_id=chat, message_id=delivery.pinned_id
                        )
        except TelegramAPIError as exc:
            return outcome_of(exc)
        return Sent(())

    @staticmethod
    async def _ignore_unchanged(call: Any) -> None:
        try:
            await call
        except TelegramBadRequest as exc:
            if "not modified" not in (exc.message or "").lower():
                raise
