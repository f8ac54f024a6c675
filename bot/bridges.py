"""Bridges between features: each implements one feature's port over another feature's
public interface (tips' ``TipsApi`` and ``TipsterMessenger``), so no feature reaches into
another's internals and none of them ever sees a tipster's identity.

- :class:`TipsBridge`: duty's ``TipSource`` (status, card text, card registration, files).
- :class:`RewardsTipDirectory`, :class:`RewardsTipsterCheck`: rewards' ``TipDirectory`` and
  ``TipsterCheck``.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from bot import tip_views
from bot.i18n import Translator
from bot.inflight import InFlight
from bot.kit.text import fit_text
from bot.tip_views import TipsterMessenger
from duty.alerts import Alert, AlertKind
from duty.ports import OpenTip
from kernel.errors import DomainError
from rewards.model import TipInfo
from storage.duty import MongoTipDirectory
from tips.api import TipsApi
from tips.model import Part, ThreadMessage, TipStatus, TipSummary
from tips.service import TipService

log = logging.getLogger("six_circles.bridges")


class TipsBridge:
    """Duty's view of the tips feature (implements ``duty.ports.TipSource``).

    Status changes and card registration go through ``tips_api``; card text comes from
    ``bot.tip_views.card_text`` (pseudonym only, never the tipster); a thread message's
    own content is read from the tip's thread. Status and open tips for handovers are read
    from the ``tips`` collection's documented fields.
    """

    def __init__(
        self,
        api: TipsApi,
        service: TipService,
        messenger: TipsterMessenger,
        directory: MongoTipDirectory,
        inflight: InFlight,
    ) -> None:
        self.api = api
        self._service = service
        self._messenger = messenger
        self._dir = directory
        self._inflight = inflight

    async def mark_acknowledged(self, tip_id: str, actor_id: int) -> None:
        api = self.api
        try:
            summary = await api.summary(tip_id)
            # Never move a tip back: an investigator may have taken it further meanwhile.
            if summary is None or summary.status is not TipStatus.NEW:
                return
            await api.set_status(tip_id, TipStatus.ACKNOWLEDGED, actor_id)
        except (DomainError, ValueError) as exc:
            log.info("tip %s status not changed by duty: %r", tip_id, exc)
            return
        # The first acknowledgement: the tipster hears of it, under the tip code (never who
        # took it), in the background so the officer's button is answered at once. Nothing
        # is sent for a tip whose tipster unlinked it (/forget).
        self._inflight.spawn(
            self._tell_tipster(self._messenger, tip_id), f"tip-acknowledged-{tip_id}"
        )

    @staticmethod
    async def _tell_tipster(messenger: TipsterMessenger, tip_id: str) -> None:
        if not await messenger.send(tip_id, "tips.status_changed.acknowledged"):
            log.info(
                "tipster of %s not told of the acknowledgement (unlinked or unreachable)", tip_id
            )

    async def is_handled(self, tip_id: str) -> bool:
        status = await self._dir.status(tip_id)
        return status is not None and status != TipStatus.NEW.value

    async def open_tips(self, sector: str | None, area: str | None) -> list[OpenTip]:
        return await self._dir.open_tips(sector, area)

    async def summary(self, tip_id: str) -> TipSummary | None:
        return await self.api.summary(tip_id)

    async def register_card(self, chat_id: int, message_id: int, tip_id: str) -> None:
        try:
            await self.api.register_card(chat_id, message_id, tip_id)
        except Exception:
            log.exception("register_card failed for tip %s", tip_id)

    async def _thread_message(self, tip_id: str, message_id: str) -> ThreadMessage | None:
        thread = await self._service.repo.thread(tip_id, limit=500)
        return next((m for m in thread if m.message_id == message_id), None)

    async def thread_text(self, tip_id: str, message_id: str) -> str | None:
        msg = await self._thread_message(tip_id, message_id)
        if msg is None:
            return None
        body = "\n".join(p.text for p in msg.parts if p.text)
        if msg.media:
            body = f"{body}\n📎{len(msg.media)}".strip()
        return body

    async def media(self, alert: Alert) -> tuple[Part, ...]:
        """The files an alert is about: the thread message's for a new message, else the
        tip's (photos, videos, voice, documents; by Telegram file id)."""
        if alert.kind is AlertKind.MESSAGE and alert.message_id:
            msg = await self._thread_message(alert.tip_id, alert.message_id)
            return msg.media if msg is not None else ()
        tip = await self.api.tip(alert.tip_id)
        return tip.media if tip is not None else ()

    async def body(
        self, alert: Alert, t: Translator, tz: ZoneInfo, *, whole: bool = False
    ) -> str | None:
        """The tip's content, location and notice, as the tips feature renders it; cut to
        fit a card (UTF-16 units, as Telegram counts), or ``whole`` (Open)."""
        summary = await self.summary(alert.tip_id)
        if summary is None:
            return None
        text = tip_views.card_text(t, summary, tz, whole=whole)
        if alert.kind is AlertKind.MESSAGE and alert.message_id:
            extra = await self.thread_text(alert.tip_id, alert.message_id)
            if extra:
                extra = extra if whole else fit_text(extra, 1500)
                text = t("duty.card_message", text=extra) + "\n\n" + text
        return text if whole else fit_text(text, 3600)


def _tip_info(summary: TipSummary | None) -> TipInfo | None:
    if summary is None:
        return None
    return TipInfo(
        tip_id=summary.tip_id,
        code=summary.code,
        notice_id=summary.notice_id,
        sector=summary.sector,
        area=summary.area,
        status=summary.status.value,
    )


class RewardsTipDirectory:
    """Rewards' ``TipDirectory`` through the tips feature's ``tips_api`` (validated,
    audited status changes; never the tipster)."""

    def __init__(self, api: TipsApi) -> None:
        self._api = api

    async def by_code(self, code: str) -> TipInfo | None:
        return _tip_info(await self._api.by_code(code))

    async def get(self, tip_id: str) -> TipInfo | None:
        return _tip_info(await self._api.summary(tip_id))

    async def set_status(self, tip_id: str, status: str, actor_id: int) -> None:
        await self._api.set_status(tip_id, status, actor_id)


class RewardsTipsterCheck:
    """Rewards' ``TipsterCheck``, answered by the tips feature's ``tipster_messenger.owns``:
    rewards learns yes or no about the person acting, never who the tipster is."""

    def __init__(self, messenger: TipsterMessenger) -> None:
        self._messenger = messenger

    async def is_tipster(self, code: str, user_id: int) -> bool:
        return await self._messenger.owns(code, user_id)
