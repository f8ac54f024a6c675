"""How tips look to officers (cards) and how the bot writes to a tipster.

For duty and rewards:
- ``card_text(t, tip, tz=None, whole=False)``: the text of a tip card for an officer
  (pseudonym only), cut to fit one message unless ``whole``;
  ``tip`` is a ``Tip`` or a ``TipSummary``; times in ``tz`` (pass ``ctx.settings.tz``;
  default Asia/Shanghai, the project's default TIMEZONE).
- ``send_card(bot, tips_api, chat_id, tip, t, tz, reply_markup=None, with_media=True)``:
  sends the card (and the tip's photos, videos, voice messages and files) and registers
  every message it sent as a tip card, so an officer replying to any of them writes to
  the tipster. Returns the message ids.
- ``TipsterMessenger`` (provided as ``tipster_messenger``): ``send(tip_id, key, **params)``
  and ``owns(code, user_id)``.
- ``split_text(text)`` / ``fit_text(text)``: a text in pieces Telegram accepts (4096 UTF-16
  units each), or cut to one; and
  ``Relay`` / ``failure_reason``: what became of a relayed message, and why in words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup, Message

from bot.i18n import Translator, normalize_locale
from bot.kit.text import fit_text, split_text
from kernel.errors import DomainError
from storage.users import MongoUserRepository
from tips.api import TipsApi
from tips.model import Part, PartKind, Tip, TipLocation, TipStatus, TipSummary
from tips.service import TipService

log = logging.getLogger(__name__)

CARD_TEXT_LIMIT = 3900

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
PREVIEW = 90


def status_name(t: Translator, status: TipStatus) -> str:
    return t(f"tips.status.{status.value}")


def when(dt: datetime, tz: tzinfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def pseudonym_label(t: Translator, label: str) -> str:
    return t("tips.pseudonym", label=label)


def tipster_label(t: Translator, tip: Tip | TipSummary) -> str:
    """``Tipster #A137``, or "identity unlinked" for a forgotten tip (which has no label)."""
    return t("tips.forgotten_tipster") if tip.forgotten else pseudonym_label(t, tip.pseudonym)


def location_line(t: Translator, loc: TipLocation | None) -> str:
    if loc is None:
        return t("tips.card.no_location")
    source = t(f"tips.source.{loc.source.value}")
    bits: list[str] = []
    if loc.point is not None:
        bits.append(f"{loc.point.lat:.6f}, {loc.point.lon:.6f}")
    if loc.title:
        bits.append(loc.title)
    if loc.address:
        bits.append(loc.address)
    detail = source
    if loc.accuracy_m is not None:
        detail += t("tips.card.accuracy", meters=round(loc.accuracy_m))
    return f"{' · '.join(bits)} ({detail})"


def media_summary(t: Translator, parts: tuple[Part, ...]) -> str:
    counts: dict[str, int] = {}
    for p in parts:
        if p.kind is not PartKind.TEXT:
            counts[p.kind.value] = counts.get(p.kind.value, 0) + 1
    return ", ".join(f"{t(f'tips.kind.{k}')} {n}" for k, n in counts.items())


def _subject(t: Translator, tip: Tip | TipSummary) -> str:
    if tip.notice_ref:
        return t("tips.card.notice", ref=tip.notice_ref, title=tip.notice_title or "")
    if tip.category is not None:
        return t("tips.card.category", category=t(f"tips.category.{tip.category.value}"))
    return t("tips.card.general")


