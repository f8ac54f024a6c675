"""The bot's own identity (its username, for deep links), asked of Telegram once at
start-up instead of being cached by each feature."""

from __future__ import annotations

from aiogram import Bot


class BotIdentity:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._username: str | None = None

    async def load(self) -> None:
        """Called at start-up (``getMe`` is cached by aiogram after the first call)."""
        self._username = (await self._bot.me()).username or ""

    async def username(self) -> str:
        if self._username is None:
            await self.load()
        return self._username or ""

    async def link(self, payload: str = "") -> str:
        """``https://t.me/<bot>?start=<payload>`` (payload: ``[A-Za-z0-9_-]{1,64}``)."""
        base = f"https://t.me/{await self.username()}"
        return f"{base}?start={payload}" if payload else base
