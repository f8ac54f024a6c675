"""Answering whatever kind of event came in, in the caller's language."""

from __future__ import annotations

import contextlib

from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject


async def respond(event: TelegramObject, text: str, *, alert: bool = True) -> None:
    """Reply to a message, or answer a button press with a pop-up."""
    with contextlib.suppress(TelegramAPIError):
        if isinstance(event, Message):
            await event.answer(text)
        elif isinstance(event, CallbackQuery):
            await event.answer(text[:200], show_alert=alert)
