"""The HTTP session the bot talks to the Bot API through."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

# Parametrized response models, one per return type, alive for the whole process.
_RESPONSE_MODELS: dict[Any, Any] = {}


class TelegramSession(AiohttpSession):
    """``AiohttpSession`` whose reply models are built once per process.

    aiogram validates every reply as ``Response[method.__returning__]``. Pydantic keeps
    parametrized generic models in a weak-value cache only, and a model class lives in
    reference cycles, so every full garbage collection frees them and the next reply of
    that type builds the model again: about 10 ms of schema generation each time, on the
    event loop (in the tips benchmark's profile: 90 rebuilds per 100 tips). Holding a
    reference to each model here makes pydantic's cache hit for the life of the process.
    """

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in _RESPONSE_MODELS:
            _RESPONSE_MODELS[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)
