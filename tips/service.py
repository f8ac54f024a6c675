"""Tip intake, threads, anonymity and search: the rules, independent of Telegram and MongoDB."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from groups.model import GeoPoint
from groups.roles import Permission, Principal, Scope
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, NotFound, PermissionDenied
from kernel.events import EventPublisher
from tips.anonymity import intake_key as derive_intake_key
from tips.anonymity import new_id, new_pseudonym
from tips.codes import new_code, normalize_code
from tips.events import TipMessageAdded, TipSubmitted
from tips.flood import FloodLimit
from tips.geo import parse_coordinates
from tips.model import (
    MEDIA_KINDS,
    Direction,
    DraftMode,
    Expect,
    LocationSource,
    NearFilter,
    NearHit,
    NoticeInfo,
    Page,
    Part,
    PartKind,
    ThreadMessage,
    Tip,
    TipCategory,
    TipCounts,
    TipDraft,
    TipLocation,
    TipStatus,
    TipsterIdentity,
    TipSummary,
    Visibility,
)
from tips.ports import (
    CodeTaken,
    Geocoder,
    MemberLookup,
    NoticeLookup,
    RewardsInProgress,
    TipDrafts,
    TipRepository,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TipLimits:
    max_text_chars: int = 4000  # all text and captions of one tip together
    max_parts: int = 30  # texts and files in one tip
    max_file_bytes: int = 20 * 1024 * 1024  # Telegram bots can fetch files up to 20 MB
    max_locations: int = 10
    flood: FloodLimit = field(default_factory=FloodLimit)
    max_radius_km: float = 200.0
    page_size: int = 10
    export_limit: int = 5000


class TextOutcome(StrEnum):
    TEXT = "text"
    COORDINATES = "coordinates"
    GEOCODED = "geocoded"
    ADDRESS_ONLY = "address_only"


class NullGeocoder:
    """Geocoding switched off (the default): addresses are kept as text."""

    async def geocode(self, address: str) -> tuple[GeoPoint, str] | None:
        return None


def visibility_for(
    actor: Principal,
    notice: NoticeInfo | None = None,
    permission: Permission = Permission.VIEW_TIPS,
) -> Visibility:
    """Superadmins, and a notice's author and investigators for its tips, see everything;
    other officers see tips from the sectors/areas their VIEW_TIPS grants cover.

    With ``permission=REVEAL_TIPSTER``: whose tipsters the actor may reveal (the same
    rule over the grants carrying "reveal tipster"; for a holder of it anywhere, a
    notice's author and investigators cover all of its tips)."""
    scopes = actor.scopes_for(permission)
    if not scopes and permission is not Permission.VIEW_TIPS:
        return Visibility()
    if notice is not None and (
        actor.user_id == notice.created_by or actor.user_id in notice.investigators
    ):
        return Visibility(everything=True)
    if any(s.sector is None and s.area is None for s in scopes):
        return Visibility(everything=True)
    return Visibility(scopes=tuple((s.sector, s.area) for s in scopes))


def can_see(
    actor: Principal,
    tip: Tip,
    notice: NoticeInfo | None = None,
    permission: Permission = Permission.VIEW_TIPS,
) -> bool:
    vis = visibility_for(actor, notice, permission)
    if vis.everything:
        return True
    return any(Scope(sec, area).covers(Scope(tip.sector, tip.area)) for sec, area in vis.scopes)


class TipService:
    def __init__(
        self,
        repo: TipRepository,
        drafts: TipDrafts,
        notices: NoticeLookup,
        members: MemberLookup,
        events: EventPublisher,
        audit: AuditLog,
        clock: Clock,
        *,
        id_key: bytes,
        limits: TipLimits | None = None,
        geocoder: Geocoder | None = None,
        rewards: RewardsInProgress | None = None,
    ) -> None:
        self.repo = repo
        self._rewards = rewards
        self.drafts = drafts
        self.notices = notices
        self._members = members
        self._events = events
        self._audit = audit
        self._clock = clock
        self.limits = limits or TipLimits()
        self._geocoder: Geocoder = geocoder or NullGeocoder()
        if len(id_key) < 16:
            raise ValueError("the intake key (TIPS_ID_KEY) is too short")
        self._id_key = id_key  # TIPS_ID_KEY: from the configuration, never the database

    async def key(self, kind: str, chat_id: int, message_id: int) -> str:
        """The idempotency key of a Telegram message (see ``tips.anonymity``)."""
        return derive_intake_key(self._id_key, kind, chat_id, message_id)

    # ---- opening a dialog -------------------------------------------------------------

    async def notice_for_tips(self, ref: str) -> NoticeInfo:
        notice = await self.notices.by_ref(ref.strip().upper())
        if notice is None:
            raise NotFound("tips.unknown_notice", ref=ref[:32])
        if not notice.accepts_tips:
            raise InvalidInput("tips.notice_closed", ref=notice.ref)
        return notice

    async def start(
        self, user_id: int, chat_id: int, message_id: int, notice: NoticeInfo | None
    ) -> tuple[TipDraft, bool]:
        """Open a new tip dialog (about ``notice`` or general). True: an unsent draft was
        discarded."""
        if notice is not None and not notice.accepts_tips:
            raise InvalidInput("tips.notice_closed", ref=notice.ref)
        sector, area = await self._members.home(user_id)
        draft = TipDraft(
            user_id=user_id,
            mode=DraftMode.NEW,
            expect=Expect.CONTENT if notice is not None else Expect.CATEGORY,
            started_at=self._clock.now(),
            intake_key=await self.key("intake", chat_id, message_id),
            notice_id=notice.notice_id if notice else None,
            sector=sector,
            area=area,
        )
        previous = await self.drafts.put(draft)
        return draft, previous is not None and not previous.is_empty

    async def start_add(
        self, user_id: int, code_text: str, chat_id: int, message_id: int
    ) -> tuple[Tip, bool]:
        tip = await self.owned_tip(code_text, user_id)
        if not tip.status.is_open:
            raise InvalidInput("tips.tip_closed", code=tip.code)
        draft = TipDraft(
            user_id=user_id,
            mode=DraftMode.ADD,
            expect=Expect.CONTENT,
            started_at=self._clock.now(),
            intake_key=await self.key("intake", chat_id, message_id),
            tip_id=tip.tip_id,
            notice_id=tip.notice_id,
        )
        previous = await self.drafts.put(draft)
        return tip, previous is not None and not previous.is_empty

    async def owned_tip(self, code_text: str, user_id: int) -> Tip:
        """The caller's own tip by code; unknown and other people's codes look the same."""
        code = normalize_code(code_text)
        if code is None:
            raise InvalidInput("tips.bad_code", code=code_text[:16])
        tip = await self.repo.by_code(code)
        if tip is None or await self.repo.owner_of(tip.tip_id) != user_id:
            raise NotFound("tips.unknown_code", code=code)
        return tip

    async def choose_category(self, user_id: int, category: TipCategory) -> TipDraft:
        draft = await self.drafts.set_fields(user_id, category=category, expect=Expect.CONTENT)
        if draft is None:
            raise NotFound("tips.no_draft")
        return draft

    async def expect_address(self, user_id: int) -> TipDraft:
        draft = await self.drafts.set_fields(user_id, expect=Expect.ADDRESS)
        if draft is None:
            raise NotFound("tips.no_draft")
        return draft

    async def draft(self, user_id: int) -> TipDraft | None:
        return await self.drafts.get(user_id)

    async def cancel(self, user_id: int) -> bool:
        had = await self.drafts.get(user_id) is not None
        await self.drafts.delete(user_id)
        return had

    # ---- collecting -------------------------------------------------------------------

    def _check_part(self, draft: TipDraft, part: Part) -> None:
        lim = self.limits
        if draft.expect is Expect.CATEGORY:
            raise InvalidInput("tips.pick_category_first")
        if len(draft.parts) >= lim.max_parts:
            raise InvalidInput("tips.too_many_parts", limit=lim.max_parts)
        if draft.text_length + len(part.text) > lim.max_text_chars:
            raise InvalidInput(
                "tips.text_too_long",
                limit=lim.max_text_chars,
                left=max(0, lim.max_text_chars - draft.text_length),
            )
        if part.size is not None and part.size > lim.max_file_bytes:
            raise InvalidInput("tips.file_too_big", limit_mb=lim.max_file_bytes // (1024 * 1024))

    async def _require_draft(self, user_id: int, known: TipDraft | None = None) -> TipDraft:
        """The user's draft (``known``: the caller just read it, skip a round trip)."""
        if known is not None and known.user_id == user_id:
            return known
        draft = await self.drafts.get(user_id)
        if draft is None:
            raise NotFound("tips.no_draft")
        return draft

    async def add_part(
        self, user_id: int, part: Part, draft: TipDraft | None = None
    ) -> tuple[TipDraft, bool]:
        draft = await self._require_draft(user_id, draft)
        self._check_part(draft, part)
        stored, new_step = await self.drafts.push_part(user_id, part)
        if stored is None:
            raise NotFound("tips.no_draft")
        return stored, new_step

    async def add_location(
        self, user_id: int, location: TipLocation, draft: TipDraft | None = None
    ) -> TipDraft:
        draft = await self._require_draft(user_id, draft)
        if draft.expect is Expect.CATEGORY:
            raise InvalidInput("tips.pick_category_first")
        if len(draft.locations) >= self.limits.max_locations:
            raise InvalidInput("tips.too_many_locations", limit=self.limits.max_locations)
        stored = await self.drafts.push_location(user_id, location)
        if stored is None:
            raise NotFound("tips.no_draft")
        return stored

    async def add_text(
        self, user_id: int, text: str, draft: TipDraft | None = None
    ) -> tuple[TipDraft, TextOutcome]:
        """Typed text: an address when one was asked for, coordinates when it parses as
        such (out-of-range ones are refused), otherwise part of the tip's text."""
        draft = await self._require_draft(user_id, draft)
        if draft.expect is Expect.ADDRESS:
            return await self._add_address(draft, text)
        location = parse_coordinates(text)  # raises InvalidInput when out of range
        if location is not None:
            return await self.add_location(user_id, location, draft), TextOutcome.COORDINATES
        stored, _ = await self.add_part(user_id, Part(PartKind.TEXT, text=text), draft)
        return stored, TextOutcome.TEXT

    async def _add_address(self, draft: TipDraft, text: str) -> tuple[TipDraft, TextOutcome]:
        address = text.strip()[:300]
        if not address:
            raise InvalidInput("tips.address_empty")
        coords = parse_coordinates(address)
        if coords is not None:
            stored = await self.add_location(draft.user_id, coords, draft)
            await self.drafts.set_fields(draft.user_id, expect=Expect.CONTENT)
            return stored, TextOutcome.COORDINATES
        found: tuple[GeoPoint, str] | None = None
        try:
            found = await self._geocoder.geocode(address)
        except Exception:
            log.warning("geocoder failed", exc_info=True)
        if found is not None:
            # The typed text stays the address; what the geocoder matched is the title, so
            # the member and officers can tell whether it found the right place.
            location = TipLocation(
                LocationSource.GEOCODED, point=found[0], address=address, title=found[1] or None
            )
            outcome = TextOutcome.GEOCODED
        else:
            location = TipLocation(LocationSource.ADDRESS, address=address)
            outcome = TextOutcome.ADDRESS_ONLY
        stored = await self.add_location(draft.user_id, location, draft)
        stored = await self.drafts.set_fields(draft.user_id, expect=Expect.CONTENT) or stored
        return stored, outcome

    async def update_live(self, live_key: str, point: GeoPoint) -> bool:
        """A live location moved: update the draft or the stored tip holding it."""
        if await self.drafts.update_live(live_key, point):
            return True
        return await self.repo.update_live(live_key, point, self._clock.now())

    # ---- submitting -------------------------------------------------------------------

    async def submit(
        self, profile: TipsterIdentity, draft: TipDraft | None = None
    ) -> tuple[Tip, bool]:
        """Store the caller's draft as a tip (or as thread messages for ADD mode).

        Returns the tip and whether it was created now (False: it was stored before,
        e.g. Send pressed twice). The draft is deleted only after the tip is stored.
        """
        draft = await self._require_draft(profile.user_id, draft)
        if draft.expect is Expect.CATEGORY:
            raise InvalidInput("tips.pick_category_first")
        if draft.is_empty:
            raise InvalidInput("tips.empty")
        if draft.mode is DraftMode.ADD:
            assert draft.tip_id is not None
            tip = await self.repo.get(draft.tip_id)
            if tip is None or await self.repo.owner_of(tip.tip_id) != profile.user_id:
                await self.drafts.delete(profile.user_id)
                raise NotFound("tips.unknown_code", code="?")
            parts = draft.parts + tuple(_location_part(loc) for loc in draft.locations)
            await self.add_thread(tip, Direction.TIPSTER, parts, message_id=draft.intake_key)
            await self.drafts.delete(profile.user_id)
            return tip, True
        notice = await self.notices.by_id(draft.notice_id) if draft.notice_id else None
        if draft.notice_id and (notice is None or not notice.accepts_tips):
            raise InvalidInput("tips.notice_closed", ref=notice.ref if notice else "?")
        tip, created = await self._store(
            profile,
            intake_key=draft.intake_key,
            notice=notice,
            category=draft.category,
            parts=draft.parts,
            locations=draft.locations,
            sector=draft.sector,
            area=draft.area,
            channel=draft.channel,
        )
        await self.drafts.delete(profile.user_id)
        return tip, created

    async def submit_group_reply(
        self,
        profile: TipsterIdentity,
        notice: NoticeInfo,
        chat_id: int,
        message_id: int,
        parts: tuple[Part, ...],
        locations: tuple[TipLocation, ...],
        sector: str | None,
        area: str | None,
        album: str | None = None,
    ) -> tuple[Tip, bool]:
        """A reply to a notice in a group becomes a tip at once (an album: one tip)."""
        if not notice.accepts_tips:
            raise InvalidInput("tips.notice_closed", ref=notice.ref)
        if not parts and not locations:
            raise InvalidInput("tips.empty")
        draft = TipDraft(
            user_id=profile.user_id,
            mode=DraftMode.NEW,
            expect=Expect.CONTENT,
            started_at=self._clock.now(),
            intake_key="",
        )
        for part in parts:
            self._check_part(draft, part)
            draft = replace(draft, parts=(*draft.parts, part))
        # Every item of an album shares one key: the first stores the tip, the others add
        # their files to it.
        key = (
            await self.key(f"album:{album}", chat_id, 0)
            if album is not None
            else await self.key("intake", chat_id, message_id)
        )
        tip, created = await self._store(
            profile,
            intake_key=key,
            notice=notice,
            category=None,
            parts=parts,
            locations=locations,
            sector=sector,
            area=area,
            channel="group_reply",
        )
        if not created and album is not None:  # another item of the album was first
            await self.repo.append_parts(tip.tip_id, parts, self._clock.now())
        return tip, created

    async def _store(
        self,
        profile: TipsterIdentity,
        *,
        intake_key: str,
        notice: NoticeInfo | None,
        category: TipCategory | None,
        parts: tuple[Part, ...],
        locations: tuple[TipLocation, ...],
        sector: str | None,
        area: str | None,
        channel: str,
    ) -> tuple[Tip, bool]:
        candidate = new_id()
        tip_id = await self.repo.claim_intake(intake_key, candidate, None)
        if tip_id != candidate:  # this message was taken in before (or half-way)
            existing = await self.repo.get(tip_id)
            if existing is not None:
                return existing, False
        now = self._clock.now()
        notice_id = notice.notice_id if notice else None
        flood = self.limits.flood
        since = flood.since(now) if flood.limit > 0 else None
        recent, linked = await self.repo.tipster_history(profile.user_id, notice_id, since)
        flood.check(recent, now)
        tip = Tip(
            tip_id=tip_id,  # random; the intake ledger makes a retry find the same tip
            code=new_code(),
            notice_id=notice_id,
            category=category,
            parts=parts,
            locations=locations,
            sector=sector,
            area=area,
            pseudonym=linked or await self._new_pseudonym(notice_id),
            status=TipStatus.NEW,
            created_at=now,
            updated_at=now,
            channel=channel,
            notice_ref=notice.ref if notice else None,
            notice_title=notice.title if notice else None,
        )
        identity = replace(profile, tip_id=tip.tip_id, created_at=now)
        for _ in range(8):
            try:
                stored, created = await self.repo.create(tip, identity)
                break
            except CodeTaken:
                tip = replace(tip, code=new_code())
        else:  # pragma: no cover - 23^5 codes; eight collisions in a row mean a bug
            raise RuntimeError("could not draw a free tip code")
        if created:
            await self._events.publish(
                TipSubmitted(
                    tip_id=stored.tip_id,
                    code=stored.code,
                    notice_id=stored.notice_id,
                    sector=stored.sector,
                    area=stored.area,
                    category=stored.category.value if stored.category else None,
                    at=now,
                )
            )
        return stored, created

    async def _new_pseudonym(self, notice_id: str | None) -> str:
        """A tipster's first label on a notice (later tips there reuse it through the link
        on their identity): random, and carried by no other tip on the notice (as far as 8
        draws go)."""
        label = new_pseudonym()
        for _ in range(8):
            if not await self.repo.pseudonym_in_use(notice_id, label):
                break
            label = new_pseudonym()
        return label

    # ---- threads ------------------------------------------------------------------------

    async def add_thread(
        self,
        tip: Tip,
        direction: Direction,
        parts: tuple[Part, ...],
        *,
        message_id: str,
        officer_id: int | None = None,
    ) -> ThreadMessage | None:
        """Append to the tip's thread; None when this message was stored before.

        ``message_id`` is the Telegram message's intake key (``key()``); the stored
        message gets a random id, bound to that key in the intake ledger."""
        if direction is Direction.TIPSTER and not tip.status.is_open:
            raise InvalidInput("tips.tip_closed", code=tip.code)
        stored_id = await self.repo.claim_intake(message_id, new_id(), tip.tip_id)
        msg = ThreadMessage(
            tip_id=tip.tip_id,
            direction=direction,
            parts=parts,
            at=self._clock.now(),
            officer_id=officer_id,
            message_id=stored_id,
        )
        if not await self.repo.add_message(msg):
            return None
        await self._events.publish(
            TipMessageAdded(
                tip_id=tip.tip_id,
                code=tip.code,
                notice_id=tip.notice_id,
                direction=direction.value,
                message_id=stored_id,
                at=msg.at,
            )
        )
        return msg

    async def officer_may_handle(self, actor: Principal, tip: Tip) -> bool:
        if not actor.can(Permission.HANDLE_TIPS):
            return False
        notice = await self.notices.by_id(tip.notice_id) if tip.notice_id else None
        return can_see(actor, tip, notice)

    # ---- anonymity --------------------------------------------------------------------

    async def forget(self, code_text: str, user_id: int) -> Tip:
        """Unlink the caller from their tip for good. Deliberately not audited: a record of
        when a tip was unlinked, next to the time the user was last seen, would re-link it.
        The tip itself shows that it was unlinked (``forgotten``)."""
        tip = await self.owned_tip(code_text, user_id)
        if self._rewards is not None and await self._rewards.open_for(tip.tip_id):
            raise InvalidInput("tips.forget_reward_open", code=tip.code)
        if not await self.repo.forget(tip.tip_id, user_id):
            raise NotFound("tips.unknown_code", code=tip.code)
        return tip

    async def reveal(
        self, actor: Principal, code_text: str, reason: str
    ) -> tuple[Tip, TipsterIdentity | None]:
        """The tipster of a tip, for a holder of "reveal tipster" whose grants cover the
        tip; audited with the reason. Refusals reveal nothing and are not audited."""
        if not actor.can(Permission.REVEAL_TIPSTER):
            raise PermissionDenied("tips.reveal_not_allowed")
        reason = " ".join(reason.split())
        if len(reason) < 4:
            raise InvalidInput("tips.reveal_reason_needed")
        tip = await self.visible_tip(actor, code_text)
        notice = await self.notices.by_id(tip.notice_id) if tip.notice_id else None
        if not can_see(actor, tip, notice, Permission.REVEAL_TIPSTER):
            raise PermissionDenied("tips.reveal_out_of_scope", code=tip.code)
        identity = await self.repo.identity(tip.tip_id)
        await self._audit.record(
            AuditEntry(
                actor.user_id,
                "tip.reveal",
                "tip",
                tip.tip_id,
                self._clock.now(),
                {"code": tip.code, "reason": reason[:500], "found": identity is not None},
            )
        )
        return tip, identity

    # ---- officers: lookup, search, export ----------------------------------------------

    async def tip_by_code(self, code_text: str) -> Tip:
        code = normalize_code(code_text)
        if code is None:
            raise InvalidInput("tips.bad_code", code=code_text[:16])
        tip = await self.repo.by_code(code)
        if tip is None:
            raise NotFound("tips.unknown_code", code=code)
        return tip

    async def visible_tip(self, actor: Principal, code_text: str) -> Tip:
        tip = await self.tip_by_code(code_text)
        notice = await self.notices.by_id(tip.notice_id) if tip.notice_id else None
        if not can_see(actor, tip, notice):
            raise NotFound("tips.unknown_code", code=tip.code)  # do not confirm it exists
        return tip

    async def _notice_for_search(self, ref: str) -> NoticeInfo:
        notice = await self.notices.by_ref(ref.strip().upper())
        if notice is None:
            raise NotFound("tips.unknown_notice", ref=ref[:32])
        return notice

    async def list_for_notice(
        self, actor: Principal, ref: str, page: int
    ) -> tuple[NoticeInfo, Page]:
        notice = await self._notice_for_search(ref)
        size = self.limits.page_size
        page = max(0, page)
        vis = visibility_for(actor, notice)
        tips, total = await self.repo.by_notice(notice.notice_id, vis, page * size, size)
        pages = max(1, math.ceil(total / size))
        if page >= pages:  # past the end: show the last page
            page = pages - 1
            tips, total = await self.repo.by_notice(notice.notice_id, vis, page * size, size)
        return notice, Page(tuple(tips), total, page, pages)

    async def near(
        self,
        actor: Principal,
        center: GeoPoint,
        radius_km: float,
        flt: NearFilter,
        limit: int = 20,
    ) -> list[NearHit]:
        if not math.isfinite(radius_km) or not 0 < radius_km <= self.limits.max_radius_km:
            raise InvalidInput("tips.bad_radius", max_km=int(self.limits.max_radius_km))
        notice = await self.notices.by_id(flt.notice_id) if flt.notice_id else None
        return await self.repo.near(
            center, radius_km * 1000.0, flt, visibility_for(actor, notice), limit
        )

    async def notice_ref_filter(self, ref: str) -> NoticeInfo:
        return await self._notice_for_search(ref)

    async def export(self, actor: Principal, ref: str) -> tuple[NoticeInfo, list[Tip]]:
        notice = await self._notice_for_search(ref)
        tips, _ = await self.repo.by_notice(
            notice.notice_id, visibility_for(actor, notice), 0, self.limits.export_limit
        )
        return notice, tips

    async def set_status(self, tip_id: str, status: TipStatus, actor_id: int) -> Tip:
        before = await self.repo.get(tip_id)
        if before is None:
            raise NotFound("tips.unknown_code", code="?")
        if before.status is status:
            return before
        tip = await self.repo.set_status(tip_id, status, self._clock.now())
        if tip is None:
            raise NotFound("tips.unknown_code", code=before.code)
        await self._audit.record(
            AuditEntry(
                actor_id,
                "tip.status",
                "tip",
                tip_id,
                self._clock.now(),
                {"code": tip.code, "from": before.status.value, "to": status.value},
            )
        )
        return tip

    async def counts(self, actor: Principal, since: datetime) -> TipCounts:
        """Tips the officer may see (``/tips`` visibility, without notice-specific access):
        received since ``since``, and not acknowledged yet. Two indexed counts."""
        vis = visibility_for(actor)
        if not vis.everything and not vis.scopes:
            return TipCounts(0, 0)
        received = await self.repo.count(vis, since=since)
        unacknowledged = await self.repo.count(vis, status=TipStatus.NEW)
        return TipCounts(received, unacknowledged)

    async def summary(self, tip_id: str) -> TipSummary | None:
        tip = await self.repo.get(tip_id)
        return TipSummary.of(tip) if tip else None

    async def mine(self, user_id: int) -> list[Tip]:
        return await self.repo.tips_of(user_id)


def _location_part(loc: TipLocation) -> Part:
    """Locations added to a thread are kept as text (the thread has no geo index)."""
    bits = []
    if loc.point is not None:
        bits.append(f"{loc.point.lat:.6f}, {loc.point.lon:.6f}")
    if loc.title:
        bits.append(loc.title)
    if loc.address:
        bits.append(loc.address)
    return Part(PartKind.TEXT, text=f"📍 {' · '.join(bits)} ({loc.source.value})")


def media_count(parts: tuple[Part, ...]) -> int:
    return sum(1 for p in parts if p.kind in MEDIA_KINDS)
