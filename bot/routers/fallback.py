"""Last router: tell people in private chats when a command is unknown, and answer every
button press nothing else took (a client waits for the answer, spinning, until it comes)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message

from bot.context import AppContext
from bot.i18n import Translator


def _callback_classes() -> dict[str, type[CallbackData]]:
    """Every ``CallbackData`` class the features defined, by prefix."""
    found: dict[str, type[CallbackData]] = {}
    todo = list(CallbackData.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        prefix = getattr(cls, "__prefix__", None)
        if isinstance(prefix, str):
            found[prefix] = cls
    return found


def unclaimed_key(data: str | None, classes: dict[str, type[CallbackData]]) -> str:
    """A button no handler took: one of ours that is no longer valid (well formed, but its
    dialog or object moved on) is stale; anything else (malformed, forged) is invalid."""
    if not data:
        return "core.bad_callback"
    cls = classes.get(data.split(":", 1)[0])
    if cls is None:
        return "core.bad_callback"
    try:
        cls.unpack(data)
    except (TypeError, ValueError):
        return "core.bad_callback"
    return "core.stale_button"


def setup(ctx: AppContext) -> Router:
    router = Router(name="fallback")
    classes: dict[str, type[CallbackData]] = {}

    @router.message(F.chat.type == "private", F.text.startswith("/"))
    async def unknown_command(message: Message, t: Translator) -> None:
        await message.answer(t("core.unknown_command"))

    @router.callback_query()
    async def unclaimed_button(query: CallbackQuery, t: Translator) -> None:
        if not classes:  # every feature router (and its classes) is imported by now
            classes.update(_callback_classes())
        await query.answer(t(unclaimed_key(query.data, classes)), show_alert=True)

    return router
