"""Rewards: outcomes, eligibility records and their append-only event history.

A reward's current state is never stored: it is the fold of its events
(:func:`fold`). Every change is a new :class:`RewardEvent` with who, when and why.
Amounts are exact :class:`~decimal.Decimal` values in a currency, never floats.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from enum import StrEnum

from kernel.errors import InvalidInput

CENT = Decimal("0.01")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
REWARD_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REWARD_ID_RE = re.compile(r"^R-[2-9A-HJKMNP-TV-Z]{6}$")
TIP_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,23}$")
MAX_TEXT = 500


class Outcome(StrEnum):
    NOT_USEFUL = "not_useful"
    USEFUL = "useful"
    DECISIVE = "decisive"  # led to an arrest, a recovery, a person found

    @property
    def eligible(self) -> bool:
        return self is not Outcome.NOT_USEFUL

    @property
    def tip_status(self) -> str:
        """The documented ``tips.status`` an outcome moves the tip to."""
        return "not_useful" if self is Outcome.NOT_USEFUL else "verified"


OUTCOME_ALIASES: dict[str, Outcome] = {
    "useful": Outcome.USEFUL,
    "有用": Outcome.USEFUL,
    "decisive": Outcome.DECISIVE,
    "关键": Outcome.DECISIVE,
    "not_useful": Outcome.NOT_USEFUL,
    "notuseful": Outcome.NOT_USEFUL,
    "not-useful": Outcome.NOT_USEFUL,
    "无用": Outcome.NOT_USEFUL,
}


def parse_outcome(text: str) -> Outcome:
    outcome = OUTCOME_ALIASES.get(text.strip().lower())
    if outcome is None:
        raise InvalidInput("rewards.bad_outcome", value=text[:32])
    return outcome


class RewardState(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (RewardState.REJECTED, RewardState.PAID, RewardState.CANCELLED)


class Basis(StrEnum):
    OFFER = "offer"  # the notice's reward offer (or a share of it)
    DISCRETIONARY = "discretionary"  # a manager's proposal for a general tip


class EventKind(StrEnum):
    PROPOSED = "proposed"
    AMENDED = "amended"  # a proposer changed the amount, with a reason
    RESPLIT = "resplit"  # the notice's offer was re-shared among its decisive tips
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"
    CANCELLED = "cancelled"


class PayMethod(StrEnum):
    CASH = "cash"
    BANK = "bank"
    WECHAT = "wechat"
    ALIPAY = "alipay"
    OTHER = "other"


PAY_METHOD_ALIASES: dict[str, PayMethod] = {
    "cash": PayMethod.CASH,
    "现金": PayMethod.CASH,
    "bank": PayMethod.BANK,
    "银行": PayMethod.BANK,
    "转账": PayMethod.BANK,
    "wechat": PayMethod.WECHAT,
    "微信": PayMethod.WECHAT,
    "alipay": PayMethod.ALIPAY,
    "支付宝": PayMethod.ALIPAY,
    "other": PayMethod.OTHER,
    "其他": PayMethod.OTHER,
}


def parse_method(text: str) -> PayMethod:
    method = PAY_METHOD_ALIASES.get(text.strip().lower())
    if method is None:
        raise InvalidInput("rewards.bad_method", value=text[:32])
    return method


# --- money -------------------------------------------------------------------------------

_AMOUNT_RE = re.compile(r"^(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d{1,2})?$")


def parse_amount(text: str, *, max_amount: Decimal) -> tuple[Decimal, str | None]:
    """``"500"``, ``"1,200.50"``, ``"¥300"``, ``"300元"``, ``"300 CNY"`` -> (amount, currency).

    The currency is None when the text names none. Rejects zero, negatives, more than two
    decimals, exponents, NaN/Infinity and anything above ``max_amount``.
    """
    raw = text.strip().replace("，", ",").replace("．", ".")
    currency: str | None = None
    if raw.startswith(("¥", "￥")):
        raw, currency = raw[1:].strip(), "CNY"
    elif raw.endswith("元"):
        raw, currency = raw[:-1].strip(), "CNY"
    else:
        m = re.match(r"^(.*?)\s*([A-Za-z]{3})$", raw)
        if m:
            raw, currency = m.group(1), m.group(2).upper()
    if not _AMOUNT_RE.match(raw):
        raise InvalidInput("rewards.bad_amount", value=text[:32])
    try:
        amount = Decimal(raw.replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern already guards this
        raise InvalidInput("rewards.bad_amount", value=text[:32]) from exc
    if amount <= 0:
        raise InvalidInput("rewards.bad_amount", value=text[:32])
    if amount > max_amount:
        raise InvalidInput("rewards.amount_too_large", max=format_money(max_amount, "CNY"))
    return amount.quantize(CENT), currency


def decimal_from_store(text: str) -> Decimal:
    """An amount as stored (a decimal string); raises ValueError on anything else."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal amount: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    return value


