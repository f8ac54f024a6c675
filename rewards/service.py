"""Outcomes, eligibility, the two-person rule, payment records.

The two-person rule lives here and only here (``RewardService._rule_bars``, which every
decision and :meth:`RewardService.barred` use): nobody whose action set a reward's amount
(proposing it, changing it by hand, or an outcome or cancellation that re-split it) and
nobody who sent its tip may approve or reject it, and the tipster may not record its
payment either. The tipster is asked about through the tips
feature's :class:`~rewards.ports.TipsterCheck` (a yes or no about the person acting), and a
barred tipster gets the very refusal a barred proposer gets. The same maximum amount
(``max_amount``) bounds every proposal however it is made, the notice offers proposals
are drawn from, and every approval.

Every method validates everything before writing, so a refusal changes nothing. State
changes are appended as events with a per-reward sequence number; when two people act on
the same reward at once, the second append fails, the reward is reloaded and the action
decided again against the new state (so an approval and a rejection can never both win).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from groups.roles import Permission, Principal, Role, Scope
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, NotFound, PermissionDenied
from rewards.model import (
    REWARD_ID_RE,
    Basis,
    CorruptHistory,
    EventKind,
    NoticeInfo,
    Offer,
    Outcome,
    OutcomeRecord,
    PayMethod,
    Reward,
    RewardEvent,
    RewardRecord,
    RewardState,
    TipInfo,
    apply,
    can_apply,
    clean_text,
    fold,
    format_money,
    new_reward_id,
    normalize_tip_code,
    split,
    start,
)
from rewards.ports import (
    DuplicateReward,
    NoticeDirectory,
    Outbox,
    OutcomeStore,
    ReminderClaims,
    RewardStore,
    TipDirectory,
    TipsterCheck,
    VersionConflict,
)

log = logging.getLogger(__name__)

RETRIES = 5
# Who may look at a reward record (never a tipster: they use /reward with their code).
OFFICIAL = (Permission.VIEW_REWARDS, Permission.PROPOSE_REWARDS, Permission.APPROVE_REWARDS)
MAX_REFERENCE = 64


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    outcome: OutcomeRecord
    reward: Reward | None  # the tip's reward after the change (new, re-split, cancelled)
    created: bool = False
    offer_missing: bool = False  # eligible, but the notice has no usable offer
    changed: tuple[Reward, ...] = field(default=())  # proposals re-split (this tip's too)
    # The notice's offer is above the maximum: nothing was proposed or re-split from it.
    offer_over_max: NoticeInfo | None = None


@dataclass(frozen=True, slots=True)
class ProposalResult:
    reward: Reward
    created: bool


@dataclass(frozen=True, slots=True)
class TipsterMessage:
    """A message for the tipster, rendered by the tips feature in the tipster's language."""

    key: str
    params: dict[str, str]


def scope_of(record: RewardRecord | TipInfo) -> Scope:
    return Scope(record.sector, record.area)


