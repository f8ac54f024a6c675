"""Reward eligibility, approval, payment records and the ledger.

Officers record outcomes (``/outcome``) and propose amounts (``/propose``); approvers
decide on proposal cards (buttons) or with commands, and record payments (``/paid``);
the tipster follows a reward with ``/reward <tip code>`` and is told of the approval
through the tips feature's messenger, which alone knows who the tipster is.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.commands import CommandSpec
from bot.context import AppContext
from bot.i18n import Translator, normalize_locale
from bot.tip_views import TipsterMessenger
from groups.roles import Permission, Principal, Role, Scope
from kernel.audit import AuditEntry
from kernel.errors import InvalidInput, PermissionDenied
from rewards.ledger import (
    DIMENSIONS,
    Amounts,
    LedgerReport,
    build_ledger,
    ledger_csv,
    parse_period,
    parse_range,
)
from rewards.model import (
    REWARD_ID_RE,
    Basis,
    Reward,
    RewardEvent,
    RewardState,
    format_money,
    normalize_tip_code,
    parse_amount,
    parse_method,
    parse_outcome,
)
from rewards.service import OFFICIAL, scope_of

log = logging.getLogger(__name__)

REMIND_SWEEP = "rewards.remind"
OUTBOX_SWEEP = "rewards.outbox"
MAX_LIST = 20

COMMANDS = (
    CommandSpec(
        "outcome",
        Permission.HANDLE_TIPS,
        "private",
        "<tip code> <useful|decisive|not_useful> [note]",
    ),
    CommandSpec("propose", Permission.PROPOSE_REWARDS, "private", "<tip code> <amount> <reason>"),
    CommandSpec("approve_reward", Permission.APPROVE_REWARDS, "private", "<reward id|tip code>"),
    CommandSpec(
        "reject_reward", Permission.APPROVE_REWARDS, "private", "<reward id|tip code> <reason>"
    ),
    CommandSpec(
        "paid",
        Permission.APPROVE_REWARDS,
        "private",
        "<reward id|tip code> <cash|bank|wechat|alipay|other> <reference> [YYYY-MM-DD]",
    ),
    CommandSpec(
        "cancel_reward", Permission.APPROVE_REWARDS, "private", "<reward id|tip code> <reason>"
    ),
    CommandSpec("reward_info", Permission.VIEW_REWARDS, "private", "<reward id|tip code>"),
    CommandSpec("rewards", Permission.VIEW_REWARDS, "private", "[YYYY-MM|YYYY|all]"),
    CommandSpec("rewards_csv", Permission.VIEW_REWARDS, "private", "<from> <to>"),
    CommandSpec("reward", None, "private", "<tip code>"),
)


class RewardCb(CallbackData, prefix="rw"):
    action: str  # "a" approve, "r" reject
    rid: str
    v: int  # the reward version the card showed: a changed reward makes the card stale


def _args(command: CommandObject) -> str:
    return (command.args or "").strip()


def setup(ctx: AppContext) -> Router:
    router = Router(name="rewards")
    ctx.commands.add(*COMMANDS)
    service, outbox = ctx.services.reward_service, ctx.services.reward_outbox
    settings = ctx.settings
    tz = settings.tz

    def messenger() -> TipsterMessenger:
        return ctx.services.tipster_messenger

    async def translator_for(user_id: int) -> Translator:
        profile = await ctx.users.get(user_id)
        if profile is not None and profile.locale:
            return Translator(profile.locale)
        code = profile.language_code if profile else None
        return Translator(normalize_locale(code, settings.default_locale))

    async def who(user_id: int | None, t: Translator) -> str:
        if user_id is None:
            return t("rewards.system")
        profile = await ctx.users.get(user_id)
        return f"{profile.display_name} ({user_id})" if profile else str(user_id)

    def money(r: Reward) -> str:
        return format_money(r.amount, r.currency)

    def state_name(t: Translator, state: RewardState) -> str:
        return t(f"rewards.states.{state.value}")

    def reason_text(t: Translator, reason: str) -> str:
        if reason.startswith("split:"):
            return t("rewards.reason_split", n=reason.removeprefix("split:"))
        return reason

    async def card_text(t: Translator, r: Reward, *, history: bool = False) -> str:
        rec = r.record
        outcome = await service.outcome_of(rec.tip_id)
        if rec.basis is Basis.DISCRETIONARY:
            basis = t("rewards.basis_discretionary")
        else:
            basis = t("rewards.basis_offer", notice=rec.notice_ref or "-")
        lines = [
            t("rewards.card_title", reward_id=rec.reward_id, state=state_name(t, r.state)),
            t("rewards.card_tip", code=rec.tip_code, notice=rec.notice_ref or "-"),
            t("rewards.card_scope", sector=rec.sector or "-", area=rec.area or "-"),
            t("rewards.card_basis", basis=basis),
            t("rewards.card_amount", amount=money(r)),
            t("rewards.card_proposer", who=await who(r.proposed_by, t)),
        ]
        if outcome is not None:
            lines.append(
                t(
                    "rewards.card_outcome",
                    outcome=t(f"rewards.outcomes.{outcome.outcome.value}"),
                    note=outcome.note or "-",
                )
            )
        if r.state is RewardState.REJECTED:
            lines.append(t("rewards.card_rejected", reason=r.reject_reason))
        if r.state is RewardState.PAID and r.paid_on and r.method:
            lines.append(
                t(
                    "rewards.card_paid",
                    date=r.paid_on.isoformat(),
                    method=t(f"rewards.methods.{r.method.value}"),
                    reference=r.reference or "-",
                )
            )
        if r.state is RewardState.CANCELLED:
            lines.append(t("rewards.card_cancelled", reason=reason_text(t, r.cancel_reason)))
        if history:
            lines.append("")
            lines.append(t("rewards.history_header"))
            for e in r.events:
                lines.append(await event_line(t, r, e))
        return "\n".join(lines)[:4096]

    async def event_line(t: Translator, r: Reward, e: RewardEvent) -> str:
        parts = [
            f"#{e.seq}",
            e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            t(f"rewards.events.{e.kind.value}"),
            await who(e.actor_id, t),
        ]
        if e.amount is not None:
            parts.append(format_money(e.amount, r.currency))
        if e.method is not None:
            parts.append(f"{t(f'rewards.methods.{e.method.value}')} {e.reference or ''}".strip())
        if e.paid_on is not None:
            parts.append(e.paid_on.isoformat())
        if e.reason:
            parts.append(f"— {reason_text(t, e.reason)}")
        return " · ".join(parts)

    def card_keyboard(t: Translator, r: Reward) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=t("rewards.btn_approve"),
                        callback_data=RewardCb(action="a", rid=r.reward_id, v=r.version).pack(),
                    ),
                    InlineKeyboardButton(
                        text=t("rewards.btn_reject"),
                        callback_data=RewardCb(action="r", rid=r.reward_id, v=r.version).pack(),
                    ),
                ]
            ]
        )

    async def approvers_for(r: Reward) -> list[int]:
        """Rewards approvers for this reward, never those who set its amount (superadmins
        when none). Reminders go to all of them (the audit lists whom), so a tipster among
        them is not left out there: leaving them out would point at them."""
        scope = scope_of(r.record)
        ids = sorted(
            {g.user_id for g in await ctx.roles.holders(Role.APPROVER) if g.scope.covers(scope)}
        )
        if not ids:
            ids = sorted(ctx.roles.superadmin_ids)
        return [uid for uid in ids if uid not in r.amount_setters]

    async def send_cards(bot: Bot, r: Reward, intro_key: str) -> int:
        """A card with buttons to each approver the two-person rule does not bar (a card
        is recorded nowhere, so skipping the tipster shows nobody anything)."""
        sent = 0
        for uid in await approvers_for(r):
            if await service.barred(uid, r):
                continue
            t = await translator_for(uid)
            text = f"{t(intro_key)}\n\n{await card_text(t, r)}"
            try:
                await bot.send_message(uid, text, reply_markup=card_keyboard(t, r))
                sent += 1
            except TelegramAPIError as exc:
                log.info("reward card to %s failed: %s", uid, exc)
        return sent

    async def tell(bot: Bot, user_id: int | None, key: str, **params: str) -> None:
        if user_id is None:
            return
        t = await translator_for(user_id)
        try:
            await bot.send_message(user_id, t(key, **params))
        except TelegramAPIError as exc:
            log.info("reward notice to %s failed: %s", user_id, exc)

    async def deliver(key: str | None = None, limit: int = 100) -> None:
        """Send due messages to tipsters (one named item, or every due one)."""
        m = messenger()
        if m is None:
            return  # the tips feature is not running: items stay pending
        for _ in range(limit):
            item = await outbox.claim(key)
            if item is None:
                return
            try:
                ok = await m.send(item.tip_id, item.template, **item.params)
            except Exception as exc:
                log.exception("tipster message %s failed", item.key)
                await outbox.failed(item, repr(exc))
                continue
            if ok:
                await outbox.sent(item.key)
            else:
                await outbox.failed(item, "tipster unreachable")
            if key is not None:
                return

    async def remind() -> None:
        # Also re-store any recent tipster message a crash kept from the outbox.
        await service.reconcile()
        await deliver()
        due = await service.overdue()
        if not due:
            return
        per_approver: dict[int, list[Reward]] = {}
        for r in due:
            for uid in await approvers_for(r):
                per_approver.setdefault(uid, []).append(r)
        now = ctx.clock.now()
        for uid, items in per_approver.items():
            t = await translator_for(uid)
            lines = [t("rewards.reminder_header", n=len(items))]
            for r in items[:MAX_LIST]:
                days = (now - r.waiting_since).days
                lines.append(
                    t(
                        "rewards.reminder_line",
                        reward_id=r.reward_id,
                        code=r.record.tip_code,
                        amount=money(r),
                        days=days,
                    )
                )
            if len(items) > MAX_LIST:
                lines.append(t("rewards.more", n=len(items) - MAX_LIST))
            lines.append(t("rewards.reminder_footer"))
            try:
                await ctx.bot.send_message(uid, "\n".join(lines))
            except TelegramAPIError as exc:
                log.info("reward reminder to %s failed: %s", uid, exc)
        for r in due:
            approvers = sorted(uid for uid, items in per_approver.items() if r in items)
            await ctx.audit.record(
                AuditEntry(None, "reward.remind", "reward", r.reward_id, now, {"to": approvers})
            )

    ctx.jobs.every(REMIND_SWEEP, settings.rewards_remind_sweep_s, remind)
    ctx.jobs.every(OUTBOX_SWEEP, 60, deliver)

    # --- officers -----------------------------------------------------------------------

    @router.message(Command("outcome"), flags={"chat": "private", "perm": Permission.HANDLE_TIPS})
    async def outcome_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal, bot: Bot
    ) -> None:
        parts = _args(command).split(maxsplit=2)
        if len(parts) < 2:
            raise InvalidInput("rewards.outcome_usage")
        outcome = parse_outcome(parts[1])
        note = parts[2] if len(parts) > 2 else ""
        res = await service.record_outcome(principal, parts[0], outcome, note)
        lines = [
            t(
                "rewards.outcome_recorded",
                code=res.outcome.code,
                outcome=t(f"rewards.outcomes.{outcome.value}"),
            )
        ]
        if res.created and res.reward is not None:
            lines.append(
                t(
                    "rewards.proposal_created",
                    reward_id=res.reward.reward_id,
                    amount=money(res.reward),
                )
            )
        elif res.reward is not None:
            lines.append(
                t(
                    "rewards.proposal_exists",
                    reward_id=res.reward.reward_id,
                    state=state_name(t, res.reward.state),
                    amount=money(res.reward),
                )
            )
        elif res.offer_missing:
            lines.append(t("rewards.no_offer"))
        if res.offer_over_max is not None and res.offer_over_max.offer is not None:
            offer = res.offer_over_max.offer
            lines.append(
                t(
                    "rewards.offer_over_max",
                    notice=res.offer_over_max.ref,
                    offer=format_money(offer.amount, offer.currency),
                    max=format_money(service.max_amount, offer.currency),
                )
            )
        for r in res.changed:
            if res.reward is None or r.reward_id != res.reward.reward_id:
                lines.append(t("rewards.resplit_line", reward_id=r.reward_id, amount=money(r)))
        await message.answer("\n".join(lines))
        if res.created and res.reward is not None:
            await send_cards(bot, res.reward, "rewards.card_new")
        for r in res.changed:
            if not (res.created and res.reward is not None and r.reward_id == res.reward.reward_id):
                await send_cards(bot, r, "rewards.card_changed")

    @router.message(
        Command("propose"), flags={"chat": "private", "perm": Permission.PROPOSE_REWARDS}
    )
    async def propose_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal, bot: Bot
    ) -> None:
        parts = _args(command).split(maxsplit=2)
        if len(parts) < 3:
            raise InvalidInput("rewards.propose_usage")
        amount, currency = parse_amount(parts[1], max_amount=settings.rewards_max_amount)
        res = await service.propose(principal, parts[0], amount, currency, parts[2])
        key = "rewards.proposal_created" if res.created else "rewards.proposal_amended"
        await message.answer(t(key, reward_id=res.reward.reward_id, amount=money(res.reward)))
        await send_cards(
            bot, res.reward, "rewards.card_new" if res.created else "rewards.card_changed"
        )

    @router.message(Command("cancel_reward"), flags={"chat": "private"})
    async def cancel_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal, bot: Bot
    ) -> None:
        parts = _args(command).split(maxsplit=1)
        if len(parts) < 2:
            raise InvalidInput("rewards.cancel_usage")
        target = await service.resolve(principal, parts[0])
        r, changed = await service.cancel(principal, target.reward_id, parts[1])
        lines = [t("rewards.cancelled", reward_id=r.reward_id)]
        lines += [
            t("rewards.resplit_line", reward_id=c.reward_id, amount=money(c)) for c in changed
        ]
        await message.answer("\n".join(lines))
        await deliver(f"{r.reward_id}:{r.version}")
        for c in changed:
            await send_cards(bot, c, "rewards.card_changed")

    @router.message(Command("reward_info"), flags={"chat": "private"})
    async def info_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        ref = _args(command)
        if not ref:
            raise InvalidInput("rewards.info_usage")
        if not any(principal.can(p) for p in OFFICIAL):
            raise PermissionDenied()
        r = await service.resolve(principal, ref)
        markup = (
            card_keyboard(t, r)
            if r.state is RewardState.PROPOSED
            and principal.can(Permission.APPROVE_REWARDS, scope_of(r.record))
            and not await service.barred(principal.user_id, r)
            else None
        )
        await message.answer(await card_text(t, r, history=True), reply_markup=markup)

    # --- approvers ----------------------------------------------------------------------

    async def after_approval(bot: Bot, r: Reward) -> None:
        await deliver(f"{r.reward_id}:{r.version}")
        await tell(
            bot, r.proposed_by, "rewards.proposer_approved", reward_id=r.reward_id, amount=money(r)
        )

    @router.message(
        Command("approve_reward"), flags={"chat": "private", "perm": Permission.APPROVE_REWARDS}
    )
    async def approve_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal, bot: Bot
    ) -> None:
        ref = _args(command)
        if not ref or len(ref.split()) != 1:
            raise InvalidInput("rewards.approve_usage")
        target = await service.resolve(principal, ref)
        r = await service.approve(principal, target.reward_id)
        await message.answer(t("rewards.approved", reward_id=r.reward_id, amount=money(r)))
        await after_approval(bot, r)

    @router.message(
        Command("reject_reward"), flags={"chat": "private", "perm": Permission.APPROVE_REWARDS}
    )
    async def reject_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal, bot: Bot
    ) -> None:
        parts = _args(command).split(maxsplit=1)
        if len(parts) < 2:
            raise InvalidInput("rewards.reject_usage")
        target = await service.resolve(principal, parts[0])
        r = await service.reject(principal, target.reward_id, parts[1])
        await message.answer(t("rewards.rejected", reward_id=r.reward_id))
        await tell(
            bot,
            r.proposed_by,
            "rewards.proposer_rejected",
            reward_id=r.reward_id,
            reason=r.reject_reason,
        )

    @router.message(Command("paid"), flags={"chat": "private", "perm": Permission.APPROVE_REWARDS})
    async def paid_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        parts = _args(command).split()
        if len(parts) not in (3, 4):
            raise InvalidInput("rewards.paid_usage")
        method = parse_method(parts[1])
        paid_on = None
        if len(parts) == 4:
            try:
                paid_on = date.fromisoformat(parts[3])
            except ValueError:
                raise InvalidInput("rewards.bad_date", value=parts[3][:16]) from None
        target = await service.resolve(principal, parts[0])
        r = await service.pay(principal, target.reward_id, method, parts[2], paid_on)
        assert r.paid_on is not None
        await message.answer(
            t(
                "rewards.paid_recorded",
                reward_id=r.reward_id,
                amount=money(r),
                date=r.paid_on.isoformat(),
            )
        )
        await deliver(f"{r.reward_id}:{r.version}")

    @router.callback_query(
        RewardCb.filter(), flags={"chat": "private", "perm": Permission.APPROVE_REWARDS}
    )
    async def card_button(
        query: CallbackQuery,
        callback_data: RewardCb,
        t: Translator,
        principal: Principal,
        bot: Bot,
    ) -> None:
        if callback_data.action not in ("a", "r") or not REWARD_ID_RE.match(callback_data.rid):
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        current = await service.load(callback_data.rid)
        if current is None or not principal.can(
            Permission.APPROVE_REWARDS, scope_of(current.record)
        ):
            await query.answer(t("core.bad_callback"), show_alert=True)
            return
        if current.version != callback_data.v or current.state is not RewardState.PROPOSED:
            await query.answer(t("core.stale_button"), show_alert=True)
            return
        if callback_data.action == "r":
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.answer(t("rewards.reject_how", reward_id=current.reward_id))
            return
        r = await service.approve(principal, current.reward_id, expected_version=callback_data.v)
        await query.answer(t("rewards.approved", reward_id=r.reward_id, amount=money(r)))
        if isinstance(query.message, Message):
            try:
                await query.message.edit_text(await card_text(t, r), reply_markup=None)
            except TelegramAPIError as exc:
                log.info("could not update reward card: %s", exc)
        await after_approval(bot, r)

    @router.callback_query(F.data.startswith("rw:"))
    async def forged_button(query: CallbackQuery, t: Translator) -> None:
        await query.answer(t("core.bad_callback"), show_alert=True)

    # --- ledger ------------------------------------------------------------------------

    def visible_to(principal: Principal) -> Any:
        scopes = principal.scopes_for(Permission.VIEW_REWARDS)

        def visible(r: Reward) -> bool:
            target = Scope(r.record.sector, r.record.area)
            return any(s.covers(target) for s in scopes)

        return visible

    def totals_lines(t: Translator, report: LedgerReport) -> list[str]:
        lines: list[str] = []
        for dim in DIMENSIONS:
            rows = report.totals[dim]
            if not rows:
                continue
            lines.append(t(f"rewards.totals_by.{dim}"))
            for (key, currency), a in sorted(rows.items()):
                lines.append(total_line(t, key, currency, a))
        return lines

    def total_line(t: Translator, key: str, currency: str, a: Amounts) -> str:
        return t(
            "rewards.total_line",
            key=key,
            approved=format_money(a.approved, currency),
            approved_n=a.approved_count,
            paid=format_money(a.paid, currency),
            paid_n=a.paid_count,
        )

    @router.message(Command("rewards"), flags={"chat": "private", "perm": Permission.VIEW_REWARDS})
    async def ledger_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        today = ctx.clock.now().astimezone(tz).date()
        period = parse_period(command.args, today)
        report = build_ledger(await service.all(), period, tz, visible_to(principal))
        now = ctx.clock.now()
        lines = [t("rewards.ledger_title", period=period.label), ""]
        lines.append(t("rewards.ledger_proposed", n=len(report.proposed)))
        for r in report.proposed[:MAX_LIST]:
            lines.append(
                t(
                    "rewards.ledger_proposed_line",
                    reward_id=r.reward_id,
                    code=r.record.tip_code,
                    amount=money(r),
                    days=(now - r.waiting_since).days,
                )
            )
        if len(report.proposed) > MAX_LIST:
            lines.append(t("rewards.more", n=len(report.proposed) - MAX_LIST))
        lines.append(t("rewards.ledger_unpaid", n=len(report.unpaid)))
        for r in report.unpaid[:MAX_LIST]:
            approved = r.approved_at.astimezone(tz).date().isoformat() if r.approved_at else "-"
            lines.append(
                t(
                    "rewards.ledger_unpaid_line",
                    reward_id=r.reward_id,
                    code=r.record.tip_code,
                    amount=money(r),
                    date=approved,
                )
            )
        if len(report.unpaid) > MAX_LIST:
            lines.append(t("rewards.more", n=len(report.unpaid) - MAX_LIST))
        lines.append("")
        totals = totals_lines(t, report)
        lines.extend(totals or [t("rewards.ledger_no_totals")])
        await message.answer("\n".join(lines)[:4096])

    @router.message(
        Command("rewards_csv"), flags={"chat": "private", "perm": Permission.VIEW_REWARDS}
    )
    async def csv_cmd(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        parts = _args(command).split()
        if len(parts) != 2:
            raise InvalidInput("rewards.csv_usage")
        period = parse_range(parts[0], parts[1])
        text = ledger_csv(await service.all(), period, tz, visible_to(principal))
        rows = max(0, len(text.splitlines()) - 1)
        name = f"rewards_{period.start.isoformat()}_{period.end.isoformat()}.csv"
        await message.answer_document(
            BufferedInputFile(text.encode("utf-8"), filename=name),
            caption=t("rewards.csv_caption", period=period.label, n=rows),
        )
        await ctx.audit.record(
            AuditEntry(
                principal.user_id,
                "reward.export",
                "ledger",
                period.label,
                ctx.clock.now(),
                {"rows": rows},
            )
        )

    # --- the tipster ---------------------------------------------------------------------

    @router.message(Command("reward"), F.chat.type != "private", flags={"tipster": True})
    async def reward_status_in_group(message: Message, t: Translator, bot: Bot) -> None:
        """Asking about a reward in a group would point at the tipster: take the message
        down and answer privately, never in the group."""
        try:
            await message.delete()
        except TelegramAPIError as exc:
            log.info("could not delete /reward in group %s: %s", message.chat.id, exc)
        if message.from_user is None:
            return
        try:
            await bot.send_message(message.from_user.id, t("rewards.status_in_group"))
        except TelegramAPIError:
            return  # never started the bot: say nothing in the group either

    @router.message(Command("reward"), flags={"chat": "private", "tipster": True})
    async def reward_status(
        message: Message, command: CommandObject, t: Translator, principal: Principal
    ) -> None:
        ref = _args(command)
        if not ref:
            await message.answer(t("rewards.status_usage"))
            return
        m = messenger()
        try:
            code = normalize_tip_code(ref.split()[0])
        except InvalidInput:
            code = None
        # Unknown, malformed, or someone else's code: one and the same answer.
        if code is None or m is None or not await m.owns(code, principal.user_id):
            await message.answer(t("rewards.status_unknown"))
            return
        r = await service.status_for_owner(code)
        if r is None:
            await message.answer(t("rewards.status_none", code=code))
        elif r.state is RewardState.PROPOSED:
            await message.answer(t("rewards.status_proposed", code=code))
        elif r.state is RewardState.APPROVED:
            claim = service.claim_instructions(r.record.area) or t("rewards.claim_default")
            await message.answer(
                t("rewards.status_approved", code=code, amount=money(r), claim=claim)
            )
        elif r.state is RewardState.PAID:
            assert r.paid_on is not None
            await message.answer(
                t("rewards.status_paid", code=code, amount=money(r), date=r.paid_on.isoformat())
            )
        elif r.state is RewardState.REJECTED:
            await message.answer(t("rewards.status_rejected", code=code))
        else:
            await message.answer(t("rewards.status_cancelled", code=code))

    return router
