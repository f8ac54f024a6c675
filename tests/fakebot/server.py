"""The fake Telegram Bot API HTTP server: routing, recording, waiting, update delivery."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import logging
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
from aiogram import Bot
from aiohttp import web

from .client import make_bot as _make_bot
from .core import ChatLike
from .errors import TgError
from .inject import Injector
from .limits import FloodLimits
from .methods import ApiMethods
from .params import Params, Upload, coerce, public_params
from .state import Call, ChatRec, FailRule, MessageRec, QueuedUpdate, WebhookDelivery

log = logging.getLogger("fakebot")

MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendVoice",
        "sendAudio",
        "sendAnimation",
        "sendVideoNote",
        "sendSticker",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "copyMessage",
        "forwardMessage",
    }
)
WEBHOOK_CONFLICT = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
POLL_CONFLICT = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)
_SECRET_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _loose_eq(actual: Any, expected: Any) -> bool:
    if actual == expected:
        return True
    if isinstance(expected, bool) or isinstance(actual, bool):
        return False
    return actual is not None and str(actual) == str(expected)


def _matches(params: dict[str, Any], match: dict[str, Any]) -> bool:
    return all(_loose_eq(params.get(key), value) for key, value in match.items())


class FakeTelegram(ApiMethods, Injector):
    """A fake Bot API server on 127.0.0.1:<random port>.

    >>> async with FakeTelegram() as tg:
    ...     bot = Bot("42:TEST", session=AiohttpSession(api=TelegramAPIServer.from_base(
    ...         tg.base_url)))
    """

    def __init__(
        self,
        *,
        bot_id: int = 42,
        bot_username: str = "six_circles_bot",
        bot_first_name: str = "Six Circles",
        webhook_retries: int = 0,
        webhook_timeout: float = 10.0,
        auto_member_updates: bool = True,
    ) -> None:
        super().__init__(
            bot_id=bot_id,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            webhook_retries=webhook_retries,
            auto_member_updates=auto_member_updates,
        )
        self.webhook_timeout = webhook_timeout
        self.internal_errors: list[str] = []
        self.failed_webhook_updates: list[dict[str, Any]] = []
        self._methods: dict[str, str] = {
            name[4:].lower(): name[4:] for name in dir(self) if name.startswith("api_")
        }
        self._consumed_calls: set[int] = set()
        self._consumed_messages: set[tuple[int, int]] = set()
        self._poll_generation = 0
        self.active_polls = 0  # getUpdates requests currently being processed / waiting
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._inflight: set[int] = set()
        self._port = 0
        self._bots: list[Bot] = []
        self._holds: list[tuple[str, dict[str, Any], asyncio.Event]] = []
        self.held_calls = 0  # calls waiting at a ``hold`` now

    # ================================================================== lifecycle
    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        addresses = self._runner.addresses
        self._port = int(addresses[0][1])
        self._client = aiohttp.ClientSession()
        self._closing = False
        self._webhook_task = asyncio.create_task(self._webhook_loop())
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        for bot in self._bots:
            with contextlib.suppress(Exception):
                await bot.session.close()
        self._bots.clear()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._webhook_task
            self._webhook_task = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def make_bot(self, token: str | None = None, **bot_kwargs: Any) -> Bot:
        """A real aiogram Bot talking to this fake (token defaults to "<bot_id>:TEST" so that
        ``bot.id`` matches getMe).  Closed automatically by ``stop()``."""
        bot = _make_bot(self.base_url, token or f"{self.bot_id}:TEST", **bot_kwargs)
        self._bots.append(bot)
        return bot

    # ================================================================== HTTP layer
    async def _parse_request(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, Upload]]:
        data: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        for key, value in request.query.items():
            data[key] = value
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise TgError.bad_request("can't parse JSON request body") from None
                if isinstance(body, dict):
                    data.update(body)
            elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
                form = await request.post()
                for name, field in form.items():
                    if isinstance(field, web.FileField):
                        raw = field.file.read()
                        files[name] = Upload(name, field.filename, field.content_type, raw)
                    elif isinstance(field, bytes | bytearray):
                        data[name] = bytes(field).decode(errors="replace")
                    else:
                        data[name] = field
        data = {k: coerce(k, v) for k, v in data.items()}
        referenced = json.dumps(data, default=str)
        for name in files:
            if f"attach://{name}" not in referenced and name not in data:
                data[name] = f"attach://{name}"
        for up in files.values():
            self.stats.uploads += 1
            self.stats.bytes_uploaded += len(up.data)
        return data, files

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"]
        try:
            data, files = await self._parse_request(request)
        except TgError as err:
            return web.json_response(err.to_json(), status=err.error_code)
        status, body = await self._execute(token, method, data, files, via="http")
        return web.Response(
            text=json.dumps(body, ensure_ascii=False),
            status=status,
            content_type="application/json",
        )

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        rec = self.file_paths.get(request.match_info["path"])
        if rec is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(body=rec.data, content_type=rec.mime_type or "application/octet-stream")

    async def _execute(
        self,
        token: str,
        raw_method: str,
        data: dict[str, Any],
        files: dict[str, Upload],
        via: str,
    ) -> tuple[int, dict[str, Any]]:
        canonical = self._methods.get(raw_method.lower())
        self._call_seq += 1
        call = Call(
            seq=self._call_seq,
            method=canonical or raw_method,
            params=public_params(data, files),
            timestamp=self.now(),
            token=token,
            raw_method=raw_method,
            files=[up.meta() for up in files.values()],
            via=via,
        )
        self.stats.requests += 1
        self.stats.by_method[call.method] += 1
        p = Params(data, files)
        status: int
        body: dict[str, Any]
        try:
            if canonical is None:
                raise TgError.not_found("Not Found: method not found")
            await self._wait_holds(canonical, call.params)
            rule = self._take_rule(canonical, call.params)
            if rule is not None:
                raise rule.error.copy()
            flood = self._flood_target(canonical, p)
            handler = getattr(self, "api_" + canonical)
            result = handler(p)
            if inspect.isawaitable(result):
                result = await result
            if flood is not None and self.limits is not None:
                self.limits.commit(*flood)
            call.result = copy.deepcopy(result)
            status, body = 200, {"ok": True, "result": result}
        except TgError as err:
            call.error = err
            self.stats.errors += 1
            if err.error_code == 429:
                self.stats.too_many_requests += 1
            status, body = err.error_code, err.to_json()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the fake: answer 500 and remember it
            detail = f"{call.method}: {exc!r}\n{traceback.format_exc()}"
            log.error("fakebot internal error in %s", detail)
            self.internal_errors.append(detail)
            bug = TgError.server_error(f"Internal Server Error: fake bug {exc!r}")
            call.error = bug
            status, body = 500, bug.to_json()
        self.calls.append(call)
        self._notify()
        return status, body

    # ================================================================== failures & limits
    def fail_next(self, method: str, error: TgError, times: int = 1, **match: Any) -> None:
        """Answer the next ``times`` calls of ``method`` ("*" = any but getUpdates) whose params
        equal ``match`` with ``error``.  Rules are consumed in the order they were added."""
        self._fail_rules.append(FailRule(method.lower(), error, times, match))

    def hold(self, method: str, **match: Any) -> asyncio.Event:
        """Keep calls of ``method`` whose params equal ``match`` waiting (unanswered) until
        the returned event is set: work caught in the middle, e.g. a group still being
        sent to. Calls that arrive after it is set go through at once."""
        gate = asyncio.Event()
        self._holds.append((method.lower(), match, gate))
        return gate

    async def _wait_holds(self, method: str, params: dict[str, Any]) -> None:
        low = method.lower()
        for held, match, gate in list(self._holds):
            if held == low and _matches(params, match) and not gate.is_set():
                self.held_calls += 1
                self._notify()
                try:
                    await gate.wait()
                finally:
                    self.held_calls -= 1

    def _take_rule(self, method: str, params: dict[str, Any]) -> FailRule | None:
        low = method.lower()
        for rule in self._fail_rules:
            if rule.method == "*" and low == "getupdates":
                continue
            if rule.method not in ("*", low) or not _matches(params, rule.match):
                continue
            rule.times -= 1
            if rule.times <= 0:
                self._fail_rules.remove(rule)
            return rule
        return None

    def enforce_limits(
        self,
        per_bot_per_second: int = 30,
        per_group_per_minute: int = 20,
        per_chat_per_second: int = 1,
        scale: float = 1.0,
    ) -> FloodLimits:
        """Turn on flood control (see limits.py for the windows and retry_after rounding)."""
        self.limits = FloodLimits(
            self.monotonic,
            per_bot_per_second,
            per_group_per_minute,
            per_chat_per_second,
            scale,
        )
        return self.limits

    def disable_limits(self) -> None:
        self.limits = None

    def _flood_target(self, method: str, p: Params) -> tuple[int | None, bool, int] | None:
        if self.limits is None or method not in MESSAGE_METHODS:
            return None
        weight = 1
        if method == "sendMediaGroup":
            with contextlib.suppress(TgError):
                weight = max(1, len(p.get_list("media") or []))
        ref = p.get("chat_id")
        chat = self._find_chat(ref) if isinstance(ref, int | str) else None
        chat_id = chat.id if chat is not None else None
        is_group = chat is not None and chat.type in ("group", "supergroup")
        hit = self.limits.check(chat_id, is_group, weight)
        if hit is not None:
            raise TgError.retry_after(hit.retry_after)
        return chat_id, is_group, weight

    # ================================================================== getUpdates
    async def api_getUpdates(self, p: Params) -> Any:
        if self.webhook is not None:
            raise TgError.conflict(WEBHOOK_CONFLICT)
        offset = p.get_int("offset")
        limit = min(100, max(1, p.get_int("limit") or 100))
        timeout = max(0, p.get_int("timeout") or 0)
        allowed = p.get_list("allowed_updates")
        if allowed is not None:
            self.allowed_updates = [str(a) for a in allowed]
        self._poll_generation += 1
        generation = self._poll_generation
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.active_polls += 1
        self._notify()
        try:
            while True:
                event = self._event()
                batch = self._take_batch(limit)
                if batch or self._closing:
                    return batch
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
                if self._poll_generation != generation:
                    raise TgError.conflict(POLL_CONFLICT)
                if self.webhook is not None:
                    raise TgError.conflict(WEBHOOK_CONFLICT)
        finally:
            self.active_polls -= 1

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        before = len(self._queue)
        if offset < 0:
            keep = -offset
            self._queue = self._queue[-keep:] if keep else []
        else:
            self._queue = [
                q for q in self._queue if q.update_id >= offset or (q.duplicate and not q.sent)
            ]
        if len(self._queue) != before:
            self._notify()

    def _drop_disallowed(self) -> None:
        kept: list[QueuedUpdate] = []
        for q in self._queue:
            if self._is_allowed(q.kind):
                kept.append(q)
            else:
                self.filtered_updates.append(q.update)
        if len(kept) != len(self._queue):
            self._queue = kept
            self._notify()

    def _take_batch(self, limit: int) -> list[dict[str, Any]]:
        self._drop_disallowed()
        batch = self._queue[:limit]
        for q in batch:
            q.sent = True
        return [copy.deepcopy(q.update) for q in batch]

    # ================================================================== webhook
    def api_setWebhook(self, p: Params) -> Any:
        url = p.get_str("url") or ""
        if not url:
            return self.api_deleteWebhook(p)
        if not url.startswith(("http://", "https://")):
            # Real Telegram demands HTTPS on ports 443/80/88/8443; the fake allows loopback
            # http so tests can run a plain aiohttp app.
            raise TgError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get_str("secret_token")
        if secret is not None and (not 1 <= len(secret) <= 256 or set(secret) - _SECRET_OK):
            raise TgError.bad_request("secret token contains unallowed characters")
        max_connections = p.get_int("max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise TgError.bad_request("bad webhook: max_connections must be between 1 and 100")
        allowed = p.get_list("allowed_updates")
        if allowed is not None:
            self.allowed_updates = [str(a) for a in allowed]
        if p.get_bool("drop_pending_updates"):
            self._queue.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": max_connections,
            "ip_address": p.get_str("ip_address"),
        }
        self.webhook_last_error = None
        self._notify()
        return True

    def api_deleteWebhook(self, p: Params) -> Any:
        self.webhook = None
        if p.get_bool("drop_pending_updates"):
            self._queue.clear()
        self._notify()
        return True

    def api_getWebhookInfo(self, p: Params) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
            if self.allowed_updates:
                info["allowed_updates"] = list(self.allowed_updates)
            if self.webhook_last_error is not None:
                info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info

    def _on_enqueued(self) -> None:
        pass  # the webhook loop wakes up through _notify()

    def _next_webhook_item(self) -> QueuedUpdate | None:
        if self.webhook is None:
            return None
        self._drop_disallowed()
        for q in self._queue:
            if id(q) not in self._inflight:
                return q
        return None

    async def _webhook_loop(self) -> None:
        while not self._closing:
            event = self._event()
            item = self._next_webhook_item()
            if item is None:
                await event.wait()
                continue
            self._inflight.add(id(item))
            try:
                await self._deliver(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the loop alive; report through internal_errors
                self.internal_errors.append(f"webhook delivery: {exc!r}")
            finally:
                self._inflight.discard(id(item))
                self._notify()

    async def _deliver(self, item: QueuedUpdate) -> None:
        assert self._client is not None
        hook = self.webhook
        if hook is None:
            return
        headers = {}
        if hook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        attempts = 1 + max(0, self.webhook_retries)
        for attempt in range(1, attempts + 1):
            status: int | None = None
            error: str | None = None
            reply: tuple[str, dict[str, Any], dict[str, Upload]] | None = None
            try:
                async with self._client.post(
                    hook["url"],
                    json=item.update,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                ) as resp:
                    status = resp.status
                    if 200 <= status < 300:
                        reply = await self._read_webhook_reply(resp)
                    else:
                        error = f"Wrong response from the webhook: {status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"Connection failed: {exc!r}"
            self.webhook_deliveries.append(
                WebhookDelivery(item.update_id, status, attempt, error, self.now())
            )
            if error is None:
                if item in self._queue:
                    self._queue.remove(item)
                self._notify()
                if reply is not None:
                    await self._execute("", reply[0], reply[1], reply[2], via="webhook-reply")
                return
            self.webhook_last_error = (int(self.now()), error)
            self._notify()
            if self.webhook is not hook:
                return
        # retries exhausted: Telegram would keep trying for hours; the fake gives up.
        if item in self._queue:
            self._queue.remove(item)
        self.failed_webhook_updates.append(item.update)
        self._notify()

    async def _read_webhook_reply(
        self, resp: aiohttp.ClientResponse
    ) -> tuple[str, dict[str, Any], dict[str, Upload]] | None:
        """A webhook may answer with a Bot API call in its response body."""
        ctype = resp.content_type
        data: dict[str, Any] = {}
        files: dict[str, Upload] = {}
        if ctype == "application/json":
            try:
                body = await resp.json()
            except ValueError:
                return None
            if isinstance(body, dict):
                data = body
        elif ctype.startswith("multipart/"):
            reader = aiohttp.MultipartReader.from_response(resp)
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                    continue
                raw = await part.read()
                if part.filename:
                    files[part.name] = Upload(
                        part.name, part.filename, part.headers.get("Content-Type"), raw
                    )
                else:
                    data[part.name] = raw.decode()
        method = data.pop("method", None)
        if not method:
            return None
        data = {k: coerce(k, v) for k, v in data.items()}
        return str(method), data, files

    # ================================================================== recording helpers
    def calls_of(
        self, method: str | None = None, *, ok: bool | None = None, **match: Any
    ) -> list[Call]:
        """Recorded calls of ``method`` (case-insensitive) whose params equal ``match``
        (loose: 5 == "5").  ``ok=True/False`` keeps only successes/failures."""
        low = method.lower() if method else None
        return [
            c
            for c in self.calls
            if (low is None or c.method.lower() == low)
            and (ok is None or c.ok == ok)
            and _matches(c.params, match)
        ]

    def reset_calls(self) -> None:
        self.calls.clear()
        self._consumed_calls.clear()
        self._consumed_messages.clear()

    def _chat_id(self, chat: ChatLike) -> int:
        if isinstance(chat, ChatRec):
            return chat.id
        ref = chat["id"] if isinstance(chat, dict) else chat
        found = self._find_chat(ref)
        if found is not None:
            return found.id
        if isinstance(ref, int):
            return ref
        raise KeyError(f"unknown chat {chat!r}")

    def sent_records(self, chat: ChatLike, include_deleted: bool = False) -> list[MessageRec]:
        chat_id = self._chat_id(chat)
        recs = [self.messages[(chat_id, mid)] for mid in self.bot_sent.get(chat_id, [])]
        return [r for r in recs if include_deleted or not r.deleted]

    def sent_to(self, chat: ChatLike, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Messages the bot successfully sent to ``chat``, in order, in their current (edited)
        version.  Deleted ones are left out unless ``include_deleted``."""
        return [r.data for r in self.sent_records(chat, include_deleted)]

    def last_sent(self, chat: ChatLike) -> dict[str, Any] | None:
        sent = self.sent_to(chat)
        return sent[-1] if sent else None

    def versions(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Every version of a message, oldest first (the last is the current one)."""
        return self.message_rec(message).versions()

    def is_deleted(self, message: dict[str, Any]) -> bool:
        return self.message_rec(message).deleted

    def current(self, message: dict[str, Any]) -> dict[str, Any]:
        """The fake's current version of a message."""
        return self.message_rec(message).data

    def pinned(self, chat: ChatLike) -> list[int]:
        return list(self.chat(chat).pinned)

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        key = json.dumps(scope or {"type": "default"}, sort_keys=True)
        return list(self.commands.get((key, language_code), []))

    def member_status(self, chat: ChatLike, user: Any) -> str:
        c = self.chat(chat)
        uid = int(user["id"]) if isinstance(user, dict) else int(user)
        member = c.members.get(uid)
        return member.status if member else "left"

    # ================================================================== waiting
    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        what: str | None = None,
    ) -> Any:
        """Re-evaluate ``predicate`` whenever the fake's state changes until it returns a
        truthy value (which is returned).  Raises AssertionError with a dump on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._event()
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    self.report(
                        f"timed out after {timeout}s waiting for "
                        f"{what or getattr(predicate, '__name__', '?')}"
                    )
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_for_call(
        self,
        method: str,
        timeout: float = 5.0,
        *,
        ok: bool | None = None,
        predicate: Callable[[Call], bool] | None = None,
        since: int | Call | None = None,
        **match: Any,
    ) -> Call:
        """The earliest matching call not yet returned by an earlier ``wait_for_call``
        (so consecutive waits walk through consecutive calls).  ``since`` skips calls with
        ``seq <= since``."""
        floor = since.seq if isinstance(since, Call) else (since or 0)

        def find() -> Call | None:
            for c in self.calls_of(method, ok=ok, **match):
                if c.seq <= floor or c.seq in self._consumed_calls:
                    continue
                if predicate is None or predicate(c):
                    return c
            return None

        found: Call = await self.wait_for(find, timeout, f"call {method} {match or ''}")
        self._consumed_calls.add(found.seq)
        return found

    async def wait_for_message(
        self,
        chat: ChatLike,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        text_contains: str | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """The earliest message the bot sent to ``chat`` (current version, deleted ones
        included) that matches and wasn't returned by an earlier ``wait_for_message``."""

        def find() -> dict[str, Any] | None:
            try:
                recs = self.sent_records(chat, include_deleted=True)
            except KeyError:
                return None
            for rec in recs:
                key = (rec.chat_id, rec.message_id)
                if key in self._consumed_messages:
                    continue
                body = rec.data.get("text") or rec.data.get("caption") or ""
                if text_contains is not None and text_contains not in body:
                    continue
                if predicate is not None and not predicate(rec.data):
                    continue
                return rec.data
            return None

        what = f"message to {chat}" + (f" containing {text_contains!r}" if text_contains else "")
        found: dict[str, Any] = await self.wait_for(find, timeout, what)
        self._consumed_messages.add((int(found["chat"]["id"]), int(found["message_id"])))
        return found

    async def wait_until_idle(
        self,
        timeout: float = 5.0,
        quiet: float = 0.0,
    ) -> None:
        """Wait until every injected update was confirmed by getUpdates (next offset) or
        delivered by webhook; then, if ``quiet`` > 0, until no API call arrived for ``quiet``
        seconds (the bot's handlers may still be running after their update was fetched)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self.wait_for(
            lambda: not self._queue and not self._inflight, timeout, "all updates consumed"
        )
        if quiet <= 0:
            return
        while True:
            seen = self._call_seq
            event = self._event()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self.report("bot never went quiet"))
            try:
                await asyncio.wait_for(event.wait(), min(quiet, remaining))
            except TimeoutError:
                if self._call_seq == seen:
                    return

    def report(self, headline: str = "fake Telegram state", last: int = 25) -> str:
        lines = [
            headline,
            f"pending updates: {len(self._queue)} (kinds: {[q.kind for q in self._queue][:10]})",
        ]
        calls = [c for c in self.calls if c.method != "getUpdates"][-last:]
        lines.append(f"last {len(calls)} calls (getUpdates omitted, {len(self.calls)} total):")
        lines += ["  " + c.short() for c in calls]
        if self.webhook_deliveries:
            lines.append(f"webhook deliveries (last 5): {self.webhook_deliveries[-5:]}")
        if self.filtered_updates:
            lines.append(f"filtered (not delivered) updates: {len(self.filtered_updates)}")
        if self.internal_errors:
            lines.append("FAKE INTERNAL ERRORS:")
            lines += self.internal_errors[-3:]
        return "\n".join(lines)
