"""Every domain service and the bridges between features, built once and typed.

``build_services`` is the one place where the domain services are put together on MongoDB
and Telegram: the bot's features (``AppContext.services``) and the officer console (which
runs the same services, inside the bot's process or alone) both use it, so neither has its
own copy of a rule or of the wiring. Features reach each other through these typed fields,
never by name; handlers receive any of them by parameter name (``Services.handler_data``).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from aiogram import Bot

from bot.bridges import RewardsTipDirectory, RewardsTipsterCheck, TipsBridge
from bot.config import Settings
from bot.events import EventBus
from bot.gateway import TelegramGateway
from bot.inflight import InFlight
from bot.notice_views import NoticeViews
from bot.tip_views import TipsterMessenger
from broadcasts.monitor import NoticeMonitor
from broadcasts.service import NoticeService
from duty.service import DutyService
from groups.access import RoleService
from groups.admission import AdmissionService
from groups.catalog import Catalog
from groups.members import MemberService
from groups.registry import GroupService
from kernel.audit import AuditLog
from kernel.clock import Clock
from kernel.events import EventPublisher
from rewards.service import RewardService
from storage.admission import MongoApplicationRepository, MongoInviteLinks
from storage.catalog import MongoScopeCatalog
from storage.client import Database
from storage.duty import MongoDutyRepository, MongoTipDirectory
from storage.duty import MongoNoticeDirectory as DutyNoticeDirectory
from storage.groups import MongoAreaRepository, MongoGroupRepository, MongoSectorRepository
from storage.members import MongoMemberGrants, MongoMemberRepository
from storage.notices import (
    MongoDeliveryRepository,
    MongoNoticeRepository,
    MongoRecurrenceRepository,
)
from storage.rewards import (
    MongoNoticeDirectory,
    MongoOutbox,
    MongoOutcomeStore,
    MongoReminderClaims,
    MongoRewardsInProgress,
    MongoRewardStore,
)
from storage.tips import (
    MongoMemberLookup,
    MongoNoticeLookup,
    MongoTipDrafts,
    MongoTipRepository,
)
from storage.users import MongoUserRepository
from tips.api import TipsApi
from tips.flood import FloodLimit
from tips.geocoding import NominatimGeocoder
from tips.ports import Geocoder
from tips.service import TipLimits, TipService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Foundation:
    """What the services are built on: settings, database, Telegram, and the shared
    pieces every feature uses (one clock, one audit log, one role service...)."""

    settings: Settings
    db: Database
    bot: Bot
    clock: Clock
    audit: AuditLog
    roles: RoleService
    users: MongoUserRepository
    events: EventPublisher
    groups: MongoGroupRepository
    areas: MongoAreaRepository
    inflight: InFlight


@dataclass(frozen=True)
class Services:
    """The domain services and the bridges between features (field names are also the
    names handlers receive them by)."""

    # groups: sectors and areas, the group registry, members and admission
    catalog: Catalog
    group_service: GroupService
    member_service: MemberService
    admission: AdmissionService
    members_repo: MongoMemberRepository
    invites: MongoInviteLinks
    gateway: TelegramGateway
    # notices
    notice_views: NoticeViews
    notice_service: NoticeService
    notices_repo: MongoNoticeRepository
    deliveries_repo: MongoDeliveryRepository
    notice_monitor: NoticeMonitor  # the console's notice list and delivery monitor
    # tips
    tip_service: TipService
    tips_api: TipsApi
    tipster_messenger: TipsterMessenger
    # duty
    duty: DutyService
    duty_tips: TipsBridge
    # rewards
    reward_service: RewardService
    reward_outbox: MongoOutbox

    def handler_data(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def foundation(
    settings: Settings,
    db: Database,
    bot: Bot,
    clock: Clock,
    audit: AuditLog,
    roles: RoleService,
    users: MongoUserRepository,
) -> Foundation:
    """A foundation of its own, for a process that runs the services without the bot's
    dispatcher (``python -m console``): its own event bus (nothing subscribes there: the
    bot's processes route tips) and its own background-work tracker."""
    return Foundation(
        settings=settings,
        db=db,
        bot=bot,
        clock=clock,
        audit=audit,
        roles=roles,
        users=users,
        events=EventBus(),
        groups=MongoGroupRepository(db),
        areas=MongoAreaRepository(db),
        inflight=InFlight(),
    )


def tips_id_key(settings: Settings) -> bytes:
    """TIPS_ID_KEY (required in production, see ``Settings``); in development without one,
    a random key for this process: the duplicate guard then forgets at restart."""
    if settings.tips_id_key is not None:
        return settings.tips_id_key.get_secret_value().encode()
    log.warning(
        "TIPS_ID_KEY is not set: using a random key for this process (development only; "
        "scripts/run writes one into .env)"
    )
    return secrets.token_bytes(32)


def tip_limits(s: Settings) -> TipLimits:
    return TipLimits(
        max_text_chars=s.tips_max_text_chars,
        max_parts=s.tips_max_parts,
        max_file_bytes=s.tips_max_file_mb * 1024 * 1024,
        flood=FloodLimit(s.tips_flood_limit, s.tips_flood_window_s),
    )


def geocoder(s: Settings, clock: Clock) -> Geocoder | None:
    if s.tips_geocoder != "nominatim":
        return None
    return NominatimGeocoder(
        user_agent=s.tips_nominatim_user_agent,
        base_url=s.tips_nominatim_url,
        timeout_s=s.tips_geocoder_timeout_s,
        country_codes=s.tips_nominatim_country_codes,
        monotonic=lambda: clock.now().timestamp(),  # 1 request/s by the bot's clock
    )


def build_services(f: Foundation) -> Services:
    s, db = f.settings, f.db
    # groups
    catalog = Catalog(MongoSectorRepository(db), f.areas, f.audit, f.clock)
    members_repo = MongoMemberRepository(db)
    apps = MongoApplicationRepository(db)
    invites = MongoInviteLinks(db)
    grants = MongoMemberGrants(db)
    gateway = TelegramGateway(f.bot)
    group_service = GroupService(
        f.groups, catalog, f.roles, (members_repo, apps, invites), f.audit, f.clock
    )
    gateway.groups = group_service
    member_service = MemberService(members_repo, f.groups, gateway, grants, f.audit, f.clock)
    admission = AdmissionService(
        apps,
        members_repo,
        gateway,
        grants,
        f.audit,
        f.clock,
        timedelta(hours=s.join_request_timeout_h),
    )
    # notices
    views = NoticeViews(s.tz)
    notices_repo = MongoNoticeRepository(db)
    deliveries_repo = MongoDeliveryRepository(db)
    notice_service = NoticeService(
        notices_repo,
        deliveries_repo,
        f.groups,
        MongoRecurrenceRepository(db),
        f.audit,
        f.clock,
        views.main_text,
        locale=s.default_locale,
        max_reward=s.rewards_max_amount,
    )
    # tips
    tip_service = TipService(
        MongoTipRepository(db, f.clock),
        MongoTipDrafts(db, f.clock),
        MongoNoticeLookup(db),
        MongoMemberLookup(db),
        f.events,
        f.audit,
        f.clock,
        id_key=tips_id_key(s),
        limits=tip_limits(s),
        geocoder=geocoder(s, f.clock),
        rewards=MongoRewardsInProgress(db),
    )
    tips_api = TipsApi(tip_service)
    messenger = TipsterMessenger(f.bot, tip_service, f.users, s.default_locale)
    # duty
    duty_tips = TipsBridge(tips_api, tip_service, messenger, MongoTipDirectory(db), f.inflight)
    duty = DutyService(
        MongoDutyRepository(db),
        f.roles,
        MongoScopeCatalog(db),
        duty_tips,
        DutyNoticeDirectory(db),
        f.audit,
        f.clock,
        default_tz=s.timezone,
        coverage_hour=s.duty_coverage_hour,
        coverage_horizon_h=s.duty_coverage_horizon_h,
        reminder_min=s.duty_reminder_min,
    )
    # rewards
    outbox = MongoOutbox(db, f.clock)
    reward_service = RewardService(
        MongoRewardStore(db),
        MongoOutcomeStore(db),
        RewardsTipDirectory(tips_api),
        MongoNoticeDirectory(db),
        outbox,
        MongoReminderClaims(db),
        f.audit,
        f.clock,
        tz=s.tz,
        tipsters=RewardsTipsterCheck(messenger),
        max_amount=s.rewards_max_amount,
        currency=s.rewards_currency,
        remind_after=timedelta(hours=s.rewards_remind_after_h),
        claim_instructions=s.rewards_claim_instructions,
    )
    return Services(
        catalog=catalog,
        group_service=group_service,
        member_service=member_service,
        admission=admission,
        members_repo=members_repo,
        invites=invites,
        gateway=gateway,
        notice_views=views,
        notice_service=notice_service,
        notices_repo=notices_repo,
        deliveries_repo=deliveries_repo,
        notice_monitor=NoticeMonitor(notice_service, notices_repo, deliveries_repo, f.groups),
        tip_service=tip_service,
        tips_api=tips_api,
        tipster_messenger=messenger,
        duty=duty,
        duty_tips=duty_tips,
        reward_service=reward_service,
        reward_outbox=outbox,
    )