def format_money(amount: Decimal, currency: str) -> str:
    text = f"{amount.quantize(CENT):,.2f}"
    return f"¥{text}" if currency == "CNY" else f"{text} {currency}"


def split(total: Decimal, parts: int) -> list[Decimal]:
    """Share ``total`` in ``parts`` exact cent amounts that add up to it; earlier get the
    remainder cents (``split(100, 3) == [33.34, 33.33, 33.33]``)."""
    if parts < 1:
        raise ValueError("parts must be >= 1")
    cents = int((total / CENT).to_integral_value(rounding=ROUND_DOWN))
    base, rem = divmod(cents, parts)
    return [Decimal(base + (1 if i < rem else 0)) * CENT for i in range(parts)]


def new_reward_id() -> str:
    return "R-" + "".join(secrets.choice(REWARD_ID_ALPHABET) for _ in range(6))


def normalize_tip_code(text: str) -> str:
    code = text.strip().upper()
    if not TIP_CODE_RE.match(code):
        raise InvalidInput("rewards.bad_code", code=text[:24])
    return code


def clean_text(text: str | None, *, required_key: str | None = None) -> str:
    value = " ".join((text or "").split())[:MAX_TEXT]
    if not value and required_key:
        raise InvalidInput(required_key)
    return value


# --- what other features tell us --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TipInfo:
    """What rewards may know about a tip: never who sent it."""

    tip_id: str
    code: str
    notice_id: str | None
    sector: str | None
    area: str | None
    status: str


@dataclass(frozen=True, slots=True)
class Offer:
    amount: Decimal
    currency: str
    terms: str = ""


@dataclass(frozen=True, slots=True)
class NoticeInfo:
    notice_id: str
    ref: str
    title: str
    offer: Offer | None


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    tip_id: str
    code: str
    notice_id: str | None
    outcome: Outcome
    note: str
    by: int
    at: datetime


# --- the eligibility record and its events ------------------------------------------------


@dataclass(frozen=True, slots=True)
class RewardRecord:
    """The immutable facts of an eligibility record, written once (one per tip)."""

    reward_id: str
    tip_id: str
    tip_code: str
    notice_id: str | None
    notice_ref: str | None
    sector: str | None
    area: str | None
    basis: Basis
    currency: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RewardEvent:
    reward_id: str
    seq: int  # 1, 2, 3, ... (unique per reward: concurrent writers cannot both append n)
    kind: EventKind
    actor_id: int | None  # None: the system
    at: datetime
    reason: str = ""
    amount: Decimal | None = None
    method: PayMethod | None = None
    reference: str | None = None
    paid_on: date | None = None


class CorruptHistory(ValueError):
    """A stored event sequence that no sequence of valid actions could have produced."""


@dataclass(frozen=True, slots=True)
class Reward:
    """The current state of a reward: always the fold of its events."""

    record: RewardRecord
    state: RewardState
    amount: Decimal
    version: int
    proposed_by: int | None
    proposers: frozenset[int]  # who proposed it or changed its amount by hand
    amended: bool  # a person changed the amount by hand: never re-split automatically
    waiting_since: datetime  # when the current amount was last proposed
    approved_by: int | None = None
    approved_at: datetime | None = None
    rejected_by: int | None = None
    rejected_at: datetime | None = None
    reject_reason: str = ""
    paid_by: int | None = None
    paid_at: datetime | None = None
    paid_on: date | None = None
    method: PayMethod | None = None
    reference: str | None = None
    cancelled_by: int | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    events: tuple[RewardEvent, ...] = field(default=())
    # Whose outcome or cancellation on another tip re-split this amount (an actor of the
    # system's own re-splits is None and counts for nobody).
    resplit_by: frozenset[int] = frozenset()

    @property
    def amount_setters(self) -> frozenset[int]:
        """Everyone whose action set the amount, directly or through a re-split: the
        two-person rule bars each of them from approving or rejecting it."""
        return self.proposers | self.resplit_by

    @property
    def reward_id(self) -> str:
        return self.record.reward_id

    @property
    def currency(self) -> str:
        return self.record.currency


