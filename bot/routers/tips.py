"""Tip intake, follow-up threads, search and export."""

from __future__ import annotations

from aiogram import Router

from bot.context import AppContext


def setup(ctx: AppContext) -> Router:
    return Router(name="tips")