def card_text(
    t: Translator, tip: Tip | TipSummary, tz: tzinfo | None = None, *, whole: bool = False
) -> str:
    """A tip as an officer sees it: never the tipster's identity, only their pseudonym.
    Cut to fit one message (``CARD_TEXT_LIMIT`` UTF-16 units), unless ``whole``: then
    all of it, for ``split_text``."""
    tz = tz or DEFAULT_TZ
    if isinstance(tip, Tip):
        loc = tip.location
        media = media_summary(t, tip.parts)
        others = [x for x in tip.locations if x is not loc]
    else:
        loc = (
            TipLocation(tip.location_source, tip.point) if tip.location_source is not None else None
        )
        media = t("tips.card.files", count=tip.media_count) if tip.media_count else ""
        others = []
    lines = [
        t("tips.card.header", code=tip.code, status=status_name(t, tip.status)),
        _subject(t, tip),
        t("tips.card.tipster", who=tipster_label(t, tip)),
        t("tips.card.when", at=when(tip.created_at, tz)),
    ]
    if tip.sector or tip.area:
        lines.append(t("tips.card.scope", scope="/".join(x for x in (tip.sector, tip.area) if x)))
    lines.append(t("tips.card.location", location=location_line(t, loc)))
    lines.extend(t("tips.card.location_more", location=location_line(t, x)) for x in others)
    if media:
        lines.append(t("tips.card.media", media=media))
    text = tip.text.strip()
    lines.append("")
    lines.append(text if text else t("tips.card.no_text"))
    lines.append("")
    lines.append(t("tips.card.reply_hint"))
    out = "\n".join(lines)
    return out if whole else fit_text(out, CARD_TEXT_LIMIT)


def list_line(t: Translator, tip: Tip, tz: tzinfo, distance_m: float | None = None) -> str:
    marks = []
    if tip.point is not None:
        marks.append("📍")
    if tip.media:
        marks.append(f"📎{len(tip.media)}")
    head = (
        f"{tip.code} · {status_name(t, tip.status)} · {tipster_label(t, tip)} · "
        f"{when(tip.created_at, tz)} {' '.join(marks)}"
    ).rstrip()
    if distance_m is not None:
        head = t("tips.distance", km=f"{distance_m / 1000:.2f}") + " · " + head
    preview = " ".join(tip.text.split())
    if len(preview) > PREVIEW:
        preview = preview[: PREVIEW - 1] + "…"
    return f"{head}\n   {preview}" if preview else head


async def send_part(
    bot: Bot, chat_id: int, part: Part, caption: str | None = None
) -> Message | None:
    """Send one stored file by its Telegram file id (text parts return None)."""
    cap = caption if caption is not None else (part.text or None)
    if cap is not None:
        cap = cap[:1024]
    fid = part.file_id
    if fid is None:
        return None
    kind = part.kind
    if kind is PartKind.PHOTO:
        return await bot.send_photo(chat_id, fid, caption=cap)
    if kind is PartKind.VIDEO:
        return await bot.send_video(chat_id, fid, caption=cap)
    if kind is PartKind.VOICE:
        return await bot.send_voice(chat_id, fid, caption=cap)
    if kind is PartKind.AUDIO:
        return await bot.send_audio(chat_id, fid, caption=cap)
    if kind is PartKind.ANIMATION:
        return await bot.send_animation(chat_id, fid, caption=cap)
    if kind is PartKind.VIDEO_NOTE:
        return await bot.send_video_note(chat_id, fid)
    return await bot.send_document(chat_id, fid, caption=cap)


async def send_card(
    bot: Bot,
    tips_api: TipsApi,
    chat_id: int,
    tip: Tip,
    t: Translator,
    tz: tzinfo,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
    with_media: bool = True,
) -> list[int]:
    """Show a tip to an officer, all of its text (a long one in several messages, the
    buttons under the first); every message sent is registered as a tip card."""
    ids: list[int] = []
    for i, text in enumerate(split_text(card_text(t, tip, tz, whole=True))):
        sent = await bot.send_message(chat_id, text, reply_markup=None if i else reply_markup)
        ids.append(sent.message_id)
        await tips_api.register_card(chat_id, sent.message_id, tip.tip_id)
    if with_media:
        for part in tip.media:
            msg = await send_part(bot, chat_id, part, f"{tip.code} · {part.text}".strip(" ·"))
            if msg is not None:
                ids.append(msg.message_id)
                await tips_api.register_card(chat_id, msg.message_id, tip.tip_id)
    return ids


@dataclass(frozen=True, slots=True)
class Relay:
    """What became of a message passed on (to a tipster, or to an officer): ``sent`` of
    ``total`` messages were accepted by Telegram; ``error`` is why the rest were not."""

    sent: int
    total: int
    error: TelegramAPIError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.sent == self.total


