"""Duty rotation, tip routing, acknowledgement and escalation.

Commands for managers (teams, assignments, SLA) and operators (who is on, schedule,
swaps, unavailability); tip cards with Acknowledge/Open buttons; three leased sweeps
(``duty.escalate``, ``duty.handover``, ``duty.coverage``) that process what MongoDB says
is due, so a restart loses nothing and duplicates nothing.

Tips integration: :class:`TipsBridge` (everything duty needs from the tips feature:
status, card text, card registration) and :func:`subscribe_tip_events`
(``tips.events.TipSubmitted`` and tipsters' ``TipMessageAdded`` become routings).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot import tip_views
from bot.bridges import TipsBridge
from bot.commands import CommandSpec
from bot.context import AppContext
from bot.i18n import Translator, normalize_locale
from bot.kit.text import fit_text, split_text
from bot.numbers import FIRST_YEAR, LAST_YEAR, plausible_year, whole
from bot.targets import ID_RE, USERNAME_RE
from duty.alerts import Alert, AlertKind, Level, TipRef
from duty.model import (
    MAX_PER_SHIFT,
    EscalationPolicy,
    Shift,
    SlotReason,
    Team,
    parse_hhmm,
    parse_patterns,
)
from duty.ports import SwapRequest
from duty.service import (
    MAX_SCHEDULE_DAYS,
    CoverageWarning,
    DutyService,
    EscalationDue,
    Handover,
    Routing,
)
from duty.sla import SlaRow
from groups.roles import Permission, Principal, Scope
from kernel.errors import InvalidInput
from tips.events import TipMessageAdded, TipSubmitted

log = logging.getLogger("six_circles.duty")

SWEEP_ESCALATE = "duty.escalate"
SWEEP_HANDOVER = "duty.handover"
SWEEP_COVERAGE = "duty.coverage"

COMMANDS = (
    CommandSpec("duty", Permission.HANDLE_TIPS, "private"),
    CommandSpec("schedule", Permission.HANDLE_TIPS, "private", "[days] [team]"),
    CommandSpec("myshifts", Permission.HANDLE_TIPS, "private", "[days]"),
    CommandSpec(
        "swap", Permission.HANDLE_TIPS, "private", "<team> <date> <HH:MM> <@user> [date HH:MM]"
    ),
    CommandSpec("unavailable", Permission.HANDLE_TIPS, "private", "<from> [to] | clear"),
    CommandSpec("teams", Permission.MANAGE_DUTY, "private"),
    CommandSpec(
        "team_add",
        Permission.MANAGE_DUTY,
        "private",
        "<code> <patterns> <per-shift> [sector] [area] [tz=Zone]",
    ),
    CommandSpec("team_set", Permission.MANAGE_DUTY, "private", "<code> <field> <value…>"),
    CommandSpec("team_del", Permission.MANAGE_DUTY, "private", "<code>"),
    CommandSpec("assign", Permission.MANAGE_DUTY, "private", "<team> <date> <HH:MM> <@in> [@out]"),
    CommandSpec("sla", Permission.MANAGE_DUTY, "private", "[days]"),
)

CLOSED = ("verified", "not_useful", "closed")


class AckCB(CallbackData, prefix="dack"):
    a: str


class OpenCB(CallbackData, prefix="dopen"):
    a: str


class SwapCB(CallbackData, prefix="dswp"):
    s: str
    ok: bool


def subscribe_tip_events(ctx: AppContext, dispatch: DutyDispatch) -> None:
    """New tips, and tipsters' new thread messages, are routed to whoever is on duty."""

    async def submitted(event: TipSubmitted) -> None:
        await dispatch.route_in_background(
            TipRef(
                tip_id=event.tip_id,
                code=event.code,
                notice_id=event.notice_id,
                sector=event.sector,
                area=event.area,
                at=event.at,
            )
        )

    async def message_added(event: TipMessageAdded) -> None:
        if event.direction != "tipster":
            return  # officers' own replies need nobody's attention
        summary = await dispatch.tips.summary(event.tip_id)
        await dispatch.route_in_background(
            TipRef(
                tip_id=event.tip_id,
                code=event.code,
                notice_id=event.notice_id,
                sector=summary.sector if summary else None,
                area=summary.area if summary else None,
                at=event.at,
                kind=AlertKind.MESSAGE,
                message_id=event.message_id,
            )
        )

    ctx.events.subscribe(TipSubmitted, submitted)
    ctx.events.subscribe(TipMessageAdded, message_added)


# ---------------------------------------------------------------- rendering