ALLOWED: dict[RewardState, frozenset[EventKind]] = {
    RewardState.PROPOSED: frozenset(
        {
            EventKind.AMENDED,
            EventKind.RESPLIT,
            EventKind.APPROVED,
            EventKind.REJECTED,
            EventKind.CANCELLED,
        }
    ),
    RewardState.APPROVED: frozenset({EventKind.PAID, EventKind.CANCELLED}),
    RewardState.REJECTED: frozenset(),
    RewardState.PAID: frozenset(),
    RewardState.CANCELLED: frozenset(),
}


def can_apply(state: RewardState, kind: EventKind) -> bool:
    return kind in ALLOWED[state]


def apply(reward: Reward, event: RewardEvent) -> Reward:
    """The one transition function: used to fold stored history and to validate writes."""
    if event.reward_id != reward.reward_id or event.seq != reward.version + 1:
        raise CorruptHistory(f"event {event.reward_id}#{event.seq} after #{reward.version}")
    if not can_apply(reward.state, event.kind):
        raise CorruptHistory(f"{event.kind} not allowed in state {reward.state}")
    r = replace(reward, version=event.seq, events=(*reward.events, event))
    match event.kind:
        case EventKind.AMENDED | EventKind.RESPLIT:
            if event.amount is None or event.amount <= 0:
                raise CorruptHistory("amount change without a positive amount")
            manual = event.kind is EventKind.AMENDED
            actor = frozenset() if event.actor_id is None else frozenset({event.actor_id})
            return replace(
                r,
                amount=event.amount,
                amended=reward.amended or manual,
                proposers=reward.proposers | actor if manual else reward.proposers,
                resplit_by=reward.resplit_by if manual else reward.resplit_by | actor,
                waiting_since=event.at,
            )
        case EventKind.APPROVED:
            return replace(
                r, state=RewardState.APPROVED, approved_by=event.actor_id, approved_at=event.at
            )
        case EventKind.REJECTED:
            return replace(
                r,
                state=RewardState.REJECTED,
                rejected_by=event.actor_id,
                rejected_at=event.at,
                reject_reason=event.reason,
            )
        case EventKind.PAID:
            return replace(
                r,
                state=RewardState.PAID,
                paid_by=event.actor_id,
                paid_at=event.at,
                paid_on=event.paid_on,
                method=event.method,
                reference=event.reference,
            )
        case EventKind.CANCELLED:
            return replace(
                r,
                state=RewardState.CANCELLED,
                cancelled_by=event.actor_id,
                cancelled_at=event.at,
                cancel_reason=event.reason,
            )
    raise CorruptHistory(f"unexpected event {event.kind}")  # pragma: no cover


def start(record: RewardRecord, event: RewardEvent) -> Reward:
    if event.kind is not EventKind.PROPOSED or event.seq != 1 or event.amount is None:
        raise CorruptHistory(f"{record.reward_id}: history must start with a proposal")
    if event.amount <= 0:
        raise CorruptHistory(f"{record.reward_id}: non-positive amount")
    proposers = frozenset({event.actor_id}) if event.actor_id is not None else frozenset()
    return Reward(
        record=record,
        state=RewardState.PROPOSED,
        amount=event.amount,
        version=1,
        proposed_by=event.actor_id,
        proposers=proposers,
        amended=False,
        waiting_since=event.at,
        events=(event,),
    )


def fold(record: RewardRecord, events: Iterable[RewardEvent]) -> Reward:
    """Replay a reward's history (in ``seq`` order) into its current state."""
    ordered: Sequence[RewardEvent] = sorted(events, key=lambda e: e.seq)
    if not ordered:
        raise CorruptHistory(f"{record.reward_id}: no events")
    reward = start(record, ordered[0])
    for event in ordered[1:]:
        reward = apply(reward, event)
    return reward
