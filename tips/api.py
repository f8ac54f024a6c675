"""The tips feature's service for other features (duty, rewards): no identities cross it.

Provided to handlers and other routers as ``tips_api`` (``ctx.services["tips_api"]``).
"""

from __future__ import annotations

from tips.codes import normalize_code
from tips.model import Tip, TipStatus, TipSummary
from tips.service import TipService


class TipsApi:
    def __init__(self, service: TipService) -> None:
        self._service = service

    async def summary(self, tip_id: str) -> TipSummary | None:
        """The tip (content, place, status, pseudonym), or None when unknown."""
        return await self._service.summary(tip_id)

    async def tip(self, tip_id: str) -> Tip | None:
        """The whole tip body (parts with file ids, every location) for ``send_card``;
        never the tipster's identity."""
        return await self._service.repo.get(tip_id)

    async def by_code(self, code: str) -> TipSummary | None:
        """A tip by its code (``T-7K3Q9``; case and dashes are forgiven), or None."""
        normalized = normalize_code(code)
        if normalized is None:
            return None
        tip = await self._service.repo.by_code(normalized)
        return TipSummary.of(tip) if tip else None

    async def set_status(self, tip_id: str, status: TipStatus | str, actor_id: int) -> TipSummary:
        """Change a tip's status (audited as ``tip.status``); raises NotFound when unknown
        and ValueError for a status that does not exist."""
        tip = await self._service.set_status(tip_id, TipStatus(status), actor_id)
        return TipSummary.of(tip)

    async def register_card(self, chat_id: int, message_id: int, tip_id: str) -> None:
        """Record that this message shows the tip to an officer: replying to it (in a
        private chat) writes to the tipster."""
        await self._service.repo.register_card(chat_id, message_id, tip_id)
