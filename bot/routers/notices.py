"""Coordinated-investigation notices: compose, deliver, update, close."""

from __future__ import annotations

from aiogram import Router

from bot.context import AppContext


def setup(ctx: AppContext) -> Router:
    return Router(name="notices")