class RewardService:
    def __init__(
        self,
        store: RewardStore,
        outcomes: OutcomeStore,
        tips: TipDirectory,
        notices: NoticeDirectory,
        outbox: Outbox,
        reminders: ReminderClaims,
        audit: AuditLog,
        clock: Clock,
        *,
        tz: ZoneInfo,
        tipsters: TipsterCheck,
        max_amount: Decimal,
        currency: str = "CNY",
        remind_after: timedelta = timedelta(days=3),
        claim_instructions: dict[str, str] | None = None,
    ) -> None:
        self._store = store
        self._outcomes = outcomes
        self._tips = tips
        self._notices = notices
        self._outbox = outbox
        self._reminders = reminders
        self._audit = audit
        self._clock = clock
        self._tipsters = tipsters
        self.max_amount = max_amount
        self.tz = tz
        self.currency = currency
        self.remind_after = remind_after
        self._claims = dict(claim_instructions or {})

    # --- reading -------------------------------------------------------------------------

    async def load(self, reward_id: str) -> Reward | None:
        record = await self._store.record(reward_id)
        if record is None:
            return None
        return fold(record, await self._store.events(reward_id))

    async def for_tip(self, tip_id: str) -> Reward | None:
        record = await self._store.by_tip(tip_id)
        if record is None:
            return None
        return fold(record, await self._store.events(record.reward_id))

    async def all(self) -> list[Reward]:
        rewards: list[Reward] = []
        for rec, evs in await self._store.histories():
            try:
                rewards.append(fold(rec, evs))
            except CorruptHistory:  # only a hand-edited database gets here: say so loudly
                log.error("reward %s has an impossible history; left out", rec.reward_id)
        return rewards

    async def outcome_of(self, tip_id: str) -> OutcomeRecord | None:
        return await self._outcomes.get(tip_id)

    async def _tip(self, code: str) -> TipInfo:
        norm = normalize_tip_code(code)
        tip = await self._tips.by_code(norm)
        if tip is None:
            raise NotFound("rewards.tip_not_found", code=norm)
        return tip

    async def resolve(self, principal: Principal, ref: str, *perms: Permission) -> Reward:
        """A reward by its id (``R-XXXXXX``) or its tip's code, within the caller's scope."""
        key = ref.strip().upper()
        reward: Reward | None = None
        if REWARD_ID_RE.match(key):
            reward = await self.load(key)
        else:
            try:
                norm = normalize_tip_code(key)
            except InvalidInput:
                norm = None
            tip = await self._tips.by_code(norm) if norm else None
            reward = await self.for_tip(tip.tip_id) if tip else None
        if reward is None or not any(
            principal.can(p, scope_of(reward.record)) for p in perms or OFFICIAL
        ):
            raise NotFound("rewards.reward_not_found", ref=key[:24])
        return reward

    async def status_for_owner(self, code: str) -> Reward | None:
        """The reward on a tip, for its verified owner (the caller checked ownership)."""
        tip = await self._tips.by_code(normalize_tip_code(code))
        return await self.for_tip(tip.tip_id) if tip else None

    def claim_instructions(self, area: str | None) -> str | None:
        return self._claims.get(area or "") or self._claims.get("*")

    # --- outcomes and eligibility --------------------------------------------------------

    async def record_outcome(
        self, principal: Principal, code: str, outcome: Outcome, note: str
    ) -> OutcomeResult:
        tip = await self._tip(code)
        if not principal.can(Permission.HANDLE_TIPS, scope_of(tip)):
            raise NotFound("rewards.tip_not_found", code=tip.code)
        note = clean_text(note)
        if outcome is Outcome.DECISIVE and not note:
            raise InvalidInput("rewards.decisive_needs_note")
        reward = await self.for_tip(tip.tip_id)
        previous = await self._outcomes.get(tip.tip_id)
        if reward is not None and reward.state in (
            RewardState.PROPOSED,
            RewardState.APPROVED,
            RewardState.PAID,
        ):
            if not outcome.eligible:
                # One record per tip: cancelling is final, so it is never done implicitly.
                raise InvalidInput(
                    "rewards.outcome_conflicts",
                    reward_id=reward.reward_id,
                    state=reward.state.value,
                )
            if reward.state is not RewardState.PROPOSED and (
                previous is None or previous.outcome is not outcome
            ):
                raise InvalidInput(
                    "rewards.outcome_locked", reward_id=reward.reward_id, state=reward.state.value
                )
        now = self._clock.now()
        record = OutcomeRecord(
            tip.tip_id, tip.code, tip.notice_id, outcome, note, principal.user_id, now
        )
        # The tip's status first: if the tips feature refuses, no outcome is stored.
        await self._tips.set_status(tip.tip_id, outcome.tip_status, principal.user_id)
        await self._outcomes.record(record)
        await self._audit.record(
            AuditEntry(
                principal.user_id,
                "reward.outcome",
                "tip",
                tip.tip_id,
                now,
                {
                    "code": tip.code,
                    "outcome": outcome.value,
                    "previous": previous.outcome.value if previous else None,
                    "note": note,
                },
            )
        )
        notice = await self._notices.get(tip.notice_id) if tip.notice_id else None
        offer = notice.offer if notice is not None else None
        over_max = offer is not None and not self.within_max(offer)
        offer_ok = offer is not None and not over_max
        created = False
        if reward is None and outcome.eligible and notice is not None and offer_ok:
            try:
                reward = await self._create(principal, tip, notice, Basis.OFFER, None, "")
                created = True
            except InvalidInput as exc:
                if exc.key != "rewards.already_exists":
                    raise
                reward = await self.for_tip(tip.tip_id)  # a concurrent outcome created it
        changed: tuple[Reward, ...] = ()
        if notice is not None and offer_ok:
            changed = await self.resplit(notice, principal.user_id)
            for r in changed:
                if reward is not None and r.reward_id == reward.reward_id:
                    reward = r
        return OutcomeResult(
            outcome=record,
            reward=reward,
            created=created,
            offer_missing=outcome.eligible and reward is None and not over_max,
            changed=changed,
            offer_over_max=notice if over_max and outcome.eligible else None,
        )

    async def resplit(self, notice: NoticeInfo, actor_id: int | None) -> tuple[Reward, ...]:
        """Share the notice's offer among its decisive tips again.

        Decisive tips get equal shares (exact to the cent, remainder cents to the earliest);
        a useful tip is proposed one base share (the whole offer when no tip is decisive).
        Only proposals still awaiting approval whose amount nobody changed by hand move;
        approved, paid and hand-amended amounts are never changed automatically. An offer
        above the maximum moves nothing (its proposals wait for a person's amount).
        """
        if notice.offer is None or not self.within_max(notice.offer):
            return ()
        records = [
            r for r in await self._store.on_notice(notice.notice_id) if r.basis is Basis.OFFER
        ]
        if not records:
            return ()
        outcomes = await self._outcomes.get_many([r.tip_id for r in records])
        rewards = [fold(rec, await self._store.events(rec.reward_id)) for rec in records]
        live = [
            r
            for r in rewards
            if r.state in (RewardState.PROPOSED, RewardState.APPROVED, RewardState.PAID)
        ]
        live.sort(key=lambda r: (r.record.created_at, r.reward_id))

        def is_decisive(r: Reward) -> bool:
            o = outcomes.get(r.record.tip_id)
            return o is not None and o.outcome is Outcome.DECISIVE

        decisive = [r for r in live if is_decisive(r)]
        shares = split(notice.offer.amount, max(1, len(decisive)))
        targets: dict[str, Decimal] = {}
        for r in live:
            if r.state is not RewardState.PROPOSED or r.amended:
                continue
            targets[r.reward_id] = shares[decisive.index(r)] if r in decisive else shares[-1]
        changed: list[Reward] = []
        reason = f"split:{len(decisive)}"
        for r in live:
            target = targets.get(r.reward_id)
            if target is None or target == r.amount or not 0 < target <= self.max_amount:
                continue

            def resplit_event(cur: Reward, target: Decimal = target) -> RewardEvent | None:
                if cur.state is not RewardState.PROPOSED or cur.amended or cur.amount == target:
                    return None
                return self._event(cur, EventKind.RESPLIT, actor_id, reason=reason, amount=target)

            changed.append(await self._act(r.reward_id, resplit_event, actor_id))
        return tuple(changed)

    async def _create(
        self,
        principal: Principal,
        tip: TipInfo,
        notice: NoticeInfo | None,
        basis: Basis,
        amount: Decimal | None,
        reason: str,
    ) -> Reward:
        now = self._clock.now()
        currency = (
            notice.offer.currency
            if basis is Basis.OFFER and notice and notice.offer
            else self.currency
        )
        if amount is None:
            assert notice is not None and notice.offer is not None
            amount = notice.offer.amount
        self._check_max(amount, currency)
        for _ in range(RETRIES):
            record = RewardRecord(
                reward_id=new_reward_id(),
                tip_id=tip.tip_id,
                tip_code=tip.code,
                notice_id=tip.notice_id,
                notice_ref=notice.ref if notice else None,
                sector=tip.sector,
                area=tip.area,
                basis=basis,
                currency=currency,
                created_at=now,
            )
            first = RewardEvent(
                record.reward_id,
                1,
                EventKind.PROPOSED,
                principal.user_id,
                now,
                reason=reason,
                amount=amount,
            )
            try:
                await self._store.create(record, first)
            except DuplicateReward:
                existing = await self._store.by_tip(tip.tip_id)
                if existing is not None:
                    raise InvalidInput(
                        "rewards.already_exists", code=tip.code, reward_id=existing.reward_id
                    ) from None
                continue  # the random id was taken: draw another
            await self._audit_event(record, first)
            return start(record, first)
        raise RuntimeError("could not allocate a reward id")  # pragma: no cover

    async def propose(
        self,
        principal: Principal,
        code: str,
        amount: Decimal,
        currency: str | None,
        reason: str,
    ) -> ProposalResult:
        """Change a pending proposal's amount, or propose a discretionary reward (managers)."""
        tip = await self._tip(code)
        if not principal.can(Permission.PROPOSE_REWARDS, scope_of(tip)):
            raise NotFound("rewards.tip_not_found", code=tip.code)
        reason = clean_text(reason, required_key="rewards.reason_required")
        reward = await self.for_tip(tip.tip_id)
        self._check_max(amount, reward.currency if reward is not None else self.currency)
        if reward is not None:
            if currency is not None and currency != reward.currency:
                raise InvalidInput("rewards.currency_mismatch", currency=reward.currency)
            if reward.state is not RewardState.PROPOSED:
                raise InvalidInput(
                    "rewards.not_pending", reward_id=reward.reward_id, state=reward.state.value
                )

            def amend(cur: Reward) -> RewardEvent:
                if cur.state is not RewardState.PROPOSED:
                    raise InvalidInput(
                        "rewards.not_pending", reward_id=cur.reward_id, state=cur.state.value
                    )
                if cur.amount == amount:
                    raise InvalidInput(
                        "rewards.same_amount", amount=format_money(amount, cur.currency)
                    )
                return self._event(
                    cur, EventKind.AMENDED, principal.user_id, reason=reason, amount=amount
                )

            updated = await self._act(reward.reward_id, amend, principal.user_id)
            return ProposalResult(updated, created=False)
        outcome = await self._outcomes.get(tip.tip_id)
        if outcome is None or not outcome.outcome.eligible:
            raise InvalidInput("rewards.not_eligible", code=tip.code)
        scope = scope_of(tip)
        if not principal.is_superadmin and not any(
            g.role is Role.MANAGER and g.scope.covers(scope) for g in principal.grants
        ):
            raise PermissionDenied("rewards.discretionary_managers_only")
        if currency is not None and currency != self.currency:
            raise InvalidInput("rewards.currency_mismatch", currency=self.currency)
        notice = await self._notices.get(tip.notice_id) if tip.notice_id else None
        created = await self._create(principal, tip, notice, Basis.DISCRETIONARY, amount, reason)
        return ProposalResult(created, created=True)

    # --- the two-person rule and the maximum ----------------------------------------------

    @staticmethod
    def _rule_bars(user_id: int, cur: Reward, *, tipster: bool) -> bool:
        """The two-person rule: the tip's sender and everyone whose action set the amount
        (directly or through a re-split) are barred from deciding on the reward."""
        return tipster or user_id in cur.amount_setters

    async def _sent_tip(self, reward: Reward | RewardRecord | None, user_id: int) -> bool:
        if reward is None:
            return False
        record = reward.record if isinstance(reward, Reward) else reward
        return await self._tipsters.is_tipster(record.tip_code, user_id)

    async def barred(self, user_id: int, reward: Reward) -> bool:
        """Whether the two-person rule bars ``user_id`` from approving or rejecting
        ``reward`` (for showing buttons and sending cards; decisions check it themselves)."""
        tipster = user_id not in reward.amount_setters and await self._sent_tip(reward, user_id)
        return self._rule_bars(user_id, reward, tipster=tipster)

    def within_max(self, offer: Offer) -> bool:
        return offer.amount <= self.max_amount

    def _check_max(self, amount: Decimal, currency: str) -> None:
        if amount > self.max_amount:
            raise InvalidInput(
                "rewards.amount_too_large", max=format_money(self.max_amount, currency)
            )

    def _check_approver(self, principal: Principal, cur: Reward, *, tipster: bool) -> None:
        if not principal.can(Permission.APPROVE_REWARDS, scope_of(cur.record)):
            raise PermissionDenied()
        # One refusal for every reason, so it never tells anyone more than they know.
        if self._rule_bars(principal.user_id, cur, tipster=tipster):
            raise PermissionDenied("rewards.self_approval", reward_id=cur.reward_id)

    # --- decisions -----------------------------------------------------------------------

    def _require(self, cur: Reward, kind: EventKind) -> None:
        if not can_apply(cur.state, kind):
            raise InvalidInput(
                f"rewards.cannot_{kind.value}", reward_id=cur.reward_id, state=cur.state.value
            )

    async def approve(
        self, principal: Principal, reward_id: str, *, expected_version: int | None = None
    ) -> Reward:
        # The tip code never changes, and neither who sent it: asked once, before deciding.
        tipster = await self._sent_tip(await self._store.record(reward_id), principal.user_id)

        def decide(cur: Reward) -> RewardEvent:
            if expected_version is not None and cur.version != expected_version:
                raise InvalidInput("core.stale_button")
            self._require(cur, EventKind.APPROVED)
            self._check_approver(principal, cur, tipster=tipster)
            if cur.amount > self.max_amount:
                raise InvalidInput(
                    "rewards.over_max",
                    reward_id=cur.reward_id,
                    amount=format_money(cur.amount, cur.currency),
                    max=format_money(self.max_amount, cur.currency),
                )
            return self._event(cur, EventKind.APPROVED, principal.user_id)

        reward = await self._act(reward_id, decide, principal.user_id)
        await self.notify_tipster(reward, seq=reward.version)
        return reward

    async def reject(
        self,
        principal: Principal,
        reward_id: str,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> Reward:
        reason = clean_text(reason, required_key="rewards.reason_required")
        tipster = await self._sent_tip(await self._store.record(reward_id), principal.user_id)

        def decide(cur: Reward) -> RewardEvent:
            if expected_version is not None and cur.version != expected_version:
                raise InvalidInput("core.stale_button")
            self._require(cur, EventKind.REJECTED)
            self._check_approver(principal, cur, tipster=tipster)
            return self._event(cur, EventKind.REJECTED, principal.user_id, reason=reason)

        return await self._act(reward_id, decide, principal.user_id)

    async def pay(
        self,
        principal: Principal,
        reward_id: str,
        method: PayMethod,
        reference: str,
        paid_on: date | None,
    ) -> Reward:
        reference = reference.strip()
        if not reference or len(reference) > MAX_REFERENCE:
            raise InvalidInput("rewards.bad_reference")
        today = self._clock.now().astimezone(self.tz).date()
        when = paid_on or today
        if when > today:
            raise InvalidInput("rewards.paid_in_future", date=when.isoformat())
        tipster = await self._sent_tip(await self._store.record(reward_id), principal.user_id)

        def record_payment(cur: Reward) -> RewardEvent:
            self._require(cur, EventKind.PAID)
            if not principal.can(Permission.APPROVE_REWARDS, scope_of(cur.record)):
                raise PermissionDenied()
            if tipster:  # nobody attests a payment to themselves
                raise PermissionDenied("rewards.self_payment", reward_id=cur.reward_id)
            approved = cur.approved_at.astimezone(self.tz).date() if cur.approved_at else today
            if when < approved:
                raise InvalidInput(
                    "rewards.paid_before_approval",
                    date=when.isoformat(),
                    approved=approved.isoformat(),
                )
            return self._event(
                cur,
                EventKind.PAID,
                principal.user_id,
                method=method,
                reference=reference,
                paid_on=when,
            )

        reward = await self._act(reward_id, record_payment, principal.user_id)
        await self.notify_tipster(reward, seq=reward.version)
        return reward

    async def cancel(
        self, principal: Principal, reward_id: str, reason: str
    ) -> tuple[Reward, tuple[Reward, ...]]:
        """Cancel; returns the reward and any proposals re-split because it no longer counts."""
        reason = clean_text(reason, required_key="rewards.reason_required")
        was_approved = False

        def decide(cur: Reward) -> RewardEvent:
            nonlocal was_approved
            self._require(cur, EventKind.CANCELLED)
            scope = scope_of(cur.record)
            approver = principal.can(Permission.APPROVE_REWARDS, scope)
            proposer = principal.user_id in cur.proposers and principal.can(
                Permission.PROPOSE_REWARDS, scope
            )
            if cur.state is RewardState.APPROVED and not approver:
                raise PermissionDenied()
            if cur.state is RewardState.PROPOSED and not (approver or proposer):
                raise PermissionDenied()
            was_approved = cur.state is RewardState.APPROVED
            return self._event(cur, EventKind.CANCELLED, principal.user_id, reason=reason)

        reward = await self._act(reward_id, decide, principal.user_id)
        changed: tuple[Reward, ...] = ()
        if was_approved:
            await self.notify_tipster(reward, seq=reward.version)
        elif reward.record.notice_id and reward.record.basis is Basis.OFFER:
            notice = await self._notices.get(reward.record.notice_id)
            if notice is not None:
                changed = await self.resplit(notice, principal.user_id)
        return reward, changed

    # --- telling the tipster -----------------------------------------------------------

    def tipster_messages(self, reward: Reward) -> list[tuple[RewardEvent, TipsterMessage]]:
        """What the tipster is told for each event: approval (amount and how to claim),
        payment, and cancellation of an approved reward. Nothing about proposals or
        rejections: the tipster never knew of them (``/reward`` shows the outcome)."""
        amount = format_money(reward.amount, reward.currency)  # fixed once approved
        out: list[tuple[RewardEvent, TipsterMessage]] = []
        approved = False
        for e in reward.events:
            if e.kind is EventKind.APPROVED:
                approved = True
                claim = self.claim_instructions(reward.record.area)
                if claim:
                    msg = TipsterMessage(
                        "rewards.tipster_approved_custom", {"amount": amount, "claim": claim}
                    )
                else:
                    msg = TipsterMessage("rewards.tipster_approved", {"amount": amount})
                out.append((e, msg))
            elif e.kind is EventKind.PAID and e.paid_on is not None:
                params = {"amount": amount, "date": e.paid_on.isoformat()}
                out.append((e, TipsterMessage("rewards.tipster_paid", params)))
            elif e.kind is EventKind.CANCELLED and approved:
                out.append((e, TipsterMessage("rewards.tipster_cancelled", {})))
        return out

    async def notify_tipster(
        self, reward: Reward, *, seq: int | None = None, since: datetime | None = None
    ) -> None:
        """Store the tipster's messages (for event ``seq``, or every event since ``since``)
        in the outbox; idempotent, so the sweep can re-run it after a crash."""
        for event, msg in self.tipster_messages(reward):
            if (seq is not None and event.seq != seq) or (since is not None and event.at < since):
                continue
            await self._outbox.enqueue(
                f"{reward.reward_id}:{event.seq}", reward.record.tip_id, msg.key, msg.params
            )

    async def reconcile(self, window: timedelta = timedelta(days=1)) -> None:
        """Make sure every recent decision the tipster must hear of is in the outbox (covers
        a crash between a decision and its message)."""
        since = self._clock.now() - window
        ids = await self._store.touched_since(since)
        for rec, events in await self._store.histories(ids) if ids else []:
            await self.notify_tipster(fold(rec, events), since=since)

    # --- reminders -----------------------------------------------------------------------

    async def overdue(self) -> list[Reward]:
        """Proposals waiting longer than ``remind_after`` whose reminder nobody sent yet.

        Reminder ``k`` of a proposal (amount version ``v``) is due once it has waited
        ``k * remind_after``; each is claimed once, across processes.
        """
        now = self._clock.now()
        due: list[Reward] = []
        ids = await self._store.undecided()
        for rec, events in await self._store.histories(ids) if ids else []:
            reward = fold(rec, events)
            if reward.state is not RewardState.PROPOSED:
                continue
            waited = now - reward.waiting_since
            k = int(waited / self.remind_after)
            if k < 1:
                continue
            if await self._reminders.claim(f"{reward.reward_id}:{reward.version}:{k}", now):
                due.append(reward)
        return due

    # --- plumbing ------------------------------------------------------------------------

    def _event(
        self,
        cur: Reward,
        kind: EventKind,
        actor_id: int | None,
        *,
        reason: str = "",
        amount: Decimal | None = None,
        method: PayMethod | None = None,
        reference: str | None = None,
        paid_on: date | None = None,
    ) -> RewardEvent:
        return RewardEvent(
            cur.reward_id,
            cur.version + 1,
            kind,
            actor_id,
            self._clock.now(),
            reason=reason,
            amount=amount,
            method=method,
            reference=reference,
            paid_on=paid_on,
        )

    async def _act(
        self,
        reward_id: str,
        decide: Callable[[Reward], RewardEvent | None],
        actor_id: int | None,
    ) -> Reward:
        """Load, decide, append; on a concurrent append, reload and decide again."""
        for _ in range(RETRIES):
            cur = await self.load(reward_id)
            if cur is None:
                raise NotFound("rewards.reward_not_found", ref=reward_id)
            event = decide(cur)
            if event is None:
                return cur
            new = apply(cur, event)  # validates the transition before anything is written
            try:
                await self._store.append(event)
            except VersionConflict:
                continue
            await self._audit_event(new.record, event)
            return new
        raise InvalidInput("rewards.busy")

    async def _audit_event(self, record: RewardRecord, event: RewardEvent) -> None:
        details: dict[str, object] = {
            "seq": event.seq,
            "tip_code": record.tip_code,
            "reason": event.reason,
        }
        if event.amount is not None:
            details["amount"] = str(event.amount)
            details["currency"] = record.currency
        if event.method is not None:
            details["method"] = event.method.value
            details["reference"] = event.reference
            details["paid_on"] = event.paid_on.isoformat() if event.paid_on else None
        await self._audit.record(
            AuditEntry(
                event.actor_id,
                f"reward.{event.kind.value}",
                "reward",
                record.reward_id,
                event.at,
                details,
            )
        )
