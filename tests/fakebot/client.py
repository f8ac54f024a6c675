"""aiogram client glue: a Bot whose session talks to the fake."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer

from bot.session import TelegramSession


class FakeServerSession(TelegramSession):
    """The bot's session pointed at the fake; closes without aiogram's 250 ms SSL grace
    sleep (the fake is plain-HTTP loopback), which keeps test teardown fast."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(api=TelegramAPIServer.from_base(base_url), **kwargs)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(base_url: str, token: str, **bot_kwargs: Any) -> Bot:
    return Bot(token=token, session=FakeServerSession(base_url), **bot_kwargs)
