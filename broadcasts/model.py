"""Notices, deliveries and their states (the ``notices``/``deliveries`` data contracts)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from groups.model import Audience
from groups.roles import Scope


class NoticeKind(StrEnum):
    WANTED_PERSON = "wanted_person"
    WANTED_VEHICLE = "wanted_vehicle"
    STOLEN_OBJECT = "stolen_object"
    MISSING_PERSON = "missing_person"
    URGENT_ALERT = "urgent_alert"
    PUBLICITY = "publicity"


# Kinds that are about something to be recognised: they need at least one photo.
PHOTO_REQUIRED = frozenset(
    {
        NoticeKind.WANTED_PERSON,
        NoticeKind.WANTED_VEHICLE,
        NoticeKind.STOLEN_OBJECT,
        NoticeKind.MISSING_PERSON,
    }
)


class NoticeStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    ACTIVE = "active"
    SOLVED = "solved"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (NoticeStatus.SENDING, NoticeStatus.ACTIVE)

    @property
    def is_closed(self) -> bool:
        return self in CLOSED


CLOSED = frozenset({NoticeStatus.SOLVED, NoticeStatus.WITHDRAWN, NoticeStatus.EXPIRED})


class Urgency(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Reward:
    amount: Decimal
    terms: str = ""
    currency: str = "CNY"


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo of a notice: a Telegram ``file_id`` or, before its first upload, a local file.

    ``source`` names bytes the sender can read (benchmarks, imports); once uploaded the
    resulting ``file_id`` is stored and every later group gets the photo by id.
    """

    file_id: str | None = None
    source: str | None = None
    unique_id: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    notice_id: str
    ref: str
    kind: NoticeKind
    title: str
    body: str
    created_by: int
    created_at: datetime
    expires_at: datetime
    audience: Audience = field(default_factory=Audience)
    photos: tuple[Photo, ...] = ()
    case_no: str = ""
    reward: Reward | None = None
    urgency: Urgency = Urgency.NORMAL
    pin: bool = False
    status: NoticeStatus = NoticeStatus.DRAFT
    investigators: tuple[int, ...] = ()
    send_at: datetime | None = None
    sent_at: datetime | None = None
    closed_at: datetime | None = None
    revision: int = 0  # bumped by every update/close; group copies are edited to catch up
    locale: str = "zh-CN"  # the language group copies are written in
    progress_chat_id: int | None = None
    progress_message_id: int | None = None
    recurrence_id: str | None = None
    planned: bool = False  # deliveries created (targets resolved at send time)
    scopes: tuple[Scope, ...] = ()  # the sender's broadcast scopes; empty: unrestricted
    synced_revision: int = 0
    # How many deliveries the notice was planned with (set with ``planned``; None for a
    # notice planned by an older release). Deliveries are numbered 0..groups-1 (``seq``).
    groups: int | None = None

    @property
    def urgent(self) -> bool:
        return self.urgency is Urgency.URGENT

    def with_(self, **changes: object) -> Notice:
        return replace(self, **changes)  # type: ignore[arg-type]

    def may_manage(self, user_id: int) -> bool:
        return user_id == self.created_by or user_id in self.investigators


@dataclass(frozen=True, slots=True)
class Delivery:
    notice_id: str
    chat_id: int
    state: DeliveryState = DeliveryState.PENDING
    step: int = 0  # next step of the plan to send
    message_ids: tuple[int, ...] = ()
    reason: str | None = None
    attempts: int = 0
    urgent: bool = False
    title: str = ""  # the group's title when planned (for reports)
    shown_revision: int = 0
    pinned_id: int | None = None
    sent_at: datetime | None = None
    # The claim this record was taken with (a fresh token per claim): every write of the
    # holder names it, so a holder whose claim was taken over can no longer write.
    lease: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
    # The group's chat id before it became a supergroup (the delivery moved to the new id).
    migrated_from: int | None = None
    # Position in the notice's plan, 0..groups-1 (None: planned by an older release).
    seq: int | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.sending + self.sent + self.failed

    @property
    def remaining(self) -> int:
        return self.pending + self.sending

    @property
    def done(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True, slots=True)
class Draft:
    """A notice being composed (one per investigator, stored between dialog steps)."""

    user_id: int
    kind: NoticeKind | None = None
    title: str = ""
    body: str = ""
    photos: tuple[Photo, ...] = ()
    case_no: str = ""
    reward: Reward | None = None
    audience: Audience = field(default_factory=Audience)
    urgency: Urgency = Urgency.NORMAL
    pin: bool = True
    expires_at: datetime | None = None
    step: str = "kind"
    editing: bool = False  # True once the preview was reached: each edit returns to it


@dataclass(frozen=True, slots=True)
class Recurrence:
    recurrence_id: str
    source_id: str  # the notice whose content is posted again
    every_days: int
    next_at: datetime
    created_by: int
    active: bool = True
