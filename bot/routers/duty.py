"""Duty rotation, tip routing, acknowledgement and escalation."""

from __future__ import annotations

from aiogram import Router

from bot.context import AppContext


def setup(ctx: AppContext) -> Router:
    return Router(name="duty")