def hm(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%m-%d %H:%M")


def duration(seconds: float | None, t: Translator) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return t("duty.dur_hm", h=h, m=m)
    return t("duty.dur_ms", m=m, s=s)


def share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


class Names:
    """Display names for user ids, cached briefly (schedules name the same people often)."""

    TTL_S = 60.0

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._cache: dict[int, tuple[float, str]] = {}

    async def __call__(self, uid: int) -> str:
        now = time.monotonic()
        hit = self._cache.get(uid)
        if hit is not None and now - hit[0] < self.TTL_S:
            return hit[1]
        profile = await self._ctx.users.get(uid)
        name = profile.display_name if profile else str(uid)
        if len(self._cache) > 5000:
            self._cache.clear()
        self._cache[uid] = (now, name)
        return name

    async def many(self, uids: Sequence[int], t: Translator) -> str:
        if not uids:
            return t("duty.nobody")
        return t("duty.sep").join([await self(u) for u in uids])


async def shift_line(shift: Shift, tz: ZoneInfo, t: Translator, names: Names) -> str:
    parts: list[str] = []
    for slot in shift.slots:
        name = await names(slot.user_id)
        if slot.covers_for is not None:
            other = await names(slot.covers_for)
            key = {
                SlotReason.FILL: "duty.slot_fill",
                SlotReason.SWAP: "duty.slot_swap",
            }.get(slot.reason, "duty.slot_assigned")
            name = t(key, name=name, other=other)
        parts.append(name)
    who = t("duty.sep").join(parts) if parts else t("duty.nobody")
    start = shift.start.astimezone(tz)
    line = t(
        "duty.shift_line",
        day=start.strftime("%m-%d"),
        weekday=t(f"duty.weekday.{start.weekday()}"),
        label=shift.label,
        who=who,
    )
    if shift.gap:
        line += t("duty.gap_mark", missing=shift.gap)
    for uid in shift.unfilled:
        line += t("duty.unfilled_mark", name=await names(uid))
    return line


def chunks(lines: Sequence[str], limit: int = 4000) -> list[str]:
    out: list[str] = []
    cur = ""
    for line in lines:
        if cur and len(cur) + len(line) + 1 > limit:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n{line}" if cur else line[:limit]
    if cur:
        out.append(cur)
    return out


def parse_day(token: str) -> date:
    try:
        day = date.fromisoformat(token)
    except ValueError as exc:
        raise InvalidInput("duty.bad_date", value=token[:20]) from exc
    if not plausible_year(day.year):
        raise InvalidInput("duty.date_range", value=token[:20], first=FIRST_YEAR, last=LAST_YEAR)
    return day


def parse_days(token: str | None, default: int, maximum: int) -> int:
    if token is None:
        return default
    days = whole(token, 1, maximum)
    if days is None:
        raise InvalidInput("duty.bad_days", max=maximum)
    return days


# ---------------------------------------------------------------- dispatch


class DutyDispatch:
    """Sends cards, escalations, handovers and warnings; edits cards after acknowledgement."""

    def __init__(self, ctx: AppContext, svc: DutyService, tips: TipsBridge) -> None:
        self.ctx = ctx
        self.svc = svc
        self.tips = tips
        self.names = Names(ctx)

    @property
    def bot(self) -> Bot:
        return self.ctx.bot

    async def tr(self, chat_id: int) -> Translator:
        default = self.ctx.settings.default_locale
        if chat_id < 0:
            return Translator(default)
        profile = await self.ctx.users.get(chat_id)
        if profile is None:
            return Translator(default)
        return Translator(profile.locale or normalize_locale(profile.language_code, default))

    def tz(self, team: Team | None) -> ZoneInfo:
        return team.zone if team else self.ctx.settings.tz

    async def card_text(
        self, alert: Alert, t: Translator, header: str, *, whole: bool = False
    ) -> str:
        """One card's text (cut to one message), or ``whole`` for Open (``split_text``)."""
        team = await self.svc.repo.get_team(alert.team) if alert.team else None
        lines = [header]
        body = await self.tips.body(alert, t, self.tz(team), whole=whole)
        if body:
            lines.append(body)
        else:
            lines.append(t("duty.card_code", code=alert.code))
            if alert.notice_id:
                lines.append(t("duty.card_notice", notice=alert.notice_id))
            scope = "/".join(p for p in (alert.sector, alert.area) if p) or "—"
            lines.append(t("duty.card_scope", scope=scope))
            lines.append(t("duty.card_received", at=hm(alert.created_at, self.tz(team))))
        if alert.acked_by is not None and alert.acked_at is not None:
            lines.append(
                t(
                    "duty.card_taken",
                    name=await self.names(alert.acked_by),
                    at=hm(alert.acked_at, self.tz(team)),
                )
            )
        text = "\n".join(lines)
        return text if whole else fit_text(text)

    def header(self, alert: Alert, level: Level, t: Translator) -> str:
        if level is Level.DUTY:
            key = "duty.card_new_tip" if alert.kind is AlertKind.TIP else "duty.card_new_message"
            return t(key, code=alert.code)
        waited = alert.policy.first_min
        if level is Level.INVESTIGATORS:
            waited += alert.policy.second_min
        key = "duty.card_backup" if level is Level.BACKUP else "duty.card_investigators"
        return t(key, code=alert.code, minutes=waited)

    def keyboard(self, alert: Alert, t: Translator, *, ack: bool = True) -> InlineKeyboardMarkup:
        row = []
        if ack:
            row.append(
                InlineKeyboardButton(text=t("duty.btn_ack"), callback_data=AckCB(a=alert.id).pack())
            )
        row.append(
            InlineKeyboardButton(text=t("duty.btn_open"), callback_data=OpenCB(a=alert.id).pack())
        )
        return InlineKeyboardMarkup(inline_keyboard=[row])

    async def _batch_text(
        self, alert: Alert, t: Translator, level: Level, texts: dict[str, str]
    ) -> str:
        """The card's text in ``t``'s language, built once per batch of recipients (it
        reads the team and the tip): ``texts`` is the batch's, by language."""
        if t.locale not in texts:
            texts[t.locale] = await self.card_text(alert, t, self.header(alert, level, t))
        return texts[t.locale]

    async def send_card(
        self, alert: Alert, chat_id: int, level: Level, texts: dict[str, str] | None = None
    ) -> bool:
        """``texts``: the card's text per language, shared by one batch of recipients
        (the card reads the team and the tip; the same alert and level read them once)."""
        t = await self.tr(chat_id)
        text = await self._batch_text(alert, t, level, {} if texts is None else texts)
        try:
            msg = await self.bot.send_message(chat_id, text, reply_markup=self.keyboard(alert, t))
        except TelegramAPIError as exc:
            log.warning("duty card to %s failed: %s", chat_id, exc)
            return False
        await self.svc.record_card(alert.id, chat_id, msg.message_id)
        await self.tips.register_card(chat_id, msg.message_id, alert.tip_id)
        return True

    async def route(self, tip: TipRef) -> Alert:
        """A new tip or thread message: cards to whoever is on duty for its scope."""
        routing = await self.svc.route(tip)
        if not routing.duplicate:
            await self.deliver(routing)
        return routing.alert

    async def route_in_background(self, tip: TipRef) -> None:
        """The routing (who must acknowledge, when it escalates) is stored before the
        tipster's handler goes on; the cards follow in the background, at each operator
        chat's Telegram pace, so a tipster never waits for an operator's queue. A crash
        before the cards went out is covered by the stored escalation."""
        routing = await self.svc.route(tip)
        if not routing.duplicate:
            self.ctx.inflight.spawn(self.deliver(routing), f"duty-cards-{tip.code}")

    async def deliver(self, routing: Routing) -> None:
        targets = (routing.chat_id,) if routing.chat_id is not None else routing.recipients
        sent = 0
        texts: dict[str, str] = {}
        for chat_id in targets:
            sent += await self.send_card(routing.alert, chat_id, Level.DUTY, texts)
        if not sent:
            await self.svc.unreachable(routing.alert.id)
            self.ctx.jobs.wake_at(SWEEP_ESCALATE, self.svc.clock.now())
        elif routing.alert.due is not None:
            self.ctx.jobs.wake_at(SWEEP_ESCALATE, routing.alert.due)

    async def escalate(self) -> None:
        for due in await self.svc.claim_escalations():
            await self.send_escalation(due)
        nxt = await self.svc.next_due()
        if nxt is not None:
            self.ctx.jobs.wake_at(SWEEP_ESCALATE, nxt)

    async def send_escalation(self, due: EscalationDue) -> None:
        texts: dict[str, str] = {}
        for uid in due.recipients:
            await self.send_card(due.alert, uid, due.level, texts)

    async def refresh_cards(self, alert: Alert) -> None:
        """After acknowledgement: every card shows who took it and when."""
        texts: dict[str, str] = {}
        for card in alert.cards:
            t = await self.tr(card.chat_id)
            text = await self._batch_text(alert, t, Level.DUTY, texts)
            with contextlib.suppress(TelegramAPIError):
                await self.bot.edit_message_text(
                    text=text,
                    chat_id=card.chat_id,
                    message_id=card.message_id,
                    reply_markup=self.keyboard(alert, t, ack=False),
                )

    async def handover(self) -> None:
        """Shift changes: handover messages, and reminders of shifts about to start."""
        for h in await self.svc.due_handovers():
            await self.send_handover(h)
        for team, shift in await self.svc.due_reminders():
            await self.send_reminder(team, shift)
        for when in await self.svc.next_changes():
            self.ctx.jobs.wake_at(SWEEP_HANDOVER, when)

    async def send_reminder(self, team: Team, shift: Shift) -> None:
        for uid in shift.operators:
            t = await self.tr(uid)
            line = await shift_line(shift, team.zone, t, self.names)
            with contextlib.suppress(TelegramAPIError):
                await self.bot.send_message(
                    uid,
                    t(
                        "duty.reminder",
                        team=team.code,
                        at=hm(shift.start, team.zone),
                        line=line,
                    ),
                )

    async def send_handover(self, h: Handover) -> None:
        targets = (h.team.duty_chat_id,) if h.team.duty_chat_id else h.recipients
        now = self.svc.clock.now()
        tz = h.team.zone
        for chat_id in targets:
            t = await self.tr(chat_id)
            lines = [t("duty.handover_title", team=h.team.code, label=h.incoming.label)]
            if h.outgoing is not None:
                lines.append(
                    t("duty.handover_out", who=await self.names.many(h.outgoing.operators, t))
                )
            lines.append(t("duty.handover_in", who=await self.names.many(h.incoming.operators, t)))
            if h.incoming.gap:
                lines.append(t("duty.handover_gap", missing=h.incoming.gap))
            if h.open_tips:
                lines.append(t("duty.handover_open", count=len(h.open_tips)))
                for tip in h.open_tips[:30]:
                    owner = h.owners.get(tip.tip_id)
                    lines.append(
                        t(
                            "duty.handover_tip",
                            code=tip.code,
                            status=t(f"duty.tip_status.{tip.status}")
                            if t.has(f"duty.tip_status.{tip.status}")
                            else tip.status,
                            age=duration((now - tip.created_at).total_seconds(), t),
                            owner=await self.names(owner) if owner else t("duty.nobody"),
                        )
                    )
            else:
                lines.append(t("duty.handover_no_open"))
            if h.escalated:
                lines.append(t("duty.handover_escalated", count=len(h.escalated)))
                for a in h.escalated:
                    top = max(int(s.level) for s in a.steps)
                    lines.append(
                        t(
                            "duty.handover_escalated_item",
                            code=a.code,
                            at=hm(a.created_at, tz),
                            level=t(f"duty.level.{top}"),
                            state=t(f"duty.alert_state.{a.state.value}"),
                        )
                    )
            else:
                lines.append(t("duty.handover_no_escalated"))
            for text in chunks(lines):
                with contextlib.suppress(TelegramAPIError):
                    await self.bot.send_message(chat_id, text)

    async def coverage(self) -> None:
        for w in await self.svc.due_coverage_warnings():
            await self.send_coverage(w)

    async def send_coverage(self, w: CoverageWarning) -> None:
        for uid in w.recipients:
            t = await self.tr(uid)
            lines = [
                t(
                    "duty.coverage_title",
                    team=w.team.code,
                    count=len(w.gaps),
                    hours=self.ctx.settings.duty_coverage_horizon_h,
                )
            ]
            for s in w.gaps:
                lines.append(await shift_line(s, w.team.zone, t, self.names))
            lines.append(t("duty.coverage_hint", team=w.team.code))
            for text in chunks(lines):
                with contextlib.suppress(TelegramAPIError):
                    await self.bot.send_message(uid, text)


# ---------------------------------------------------------------- router


def setup(ctx: AppContext) -> Router:
    router = Router(name="duty")
    ctx.commands.add(*COMMANDS)
    settings = ctx.settings
    svc = ctx.services.duty
    tips = ctx.services.duty_tips
    dispatch = DutyDispatch(ctx, svc, tips)
    ctx.provide(duty_dispatch=dispatch)
    subscribe_tip_events(ctx, dispatch)
    ctx.jobs.every(SWEEP_ESCALATE, settings.duty_escalation_sweep_s, dispatch.escalate)
    ctx.jobs.every(SWEEP_HANDOVER, 60, dispatch.handover)
    ctx.jobs.every(SWEEP_COVERAGE, 600, dispatch.coverage)
    names = dispatch.names

    async def resolve_user(token: str) -> int:
        if ID_RE.match(token):
            return int(token)
        if USERNAME_RE.match(token):
            profile = await ctx.users.by_username(token)
            if profile is not None:
                return profile.user_id
        raise InvalidInput("roles.unknown_user", who=token[:40])

    def args_of(command: CommandObject) -> list[str]:
        return (command.args or "").split()

    # ---------------------------------------------------------------- who is on

    @router.message(Command("duty"), flags={"chat": "private", "perm": Permission.HANDLE_TIPS})
    async def duty_now(message: Message, t: Translator, duty: DutyService) -> None:
        teams = await duty.teams()
        if not teams:
            await message.answer(t("duty.no_teams"))
            return
        lines: list[str] = []
        for team in teams:
            current, nxt = await duty.now_and_next(team)
            lines.append(t("duty.team_header", team=team.code, scope=team.scope_label()))
            if current:
                for s in current:
                    lines.append(t("duty.now", line=await shift_line(s, team.zone, t, names)))
            else:
                lines.append(t("duty.now_none"))
            if nxt is not None:
                lines.append(t("duty.next", line=await shift_line(nxt, team.zone, t, names)))
            lines.append("")
        for text in chunks(lines):
            await message.answer(text)

    @router.message(Command("schedule"), flags={"chat": "private", "perm": Permission.HANDLE_TIPS})
    async def schedule(
        message: Message, command: CommandObject, t: Translator, duty: DutyService
    ) -> None:
        args = args_of(command)
        days_token = next((a for a in args if a.isdigit()), None)
        rest = [a for a in args if a != days_token]
        if len(rest) > 1:
            raise InvalidInput("duty.schedule_usage")
        days = parse_days(days_token, 3, MAX_SCHEDULE_DAYS)
        teams = [await duty.team(rest[0])] if rest else await duty.teams()
        if not teams:
            await message.answer(t("duty.no_teams"))
            return
        now = duty.clock.now()
        lines: list[str] = []
        for team in teams:
            lines.append(t("duty.schedule_header", team=team.code, days=days, tz=team.tz))
            for s in await duty.schedule(team, now, now + timedelta(days=days)):
                lines.append(await shift_line(s, team.zone, t, names))
            lines.append("")
        for text in chunks(lines):
            await message.answer(text)

    @router.message(Command("myshifts"), flags={"chat": "private", "perm": Permission.HANDLE_TIPS})
    async def myshifts(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        duty: DutyService,
    ) -> None:
        args = args_of(command)
        days = parse_days(args[0] if args else None, 14, MAX_SCHEDULE_DAYS)
        shifts = await duty.my_shifts(principal.user_id, days)
        if not shifts:
            await message.answer(t("duty.myshifts_none", days=days))
            return
        teams = {tm.code: tm for tm in await duty.teams()}
        lines = [t("duty.myshifts_header", days=days)]
        for s in shifts:
            team = teams[s.team]
            lines.append(f"[{team.code}] " + await shift_line(s, team.zone, t, names))
        for text in chunks(lines):
            await message.answer(text)

    # ---------------------------------------------------------------- teams

    @router.message(Command("teams"), flags={"chat": "private", "perm": Permission.MANAGE_DUTY})
    async def list_teams(message: Message, t: Translator, duty: DutyService) -> None:
        teams = await duty.teams()
        if not teams:
            await message.answer(t("duty.no_teams"))
            return
        lines = [t("duty.teams_header")]
        for team in teams:
            lines.append(
                t(
                    "duty.team_info",
                    team=team.code,
                    scope=team.scope_label(),
                    tz=team.tz,
                    patterns=", ".join(p.label() for p in team.patterns),
                    per_shift=team.per_shift,
                    operators=await names.many(team.operators, t),
                    managers=await names.many(team.managers, t),
                    first=team.policy.first_min,
                    second=team.policy.second_min,
                    chat=team.duty_chat_id if team.duty_chat_id else t("duty.private_cards"),
                    start=team.start_date.isoformat(),
                )
            )
        for text in chunks(lines):
            await message.answer(text)

    @router.message(Command("team_add"), flags={"chat": "private", "perm": Permission.MANAGE_DUTY})
    async def team_add(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        duty: DutyService,
    ) -> None:
        args = args_of(command)
        tz = settings.timezone
        plain: list[str] = []
        for a in args:
            if a.lower().startswith("tz="):
                tz = a[3:]
            else:
                plain.append(a)
        per_shift = whole(plain[2], 0, 10**6) if len(plain) >= 3 else None
        if len(plain) > 5 or per_shift is None:
            raise InvalidInput("duty.team_add_usage")
        patterns = parse_patterns(plain[1])
        sector = plain[3].lower() if len(plain) > 3 else None
        area = plain[4] if len(plain) > 4 else None
        team = await duty.create_team(principal, plain[0], tz, patterns, per_shift, sector, area)
        await message.answer(
            t(
                "duty.team_created",
                team=team.code,
                scope=team.scope_label(),
                tz=team.tz,
                patterns=", ".join(p.label() for p in team.patterns),
                per_shift=team.per_shift,
            )
        )

    @router.message(Command("team_set"), flags={"chat": "private", "perm": Permission.MANAGE_DUTY})
    async def team_set(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        duty: DutyService,
    ) -> None:
        args = args_of(command)
        if len(args) < 3:
            raise InvalidInput("duty.set_usage")
        code, field, values = args[0], args[1].lower(), args[2:]
        changes: dict[str, Any] = {}
        if field in ("operators", "managers"):
            ids: list[int] = []
            for token in values:
                uid = await resolve_user(token)
                if uid in ids:
                    raise InvalidInput("duty.bad_operators")
                ids.append(uid)
            changes[field] = tuple(ids)
        elif field == "patterns" and len(values) == 1:
            changes["patterns"] = parse_patterns(values[0])
        elif field == "per_shift" and len(values) == 1:
            per_shift = whole(values[0], 0, 10**6)
            if per_shift is None:
                raise InvalidInput("duty.bad_per_shift", max=MAX_PER_SHIFT)
            changes["per_shift"] = per_shift
        elif field == "tz" and len(values) == 1:
            changes["tz"] = values[0]
        elif field == "escalation" and len(values) == 2:
            first, second = (whole(v, 0, 10**6) for v in values)
            if first is None or second is None:
                raise InvalidInput("duty.bad_policy")
            changes["policy"] = EscalationPolicy(first, second)
        elif field == "chat" and len(values) == 1:
            if values[0].lower() == "off":
                changes["duty_chat_id"] = None
            else:
                chat_id = whole(values[0], -(10**15), -1)  # group ids are negative
                if chat_id is None:
                    raise InvalidInput("duty.bad_chat")
                if await ctx.groups.get(chat_id) is not None:
                    # Tips never appear in community groups: only an officers' group.
                    raise InvalidInput("duty.chat_is_community")
                changes["duty_chat_id"] = chat_id
        elif field == "start" and len(values) == 1:
            changes["start_date"] = parse_day(values[0])
        else:
            raise InvalidInput("duty.set_usage")
        team = await duty.update_team(principal, code, **changes)
        await message.answer(t("duty.team_updated", team=team.code, field=field))

    @router.message(Command("team_del"), flags={"chat": "private", "perm": Permission.MANAGE_DUTY})
    async def team_del(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        duty: DutyService,
    ) -> None:
        args = args_of(command)
        if len(args) != 1:
            raise InvalidInput("duty.team_del_usage")
        await duty.delete_team(principal, args[0])
        await message.answer(t("duty.team_deleted", team=args[0].lower()))

    # ---------------------------------------------------------------- changes

    async def shift_ref(duty: DutyService, team: Team, day: str, at: str) -> tuple[date, int]:
        when = parse_hhmm(at)
        if when is None:
            raise InvalidInput("duty.bad_time", value=at[:10])
        return parse_day(day), duty.find_index(team, when)

    @router.message(Command("assign"), flags={"chat": "private", "perm": Permission.MANAGE_DUTY})
    async def assign(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        duty: DutyService,
        bot: Bot,
    ) -> None:
        args = args_of(command)
        if len(args) not in (4, 5):
            raise InvalidInput("duty.assign_usage")
        team = await duty.team(args[0])
        day, index = await shift_ref(duty, team, args[1], args[2])
        user_in = await resolve_user(args[3])
        user_out = await resolve_user(args[4]) if len(args) == 5 else None
        shift = await duty.assign(principal, team, day, index, user_in, user_out)
        line = await shift_line(shift, team.zone, t, names)
        await message.answer(t("duty.assigned", team=team.code, line=line))
        for uid in (user_in, user_out):
            if uid is None or uid == principal.user_id:
                continue
            tt = await dispatch.tr(uid)
            key = "duty.you_were_assigned" if uid == user_in else "duty.you_were_relieved"
            with contextlib.suppress(TelegramAPIError):
                await bot.send_message(
                    uid, tt(key, team=team.code, line=await shift_line(shift, team.zone, tt, names))
                )

    @router.message(Command("swap"), flags={"chat": "private", "perm": Permission.HANDLE_TIPS})
    async def swap(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        duty: DutyService,
        bot: Bot,
    ) -> None:
        args = args_of(command)
        if len(args) not in (4, 6):
            raise InvalidInput("duty.swap_usage")
        team = await duty.team(args[0])
        give = await shift_ref(duty, team, args[1], args[2])
        partner = await resolve_user(args[3])
        take = await shift_ref(duty, team, args[4], args[5]) if len(args) == 6 else None
        req = await duty.request_swap(principal.user_id, team, give, partner, take)
        text_for = await swap_text(duty, req, team)
        await message.answer(t("duty.swap_sent", name=await names(partner)))
        tt = await dispatch.tr(partner)
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=tt("duty.btn_accept"), callback_data=SwapCB(s=req.id, ok=True).pack()
                    ),
                    InlineKeyboardButton(
                        text=tt("duty.btn_decline"),
                        callback_data=SwapCB(s=req.id, ok=False).pack(),
                    ),
                ]
            ]
        )
        try:
            await bot.send_message(partner, await text_for(tt), reply_markup=markup)
        except TelegramAPIError:
            await message.answer(t("duty.partner_unreachable", name=await names(partner)))

    async def swap_text(
        duty: DutyService, req: SwapRequest, team: Team
    ) -> Callable[[Translator], Awaitable[str]]:
        give_day, give_idx = duty.shift_for_key(team, req.give_key)
        give = await duty.shift(team, give_day, give_idx)
        take = None
        if req.take_key is not None:
            take_day, take_idx = duty.shift_for_key(team, req.take_key)
            take = await duty.shift(team, take_day, take_idx)

        async def render(tt: Translator) -> str:
            text = tt(
                "duty.swap_request",
                name=await names(req.requester),
                team=team.code,
                give=f"{hm(give.start, team.zone)} {give.label}",
            )
            if take is not None:
                text += "\n" + tt(
                    "duty.swap_request_take", take=f"{hm(take.start, team.zone)} {take.label}"
                )
            return text

        return render

    @router.callback_query(SwapCB.filter(), flags={"perm": Permission.HANDLE_TIPS})
    async def swap_answer(
        query: CallbackQuery,
        callback_data: SwapCB,
        t: Translator,
        principal: Principal,
        duty: DutyService,
        bot: Bot,
    ) -> None:
        req = await duty.answer_swap(principal.user_id, callback_data.s, callback_data.ok)
        key = "duty.swap_accepted" if callback_data.ok else "duty.swap_declined"
        await query.answer(t(key, name=await names(req.requester)))
        if isinstance(query.message, Message):
            with contextlib.suppress(TelegramAPIError):
                await query.message.edit_text(
                    (query.message.text or "") + "\n" + t(key, name=await names(req.requester))
                )
        tt = await dispatch.tr(req.requester)
        with contextlib.suppress(TelegramAPIError):
            await bot.send_message(
                req.requester,
                tt(
                    "duty.swap_answer_accepted"
                    if callback_data.ok
                    else "duty.swap_answer_declined",
                    name=await names(req.partner),
                    team=req.team,
                ),
            )

    @router.message(
        Command("unavailable"), flags={"chat": "private", "perm": Permission.HANDLE_TIPS}
    )
    async def unavailable(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        duty: DutyService,
        bot: Bot,
    ) -> None:
        args = args_of(command)
        if args == ["clear"]:
            n = await duty.clear_unavailable(principal.user_id)
            await message.answer(t("duty.unavailable_cleared", count=n))
            return
        if len(args) not in (1, 2):
            raise InvalidInput("duty.unavailable_usage")
        first = parse_day(args[0])
        last = parse_day(args[1]) if len(args) == 2 else first
        result = await duty.mark_unavailable(principal.user_id, first, last)
        teams = {tm.code: tm for tm in await duty.teams()}
        lines = [t("duty.unavailable_set", first=first.isoformat(), last=last.isoformat())]
        if result.affected:
            lines.append(t("duty.unavailable_affected", count=len(result.affected)))
            for s in result.affected:
                lines.append(f"[{s.team}] " + await shift_line(s, teams[s.team].zone, t, names))
        else:
            lines.append(t("duty.unavailable_no_shifts"))
        for text in chunks(lines):
            await message.answer(text)
        # Fillers and the team's managers are told; a gap is flagged to managers.
        told: set[int] = {principal.user_id}
        for s in result.affected:
            team = teams[s.team]
            for slot in s.slots:
                if slot.reason is SlotReason.FILL and slot.covers_for == principal.user_id:
                    if slot.user_id in told:
                        continue
                    told.add(slot.user_id)
                    tt = await dispatch.tr(slot.user_id)
                    with contextlib.suppress(TelegramAPIError):
                        await bot.send_message(
                            slot.user_id,
                            tt(
                                "duty.you_fill_in",
                                name=await names(principal.user_id),
                                team=team.code,
                                line=await shift_line(s, team.zone, tt, names),
                            ),
                        )
        for team_code in {s.team for s in result.affected}:
            team = teams[team_code]
            for uid in team.managers:
                if uid in told:
                    continue
                told.add(uid)
                tt = await dispatch.tr(uid)
                mine = [s for s in result.affected if s.team == team_code]
                body = [
                    tt(
                        "duty.manager_unavailable",
                        name=await names(principal.user_id),
                        team=team.code,
                        first=first.isoformat(),
                        last=last.isoformat(),
                    )
                ]
                body += [await shift_line(s, team.zone, tt, names) for s in mine]
                for text in chunks(body):
                    with contextlib.suppress(TelegramAPIError):
                        await bot.send_message(uid, text)

    # ---------------------------------------------------------------- cards

    @router.callback_query(AckCB.filter(), flags={"perm": Permission.HANDLE_TIPS})
    async def acknowledge(
        query: CallbackQuery,
        callback_data: AckCB,
        t: Translator,
        principal: Principal,
        duty: DutyService,
    ) -> None:
        try:
            alert = await duty.acknowledge(principal, callback_data.a)
        except InvalidInput as exc:
            if exc.key != "duty.already_taken_short":
                raise
            current = await duty.repo.get_alert(callback_data.a)
            if current is None or current.acked_by is None or current.acked_at is None:
                raise
            team = await duty.repo.get_team(current.team) if current.team else None
            await query.answer(
                t(
                    "duty.already_taken",
                    name=await names(current.acked_by),
                    at=hm(current.acked_at, dispatch.tz(team)),
                ),
                show_alert=True,
            )
            return
        await query.answer(t("duty.you_took", code=alert.code))
        await dispatch.refresh_cards(alert)

    @router.callback_query(OpenCB.filter(), flags={"perm": Permission.VIEW_TIPS})
    async def open_card(
        query: CallbackQuery,
        callback_data: OpenCB,
        t: Translator,
        principal: Principal,
        duty: DutyService,
        bot: Bot,
    ) -> None:
        alert = await duty.repo.get_alert(callback_data.a)
        if alert is None:
            await query.answer(t("core.stale_button"), show_alert=True)
            return
        if not principal.can(Permission.VIEW_TIPS, Scope(alert.sector, alert.area)):
            await query.answer(t("errors.permission_denied"), show_alert=True)
            return
        text = await dispatch.card_text(alert, t, t("duty.card_open", code=alert.code), whole=True)
        await query.answer()
        try:
            for piece in split_text(text):  # all of it, however long
                msg = await bot.send_message(principal.user_id, piece)
                await tips.register_card(principal.user_id, msg.message_id, alert.tip_id)
            # Then the files themselves (a group card only counts them), each a tip card
            # too: replying to a photo writes to the tipster like replying to the text.
            for part in await tips.media(alert):
                caption = f"{alert.code} · {part.text}".strip(" ·")
                sent = await tip_views.send_part(bot, principal.user_id, part, caption)
                if sent is not None:
                    await tips.register_card(principal.user_id, sent.message_id, alert.tip_id)
        except TelegramAPIError as exc:
            log.info("open card %s for %s stopped: %s", alert.code, principal.user_id, exc)

    @router.callback_query(
        F.data.startswith("dack:") | F.data.startswith("dopen:") | F.data.startswith("dswp:")
    )
    async def bad_callback(query: CallbackQuery, t: Translator) -> None:
        await query.answer(t("core.bad_callback"), show_alert=True)

    # ---------------------------------------------------------------- SLA

    @router.message(Command("sla"), flags={"chat": "private", "perm": Permission.MANAGE_DUTY})
    async def sla(
        message: Message,
        command: CommandObject,
        t: Translator,
        principal: Principal,
        duty: DutyService,
    ) -> None:
        args = args_of(command)
        if len(args) > 1:
            raise InvalidInput("duty.sla_usage")
        days = parse_days(args[0] if args else None, 7, 366)
        report = await duty.sla(principal, days)

        def row(label: str, r: SlaRow, *, operator: bool = False) -> str:
            return t(
                "duty.sla_op_row" if operator else "duty.sla_row",
                label=label,
                received=r.received,
                acked=r.acknowledged,
                median=duration(r.median_s, t),
                p90=duration(r.p90_s, t),
                within=share(r.within_first),
            )

        lines = [t("duty.sla_title", days=days), row(t("duty.sla_all"), report.total)]
        if report.teams:
            lines.append(t("duty.sla_by_team"))
            lines += [row(r.label, r) for r in report.teams]
        if report.operators:
            lines.append(t("duty.sla_by_operator"))
            lines += [row(await names(int(r.label)), r, operator=True) for r in report.operators]
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(report.gap_shifts.items()))
        lines.append(t("duty.sla_gaps", count=report.total_gap_shifts, detail=detail or "—"))
        for text in chunks(lines):
            await message.answer(text)

    return router
