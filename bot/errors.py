"""One error handler: domain refusals become polite replies; the rest is logged."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Router
from aiogram.types import ErrorEvent
from pymongo.errors import OperationFailure, PyMongoError

from bot.i18n import Translator
from bot.replies import respond
from kernel.errors import DomainError

log = logging.getLogger("six_circles.errors")


def setup() -> Router:
    router = Router(name="errors")

    @router.errors()
    async def on_error(event: ErrorEvent, t: Translator | None = None, **_: Any) -> bool:
        exc = event.exception
        t = t or Translator("zh-CN")
        target = event.update.event
        if isinstance(exc, DomainError):
            await respond(target, t(exc.key, **exc.params))
            return True
        if isinstance(exc, PyMongoError):
            # A refused operation is logged by class and code only: its message may quote
            # a document's key (a duplicate key error on a draft quotes the user id).
            detail = f"code {exc.code}" if isinstance(exc, OperationFailure) else str(exc)
            log.error(
                "database error on update %s: %s %s",
                event.update.update_id,
                type(exc).__name__,
                detail,
            )
            await respond(target, t("core.db_unavailable"))
            return True
        log.exception("unhandled error on update %s", event.update.update_id, exc_info=exc)
        await respond(target, t("core.error_internal"))
        return True

    return router
