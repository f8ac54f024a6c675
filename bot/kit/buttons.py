"""Answers to buttons that cannot be acted on, in one place: a stale button (its object
moved on: an old card, a finished dialog) and a forged or malformed one. Both answer the
callback query with a pop-up and change nothing."""

from __future__ import annotations

import contextlib

from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery

from bot.i18n import Translator

STALE = "core.stale_button"
FORGED = "core.bad_callback"


async def stale(query: CallbackQuery, t: Translator) -> None:
    with contextlib.suppress(TelegramAPIError):
        await query.answer(t(STALE), show_alert=True)


async def forged(query: CallbackQuery, t: Translator) -> None:
    with contextlib.suppress(TelegramAPIError):
        await query.answer(t(FORGED), show_alert=True)


async def refuse(query: CallbackQuery, text: str) -> None:
    """A refusal the user caused (a rule, a state): the reason in a pop-up."""
    with contextlib.suppress(TelegramAPIError):
        await query.answer(text[:200], show_alert=True)