def failure_reason(t: Translator, exc: TelegramAPIError) -> str:
    """Telegram's refusal in the reader's words: blocked, gone, never started, temporary,
    or Telegram's own description."""
    text = exc.message.lower()
    if isinstance(exc, TelegramForbiddenError):
        if "blocked" in text:
            return t("tips.why.blocked")
        if "deactivated" in text:
            return t("tips.why.deactivated")
        if "initiate" in text:
            return t("tips.why.not_started")
    elif isinstance(exc, TelegramBadRequest) and "chat not found" in text:
        return t("tips.why.not_found")
    elif isinstance(exc, TelegramNetworkError | TelegramServerError | TelegramRetryAfter):
        return t("tips.why.temporary")
    return t("tips.why.other", detail=" ".join(exc.message.split())[:200])


class TipsterMessenger:
    """Writes to the tipster of a tip, in their language, under the tip code.

    The only way other features reach a tipster: they never learn who it is.
    """

    def __init__(
        self,
        bot: Bot,
        service: TipService,
        users: MongoUserRepository,
        default_locale: str,
    ) -> None:
        self._bot = bot
        self._service = service
        self._users = users
        self._default = default_locale

    async def translator(self, user_id: int, fallback: str | None = None) -> Translator:
        profile = await self._users.get(user_id)
        if profile is not None and profile.locale:
            return Translator(profile.locale)
        code = (profile.language_code if profile else None) or fallback
        return Translator(normalize_locale(code, self._default))

    def header(self, t: Translator, tip: Tip) -> str:
        if tip.notice_title:
            return t("tips.thread_header_notice", code=tip.code, title=tip.notice_title)
        return t("tips.thread_header", code=tip.code)

    async def _target(self, tip_id: str) -> tuple[Tip, int, Translator] | None:
        tip = await self._service.repo.get(tip_id)
        identity = await self._service.repo.identity(tip_id) if tip else None
        if tip is None or identity is None:
            return None
        return tip, identity.user_id, await self.translator(identity.user_id, identity.language)

    async def send(self, tip_id: str, key: str, **params: Any) -> bool:
        """Send catalogue message ``key`` (rendered in the tipster's language with
        ``params``) to the tipster of ``tip_id``, headed by the tip code and notice title.
        False when the tipster cannot be reached (unlinked with /forget, blocked the bot)."""
        target = await self._target(tip_id)
        if target is None:
            return False
        tip, user_id, t = target
        text = f"{self.header(t, tip)}\n\n{t(key, **params)}"
        try:
            msg = await self._bot.send_message(user_id, text)
        except TelegramAPIError as exc:
            log.info("tipster of %s unreachable: %s", tip.code, exc)
            return False
        await self._service.repo.remember_tipster_message(tip_id, msg.message_id)
        return True

    async def relay(self, tip_id: str, message: Message) -> Relay | None:
        """Copy an officer's message (text or media) to the tipster, without the officer's
        name, under the tip code and notice title. A long text goes as several messages
        (Telegram takes 4096 units at most), each one the tipster may reply to. None when
        the tip has no tipster to write to (unlinked with /forget)."""
        target = await self._target(tip_id)
        if target is None:
            return None
        tip, user_id, t = target
        header = self.header(t, tip)
        if message.text is not None:
            texts = split_text(f"{header}\n\n{t('tips.officer_says')}\n{message.text}")
        else:
            texts = [f"{header}\n{t('tips.officer_says')}"]
        total = len(texts) + (message.text is None)
        sent = 0
        try:
            for text in texts:
                msg = await self._bot.send_message(user_id, text)
                await self._service.repo.remember_tipster_message(tip_id, msg.message_id)
                sent += 1
            if message.text is None:
                copied = await self._bot.copy_message(user_id, message.chat.id, message.message_id)
                await self._service.repo.remember_tipster_message(tip_id, copied.message_id)
                sent += 1
        except TelegramAPIError as exc:
            log.warning(
                "relay to tipster of %s stopped after %s/%s: %s", tip.code, sent, total, exc
            )
            return Relay(sent, total, exc)
        return Relay(sent, total)

    async def owns(self, code: str, user_id: int) -> bool:
        """Whether ``user_id`` sent the tip with this code (and has not unlinked it)."""
        try:
            await self._service.owned_tip(code, user_id)
        except DomainError:
            return False
        return True
