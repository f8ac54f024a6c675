"""Tip intake, follow-up threads, search and export.

Ways in: the "report a tip" deep link under a notice (``/start tip_<ref>``), replying to a
notice in a group, ``/tip`` (a general tip with a category), and forwarding a notice
to the bot. A tip is collected in a private dialog (texts, media, albums, locations,
addresses) until the member presses Send; it is stored before the member is told it
arrived. Officers reply to tip cards to write to the tipster; the tipster's replies go
back into the same thread.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Annotated, Any

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    MessageOriginChannel,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from pydantic import Field
from pymongo.errors import PyMongoError

from bot.commands import CommandSpec
from bot.context import AppContext
from bot.i18n import Translator
from bot.kit.text import split_text
from bot.numbers import whole
from bot.tip_views import (
    Relay,
    failure_reason,
    list_line,
    media_summary,
    pseudonym_label,
    send_card,
    status_name,
    tipster_label,
    when,
)
from groups.model import GeoPoint
from groups.roles import Permission, Principal
from kernel.errors import InvalidInput, NotFound
from storage.tips import (
    MongoGroupHints,
)
from tips.geo import checked_point
from tips.model import (
    Direction,
    DraftMode,
    Expect,
    LocationSource,
    NearFilter,
    NoticeInfo,
    Part,
    PartKind,
    Tip,
    TipCategory,
    TipDraft,
    TipLocation,
    TipStatus,
    TipsterIdentity,
)
from tips.period import Period, parse_period
from tips.service import TextOutcome

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("tip", Permission.SEND_TIPS, "private"),
    CommandSpec("mytips", Permission.SEND_TIPS, "private"),
    CommandSpec("addinfo", Permission.SEND_TIPS, "private", "<T-code>"),
    CommandSpec("forget", Permission.SEND_TIPS, "private", "<T-code>"),
    CommandSpec("tips", Permission.VIEW_TIPS, "private", "<notice ref> [page]"),
    CommandSpec("tipinfo", Permission.VIEW_TIPS, "private", "<T-code>"),
    CommandSpec(
        "near",
        Permission.VIEW_TIPS,
        "private",
        "<km> [notice ref] [status] [7d|24h|YYYY-MM-DD..YYYY-MM-DD]",
    ),
    CommandSpec("tipexport", Permission.VIEW_TIPS, "private", "<notice ref>"),
    CommandSpec("tipstatus", Permission.HANDLE_TIPS, "private", "<T-code> <status>"),
    CommandSpec("reveal", Permission.REVEAL_TIPSTER, "private", "<T-code> <reason>"),
)

# Tipster business: its log line names nobody and is time-stamped to the minute only.
TIPSTER_PRIVATE = {"chat": "private", "perm": Permission.SEND_TIPS, "tipster": True}
# A tipster's commands; typed in a group they are taken down and answered privately.
TIPSTER_COMMANDS = ("tip", "mytips", "addinfo", "forget")

UNSUPPORTED = ("sticker", "poll", "game", "dice", "contact", "story", "invoice", "paid_media")
REF_RE = re.compile(r"\bN-[0-9A-Z]{2,8}-[0-9A-Z]{1,8}\b", re.IGNORECASE)
DEEP_REF_RE = re.compile(r"start=tip_([A-Za-z0-9_-]{1,60})")
SPAN_RE = re.compile(r"^(\d{1,4})([dh])$", re.IGNORECASE)
STATUS_ALIASES = {s.value: s for s in TipStatus} | {
    "ack": TipStatus.ACKNOWLEDGED,
    "new": TipStatus.NEW,
    "新": TipStatus.NEW,
    "已确认": TipStatus.ACKNOWLEDGED,
    "处理中": TipStatus.IN_PROGRESS,
    "已核实": TipStatus.VERIFIED,
    "无价值": TipStatus.NOT_USEFUL,
    "已关闭": TipStatus.CLOSED,
}


class TipCb(CallbackData, prefix="tp"):
    action: str  # cat | send | cancel | addr
    value: str = ""


MAX_PAGE = 9999  # pages of /tips (ten tips each): far more than any notice gets


class TipPage(CallbackData, prefix="tpl"):
    ref: Annotated[str, Field(max_length=32)]
    page: Annotated[int, Field(ge=0, lt=MAX_PAGE)]  # a forged page is refused, never queried


class NearQuery(StatesGroup):
    waiting_location = State()


def identity_of(message_or_cb: Message | CallbackQuery) -> TipsterIdentity:
    user = message_or_cb.from_user
    assert user is not None
    return TipsterIdentity(
        tip_id="",
        user_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language=user.language_code,
    )


def unsupported(message: Message) -> bool:
    return any(getattr(message, name, None) is not None for name in UNSUPPORTED)


def parts_of(message: Message) -> list[Part]:
    """Files of a message (with its caption), kept by Telegram file id."""
    caption = message.caption or ""
    album = message.media_group_id
    if message.photo:
        p = message.photo[-1]
        return [
            Part(PartKind.PHOTO, caption, p.file_id, p.file_unique_id, p.file_size, album=album)
        ]
    media: list[tuple[PartKind, Any]] = [
        (PartKind.VIDEO, message.video),
        (PartKind.VOICE, message.voice),
        (PartKind.AUDIO, message.audio),
        (PartKind.ANIMATION, message.animation),
        (PartKind.VIDEO_NOTE, message.video_note),
        (PartKind.DOCUMENT, message.document),
    ]
    for kind, obj in media:
        if obj is not None:
            return [
                Part(
                    kind,
                    caption,
                    obj.file_id,
                    obj.file_unique_id,
                    getattr(obj, "file_size", None),
                    getattr(obj, "mime_type", None),
                    getattr(obj, "file_name", None),
                    getattr(obj, "duration", None),
                    album,
                )
            ]
    if message.text:
        return [Part(PartKind.TEXT, message.text)]
    return []


def category_keyboard(t: Translator) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=t(f"tips.category.{c.value}"),
                callback_data=TipCb(action="cat", value=c.value).pack(),
            )
        ]
        for c in TipCategory
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=t("tips.button.cancel"), callback_data=TipCb(action="cancel").pack()
            )
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def panel_keyboard(t: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=t("tips.button.send"), callback_data=TipCb(action="send").pack()
                ),
                InlineKeyboardButton(
                    text=t("tips.button.address"), callback_data=TipCb(action="addr").pack()
                ),
            ],
            [
                InlineKeyboardButton(
                    text=t("tips.button.cancel"), callback_data=TipCb(action="cancel").pack()
                )
            ],
        ]
    )


def location_keyboard(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("tips.button.share_location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
        is_persistent=False,
    )


@dataclass(frozen=True, slots=True)
class NearArgs:
    """``/near <km> [notice ref] [status...] [7d | 24h | 2026-11-01..2026-11-20]``."""

    radius_km: float
    ref: str | None = None
    statuses: tuple[TipStatus, ...] = ()
    span: timedelta | None = None  # the last 7 days, 24 hours... (from when the search runs)
    period: Period | None = None  # calendar days in the team's time zone


def parse_near_args(args: list[str], tz: tzinfo) -> NearArgs:
    if not args:
        raise InvalidInput("tips.near_usage")
    try:
        radius = float(args[0].lower().removesuffix("km").replace(",", "."))
    except ValueError:
        raise InvalidInput("tips.near_usage") from None
    ref: str | None = None
    statuses: list[TipStatus] = []
    span: timedelta | None = None
    period: Period | None = None
    for raw in args[1:]:
        token = raw.strip()
        if REF_RE.fullmatch(token):
            ref = token.upper()
        elif token.lower() in STATUS_ALIASES:
            statuses.append(STATUS_ALIASES[token.lower()])
        elif m := SPAN_RE.match(token):
            if span is not None or period is not None:
                raise InvalidInput("tips.near_two_periods")
            n = int(m.group(1))
            span = timedelta(days=n) if m.group(2).lower() == "d" else timedelta(hours=n)
        elif (found := parse_period(token, tz)) is not None:
            if span is not None or period is not None:
                raise InvalidInput("tips.near_two_periods")
            period = found
        else:
            raise InvalidInput("tips.near_bad_filter", token=token[:32])
    return NearArgs(radius, ref, tuple(statuses), span, period)


def setup(ctx: AppContext) -> Router:
    router = Router(name="tips")
    ctx.commands.add(*COMMANDS)
    settings = ctx.settings
    tz = settings.tz
    service = ctx.services.tip_service
    repo = service.repo
    api = ctx.services.tips_api
    messenger = ctx.services.tipster_messenger
    hints = MongoGroupHints(ctx.db)
    bot_username: dict[str, str] = {}

    async def bot_link(payload: str = "") -> str:
        if "name" not in bot_username:
            me = await ctx.bot.me()
            bot_username["name"] = me.username or ""
        link = f"https://t.me/{bot_username['name']}"
        return f"{link}?start={payload}" if payload else link

    async def deep_link(ref: str) -> str:
        return await bot_link(f"tip_{ref}")

    async def group_hint(chat_id: int, key: str, link: str, **params: Any) -> None:
        """A short-lived note in a group for someone the bot cannot write to: it names
        nobody, replies to nothing and is in the group's language; its button, which
        anyone may press, opens a private chat with the bot. One at a time per link."""
        now = ctx.clock.now()
        if await hints.showing(chat_id, link, now):
            return
        gt = Translator(settings.default_locale)
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=gt("tips.group_hint_button"), url=link)]]
        )
        try:
            hint = await ctx.bot.send_message(chat_id, gt(key, **params), reply_markup=markup)
        except TelegramAPIError as exc:
            log.info("could not post a private-chat hint in %s: %s", chat_id, exc)
            return
        due = now + timedelta(seconds=settings.tips_group_hint_ttl_s)
        await hints.add(chat_id, hint.message_id, due, link)
        ctx.jobs.wake_at("tips.group_hints", due)

    # ---- helpers ----------------------------------------------------------------------

    async def open_dialog(
        message: Message, t: Translator, notice: NoticeInfo | None, user_id: int
    ) -> None:
        _, discarded = await service.start(user_id, message.chat.id, message.message_id, notice)
        if discarded:
            await message.answer(t("tips.draft_discarded"))
        if notice is None:
            await message.answer(t("tips.choose_category"), reply_markup=category_keyboard(t))
            return
        await message.answer(
            t("tips.start_notice", ref=notice.ref, title=notice.title),
            reply_markup=location_keyboard(t),
        )
        await message.answer(t("tips.panel_hint"), reply_markup=panel_keyboard(t))

    async def deliver_pending_receipts(user_id: int, t: Translator) -> None:
        for tip in await repo.undelivered_receipts(user_id):
            try:
                sent = await ctx.bot.send_message(user_id, receipt_text(t, tip, from_group=True))
            except TelegramAPIError:
                return
            await repo.receipt_delivered(tip.tip_id, sent.message_id)

    def receipt_text(t: Translator, tip: Tip, *, from_group: bool = False) -> str:
        subject = (
            t("tips.receipt_notice", ref=tip.notice_ref, title=tip.notice_title or "")
            if tip.notice_ref
            else ""
        )
        key = "tips.received_from_group" if from_group else "tips.received"
        return t(key, code=tip.code, subject=subject)

    async def ack(message: Message, t: Translator, draft: TipDraft, key: str) -> None:
        await message.answer(t(key, steps=draft.steps), reply_markup=panel_keyboard(t))

    # ---- a tipster's commands typed in a group -------------------------------------------

    @router.message(Command(*TIPSTER_COMMANDS), F.chat.type != "private", flags={"tipster": True})
    async def tipster_command_in_group(
        message: Message, command: CommandObject, t: Translator
    ) -> None:
        """``/forget T-7K3Q9`` in a group ties its sender to a tip (``/tip``, ``/mytips``:
        to tipping): taken down at once and answered privately; the group is told nothing
        about who (someone the bot cannot write to gets a hint that names nobody)."""
        still_public = False
        try:
            await message.delete()
        except TelegramAPIError as exc:
            log.info("could not delete a tipster command in %s: %s", message.chat.id, exc)
            still_public = True
        if message.from_user is None or message.from_user.is_bot:
            return
        again = f"/{command.command} {command.args or ''}".strip()[:80]
        done = t("tips.reply_not_deleted") if still_public else t("tips.command_deleted")
        text = f"{t('tips.command_in_group', command=again)}\n\n{done}"
        try:
            await ctx.bot.send_message(message.from_user.id, text)
        except TelegramAPIError:
            await group_hint(message.chat.id, "tips.group_commands_hint", await bot_link())

    # ---- ways in --------------------------------------------------------------------------

    @router.message(
        CommandStart(deep_link=True, magic=F.args.startswith("tip_")),
        flags=TIPSTER_PRIVATE,
    )
    async def start_from_link(message: Message, command: CommandObject, t: Translator) -> None:
        assert message.from_user is not None
        await deliver_pending_receipts(message.from_user.id, t)
        ref = (command.args or "").removeprefix("tip_")
        notice = await service.notice_for_tips(ref)
        await open_dialog(message, t, notice, message.from_user.id)

    @router.message(Command("tip"), flags=TIPSTER_PRIVATE)
    async def start_general(message: Message, t: Translator) -> None:
        assert message.from_user is not None
        await open_dialog(message, t, None, message.from_user.id)

    @router.message(F.chat.type == "private", F.forward_origin, flags={"tipster": True})
    async def forwarded_notice(message: Message, t: Translator, principal: Principal) -> None:
        assert message.from_user is not None
        if not principal.can(Permission.SEND_TIPS):
            raise SkipHandler
        notice = await notice_of_forward(message)
        if notice is None:
            if await service.draft(message.from_user.id) is not None:
                raise SkipHandler  # a forward as part of a tip being collected
            await message.answer(t("tips.forward_not_notice"))
            return
        if not notice.accepts_tips:
            raise InvalidInput("tips.notice_closed", ref=notice.ref)
        await open_dialog(message, t, notice, message.from_user.id)

    async def notice_of_forward(message: Message) -> NoticeInfo | None:
        origin = message.forward_origin
        if isinstance(origin, MessageOriginChannel):
            found = await service.notices.by_message(origin.chat.id, origin.message_id)
            if found is not None:
                return found
        texts = [message.text or "", message.caption or ""]
        if message.reply_markup is not None:
            for row in message.reply_markup.inline_keyboard:
                texts.extend(b.url or "" for b in row)
        for text in texts:
            for m in DEEP_REF_RE.finditer(text):
                found = await service.notices.by_ref(m.group(1).upper())
                if found is not None:
                    return found
            for m in REF_RE.finditer(text):
                found = await service.notices.by_ref(m.group(0).upper())
                if found is not None:
                    return found
        return None

    @router.message(
        F.chat.type.in_({"group", "supergroup"}),
        F.reply_to_message,
        ~F.text.startswith("/"),
        flags={"tipster": True},
    )
    async def group_reply(message: Message, t: Translator, principal: Principal) -> None:
        reply_to = message.reply_to_message
        assert reply_to is not None
        if message.from_user is None or message.from_user.is_bot:
            raise SkipHandler
        if reply_to.from_user is None or reply_to.from_user.id != ctx.settings.bot_id:
            raise SkipHandler
        notice = await service.notices.by_message(message.chat.id, reply_to.message_id)
        if notice is None or not principal.can(Permission.SEND_TIPS):
            raise SkipHandler
        group = await ctx.groups.get(message.chat.id)
        delete = group.delete_tip_replies if group is not None else True
        parts = parts_of(message)
        locations: list[TipLocation] = []
        if message.location is not None:
            loc = message.location
            locations.append(
                TipLocation(
                    LocationSource.TELEGRAM,
                    checked_point(loc.latitude, loc.longitude),
                    loc.horizontal_accuracy,
                )
            )
        if not parts and not locations:
            raise SkipHandler  # a sticker or poll is not a tip: leave it to the group
        user = message.from_user
        error: InvalidInput | None = None
        tip: Tip | None = None
        try:
            tip, created = await service.submit_group_reply(
                identity_of(message),
                notice,
                message.chat.id,
                message.message_id,
                tuple(parts),
                tuple(locations),
                group.sector if group else None,
                group.area if group else None,
                album=message.media_group_id,
            )
        except InvalidInput as exc:  # flood, closed notice, too long: refuse privately
            error, created = exc, False
        except PyMongoError:
            # Not stored. The public reply still goes (safety first); tell them privately.
            log.exception("could not store a group reply tip")
            error, created = InvalidInput("core.db_unavailable"), False
        still_public = False
        if delete:
            try:
                await message.delete()
            except TelegramAPIError as exc:  # e.g. the bot lost its admin rights
                log.warning("could not delete a tip reply in %s: %s", message.chat.id, exc)
                still_public = True
        private_text = (
            t(error.key, **error.params)
            if error is not None
            else receipt_text(t, tip, from_group=True)
            if tip is not None and created
            else None
        )
        if still_public:
            warning = t("tips.reply_not_deleted")
            private_text = f"{private_text}\n\n{warning}" if private_text else warning
        if private_text is None:
            return
        try:
            sent = await ctx.bot.send_message(user.id, private_text)
        except (TelegramForbiddenError, TelegramBadRequest):
            # Never started the bot: a hint in the group that names nobody (no name, no
            # mention, no reply); its button takes whoever presses it to a private tip
            # about the notice, where the receipt they missed is delivered.
            await group_hint(
                message.chat.id, "tips.group_hint", await deep_link(notice.ref), ref=notice.ref
            )
            return
        if tip is not None and error is None:
            await repo.receipt_delivered(tip.tip_id, sent.message_id)

    async def delete_due_hints() -> None:
        now = ctx.clock.now()
        while (due := await hints.claim_due(now)) is not None:
            with contextlib.suppress(TelegramAPIError):
                await ctx.bot.delete_message(*due)

    ctx.jobs.every("tips.group_hints", 20, delete_due_hints)

    # ---- member commands --------------------------------------------------------------

    @router.message(Command("addinfo"), flags=TIPSTER_PRIVATE)
    async def add_info(message: Message, command: CommandObject, t: Translator) -> None:
        assert message.from_user is not None
        if not command.args:
            raise InvalidInput("tips.addinfo_usage")
        tip, discarded = await service.start_add(
            message.from_user.id, command.args, message.chat.id, message.message_id
        )
        if discarded:
            await message.answer(t("tips.draft_discarded"))
        await message.answer(t("tips.add_start", code=tip.code), reply_markup=location_keyboard(t))
        await message.answer(t("tips.panel_hint"), reply_markup=panel_keyboard(t))

    @router.message(Command("forget"), flags=TIPSTER_PRIVATE)
    async def forget(message: Message, command: CommandObject, t: Translator) -> None:
        assert message.from_user is not None
        if not command.args:
            raise InvalidInput("tips.forget_usage")
        tip = await service.forget(command.args.strip(), message.from_user.id)
        await message.answer(t("tips.forgotten", code=tip.code))

    @router.message(Command("mytips"), flags=TIPSTER_PRIVATE)
    async def my_tips(message: Message, t: Translator) -> None:
        assert message.from_user is not None
        tips = await service.mine(message.from_user.id)
        if not tips:
            await message.answer(t("tips.mine_empty"))
            return
        lines = [t("tips.mine_header")]
        for tip in tips:
            subject = tip.notice_ref or t(f"tips.category.{(tip.category or 'other')}")
            lines.append(
                f"• {tip.code} · {status_name(t, tip.status)} · {subject} · "
                f"{when(tip.created_at, tz)}"
            )
            thread = await repo.thread(tip.tip_id, limit=200)
            if thread:
                last = thread[-1]
                who = (
                    t("tips.thread_officer")
                    if last.direction is Direction.OFFICER
                    else t("tips.thread_you")
                )
                text = " ".join(" ".join(p.text for p in last.parts).split())[:60]
                text = text or media_summary(t, last.parts)
                lines.append("   " + t("tips.mine_thread", count=len(thread), who=who, text=text))
        lines.append("")
        lines.append(t("tips.mine_footer"))
        await message.answer("\n".join(lines)[:4096])

    # ---- officers ---------------------------------------------------------------------

    async def tips_page(
        t: Translator, principal: Principal, ref: str, page: int
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        notice, pg = await service.list_for_notice(principal, ref, page)
        if pg.total == 0:
            return t("tips.list_empty", ref=notice.ref), None
        lines = [
            t(
                "tips.list_header",
                ref=notice.ref,
                title=notice.title,
                total=pg.total,
                page=pg.page + 1,
                pages=pg.pages,
            )
        ]
        for i, tip in enumerate(pg.tips, start=pg.page * service.limits.page_size + 1):
            lines.append(f"{i}. {list_line(t, tip, tz)}")
        lines.append("")
        lines.append(t("tips.list_footer"))
        buttons = []
        if pg.page > 0:
            buttons.append(
                InlineKeyboardButton(
                    text=t("tips.button.prev"),
                    callback_data=TipPage(ref=notice.ref, page=pg.page - 1).pack(),
                )
            )
        if pg.page + 1 < min(pg.pages, MAX_PAGE):
            buttons.append(
                InlineKeyboardButton(
                    text=t("tips.button.next"),
                    callback_data=TipPage(ref=notice.ref, page=pg.page + 1).pack(),
                )
            )
        markup = InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None
        return "\n".join(lines)[:4096], markup

    @router.message(Command("tips"), flags={"chat": "private", "perm": Permission.VIEW_TIPS})
    async def list_tips(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        args = (command.args or "").split()
        if not args or len(args) > 2:
            raise InvalidInput("tips.tips_usage")
        page = 0
        if len(args) == 2:
            number = whole(args[1], 1, MAX_PAGE)
            if number is None:
                raise InvalidInput("tips.bad_page", max=MAX_PAGE)
            page = number - 1
        text, markup = await tips_page(t, principal, args[0], page)
        await message.answer(text, reply_markup=markup)

    @router.callback_query(TipPage.filter(), flags={"perm": Permission.VIEW_TIPS})
    async def page_tips(
        cb: CallbackQuery, callback_data: TipPage, t: Translator, principal: Principal
    ) -> None:
        text, markup = await tips_page(t, principal, callback_data.ref, callback_data.page)
        if isinstance(cb.message, Message):
            with contextlib.suppress(TelegramBadRequest):
                await cb.message.edit_text(text, reply_markup=markup)
        await cb.answer()

    @router.message(Command("tipinfo"), flags={"chat": "private", "perm": Permission.VIEW_TIPS})
    async def tip_info(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        if not command.args:
            raise InvalidInput("tips.tipinfo_usage")
        tip = await service.visible_tip(principal, command.args.strip())
        await send_card(ctx.bot, api, message.chat.id, tip, t, tz)
        thread = await repo.thread(tip.tip_id)
        if thread:
            lines = [t("tips.thread_title", code=tip.code)]
            for m in thread:
                who = (
                    t("tips.thread_officer_n", officer=m.officer_id)
                    if m.direction is Direction.OFFICER
                    else tipster_label(t, tip)
                )
                text = " ".join(p.text for p in m.parts if p.text) or media_summary(t, m.parts)
                lines.append(f"[{when(m.at, tz)}] {who}: {text}")
            sent = await message.answer("\n".join(lines)[:4096])
            await api.register_card(message.chat.id, sent.message_id, tip.tip_id)

    @router.message(Command("tipstatus"), flags={"chat": "private", "perm": Permission.HANDLE_TIPS})
    async def tip_status(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        args = (command.args or "").split()
        if len(args) != 2 or args[1].lower() not in STATUS_ALIASES:
            raise InvalidInput("tips.tipstatus_usage")
        tip = await service.visible_tip(principal, args[0])
        if not await service.officer_may_handle(principal, tip):
            raise NotFound("tips.unknown_code", code=tip.code)
        status = STATUS_ALIASES[args[1].lower()]
        updated = await service.set_status(tip.tip_id, status, principal.user_id)
        await message.answer(
            t("tips.status_set", code=updated.code, status=status_name(t, updated.status))
        )
        if status is not tip.status:
            await messenger.send(tip.tip_id, f"tips.status_changed.{status.value}")

    @router.message(
        Command("reveal"),
        flags={
            "chat": "private",
            "perm": Permission.REVEAL_TIPSTER,
            "deny": "tips.reveal_not_allowed",
        },
    )
    async def reveal(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        args = (command.args or "").split(maxsplit=1)
        if len(args) < 2:
            raise InvalidInput("tips.reveal_usage")
        tip, identity = await service.reveal(principal, args[0], args[1])
        if identity is None:
            await message.answer(t("tips.reveal_forgotten", code=tip.code))
            return
        await message.answer(
            t(
                "tips.revealed",
                code=tip.code,
                name=identity.display_name,
                username=f"@{identity.username}" if identity.username else "—",
                user_id=identity.user_id,
                language=identity.language or "—",
            )
        )

    @router.message(Command("tipexport"), flags={"chat": "private", "perm": Permission.VIEW_TIPS})
    async def export(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        from tips.export import to_csv, to_geojson

        ref = (command.args or "").strip()
        if not ref:
            raise InvalidInput("tips.export_usage")
        notice, tips = await service.export(principal, ref)
        stamp = ctx.clock.now().astimezone(tz).strftime("%Y%m%d-%H%M")
        base = f"tips-{notice.ref}-{stamp}"
        await message.answer_document(
            BufferedInputFile(to_geojson(tips).encode(), f"{base}.geojson"),
            caption=t("tips.export_geojson", ref=notice.ref, count=len(tips)),
        )
        await message.answer_document(
            BufferedInputFile(to_csv(tips).encode(), f"{base}.csv"),
            caption=t("tips.export_csv", ref=notice.ref, count=len(tips)),
        )

    async def run_near(
        message: Message,
        t: Translator,
        principal: Principal,
        center: GeoPoint,
        data: dict[str, Any],
    ) -> None:
        period = parse_period(data["period"], tz) if data.get("period") else None
        since = period.since if period else None
        if data.get("span_s"):
            since = ctx.clock.now() - timedelta(seconds=data["span_s"])
        flt = NearFilter(
            notice_id=data.get("notice_id"),
            statuses=tuple(TipStatus(s) for s in data.get("statuses", [])),
            since=since,
            until=period.until if period else None,
        )
        hits = await service.near(principal, center, float(data["radius_km"]), flt)
        shown = ""
        if period is not None:
            first, last = period.first_day, period.last_day
            shown = "\n" + t(
                "tips.near_period",
                first=first.isoformat() if first else "…",
                last=last.isoformat() if last else "…",
            )
        if not hits:
            await message.answer(
                t("tips.near_empty", km=data["radius_km"]) + shown,
                reply_markup=ReplyKeyboardRemove(),
            )
            return
        lines = [t("tips.near_header", km=data["radius_km"], count=len(hits)) + shown]
        for i, hit in enumerate(hits, start=1):
            lines.append(f"{i}. {list_line(t, hit.tip, tz, hit.distance_m)}")
        lines.append("")
        lines.append(t("tips.list_footer"))
        await message.answer("\n".join(lines)[:4096], reply_markup=ReplyKeyboardRemove())

    @router.message(Command("near"), flags={"chat": "private", "perm": Permission.VIEW_TIPS})
    async def near(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        state: FSMContext,
    ) -> None:
        args = parse_near_args((command.args or "").split(), tz)
        if not 0 < args.radius_km <= service.limits.max_radius_km:
            raise InvalidInput("tips.bad_radius", max_km=int(service.limits.max_radius_km))
        notice = await service.notice_ref_filter(args.ref) if args.ref else None
        data = {  # kept in the FSM storage while the location is awaited
            "radius_km": args.radius_km,
            "notice_id": notice.notice_id if notice else None,
            "statuses": [s.value for s in args.statuses],
            "span_s": args.span.total_seconds() if args.span else None,
            "period": args.period.label() if args.period else None,
        }
        replied = message.reply_to_message
        if replied is not None and (replied.location or replied.venue):
            loc = replied.location or (replied.venue.location if replied.venue else None)
            assert loc is not None
            await run_near(message, t, principal, GeoPoint(loc.latitude, loc.longitude), data)
            return
        await state.set_state(NearQuery.waiting_location)
        await state.set_data(data)
        await message.answer(t("tips.near_ask_location"), reply_markup=location_keyboard(t))

    @router.message(
        StateFilter(NearQuery.waiting_location),
        F.chat.type == "private",
        F.location | F.venue,
        flags={"perm": Permission.VIEW_TIPS},
    )
    async def near_location(
        message: Message, t: Translator, principal: Principal, state: FSMContext
    ) -> None:
        data = await state.get_data()
        await state.clear()
        loc = message.location or (message.venue.location if message.venue else None)
        assert loc is not None
        await run_near(message, t, principal, GeoPoint(loc.latitude, loc.longitude), data)

    # ---- threads: officer replies to a tip card, tipster replies to the bot -------------

    @router.message(F.chat.type == "private", F.reply_to_message, flags={"tipster": True})
    async def reply_in_thread(message: Message, t: Translator, principal: Principal) -> None:
        reply_to = message.reply_to_message
        assert reply_to is not None and message.from_user is not None
        if message.text and message.text.startswith("/"):
            raise SkipHandler
        card_tip = await repo.card(message.chat.id, reply_to.message_id)
        if card_tip is not None:
            await officer_reply(message, t, principal, card_tip)
            return
        tip_id = await repo.tip_for_tipster_reply(message.from_user.id, reply_to.message_id)
        if tip_id is not None:
            await tipster_reply(message, t, tip_id)
            return
        raise SkipHandler

    async def officer_reply(
        message: Message, t: Translator, principal: Principal, tip_id: str
    ) -> None:
        tip = await repo.get(tip_id)
        if tip is None or not await service.officer_may_handle(principal, tip):
            raise NotFound("tips.card_not_yours")
        if unsupported(message):
            raise InvalidInput("tips.unsupported")
        parts = parts_of(message)
        if not parts:
            raise InvalidInput("tips.relay_unsupported")
        if await repo.identity(tip_id) is None:
            await message.answer(t("tips.relay_forgotten", code=tip.code))
            return
        key = await service.key("officer", message.chat.id, message.message_id)
        stored = await service.add_thread(
            tip, Direction.OFFICER, tuple(parts), message_id=key, officer_id=principal.user_id
        )
        if stored is None:
            return  # the same message again
        relay = await messenger.relay(tip_id, message)
        if relay is None:  # unlinked meanwhile
            await message.answer(t("tips.relay_forgotten", code=tip.code))
        elif relay.ok:
            await message.answer(t("tips.relayed", code=tip.code))
        else:  # never "passed on" when it was not: what Telegram said, and what is kept
            assert relay.error is not None
            reason = failure_reason(t, relay.error)
            if relay.sent:
                key, extra = "tips.relay_partial", {"sent": relay.sent, "total": relay.total}
            else:
                key, extra = "tips.relay_failed", {}
            await message.answer(t(key, code=tip.code, reason=reason, **extra))

    async def tipster_reply(message: Message, t: Translator, tip_id: str) -> None:
        tip = await repo.get(tip_id)
        if tip is None:
            raise NotFound("tips.unknown_code", code="?")
        if unsupported(message):
            raise InvalidInput("tips.unsupported")
        parts = parts_of(message)
        if message.location is not None:
            loc = message.location
            point = checked_point(loc.latitude, loc.longitude)
            parts.append(Part(PartKind.TEXT, text=f"📍 {point.lat:.6f}, {point.lon:.6f}"))
        if not parts:
            raise InvalidInput("tips.unsupported")
        for part in parts:
            if part.size is not None and part.size > service.limits.max_file_bytes:
                raise InvalidInput(
                    "tips.file_too_big", limit_mb=service.limits.max_file_bytes // 1048576
                )
        key = await service.key("tipster", message.chat.id, message.message_id)
        stored = await service.add_thread(tip, Direction.TIPSTER, tuple(parts), message_id=key)
        if stored is None:
            return
        failed: Relay | None = None
        for officer_id in await repo.officers_in_thread(tip_id):
            relay = await forward_to_officer(officer_id, tip, message)
            if not relay.ok:
                failed = relay
        if failed is None:
            await message.answer(t("tips.added_to_thread", code=tip.code))
            return
        # Stored, but not (wholly) passed on: the tipster is told so, and why; never "added".
        assert failed.error is not None
        await message.answer(
            t("tips.forward_failed", code=tip.code, reason=failure_reason(t, failed.error))
        )

    async def forward_to_officer(officer_id: int, tip: Tip, message: Message) -> Relay:
        """A tipster's reply to an officer who wrote in the thread, headed by the tip code
        and pseudonym; a long text in several messages, every one a tip card."""
        ot = await messenger.translator(officer_id)
        head = ot("tips.tipster_replied", code=tip.code, who=pseudonym_label(ot, tip.pseudonym))
        texts = split_text(f"{head}\n\n{message.text}") if message.text else [head]
        total = len(texts) + (message.text is None)
        sent = 0
        try:
            for text in texts:
                msg = await ctx.bot.send_message(officer_id, text)
                await api.register_card(officer_id, msg.message_id, tip.tip_id)
                sent += 1
            if message.text is None:
                copied = await ctx.bot.copy_message(officer_id, message.chat.id, message.message_id)
                await api.register_card(officer_id, copied.message_id, tip.tip_id)
                sent += 1
        except TelegramAPIError as exc:
            log.warning(
                "tipster reply on %s to officer %s stopped after %s/%s: %s",
                tip.code,
                officer_id,
                sent,
                total,
                exc,
            )
            return Relay(sent, total, exc)
        return Relay(sent, total)

    # ---- collecting a draft ------------------------------------------------------------

    async def has_draft(message: Message) -> bool | dict[str, Any]:
        if message.chat.type != "private" or message.from_user is None:
            return False
        if message.text is not None and message.text.startswith("/"):
            return False
        draft = await service.draft(message.from_user.id)
        return {"draft": draft} if draft is not None else False

    @router.message(has_draft, flags={"perm": Permission.SEND_TIPS, "tipster": True})
    async def collect(message: Message, t: Translator, draft: TipDraft) -> None:
        assert message.from_user is not None
        uid = message.from_user.id
        if unsupported(message):
            raise InvalidInput("tips.unsupported")
        if draft.expect is Expect.CATEGORY:
            raise InvalidInput("tips.pick_category_first")
        if message.location is not None or message.venue is not None:
            await collect_location(message, t, uid, draft)
            return
        if message.text is not None:
            stored, outcome = await service.add_text(uid, message.text, draft)
            key = {
                TextOutcome.TEXT: "tips.added",
                TextOutcome.COORDINATES: "tips.added_coordinates",
                TextOutcome.GEOCODED: "tips.added_geocoded",
                TextOutcome.ADDRESS_ONLY: "tips.added_address_only",
            }[outcome]
            if outcome is TextOutcome.ADDRESS_ONLY:
                await message.answer(t(key, steps=stored.steps), reply_markup=location_keyboard(t))
                await message.answer(t("tips.panel_hint"), reply_markup=panel_keyboard(t))
                return
            if outcome is TextOutcome.GEOCODED:
                found = stored.locations[-1]
                place = found.title or found.address or ""
                await message.answer(
                    t(key, steps=stored.steps, place=place[:300]), reply_markup=panel_keyboard(t)
                )
                return
            await ack(message, t, stored, key)
            return
        parts = parts_of(message)
        if not parts:
            raise InvalidInput("tips.unsupported")
        stored, new_step = await service.add_part(uid, parts[0], draft)
        if new_step:
            await ack(
                message, t, stored, "tips.added_album" if message.media_group_id else "tips.added"
            )

    async def collect_location(message: Message, t: Translator, uid: int, draft: TipDraft) -> None:
        if message.venue is not None:
            v = message.venue
            location = TipLocation(
                LocationSource.VENUE,
                checked_point(v.location.latitude, v.location.longitude),
                v.location.horizontal_accuracy,
                address=v.address,
                title=v.title,
            )
        else:
            loc = message.location
            assert loc is not None
            live = bool(loc.live_period)
            point = checked_point(loc.latitude, loc.longitude)
            location = TipLocation(
                LocationSource.LIVE if live else LocationSource.TELEGRAM,
                point,
                loc.horizontal_accuracy,
                live_key=await service.key("live", message.chat.id, message.message_id)
                if live
                else None,
                first_point=point if live else None,
            )
        stored = await service.add_location(uid, location, draft)
        if draft.expect is Expect.ADDRESS:  # a pin instead of the address asked for
            stored = await service.drafts.set_fields(uid, expect=Expect.CONTENT) or stored
        await ack(message, t, stored, "tips.added_location")

    @router.edited_message(F.chat.type == "private", F.location, flags={"tipster": True})
    async def live_moved(message: Message) -> None:
        loc = message.location
        assert loc is not None
        with contextlib.suppress(InvalidInput):
            point = checked_point(loc.latitude, loc.longitude)
            key = await service.key("live", message.chat.id, message.message_id)
            await service.update_live(key, point)

    # ---- dialog buttons ----------------------------------------------------------------

    @router.callback_query(TipCb.filter(), flags={"perm": Permission.SEND_TIPS, "tipster": True})
    async def dialog_button(cb: CallbackQuery, callback_data: TipCb, t: Translator) -> None:
        uid = cb.from_user.id
        chat_ok = isinstance(cb.message, Message) and cb.message.chat.type == "private"
        draft = await service.draft(uid) if chat_ok else None
        if draft is None:
            await cb.answer(t("core.stale_button"), show_alert=True)
            return
        action = callback_data.action
        if action == "cat":
            if draft.expect is not Expect.CATEGORY or callback_data.value not in set(TipCategory):
                await cb.answer(t("core.stale_button"), show_alert=True)
                return
            category = TipCategory(callback_data.value)
            await service.choose_category(uid, category)
            await cb.answer()
            assert isinstance(cb.message, Message)
            await cb.message.answer(
                t("tips.start_general", category=t(f"tips.category.{category.value}")),
                reply_markup=location_keyboard(t),
            )
            await cb.message.answer(t("tips.panel_hint"), reply_markup=panel_keyboard(t))
        elif action == "addr":
            if draft.expect is Expect.CATEGORY:
                await cb.answer(t("tips.pick_category_first"), show_alert=True)
                return
            await service.expect_address(uid)
            await cb.answer()
            assert isinstance(cb.message, Message)
            await cb.message.answer(t("tips.ask_address"))
        elif action == "cancel":
            await service.cancel(uid)
            await cb.answer()
            assert isinstance(cb.message, Message)
            await cb.message.answer(t("tips.cancelled"), reply_markup=ReplyKeyboardRemove())
        elif action == "send":
            tip, _ = await service.submit(identity_of(cb), draft)
            await cb.answer()
            assert isinstance(cb.message, Message)
            with contextlib.suppress(TelegramBadRequest):
                await cb.message.edit_reply_markup(reply_markup=None)
            if draft.mode is DraftMode.ADD:
                await cb.message.answer(
                    t("tips.added_to_thread", code=tip.code), reply_markup=ReplyKeyboardRemove()
                )
                return
            sent = await cb.message.answer(receipt_text(t, tip), reply_markup=ReplyKeyboardRemove())
            await repo.receipt_delivered(tip.tip_id, sent.message_id)
        else:
            await cb.answer(t("core.bad_callback"), show_alert=True)

    return router
