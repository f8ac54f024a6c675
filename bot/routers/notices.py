"""Coordinated-investigation notices: compose (guided dialog with a faithful preview),
deliver (bot/sender.py + broadcasts.delivery), list, update, close, re-post."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
)

from bot.commands import CommandSpec
from bot.context import AppContext
from bot.i18n import Translator, normalize_locale
from bot.notice_views import local_time, status_label
from bot.numbers import FIRST_YEAR, LAST_YEAR, plausible_year, whole
from bot.sender import TelegramNoticeMessenger, urgent
from broadcasts.delivery import CountsFn, DeliveryEngine
from broadcasts.model import (
    PHOTO_REQUIRED,
    Delivery,
    DeliveryCounts,
    Draft,
    Notice,
    NoticeKind,
    NoticeStatus,
    Photo,
    Reward,
    Urgency,
)
from broadcasts.service import NoticeService, audience_empty
from broadcasts.text import (
    MAX_PHOTOS,
    TITLE_LIMIT,
    check_body,
    check_case_no,
    check_expiry,
    check_photo_count,
    check_title,
    parse_reward,
)
from groups.model import Audience, GeoPoint
from groups.roles import Permission, Principal
from kernel.errors import InvalidInput
from storage.notices import (
    MongoDraftRepository,
    MongoNoticeRepository,
)

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("notice", Permission.BROADCAST, "private"),
    CommandSpec("notices", Permission.BROADCAST, "private", "[all]"),
    CommandSpec("notice_update", Permission.BROADCAST, "private", "<N-YYMM-NN> [title]"),
    CommandSpec("notice_close", Permission.BROADCAST, "private", "<N-YYMM-NN> solved|withdrawn"),
    CommandSpec("notice_repeat", Permission.MANAGE_GROUPS, "private", "<N-YYMM-NN> <days>|off"),
)
BROADCAST = {"chat": "private", "perm": Permission.BROADCAST}
PREVIEW_GROUPS = 15
DATE_RE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2})[:：](\d{2}))?$")
COORDS_RE = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*[,，]\s*(-?\d+(?:\.\d+)?)\s*(?:\s+(\d+(?:\.\d+)?))?\s*(?:km|公里)?\s*$"
)


# Other commands typed during a dialog are not answers: they go on to their own handlers
# (/help, /lang...), and the dialog waits where it was.
NOT_COMMAND = ~F.text.startswith("/")


class Form(StatesGroup):
    kind = State()
    title = State()
    body = State()
    photos = State()
    case_no = State()
    reward = State()
    audience = State()
    radius = State()
    radius_km = State()
    urgency = State()
    expiry = State()
    preview = State()
    schedule = State()


class Update(StatesGroup):
    text = State()
    confirm = State()


class Nt(CallbackData, prefix="nt"):
    """Dialog buttons: ``a`` is the action, ``v`` its value."""

    a: str
    v: str = ""


class Nm(CallbackData, prefix="nm"):
    """Buttons acting on a sent notice: close (solved/withdrawn) or confirm an update."""

    a: str
    ref: str
    v: str = ""


STEPS = ("kind", "title", "body", "photos", "case_no", "reward", "audience", "urgency", "expiry")
STATE_OF = {
    "kind": Form.kind,
    "title": Form.title,
    "body": Form.body,
    "photos": Form.photos,
    "case_no": Form.case_no,
    "reward": Form.reward,
    "audience": Form.audience,
    "urgency": Form.urgency,
    "expiry": Form.expiry,
}


def parse_when(text: str, tz: Any, *, end_of_day: bool) -> datetime:
    m = DATE_RE.match(text.strip())
    if not m:
        raise InvalidInput("notices.err.bad_date")
    y, mo, d, hh, mm = m.groups()
    try:
        if hh is None:
            hour, minute = (23, 59) if end_of_day else (9, 0)
        else:
            hour, minute = int(hh), int(mm)
        local = datetime(int(y), int(mo), int(d), hour, minute, tzinfo=tz)
    except ValueError:
        raise InvalidInput("notices.err.bad_date") from None
    if not plausible_year(local.year):
        raise InvalidInput("notices.err.date_range", first=FIRST_YEAR, last=LAST_YEAR)
    return local


def parse_km(text: str) -> float:
    try:
        km = float(text.strip().lower().removesuffix("km").removesuffix("公里").strip())
    except ValueError:
        raise InvalidInput("notices.err.bad_radius") from None
    if not 0.1 <= km <= 500:
        raise InvalidInput("notices.err.bad_radius")
    return km


def kb(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows
        ]
    )


def cb(a: str, v: str = "") -> str:
    return Nt(a=a, v=v).pack()


class ProgressMessages:
    """The investigator's progress message (edited at most every ``interval`` seconds)
    and the final report with the failed groups.

    For an urgent notice these go out urgent too: the delivery waits for them (the start
    message before the first group, each progress edit in a worker), so at normal priority
    they would queue the urgent notice behind all the normal traffic."""

    def __init__(
        self, bot: Bot, notices: MongoNoticeRepository, ctx: AppContext, interval: float
    ) -> None:
        self._bot = bot
        self._notices = notices
        self._ctx = ctx
        self._interval = interval
        self._last: dict[str, float] = {}
        self._mids: dict[str, tuple[int, int]] = {}

    async def translator(self, user_id: int) -> Translator:
        profile = await self._ctx.users.get(user_id)
        default = self._ctx.settings.default_locale
        if profile is None:
            return Translator(default)
        return Translator(profile.locale or normalize_locale(profile.language_code, default))

    async def open(self, notice: Notice, groups: int) -> None:
        """Say that sending started; that message becomes the progress message."""
        if notice.progress_message_id is not None:
            self._mids[notice.notice_id] = (
                notice.progress_chat_id or notice.created_by,
                notice.progress_message_id,
            )
            return
        t = await self.translator(notice.created_by)
        with contextlib.suppress(TelegramAPIError), urgent(notice.urgent):
            m = await self._bot.send_message(
                notice.created_by, t("notices.started", ref=notice.ref, groups=groups)
            )
            await self._notices.set_progress(notice.notice_id, m.chat.id, m.message_id)
            self._mids[notice.notice_id] = (m.chat.id, m.message_id)
        self._last[notice.notice_id] = time.monotonic()

    async def progress(self, notice: Notice, counts_fn: CountsFn) -> None:
        now = time.monotonic()
        if now - self._last.get(notice.notice_id, 0.0) < self._interval:
            return
        self._last[notice.notice_id] = now
        counts = await counts_fn()
        if counts.done:
            return
        where = self._mids.get(notice.notice_id)
        if where is None:
            return
        t = await self.translator(notice.created_by)
        text = t(
            "notices.progress",
            ref=notice.ref,
            sent=counts.sent,
            failed=counts.failed,
            remaining=counts.remaining,
            total=counts.total,
        )
        with contextlib.suppress(TelegramAPIError), urgent(notice.urgent):
            await self._bot.edit_message_text(chat_id=where[0], message_id=where[1], text=text)

    async def finished(
        self, notice: Notice, counts: DeliveryCounts, failures: list[Delivery]
    ) -> None:
        t = await self.translator(notice.created_by)
        if notice.status.is_closed:  # closed while sending: the rest was never sent
            summary = t(
                "notices.finished_closed",
                ref=notice.ref,
                sent=counts.sent,
                skipped=counts.failed - len(failures),
                failed=len(failures),
                total=counts.total,
            )
        else:
            summary = t(
                "notices.finished",
                ref=notice.ref,
                sent=counts.sent,
                failed=counts.failed,
                total=counts.total,
            )
        where = self._mids.pop(notice.notice_id, None)
        self._last.pop(notice.notice_id, None)
        if where is not None:
            with contextlib.suppress(TelegramAPIError), urgent(notice.urgent):
                await self._bot.edit_message_text(
                    chat_id=where[0], message_id=where[1], text=summary
                )
        lines = [summary]
        if failures:
            lines.append("")
            lines.append(t("notices.failed_header"))
            for d in failures:
                key = f"notices.reason.{d.reason}"
                reason = t(key) if t.has(key) else (d.reason or "?")
                lines.append(
                    t("notices.failed_line", title=d.title or "?", chat_id=d.chat_id, reason=reason)
                )
        text = "\n".join(lines)
        with contextlib.suppress(TelegramAPIError), urgent(notice.urgent):
            for start in range(0, len(text), 4000):
                await self._bot.send_message(notice.created_by, text[start : start + 4000])


class Broadcaster:
    """Runs the delivery engine for notices in background tasks (one per notice)."""

    def __init__(
        self,
        ctx: AppContext,
        engine: DeliveryEngine,
        notices: MongoNoticeRepository,
        progress: ProgressMessages,
        service: NoticeService,
    ) -> None:
        self._ctx = ctx
        self._service = service
        self._engine = engine
        self._notices = notices
        self._progress = progress
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    def kick(self, notice_id: str) -> None:
        if not self._ctx.jobs.is_leader:
            return  # the scheduler lease holder's sweep picks it up
        task = self._tasks.get(notice_id)
        if task is not None and not task.done():
            self._again.add(notice_id)
            return
        self._tasks[notice_id] = asyncio.create_task(
            self._run(notice_id), name=f"notice:{notice_id}"
        )

    async def _run(self, notice_id: str) -> None:
        try:
            while True:
                self._again.discard(notice_id)
                notice = await self._notices.get(notice_id)
                if notice is not None and notice.status is NoticeStatus.SENDING:
                    targets = 0
                    if not notice.planned:
                        targets = len(await self._service.plan_targets(notice))
                    await self._progress.open(notice, targets)
                await self._engine.run(notice_id)
                if notice_id not in self._again:
                    break
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery of notice %s failed; the next sweep retries", notice_id)
        finally:
            self._tasks.pop(notice_id, None)

    async def sweep(self) -> None:
        for notice_id in await self._notices.with_work():
            self.kick(notice_id)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
        self._tasks.clear()


def setup(ctx: AppContext) -> Router:
    router = Router(name="notices")
    ctx.commands.add(*COMMANDS)
    settings = ctx.settings
    tz = settings.tz
    svc = ctx.services
    notices = svc.notices_repo
    deliveries = svc.deliveries_repo
    drafts = MongoDraftRepository(ctx.db)
    views = svc.notice_views
    service = svc.notice_service
    progress = ProgressMessages(ctx.bot, notices, ctx, settings.notice_progress_s)
    engine = DeliveryEngine(
        notices,
        deliveries,
        ctx.groups,
        TelegramNoticeMessenger(ctx.bot, views),
        progress,
        ctx.clock,
        ctx.jobs.holder_id,
        service.plan_targets,
        concurrency=settings.notice_concurrency,
        stale_s=settings.notice_resume_after_s,
        # The registry service (bot.routers.groups, set up first): a migration moves the
        # group's members and applications too.
        migrations=svc.group_service,
        # A run that ended with work left (claims to lapse first): the deliver sweep runs
        # again once they have (it runs every 5 s as well).
        retry=lambda _notice_id, seconds: ctx.jobs.wake_in("notices.deliver", seconds),
    )
    broadcaster = Broadcaster(ctx, engine, notices, progress, service)
    ctx.provide(broadcaster=broadcaster)

    async def sweep_schedule() -> None:
        for n in await service.dispatch_due():
            broadcaster.kick(n.notice_id)
        for n in await service.recur_due():
            broadcaster.kick(n.notice_id)

    async def sweep_expire() -> None:
        for n in await service.expire_due():
            broadcaster.kick(n.notice_id)

    ctx.jobs.every("notices.deliver", 5, broadcaster.sweep)
    ctx.jobs.every("notices.schedule", 30, sweep_schedule)
    ctx.jobs.every("notices.expire", 60, sweep_expire)

    async def shutdown() -> None:
        await broadcaster.stop()

    ctx.on_shutdown.append(shutdown)

    # -- rendering the dialog --------------------------------------------------------------
    async def ensure_username(bot: Bot) -> None:
        if not views.bot_username:
            views.bot_username = (await bot.me()).username or ""

    def audience_summary(t: Translator, a: Audience) -> str:
        parts = []
        if a.sectors:
            parts.append(t("notices.audience.sectors", sectors=", ".join(a.sectors)))
        if a.areas:
            parts.append(t("notices.audience.areas", areas=", ".join(a.areas)))
        if a.center is not None:
            parts.append(
                t(
                    "notices.audience.radius",
                    lat=f"{a.center.lat:.4f}",
                    lon=f"{a.center.lon:.4f}",
                    km=f"{a.radius_km or 0:g}",
                )
            )
        return "; ".join(parts) or t("notices.audience.none")

    async def sector_codes() -> list[str]:
        return [
            d["_id"]
            async for d in ctx.db.sectors.find({"retired": {"$ne": True}}).sort("number", 1)
        ]

    async def audience_markup(t: Translator, a: Audience) -> InlineKeyboardMarkup:
        rows: list[list[tuple[str, str]]] = []
        row: list[tuple[str, str]] = []
        for code in await sector_codes():
            mark = "✅ " if code in a.sectors else ""
            row.append(
                (
                    mark + t(f"sectors.{code}") if t.has(f"sectors.{code}") else mark + code,
                    cb("s", code),
                )
            )
            if len(row) == 3:
                rows.append(row)
                row = []
        if row:
            rows.append(row)
        row = []
        for area in await ctx.areas.list():
            mark = "✅ " if area.code in a.areas else ""
            row.append((mark + area.name, cb("ar", area.code)))
            if len(row) == 3:
                rows.append(row)
                row = []
        if row:
            rows.append(row)
        rows.append(
            [(t("notices.btn.all_groups"), cb("all")), (t("notices.btn.radius"), cb("rad"))]
        )
        rows.append([(t("notices.btn.clear"), cb("clr")), (t("notices.btn.done"), cb("aud_ok"))])
        rows.append([(t("notices.btn.cancel"), cb("x"))])
        return kb(rows)

    async def audience_text(t: Translator, principal: Principal, a: Audience) -> str:
        groups = await service.targets(a, service.broadcast_scopes(principal))
        return t("notices.ask.audience", summary=audience_summary(t, a), groups=len(groups))

    async def ask(
        message: Message,
        t: Translator,
        state: FSMContext,
        draft: Draft,
        step: str,
        principal: Principal,
    ) -> None:
        """Move the dialog to ``step`` and prompt for it."""
        await drafts.save(replace(draft, step=step))
        await state.set_state(STATE_OF.get(step, Form.preview))
        cancel = [(t("notices.btn.cancel"), cb("x"))]
        if step == "kind":
            rows = [[(t(f"notices.kind.{k.value}"), cb("k", k.value))] for k in NoticeKind]
            await message.answer(t("notices.ask.kind"), reply_markup=kb([*rows, cancel]))
        elif step == "title":
            await message.answer(
                t("notices.ask.title", limit=TITLE_LIMIT), reply_markup=kb([cancel])
            )
        elif step == "body":
            await message.answer(t("notices.ask.body"), reply_markup=kb([cancel]))
        elif step == "photos":
            text = t("notices.ask.photos", limit=MAX_PHOTOS)
            if draft.kind in PHOTO_REQUIRED:
                text += "\n" + t("notices.ask.photos_required")
            await message.answer(
                text, reply_markup=kb([[(t("notices.btn.done"), cb("ph_ok"))], cancel])
            )
        elif step == "case_no":
            await message.answer(
                t("notices.ask.case_no"),
                reply_markup=kb([[(t("notices.btn.skip"), cb("skip"))], cancel]),
            )
        elif step == "reward":
            await message.answer(
                t("notices.ask.reward"),
                reply_markup=kb([[(t("notices.btn.skip"), cb("skip"))], cancel]),
            )
        elif step == "audience":
            await message.answer(
                await audience_text(t, principal, draft.audience),
                reply_markup=await audience_markup(t, draft.audience),
            )
        elif step == "urgency":
            rows = [
                [(t("notices.btn.urgent_pin"), cb("u", "pin"))],
                [(t("notices.btn.urgent"), cb("u", "urgent"))],
                [(t("notices.btn.normal"), cb("u", "normal"))],
            ]
            await message.answer(t("notices.ask.urgency"), reply_markup=kb([*rows, cancel]))
        elif step == "expiry":
            days = [(t("notices.btn.days", days=d), cb("exp", str(d))) for d in (7, 30, 90)]
            await message.answer(
                t("notices.ask.expiry", tz=settings.timezone), reply_markup=kb([days, cancel])
            )
        else:
            await show_preview(message, t, state, draft, principal)

    async def advance(
        message: Message,
        t: Translator,
        state: FSMContext,
        draft: Draft,
        done: str,
        principal: Principal,
    ) -> None:
        """After step ``done``: the next step, or back to the preview when editing."""
        if draft.editing:
            await show_preview(message, t, state, draft, principal)
            return
        nxt = STEPS[STEPS.index(done) + 1] if STEPS.index(done) + 1 < len(STEPS) else "preview"
        await ask(message, t, state, draft, nxt, principal)

    async def show_preview(
        message: Message, t: Translator, state: FSMContext, draft: Draft, principal: Principal
    ) -> None:
        draft = replace(draft, step="preview", editing=True)
        await drafts.save(draft)
        await state.set_state(Form.preview)
        await ensure_username(message.bot)  # type: ignore[arg-type]
        sample = service.draft_notice(draft, ref="N-YYMM-NN")
        # What groups will see, byte for byte (the reference is assigned on sending).
        text = views.main_text(sample, Translator(sample.locale))
        markup = views.keyboard(sample, Translator(sample.locale))
        bot = message.bot
        assert bot is not None
        chat = message.chat.id
        edits = [(t(f"notices.btn.edit_{s}"), cb("e", s)) for s in STEPS]
        rows = [edits[i : i + 3] for i in range(0, len(edits), 3)]
        try:
            service.validate(draft)
        except InvalidInput as exc:
            # Not sendable as it is: say why, and offer the edits (no Send button).
            rows.append([(t("notices.btn.cancel"), cb("x"))])
            await message.answer(t(exc.key, **exc.params), reply_markup=kb(rows))
            return
        if not draft.photos:
            await bot.send_message(chat, text, reply_markup=markup)
        elif len(draft.photos) == 1:
            await bot.send_photo(
                chat, draft.photos[0].file_id or "", caption=text, reply_markup=markup
            )
        else:
            media = [
                InputMediaPhoto(media=p.file_id or "", caption=text if i == 0 else None)
                for i, p in enumerate(draft.photos)
            ]
            await bot.send_media_group(chat, media)  # type: ignore[arg-type]
            await bot.send_message(
                chat, views.buttons_text(sample, Translator(sample.locale)), reply_markup=markup
            )
        groups = await service.targets(draft.audience, service.broadcast_scopes(principal))
        lines = [t("notices.preview.header"), ""]
        urg = "urgent_pin" if draft.urgency is Urgency.URGENT and draft.pin else draft.urgency.value
        lines.append(
            t(
                "notices.preview.summary",
                kind=t(f"notices.kind.{sample.kind.value}"),
                urgency=t(f"notices.urgency.{urg}"),
                expires=local_time(sample.expires_at, tz),
                audience=audience_summary(t, draft.audience),
                groups=len(groups),
                members=sum(g.member_count for g in groups),
            )
        )
        for g in groups[:PREVIEW_GROUPS]:
            lines.append(
                t("notices.preview.group_line", title=g.title, sector=g.sector, area=g.area or "*")
            )
        if len(groups) > PREVIEW_GROUPS:
            lines.append(t("notices.preview.more_groups", count=len(groups) - PREVIEW_GROUPS))
        lines += ["", t("notices.preview.edit_hint")]
        rows.append([(t("notices.btn.send"), cb("send")), (t("notices.btn.schedule"), cb("sched"))])
        rows.append([(t("notices.btn.cancel"), cb("x"))])
        await message.answer("\n".join(lines)[:4096], reply_markup=kb(rows))

    async def current(user_id: int) -> Draft:
        draft = await drafts.get(user_id)
        if draft is None:
            raise InvalidInput("notices.err.no_draft")
        return draft

    async def press_ctx(
        query: CallbackQuery, expected: tuple[str, ...]
    ) -> tuple[Message, Draft] | None:
        """The message and draft behind a dialog button; None (answered) when stale."""
        draft = await drafts.get(query.from_user.id)
        msg = query.message
        if (
            draft is None
            or not isinstance(msg, Message)
            or (expected and draft.step not in expected)
        ):
            t = Translator(normalize_locale(query.from_user.language_code, settings.default_locale))
            await query.answer(t("core.stale_button"), show_alert=True)
            return None
        return msg, draft

    # -- commands ---------------------------------------------------------------------------
    @router.message(Command("notice"), flags=BROADCAST)
    async def start_notice(
        message: Message, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        service.broadcast_scopes(principal)
        await drafts.delete(principal.user_id)
        draft = Draft(principal.user_id)
        await drafts.save(draft)
        await ask(message, t, state, draft, "kind", principal)

    @router.message(Command("cancel"), StateFilter(Form, Update), flags={"chat": "private"})
    async def cancel_cmd(
        message: Message, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        await drafts.delete(principal.user_id)
        await state.clear()
        await message.answer(t("notices.cancelled"))

    @router.callback_query(Nt.filter(F.a == "x"), flags=BROADCAST)
    async def cancel_btn(
        query: CallbackQuery, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        await drafts.delete(principal.user_id)
        await state.clear()
        await query.answer()
        if isinstance(query.message, Message):
            with contextlib.suppress(TelegramAPIError):
                await query.message.edit_reply_markup(reply_markup=None)
            await query.message.answer(t("notices.cancelled"))

    # kind
    @router.callback_query(Nt.filter(F.a == "k"), flags=BROADCAST)
    async def on_kind(
        query: CallbackQuery,
        callback_data: Nt,
        t: Translator,
        state: FSMContext,
        principal: Principal,
    ) -> None:
        got = await press_ctx(query, ("kind",))
        if got is None:
            return
        msg, draft = got
        try:
            kind = NoticeKind(callback_data.v)
        except ValueError:
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        await query.answer()
        draft = replace(draft, kind=kind)
        await drafts.save(draft)
        await advance(msg, t, state, draft, "kind", principal)

    # title / body / case number / reward: typed text, checked, then the next step
    def text_step(name: str, fill: Callable[[Draft, str], Draft]) -> Callable[..., Awaitable[None]]:
        async def on_text(
            message: Message, t: Translator, state: FSMContext, principal: Principal
        ) -> None:
            draft = fill(await current(principal.user_id), message.text or "")
            await drafts.save(draft)
            await advance(message, t, state, draft, name, principal)

        on_text.__name__ = f"on_{name}"
        return on_text

    def with_reward(draft: Draft, text: str) -> Draft:
        amount, terms = parse_reward(text, max_amount=settings.rewards_max_amount)
        return replace(draft, reward=Reward(amount, terms))

    for form_state, name, fill in (
        (Form.title, "title", lambda d, text: replace(d, title=check_title(text))),
        (Form.body, "body", lambda d, text: replace(d, body=check_body(text))),
        (Form.case_no, "case_no", lambda d, text: replace(d, case_no=check_case_no(text))),
        (Form.reward, "reward", with_reward),
    ):
        router.message(form_state, F.text, NOT_COMMAND, flags=BROADCAST)(text_step(name, fill))

    @router.callback_query(Nt.filter(F.a == "skip"), flags=BROADCAST)
    async def on_skip(
        query: CallbackQuery, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        got = await press_ctx(query, ("case_no", "reward"))
        if got is None:
            return
        msg, draft = got
        await query.answer()
        field = draft.step
        draft = replace(draft, case_no="") if field == "case_no" else replace(draft, reward=None)
        await drafts.save(draft)
        await advance(msg, t, state, draft, field, principal)

    # photos
    @router.message(Form.photos, F.photo, flags=BROADCAST)
    async def on_photo(message: Message, t: Translator, principal: Principal) -> None:
        assert message.photo
        best = message.photo[-1]
        count = await drafts.add_photo(
            principal.user_id,
            Photo(best.file_id, unique_id=best.file_unique_id),
            message.message_id,
            MAX_PHOTOS,
        )
        if count is None:
            raise InvalidInput("notices.err.too_many_photos", limit=MAX_PHOTOS)
        done = kb([[(t("notices.btn.done"), cb("ph_ok"))]])
        if message.media_group_id:
            if await drafts.first_of_album(principal.user_id, message.media_group_id):
                await message.answer(t("notices.album_received"), reply_markup=done)
            return
        await message.answer(t("notices.photo_received", count=count), reply_markup=done)

    @router.callback_query(Nt.filter(F.a == "ph_ok"), flags=BROADCAST)
    async def on_photos_done(
        query: CallbackQuery, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        got = await press_ctx(query, ("photos",))
        if got is None:
            return
        msg, draft = got
        try:
            check_photo_count(len(draft.photos), required=draft.kind in PHOTO_REQUIRED)
        except InvalidInput as exc:
            await query.answer(t(exc.key, **exc.params), show_alert=True)
            return
        await query.answer()
        await advance(msg, t, state, draft, "photos", principal)

    @router.message(Form.photos, NOT_COMMAND, flags=BROADCAST)
    async def on_not_photo(message: Message, t: Translator) -> None:
        await message.answer(t("notices.err.expected_photo"))

    # audience
    @router.callback_query(
        Nt.filter(F.a.in_({"s", "ar", "all", "clr", "rad", "aud_ok"})), flags=BROADCAST
    )
    async def on_audience(
        query: CallbackQuery,
        callback_data: Nt,
        t: Translator,
        state: FSMContext,
        principal: Principal,
    ) -> None:
        got = await press_ctx(query, ("audience",))
        if got is None:
            return
        msg, draft = got
        a = draft.audience
        act, v = callback_data.a, callback_data.v
        if act == "aud_ok":
            if audience_empty(a):
                await query.answer(t("notices.err.no_audience"), show_alert=True)
                return
            if not await service.targets(a, service.broadcast_scopes(principal)):
                await query.answer(t("notices.err.no_groups"), show_alert=True)
                return
            await query.answer()
            await advance(msg, t, state, draft, "audience", principal)
            return
        if act == "rad":
            await query.answer()
            await state.set_state(Form.radius)
            await msg.answer(t("notices.ask.radius"))
            return
        if act == "s":
            if v not in await sector_codes():
                await query.answer(t("core.bad_callback"), show_alert=True)
                return
            sectors = tuple(x for x in a.sectors if x != v) if v in a.sectors else (*a.sectors, v)
            a = Audience(sectors, a.areas, a.center, a.radius_km)
        elif act == "ar":
            if await ctx.areas.get(v) is None:
                await query.answer(t("core.bad_callback"), show_alert=True)
                return
            areas = tuple(x for x in a.areas if x != v) if v in a.areas else (*a.areas, v)
            a = Audience(a.sectors, areas, a.center, a.radius_km)
        elif act == "all":
            a = Audience(sectors=tuple(await sector_codes()))
        else:
            a = Audience()
        draft = replace(draft, audience=a)
        await drafts.save(draft)
        await query.answer()
        with contextlib.suppress(TelegramAPIError):
            await msg.edit_text(
                await audience_text(t, principal, a), reply_markup=await audience_markup(t, a)
            )

    @router.message(Form.radius, F.location, flags=BROADCAST)
    async def on_location(
        message: Message, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        assert message.location
        draft = await current(principal.user_id)
        a = draft.audience
        center = GeoPoint(message.location.latitude, message.location.longitude)
        draft = replace(draft, audience=Audience(a.sectors, a.areas, center, None))
        await drafts.save(draft)
        await state.set_state(Form.radius_km)
        await message.answer(t("notices.ask.radius_km"))

    @router.message(Form.radius, F.text, NOT_COMMAND, flags=BROADCAST)
    async def on_coords(
        message: Message, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        m = COORDS_RE.match(message.text or "")
        if not m:
            raise InvalidInput("notices.err.bad_coords")
        try:
            center = GeoPoint(float(m.group(1)), float(m.group(2)))
        except ValueError:
            raise InvalidInput("notices.err.bad_coords") from None
        draft = await current(principal.user_id)
        a = draft.audience
        if m.group(3) is None:
            draft = replace(draft, audience=Audience(a.sectors, a.areas, center, None))
            await drafts.save(draft)
            await state.set_state(Form.radius_km)
            await message.answer(t("notices.ask.radius_km"))
            return
        km = parse_km(m.group(3))
        draft = replace(draft, audience=Audience(a.sectors, a.areas, center, km))
        await ask(message, t, state, draft, "audience", principal)

    @router.message(Form.radius_km, F.text, NOT_COMMAND, flags=BROADCAST)
    async def on_km(
        message: Message, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        km = parse_km(message.text or "")
        draft = await current(principal.user_id)
        a = draft.audience
        draft = replace(draft, audience=Audience(a.sectors, a.areas, a.center, km))
        await ask(message, t, state, draft, "audience", principal)

    # urgency
    @router.callback_query(Nt.filter(F.a == "u"), flags=BROADCAST)
    async def on_urgency(
        query: CallbackQuery,
        callback_data: Nt,
        t: Translator,
        state: FSMContext,
        principal: Principal,
    ) -> None:
        got = await press_ctx(query, ("urgency",))
        if got is None:
            return
        msg, draft = got
        if callback_data.v not in ("pin", "urgent", "normal"):
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        await query.answer()
        urgency = Urgency.NORMAL if callback_data.v == "normal" else Urgency.URGENT
        draft = replace(draft, urgency=urgency, pin=callback_data.v == "pin")
        await drafts.save(draft)
        await advance(msg, t, state, draft, "urgency", principal)

    # expiry
    @router.message(Form.expiry, F.text, NOT_COMMAND, flags=BROADCAST)
    async def on_expiry(
        message: Message, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        when = parse_when(message.text or "", tz, end_of_day=True)
        check_expiry(when, ctx.clock.now())
        draft = await current(principal.user_id)
        draft = replace(draft, expires_at=when)
        await drafts.save(draft)
        await advance(message, t, state, draft, "expiry", principal)

    @router.callback_query(Nt.filter(F.a == "exp"), flags=BROADCAST)
    async def on_expiry_btn(
        query: CallbackQuery,
        callback_data: Nt,
        t: Translator,
        state: FSMContext,
        principal: Principal,
    ) -> None:
        got = await press_ctx(query, ("expiry",))
        if got is None:
            return
        msg, draft = got
        if callback_data.v not in ("7", "30", "90"):
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        await query.answer()
        draft = replace(draft, expires_at=ctx.clock.now() + timedelta(days=int(callback_data.v)))
        await drafts.save(draft)
        await advance(msg, t, state, draft, "expiry", principal)

    # preview: edit a field, send, schedule
    @router.callback_query(Nt.filter(F.a == "e"), flags=BROADCAST)
    async def on_edit(
        query: CallbackQuery,
        callback_data: Nt,
        t: Translator,
        state: FSMContext,
        principal: Principal,
    ) -> None:
        got = await press_ctx(query, ("preview",))
        if got is None:
            return
        msg, draft = got
        if callback_data.v not in STEPS:
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        await query.answer()
        if callback_data.v == "photos":
            draft = replace(draft, photos=())
            await drafts.save(draft)
            await msg.answer(t("notices.photos_cleared"))
        await ask(msg, t, state, draft, callback_data.v, principal)

    async def submit(
        msg: Message,
        t: Translator,
        state: FSMContext,
        principal: Principal,
        send_at: datetime | None,
    ) -> None:
        # One press wins: the draft is claimed before anything is created.
        if not await drafts.claim_step(principal.user_id, ("preview", "schedule"), "submitting"):
            raise InvalidInput("notices.err.no_draft")
        draft = await current(principal.user_id)
        try:
            notice = await service.submit(principal, draft, send_at=send_at)
        except BaseException:
            await drafts.save(replace(draft, step="preview" if send_at is None else "schedule"))
            raise
        await drafts.delete(principal.user_id)
        await state.clear()
        if send_at is not None:
            await msg.answer(t("notices.scheduled", ref=notice.ref, when=local_time(send_at, tz)))
            ctx.jobs.wake_at("notices.schedule", send_at)
            return
        broadcaster.kick(notice.notice_id)

    @router.callback_query(Nt.filter(F.a == "send"), flags=BROADCAST)
    async def on_send(
        query: CallbackQuery, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        got = await press_ctx(query, ("preview",))
        if got is None:
            return
        msg, _ = got
        try:
            await submit(msg, t, state, principal, None)
        except InvalidInput as exc:
            await query.answer(t(exc.key, **exc.params), show_alert=True)
            return
        await query.answer()
        with contextlib.suppress(TelegramAPIError):
            await msg.edit_reply_markup(reply_markup=None)

    @router.callback_query(Nt.filter(F.a == "sched"), flags=BROADCAST)
    async def on_schedule(
        query: CallbackQuery, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        got = await press_ctx(query, ("preview",))
        if got is None:
            return
        msg, draft = got
        await query.answer()
        await drafts.save(replace(draft, step="schedule"))
        await state.set_state(Form.schedule)
        await msg.answer(
            t("notices.ask.schedule", tz=settings.timezone),
            reply_markup=kb([[(t("notices.btn.cancel"), cb("x"))]]),
        )

    @router.message(Form.schedule, F.text, NOT_COMMAND, flags=BROADCAST)
    async def on_schedule_time(
        message: Message, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        when = parse_when(message.text or "", tz, end_of_day=False)
        await submit(message, t, state, principal, when)

    @router.message(
        StateFilter(
            Form.title,
            Form.body,
            Form.case_no,
            Form.reward,
            Form.expiry,
            Form.schedule,
            Form.radius,
            Form.radius_km,
            Update.text,
        ),
        ~F.text,  # typed text is each step's own (commands go on to their handlers)
        flags=BROADCAST,
    )
    async def on_not_text(message: Message, t: Translator) -> None:
        await message.answer(t("notices.err.expected_text"))

    # -- after sending ------------------------------------------------------------------------
    @router.message(Command("notices"), flags=BROADCAST)
    async def list_notices(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        everyone = (command.args or "").strip().lower() == "all" and principal.is_superadmin
        items = await notices.list_for(None if everyone else principal.user_id, limit=20)
        if not items:
            await message.answer(t("notices.list.empty"))
            return
        header = "notices.list.header_all" if everyone else "notices.list.header"
        lines = [t(header, count=len(items))]
        for n in items:
            c = await deliveries.counts(n.notice_id)
            lines.append(
                t(
                    "notices.list.line",
                    ref=n.ref,
                    status=status_label(t, n.status),
                    kind=t(f"notices.kind.{n.kind.value}"),
                    title=n.title[:40],
                    sent=c.sent,
                    total=c.total,
                    failed=c.failed,
                )
            )
        lines += ["", t("notices.list.footer")]
        await message.answer("\n".join(lines)[:4096])

    @router.message(Command("notice_update"), flags=BROADCAST)
    async def update_cmd(
        message: Message,
        command: CommandObject,
        t: Translator,
        state: FSMContext,
        principal: Principal,
    ) -> None:
        args = (command.args or "").split()
        if (
            not args
            or len(args) > 2
            or (len(args) == 2 and args[1].lower() not in ("title", "body", "标题", "正文"))
        ):
            raise InvalidInput("notices.err.update_usage")
        notice = await service.find(principal, args[0])
        if notice.status.is_closed:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        field = "title" if len(args) == 2 and args[1].lower() in ("title", "标题") else "body"
        await state.set_state(Update.text)
        await state.set_data({"ref": notice.ref, "field": field})
        await message.answer(
            t("notices.ask.update", ref=notice.ref, field=t(f"notices.field.{field}"))
        )

    @router.message(Update.text, F.text, NOT_COMMAND, flags=BROADCAST)
    async def update_text(
        message: Message, t: Translator, state: FSMContext, principal: Principal
    ) -> None:
        data = await state.get_data()
        notice = await service.find(principal, data["ref"])
        text = message.text or ""
        value = check_title(text) if data["field"] == "title" else check_body(text)
        await state.update_data(value=value)
        await state.set_state(Update.confirm)
        c = await deliveries.counts(notice.notice_id)
        groups = c.sent + c.remaining
        await message.answer(
            t("notices.update.confirm", ref=notice.ref, groups=groups)
            if groups
            else t("notices.update.confirm_unsent", ref=notice.ref),
            reply_markup=kb(
                [
                    [
                        (t("notices.btn.confirm"), Nm(a="upd", ref=notice.ref).pack()),
                        (t("notices.btn.cancel"), cb("x")),
                    ]
                ]
            ),
        )

    @router.callback_query(Nm.filter(F.a == "upd"), Update.confirm, flags=BROADCAST)
    async def update_confirm(
        query: CallbackQuery,
        callback_data: Nm,
        t: Translator,
        state: FSMContext,
        principal: Principal,
    ) -> None:
        data = await state.get_data()
        if data.get("ref") != callback_data.ref or "value" not in data:
            await query.answer(t("core.stale_button"), show_alert=True)
            return
        kwargs = {data["field"]: data["value"]}
        try:
            notice = await service.update(principal, data["ref"], **kwargs)
        except InvalidInput as exc:
            await query.answer(t(exc.key, **exc.params), show_alert=True)
            return
        await state.clear()
        await query.answer()
        broadcaster.kick(notice.notice_id)
        if isinstance(query.message, Message):
            with contextlib.suppress(TelegramAPIError):
                await query.message.edit_reply_markup(reply_markup=None)
            await query.message.answer(t("notices.update.done", ref=notice.ref))

    @router.message(Command("notice_close"), flags=BROADCAST)
    async def close_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        args = (command.args or "").split()
        if not args or len(args) > 2:
            raise InvalidInput("notices.err.close_usage")
        status = None
        if len(args) == 2:
            status = {
                "solved": "solved",
                "破案": "solved",
                "已破案": "solved",
                "withdrawn": "withdrawn",
                "withdraw": "withdrawn",
                "撤销": "withdrawn",
            }.get(args[1].lower())
            if status is None:
                raise InvalidInput("notices.err.close_usage")
        notice = await service.find(principal, args[0])
        if notice.status.is_closed:
            raise InvalidInput("notices.err.closed", ref=notice.ref)
        choices = [status] if status else ["solved", "withdrawn"]
        rows = [
            [(t(f"notices.btn.{s}"), Nm(a="close", ref=notice.ref, v=s).pack()) for s in choices]
        ]
        rows.append([(t("notices.btn.cancel"), Nm(a="no", ref=notice.ref).pack())])
        label = (
            status_label(t, NoticeStatus(status))
            if status
            else "/".join(status_label(t, NoticeStatus(s)) for s in choices)
        )
        await message.answer(
            t("notices.close.confirm", ref=notice.ref, status=label), reply_markup=kb(rows)
        )

    @router.callback_query(Nm.filter(F.a == "close"), flags=BROADCAST)
    async def close_confirm(
        query: CallbackQuery, callback_data: Nm, t: Translator, principal: Principal
    ) -> None:
        if callback_data.v not in ("solved", "withdrawn"):
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        try:
            notice = await service.close(
                principal, callback_data.ref, NoticeStatus(callback_data.v)
            )
        except InvalidInput as exc:
            await query.answer(t(exc.key, **exc.params), show_alert=True)
            return
        await query.answer()
        broadcaster.kick(notice.notice_id)
        if isinstance(query.message, Message):
            with contextlib.suppress(TelegramAPIError):
                await query.message.edit_reply_markup(reply_markup=None)
            await query.message.answer(
                t("notices.close.done", ref=notice.ref, status=status_label(t, notice.status))
            )

    @router.callback_query(Nm.filter(F.a == "no"), flags=BROADCAST)
    async def close_cancel(query: CallbackQuery, t: Translator) -> None:
        await query.answer(t("notices.close.kept"))
        if isinstance(query.message, Message):
            with contextlib.suppress(TelegramAPIError):
                await query.message.edit_reply_markup(reply_markup=None)

    @router.message(
        Command("notice_repeat"), flags={"chat": "private", "perm": Permission.MANAGE_GROUPS}
    )
    async def repeat_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        args = (command.args or "").split()
        if len(args) != 2:
            raise InvalidInput("notices.err.repeat_usage")
        if args[1].lower() in ("off", "stop", "停止"):
            notice = await service.find(principal, args[0])
            await service.repeat(principal, args[0], None)
            await message.answer(t("notices.repeat.off", ref=notice.ref))
            return
        days = whole(args[1], 0, 10**6)
        if days is None:
            raise InvalidInput("notices.err.repeat_usage")
        rec = await service.repeat(principal, args[0], days)
        assert rec is not None
        notice = await service.find(principal, args[0])
        ctx.jobs.wake_at("notices.schedule", rec.next_at)
        await message.answer(
            t(
                "notices.repeat.on",
                ref=notice.ref,
                days=rec.every_days,
                when=local_time(rec.next_at, tz),
            )
        )

    return router
