"""Tips: what a member reports, where, and the thread that follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from groups.model import GeoPoint


class TipStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    VERIFIED = "verified"
    NOT_USEFUL = "not_useful"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        """Whether the tipster may still add information."""
        return self not in (TipStatus.NOT_USEFUL, TipStatus.CLOSED)


class TipCategory(StrEnum):
    """What a general tip (线索举报, not about a notice) is about."""

    PERSON = "person"
    VEHICLE = "vehicle"
    GOODS = "goods"
    PLACE = "place"
    OTHER = "other"


class PartKind(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    VIDEO = "video"
    VOICE = "voice"
    AUDIO = "audio"
    DOCUMENT = "document"
    ANIMATION = "animation"
    VIDEO_NOTE = "video_note"


MEDIA_KINDS = frozenset(PartKind) - {PartKind.TEXT}


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of content: a text, or a file kept by Telegram file id (with its caption)."""

    kind: PartKind
    text: str = ""  # the text, or a media caption
    file_id: str | None = None
    file_unique_id: str | None = None
    size: int | None = None
    mime: str | None = None
    file_name: str | None = None
    duration: int | None = None
    album: str | None = None  # Telegram media_group_id: album items share it


class LocationSource(StrEnum):
    """Where a location came from, best first (see ``SOURCE_RANK``)."""

    TELEGRAM = "telegram"  # a location pin shared from the device
    LIVE = "live"  # a live location: first point, updated while live
    VENUE = "venue"  # a venue (place picked in Telegram)
    TYPED_DECIMAL = "typed_decimal"  # "30.2741, 120.1551"
    TYPED_DMS = "typed_dms"  # "30°16'27\"N 120°9'18\"E"
    GEOCODED = "geocoded"  # a typed address resolved by the geocoder
    ADDRESS = "address"  # a typed address that could not be resolved (no point)


SOURCE_RANK: dict[LocationSource, int] = {s: i for i, s in enumerate(LocationSource)}


@dataclass(frozen=True, slots=True)
class TipLocation:
    source: LocationSource
    point: GeoPoint | None = None
    accuracy_m: float | None = None
    address: str | None = None  # typed address, or a venue's address
    title: str | None = None  # venue title, or the place the geocoder matched
    live_key: str | None = None  # opaque key of a live location message (for updates)
    first_point: GeoPoint | None = None  # a live location's first point


def best_location(locations: list[TipLocation] | tuple[TipLocation, ...]) -> TipLocation | None:
    """The most trustworthy location that has coordinates, else the first address."""
    with_point = [loc for loc in locations if loc.point is not None]
    if with_point:
        return min(with_point, key=lambda loc: SOURCE_RANK[loc.source])
    return locations[0] if locations else None


@dataclass(frozen=True, slots=True)
class Tip:
    """A tip's body. It never holds the tipster's identity (see ``TipsterIdentity``)."""

    tip_id: str
    code: str
    notice_id: str | None
    category: TipCategory | None
    parts: tuple[Part, ...]
    locations: tuple[TipLocation, ...]
    sector: str | None
    area: str | None
    pseudonym: str
    status: TipStatus
    created_at: datetime
    updated_at: datetime
    channel: str = "private"  # private | group_reply
    notice_ref: str | None = None
    notice_title: str | None = None
    forgotten: bool = False  # the tipster unlinked their identity

    @property
    def location(self) -> TipLocation | None:
        return best_location(self.locations)

    @property
    def point(self) -> GeoPoint | None:
        loc = self.location
        return loc.point if loc else None

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.parts if p.text)

    @property
    def media(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.kind in MEDIA_KINDS)


@dataclass(frozen=True, slots=True)
class TipsterIdentity:
    """Who sent a tip. Stored apart from the tip; shown only with REVEAL_TIPSTER."""

    tip_id: str
    user_id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language: str | None = None
    created_at: datetime | None = None

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or str(self.user_id)


class Direction(StrEnum):
    TIPSTER = "tipster"
    OFFICER = "officer"


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    tip_id: str
    direction: Direction
    parts: tuple[Part, ...]
    at: datetime
    officer_id: int | None = None  # kept for the audit trail; never shown to the tipster
    message_id: str = ""

    @property
    def media(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.kind in MEDIA_KINDS)


class DraftMode(StrEnum):
    NEW = "new"  # a new tip
    ADD = "add"  # more information for an open tip (by code)


class Expect(StrEnum):
    CATEGORY = "category"  # waiting for a category button (general tips)
    CONTENT = "content"
    ADDRESS = "address"  # the next text is an address


@dataclass(frozen=True, slots=True)
class TipDraft:
    """A tip being collected in a private chat, until the member presses Send."""

    user_id: int
    mode: DraftMode
    expect: Expect
    started_at: datetime
    intake_key: str  # idempotency key of the message that opened the dialog (tips.anonymity)
    notice_id: str | None = None
    category: TipCategory | None = None
    tip_id: str | None = None  # ADD mode: the tip being added to
    parts: tuple[Part, ...] = ()
    locations: tuple[TipLocation, ...] = ()
    steps: int = 0  # messages collected (an album counts once)
    sector: str | None = None
    area: str | None = None
    channel: str = "private"
    panel_message_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return not self.parts and not self.locations

    @property
    def text_length(self) -> int:
        return sum(len(p.text) for p in self.parts)


@dataclass(frozen=True, slots=True)
class NoticeInfo:
    """What tips need to know of a notice (owned by the notices feature)."""

    notice_id: str
    ref: str
    title: str
    status: str
    created_by: int | None = None
    investigators: tuple[int, ...] = ()

    @property
    def accepts_tips(self) -> bool:
        return self.status in ("active", "sending")


@dataclass(frozen=True, slots=True)
class TipSummary:
    """What other features (duty, rewards) may know of a tip: never the tipster."""

    tip_id: str
    code: str
    notice_id: str | None
    notice_ref: str | None
    notice_title: str | None
    category: TipCategory | None
    status: TipStatus
    sector: str | None
    area: str | None
    pseudonym: str
    created_at: datetime
    text: str
    media_count: int
    point: GeoPoint | None
    location_source: LocationSource | None
    forgotten: bool = False

    @classmethod
    def of(cls, tip: Tip) -> TipSummary:
        loc = tip.location
        return cls(
            tip_id=tip.tip_id,
            code=tip.code,
            notice_id=tip.notice_id,
            notice_ref=tip.notice_ref,
            notice_title=tip.notice_title,
            category=tip.category,
            status=tip.status,
            sector=tip.sector,
            area=tip.area,
            pseudonym=tip.pseudonym,
            created_at=tip.created_at,
            text=tip.text,
            media_count=len(tip.media),
            point=loc.point if loc else None,
            location_source=loc.source if loc else None,
            forgotten=tip.forgotten,
        )


@dataclass(frozen=True, slots=True)
class NearFilter:
    notice_id: str | None = None
    statuses: tuple[TipStatus, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class NearHit:
    tip: Tip
    distance_m: float


@dataclass(frozen=True, slots=True)
class TipCounts:
    """The start page's tip counts for one officer (tips they may see)."""

    received: int  # received since the time asked for (the console: today)
    unacknowledged: int  # still new: nobody acknowledged them yet


@dataclass(frozen=True, slots=True)
class Page:
    tips: tuple[Tip, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which tips an officer may see: everything, or tips in some sector/area scopes."""

    everything: bool = False
    scopes: tuple[tuple[str | None, str | None], ...] = field(default=())
