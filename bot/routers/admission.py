"""Admission by join request: the private form, application cards, decisions, timeouts."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from weakref import WeakValueDictionary

from aiogram import F, Router
from aiogram.filters import Command, Filter, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    ChatJoinRequest,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.commands import CommandSpec
from bot.groups_kit import Kit, Markup
from bot.i18n import Translator
from groups.admission import Application, AppState, Card, StartKind
from groups.members import mask_phone
from groups.roles import Permission, Principal
from kernel.errors import DomainError

log = logging.getLogger("six_circles.admission")

APP_ID_RE = re.compile(r"^[0-9a-f]{12}$")
MAX_ANSWER_CHARS = 500
SWEEP = "groups.expire_applications"


class Decide(CallbackData, prefix="ga"):
    app: str
    act: str  # "a" approve, "d" decline


class Confirm(CallbackData, prefix="gj"):
    app: str
    act: str  # "ok" submit with the stored profile, "no" cancel


class DeclineReason(StatesGroup):
    waiting = State()


class Filling(Filter):
    """A private message from someone with an application still open for answers.

    ``commands=False``: any non-command message while a question is pending (``form``);
    ``commands=True``: used with ``/cancel``, for ``form`` and ``confirm`` alike. Anyone
    else's messages pass on to the other features (tips, notices...).
    """

    def __init__(self, kit: Kit, *, commands: bool = False) -> None:
        self._kit = kit
        self._commands = commands

    async def __call__(self, message: Message) -> bool | dict[str, Any]:
        if message.chat.type != "private" or message.from_user is None:
            return False
        is_command = bool(message.text and message.text.startswith("/"))
        if is_command != self._commands:
            return False
        app = await self._kit.admission.filling(message.from_user.id)
        if app is None or (not self._commands and app.state is not AppState.FORM):
            return False
        return {"app": app}


def answers_text(t: Translator, app: Application, *, full_phone: bool) -> list[str]:
    lines = []
    for step in app.steps:
        value = app.answers.get(step)
        if value is None:
            continue
        if step == "phone" and not full_phone:
            value = mask_phone(value)
        lines.append(f"{t(f'admission.field.{step}')}: {value}")
    return lines


def contact_keyboard(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("admission.contact_button"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def prompt(t: Translator, app: Application) -> tuple[str, Markup]:
    step = app.next_step
    assert step is not None
    text = t(f"admission.ask.{step}") + "\n" + t("admission.cancel_hint")
    markup: Markup = contact_keyboard(t) if step == "phone" else ReplyKeyboardRemove()
    return text, markup


def setup(kit: Kit) -> Router:
    router = Router(name="admission")
    ctx = kit.ctx
    ctx.commands.add(CommandSpec("cancel", None, "private"))

    # ------------------------------------------------------------------ cards
    async def card_text(app: Application, viewer_id: int, t: Translator) -> str:
        group = await kit.groups.get(app.chat_id)
        label = await kit.group_label(group, t) if group else app.group_title
        who = f"{app.first_name} @{app.username}" if app.username else app.first_name
        lines = [
            t("admission.card_header", id=app.id),
            t("admission.card_group", group=label),
            t("admission.card_applicant", who=who, user_id=app.user_id),
            *answers_text(t, app, full_phone=kit.is_superadmin(viewer_id)),
        ]
        if app.reuse:
            lines.append(t("admission.card_reuse"))
        lines.append(t("admission.card_submitted", at=kit.when(app.submitted_at)))
        if app.state is AppState.APPROVED:
            by = await kit.name_of(app.decided_by)
            lines.append(t("admission.card_approved", by=by, at=kit.when(app.decided_at)))
        elif app.state is AppState.DECLINED:
            by = await kit.name_of(app.decided_by)
            lines.append(
                t(
                    "admission.card_declined",
                    by=by,
                    at=kit.when(app.decided_at),
                    reason=app.reason or "",
                )
            )
        elif app.state is AppState.EXPIRED:
            lines.append(t("admission.card_expired", at=kit.when(app.decided_at)))
        elif app.state is AppState.CANCELLED:
            lines.append(t("admission.card_cancelled"))
        return "\n".join(lines)

    def card_keyboard(t: Translator, app: Application) -> InlineKeyboardMarkup | None:
        if app.state is not AppState.SUBMITTED:
            return None
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=t("admission.approve"),
                        callback_data=Decide(app=app.id, act="a").pack(),
                    ),
                    InlineKeyboardButton(
                        text=t("admission.decline"),
                        callback_data=Decide(app=app.id, act="d").pack(),
                    ),
                ]
            ]
        )

    async def send_cards(app: Application) -> None:
        delivered = 0
        for uid in await kit.groups.managers_for(app.sector, app.area):
            tt = await kit.t_for(uid)
            sent = await kit.send(uid, await card_text(app, uid, tt), card_keyboard(tt, app))
            if sent is not None:
                await kit.admission.add_card(app.id, Card(uid, sent.message_id))
                delivered += 1
        if not delivered:
            log.warning("application %s: no manager could be reached", app.id)

    async def refresh_cards(app: Application) -> None:
        for card in app.cards:
            tt = await kit.t_for(card.chat_id)
            text = await card_text(app, card.chat_id, tt)
            await kit.edit(card.chat_id, card.message_id, text, card_keyboard(tt, app))

    async def tell_applicant(app: Application, key: str, **params: Any) -> None:
        tt = await kit.t_for(app.user_id)
        await kit.send(app.user_id, tt(key, title=app.group_title, **params), ReplyKeyboardRemove())

    # ------------------------------------------------------------------ join requests
    @router.chat_join_request()
    async def join_request(event: ChatJoinRequest, t: Translator) -> None:
        group = await kit.groups.active(event.chat.id)
        if group is None:
            return  # not a bound group: leave it to the group's own admins
        user = event.from_user
        started = await kit.admission.start(group, user.id, user.first_name, user.username)
        chat = event.user_chat_id
        if started.kind is StartKind.BANNED:
            await kit.send(chat, t("admission.auto_declined", title=group.title))
            return
        app = started.app
        if app is None:
            return
        if started.kind is StartKind.DUPLICATE:
            if app.state is AppState.FORM and app.next_step is not None:
                text, markup = prompt(t, app)  # asked again: where they left off
                await kit.send(chat, text, markup)
            return
        intro = t("admission.intro", title=group.title)
        if started.kind is StartKind.CONFIRM and started.member is not None:
            m = started.member
            text = t(
                "admission.reuse_confirm",
                title=group.title,
                name=m.name,
                phone=mask_phone(m.phone),
                workplace=m.workplace or "—",
            )
            kb = InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=t("admission.confirm"),
                            callback_data=Confirm(app=app.id, act="ok").pack(),
                        ),
                        InlineKeyboardButton(
                            text=t("admission.cancel"),
                            callback_data=Confirm(app=app.id, act="no").pack(),
                        ),
                    ]
                ]
            )
            await kit.send(chat, text, kb)
            return
        if app.reuse:
            intro = t("admission.reuse_intro", title=group.title)
        text, markup = prompt(t, app)
        await kit.send(chat, f"{intro}\n\n{text}", markup)

    @router.callback_query(Confirm.filter())
    async def confirm(
        query: CallbackQuery, callback_data: Confirm, t: Translator, principal: Principal
    ) -> None:
        if not APP_ID_RE.match(callback_data.app) or callback_data.act not in ("ok", "no"):
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        app = await kit.admission.get(callback_data.app)
        if app is None or app.user_id != principal.user_id or app.state is not AppState.CONFIRM:
            await query.answer(t("core.stale_button"), show_alert=True)
            return
        if callback_data.act == "no":
            await kit.admission.cancel(app, principal.user_id)
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.edit_text(t("admission.cancelled"))
            return
        submitted = await kit.admission.confirm(app.id, principal.user_id)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(t("admission.submitted", title=submitted.group_title))
        await send_cards(submitted)

    # ------------------------------------------------------------------ decisions
    async def conclude(app: Application) -> None:
        await refresh_cards(app)
        if app.state is AppState.APPROVED:
            await tell_applicant(app, "admission.approved")
        else:
            await tell_applicant(app, "admission.declined", reason=app.reason or "")

    async def lost(t: Translator, app: Application) -> str:
        by = await kit.name_of(app.decided_by)
        state = t(f"admission.state.{app.state.value}")
        return t("admission.already_decided", by=by, state=state)

    @router.callback_query(Decide.filter(), flags={"perm": Permission.MANAGE_GROUPS})
    async def decide(
        query: CallbackQuery,
        callback_data: Decide,
        t: Translator,
        principal: Principal,
        state: FSMContext,
    ) -> None:
        if not APP_ID_RE.match(callback_data.app) or callback_data.act not in ("a", "d"):
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        app = await kit.admission.get(callback_data.app)
        if app is None:
            await query.answer(t("core.stale_button"), show_alert=True)
            return
        kit.admission.check_decider(principal, app)
        if app.state is not AppState.SUBMITTED:
            await query.answer(await lost(t, app), show_alert=True)
            await refresh_cards(app)
            return
        if callback_data.act == "d":
            await state.set_state(DeclineReason.waiting)
            await state.update_data(app=app.id)
            await query.answer()
            await kit.send(
                principal.user_id,
                t("admission.ask_reason", name=app.answers.get("name", app.first_name)),
                ForceReply(input_field_placeholder=t("admission.reason_placeholder")[:64]),
            )
            return
        decision = await kit.admission.decide(principal, app.id, approve=True)
        if not decision.won:
            await query.answer(await lost(t, decision.app), show_alert=True)
            await refresh_cards(decision.app)
            return
        await query.answer(t("admission.approved_done"))
        await conclude(decision.app)
        if not decision.telegram_ok:
            await kit.send(principal.user_id, t("admission.telegram_failed"))

    @router.message(StateFilter(DeclineReason.waiting), Command("cancel"))
    async def decline_abandoned(message: Message, t: Translator, state: FSMContext) -> None:
        await state.clear()
        await message.answer(t("admission.decline_abandoned"))

    @router.message(
        StateFilter(DeclineReason.waiting), F.chat.type == "private", ~F.text.startswith("/")
    )
    async def decline_reason(
        message: Message, t: Translator, principal: Principal, state: FSMContext
    ) -> None:
        if not message.text:
            await message.answer(t("admission.reason_text_only"))
            return
        app_id = (await state.get_data()).get("app", "")
        try:
            decision = await kit.admission.decide(
                principal, app_id, approve=False, reason=message.text
            )
        except DomainError as exc:
            if exc.key != "admission.bad_reason":
                await state.clear()
            raise
        await state.clear()
        if not decision.won:
            await message.answer(await lost(t, decision.app))
            await refresh_cards(decision.app)
            return
        await message.answer(t("admission.declined_done"))
        await conclude(decision.app)
        if not decision.telegram_ok:
            await message.answer(t("admission.telegram_failed"))

    # ------------------------------------------------------------------ the form
    @router.message(Command("cancel"), Filling(kit, commands=True))
    async def cancel(
        message: Message, t: Translator, principal: Principal, app: Application
    ) -> None:
        await kit.admission.cancel(app, principal.user_id)
        await message.answer(t("admission.cancelled"), reply_markup=ReplyKeyboardRemove())

    # Nothing of ours to cancel and no conversation state of any feature: say so. (With a
    # state, e.g. a notice being composed, /cancel is left to the feature that owns it.)
    @router.message(Command("cancel"), F.chat.type == "private", StateFilter(None))
    async def nothing_to_cancel(message: Message, t: Translator) -> None:
        await message.answer(t("admission.nothing_to_cancel"), reply_markup=ReplyKeyboardRemove())

    # Updates are handled concurrently: one person's answers are taken one at a time, in
    # order (the repository also refuses an answer to a step already answered).
    locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()

    @router.message(Filling(kit))
    async def form_answer(message: Message, t: Translator, principal: Principal) -> None:
        lock = locks.get(principal.user_id)
        if lock is None:
            lock = locks[principal.user_id] = asyncio.Lock()
        async with lock:
            app = await kit.admission.filling(principal.user_id)  # fresh, inside the lock
            if app is not None and app.state is AppState.FORM:
                await answer_one(message, t, principal, app)

    async def answer_one(
        message: Message, t: Translator, principal: Principal, app: Application
    ) -> None:
        step = app.next_step
        assert step is not None
        try:
            if message.contact is not None:
                if step != "phone":
                    raise DomainError("admission.text_only")
                updated = await kit.admission.answer_contact(
                    app, principal.user_id, message.contact.user_id, message.contact.phone_number
                )
            elif message.text is None:
                raise DomainError(
                    "admission.phone_button" if step == "phone" else "admission.text_only"
                )
            elif len(message.text) > MAX_ANSWER_CHARS:
                raise DomainError("admission.too_long", max=MAX_ANSWER_CHARS)
            else:
                updated = await kit.admission.answer_text(app, message.text)
        except DomainError as exc:
            text = t(exc.key, **exc.params)
            again, markup = prompt(t, app)
            await message.answer(f"{text}\n\n{again}", reply_markup=markup)
            return
        if updated.state is AppState.SUBMITTED:
            await message.answer(
                t("admission.submitted", title=updated.group_title),
                reply_markup=ReplyKeyboardRemove(),
            )
            await send_cards(updated)
            return
        text, markup = prompt(t, updated)
        await message.answer(text, reply_markup=markup)

    @router.callback_query(F.data.startswith("ga:") | F.data.startswith("gj:"))
    async def malformed(query: CallbackQuery, t: Translator) -> None:
        await query.answer(t("core.bad_callback"), show_alert=True)

    # ------------------------------------------------------------------ timeouts
    async def expire() -> None:
        for app in await kit.admission.expire_due():
            hours = f"{kit.admission.timeout.total_seconds() / 3600:g}"
            await tell_applicant(app, "admission.expired", hours=hours)
            await refresh_cards(app)

    ctx.jobs.every(SWEEP, ctx.settings.join_request_sweep_s, expire)

    return router
