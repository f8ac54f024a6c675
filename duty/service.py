"""Duty teams, schedule changes, routing, acknowledgement, escalation, handover and SLA.

The service decides and records; the bot layer renders and sends. Every refusal is a
``DomainError`` raised before anything is written.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from duty.alerts import Alert, AlertKind, AlertState, Card, Level, Step, TipRef, due_for
from duty.model import (
    AdjustKind,
    Adjustment,
    EscalationPolicy,
    Shift,
    ShiftPattern,
    Team,
    Unavailability,
    parse_shift_key,
    shift_key,
    zone,
)
from duty.ports import (
    DutyRepository,
    NoticeDirectory,
    OpenTip,
    ShiftRecord,
    SwapRequest,
    SwapState,
    TipSource,
)
from duty.schedule import (
    build_shift,
    coverage_gaps,
    next_shift,
    previous_shift,
    shifts_at,
    shifts_between,
)
from duty.sla import SlaReport, sla_report
from groups.access import RoleService, ScopeCatalog
from groups.roles import Permission, Principal, Role, Scope
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import InvalidInput, NotFound, PermissionDenied

HANDOVER_WINDOW = timedelta(hours=2)  # a shift change older than this (bot was down) is skipped
MAX_SCHEDULE_DAYS = 31
MAX_UNAVAILABLE_DAYS = 92


@dataclass(frozen=True, slots=True)
class Routing:
    """Who gets the cards for a new alert."""

    alert: Alert
    team: Team | None
    recipients: tuple[int, ...]  # private chats
    chat_id: int | None  # or one officers' duty group
    duplicate: bool = False  # already routed: send nothing


@dataclass(frozen=True, slots=True)
class EscalationDue:
    alert: Alert
    level: Level
    recipients: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Handover:
    team: Team
    incoming: Shift
    outgoing: Shift | None
    open_tips: tuple[OpenTip, ...]
    escalated: tuple[Alert, ...]
    owners: dict[str, int]  # tip id -> who acknowledged it

    @property
    def recipients(self) -> tuple[int, ...]:
        out: list[int] = []
        for uid in (*(self.outgoing.operators if self.outgoing else ()), *self.incoming.operators):
            if uid not in out:
                out.append(uid)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class CoverageWarning:
    team: Team
    gaps: tuple[Shift, ...]
    recipients: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UnavailableResult:
    record: Unavailability
    affected: tuple[Shift, ...]  # shifts the person was on, as now filled


def alert_id(tip: TipRef) -> str:
    """A new tip has one alert whatever happens (a re-delivered event finds it taken);
    each thread message gets its own. Short enough for callback data."""
    if tip.kind is AlertKind.TIP:
        return "t" + hashlib.sha256(tip.tip_id.encode()).hexdigest()[:20]
    return "m" + uuid.uuid4().hex[:20]


class DutyService:
    def __init__(
        self,
        repo: DutyRepository,
        roles: RoleService,
        catalog: ScopeCatalog,
        tips: TipSource,
        notices: NoticeDirectory,
        audit: AuditLog,
        clock: Clock,
        *,
        default_tz: str = "Asia/Shanghai",
        coverage_hour: int = 9,
        coverage_horizon_h: int = 72,
        reminder_min: int = 30,
    ) -> None:
        self.repo = repo
        self.roles = roles
        self.catalog = catalog
        self.tips = tips
        self.notices = notices
        self.audit = audit
        self.clock = clock
        self.default_tz = default_tz
        self.coverage_hour = coverage_hour
        self.coverage_horizon = timedelta(hours=coverage_horizon_h)
        self.reminder = timedelta(minutes=reminder_min)

    # ------------------------------------------------------------------ teams

    async def _audit(self, actor: int | None, action: str, obj: str, **details: object) -> None:
        await self.audit.record(
            AuditEntry(actor, action, "duty_team", obj, self.clock.now(), dict(details))
        )

    async def team(self, code: str) -> Team:
        team = await self.repo.get_team(code.strip().lower()[:32])
        if team is None:
            raise NotFound("duty.unknown_team", team=code[:32])
        return team

    async def teams(self) -> list[Team]:
        return await self.repo.list_teams()

    def _check_manage(self, actor: Principal, team: Team) -> None:
        if not actor.can(Permission.MANAGE_DUTY, Scope(team.sector, team.area)):
            raise PermissionDenied("duty.outside_scope", scope=team.scope_label())

    async def create_team(
        self,
        actor: Principal,
        code: str,
        tz: str,
        patterns: tuple[ShiftPattern, ...],
        per_shift: int,
        sector: str | None = None,
        area: str | None = None,
    ) -> Team:
        if sector is None and area is None and not actor.is_superadmin:
            managed = [g.scope for g in actor.grants if g.role is Role.MANAGER]
            if len(managed) == 1:
                sector, area = managed[0].sector, managed[0].area
        zone(tz)
        now = self.clock.now()
        team = Team(
            code=code.strip().lower(),
            name=code.strip(),
            tz=tz,
            patterns=patterns,
            per_shift=per_shift,
            # From yesterday, so that a night shift already running is covered too.
            start_date=now.astimezone(zone(tz)).date() - timedelta(days=1),
            managers=(actor.user_id,),
            sector=sector,
            area=area,
            created_by=actor.user_id,
            created_at=now,
        )
        self._check_manage(actor, team)
        if sector is not None and not await self.catalog.sector_exists(sector):
            raise InvalidInput("roles.unknown_sector", sector=sector)
        if area is not None and not await self.catalog.area_exists(area):
            raise InvalidInput("roles.unknown_area", area=area)
        if not await self.repo.add_team(team):
            raise InvalidInput("duty.team_exists", team=team.code)
        await self._audit(actor.user_id, "duty.team_create", team.code, sector=sector, area=area)
        return team

    async def update_team(self, actor: Principal, code: str, **changes: object) -> Team:
        team = await self.team(code)
        self._check_manage(actor, team)
        try:
            updated = replace(team, **changes)  # type: ignore[arg-type]
        except TypeError as exc:
            raise InvalidInput("duty.set_usage") from exc
        for field in ("operators", "managers"):
            people = changes.get(field)
            if isinstance(people, tuple):
                for uid in people:
                    await self._check_officer(updated, uid)
        await self.repo.save_team(updated)
        await self._audit(
            actor.user_id,
            "duty.team_update",
            team.code,
            fields=sorted(changes),
        )
        return updated

    async def _check_officer(self, team: Team, uid: int) -> None:
        """Only people who may handle tips in the team's scope go on its rota or backup."""
        p = await self.roles.principal(uid)
        if not p.can(Permission.HANDLE_TIPS, Scope(team.sector, team.area)):
            raise InvalidInput("duty.not_operator", user_id=uid)

    async def delete_team(self, actor: Principal, code: str) -> None:
        team = await self.team(code)
        self._check_manage(actor, team)
        await self.repo.delete_team(team.code)
        await self._audit(actor.user_id, "duty.team_delete", team.code)

    # --------------------------------------------------------------- schedule

    async def _inputs(
        self, team: Team, start: datetime, end: datetime
    ) -> tuple[list[Adjustment], list[Unavailability]]:
        pad = timedelta(days=2)
        return (
            await self.repo.adjustments(team.code),
            await self.repo.unavailability(start - pad, end + pad),
        )

    async def schedule(self, team: Team, start: datetime, end: datetime) -> list[Shift]:
        adj, unav = await self._inputs(team, start, end)
        return shifts_between(team, start, end, adj, unav)

    async def now_and_next(self, team: Team) -> tuple[list[Shift], Shift | None]:
        now = self.clock.now()
        adj, unav = await self._inputs(team, now - timedelta(days=1), now + timedelta(days=3))
        return shifts_at(team, now, adj, unav), next_shift(team, now, adj, unav)

    async def shift(self, team: Team, day: date, index: int) -> Shift:
        if not (0 <= index < len(team.patterns)) or day < team.start_date:
            raise InvalidInput("duty.no_such_shift", team=team.code)
        probe = build_shift(team, day, index)
        adj, unav = await self._inputs(team, probe.start, probe.end)
        return build_shift(team, day, index, adj, unav)

    def find_index(self, team: Team, hhmm: time | int) -> int:
        if isinstance(hhmm, int):
            if 1 <= hhmm <= len(team.patterns):
                return hhmm - 1
        else:
            for i, p in enumerate(team.patterns):
                if p.start == hhmm:
                    return i
        raise InvalidInput("duty.no_such_shift", team=team.code)

    async def on_duty(self, team: Team, when: datetime | None = None) -> tuple[int, ...]:
        now = when or self.clock.now()
        seen: list[int] = []
        for s in await self.schedule(team, now - timedelta(minutes=1), now + timedelta(minutes=1)):
            if s.contains(now):
                seen.extend(u for u in s.operators if u not in seen)
        return tuple(seen)

    async def my_shifts(self, user_id: int, days: int) -> list[Shift]:
        now = self.clock.now()
        out: list[Shift] = []
        for team in await self.repo.list_teams():
            for s in await self.schedule(team, now, now + timedelta(days=days)):
                if user_id in s.operators:
                    out.append(s)
        out.sort(key=lambda s: s.start)
        return out

    async def assign(
        self,
        actor: Principal,
        team: Team,
        day: date,
        index: int,
        user_in: int,
        user_out: int | None,
    ) -> Shift:
        self._check_manage(actor, team)
        shift = await self.shift(team, day, index)
        if shift.end <= self.clock.now():
            raise InvalidInput("duty.shift_past")
        if user_out is not None and user_out not in shift.operators:
            raise InvalidInput("duty.not_on_shift", user_id=user_out)
        if user_in in shift.operators:
            raise InvalidInput("duty.already_on_shift", user_id=user_in)
        await self._check_officer(team, user_in)
        adj = Adjustment(
            team.code,
            shift.key,
            user_in,
            user_out,
            AdjustKind.ASSIGN,
            actor.user_id,
            self.clock.now(),
        )
        await self.repo.add_adjustment(adj)
        await self._audit(
            actor.user_id,
            "duty.assign",
            team.code,
            shift=shift.key,
            user_in=user_in,
            user_out=user_out,
        )
        return await self.shift(team, day, index)

    # ------------------------------------------------------------------ swaps

    async def request_swap(
        self,
        requester: int,
        team: Team,
        give: tuple[date, int],
        partner: int,
        take: tuple[date, int] | None,
    ) -> SwapRequest:
        if partner == requester:
            raise InvalidInput("duty.swap_self")
        now = self.clock.now()
        give_shift = await self.shift(team, *give)
        if give_shift.start <= now:
            raise InvalidInput("duty.shift_past")
        if requester not in give_shift.operators:
            raise InvalidInput("duty.not_your_shift")
        if partner in give_shift.operators:
            raise InvalidInput("duty.already_on_shift", user_id=partner)
        if partner not in team.operators:
            raise InvalidInput("duty.not_in_team", user_id=partner, team=team.code)
        take_key = None
        if take is not None:
            take_shift = await self.shift(team, *take)
            if take_shift.start <= now:
                raise InvalidInput("duty.shift_past")
            if partner not in take_shift.operators:
                raise InvalidInput("duty.partner_not_on_shift", user_id=partner)
            if requester in take_shift.operators or take_shift.key == give_shift.key:
                raise InvalidInput("duty.already_on_shift", user_id=requester)
            take_key = take_shift.key
        swap = SwapRequest(
            id=uuid.uuid4().hex[:12],
            team=team.code,
            requester=requester,
            partner=partner,
            give_key=give_shift.key,
            take_key=take_key,
            created_at=now,
        )
        await self.repo.add_swap(swap)
        await self._audit(requester, "duty.swap_request", team.code, swap=swap.id)
        return swap

    async def answer_swap(self, user_id: int, swap_id: str, accept: bool) -> SwapRequest:
        swap = await self.repo.get_swap(swap_id)
        if swap is None:
            raise NotFound("duty.swap_unknown")
        if user_id != swap.partner:
            raise PermissionDenied("duty.swap_not_yours")
        if swap.state is not SwapState.PENDING:
            raise InvalidInput("duty.swap_settled")
        team = await self.team(swap.team)
        now = self.clock.now()
        if accept:
            # Re-check against the schedule as it is now: it may have changed meanwhile.
            for key, who in ((swap.give_key, swap.requester), (swap.take_key, swap.partner)):
                if key is None:
                    continue
                parsed = parse_shift_key(key)
                assert parsed is not None
                s = await self.shift(team, parsed[1], parsed[2])
                if who not in s.operators or s.start <= now:
                    await self.repo.settle_swap(swap.id, SwapState.CANCELLED, now)
                    raise InvalidInput("duty.swap_outdated")
        settled = await self.repo.settle_swap(
            swap.id, SwapState.ACCEPTED if accept else SwapState.DECLINED, now
        )
        if settled is None:
            raise InvalidInput("duty.swap_settled")
        if accept:
            await self.repo.add_adjustment(
                Adjustment(
                    team.code,
                    swap.give_key,
                    swap.partner,
                    swap.requester,
                    AdjustKind.SWAP,
                    user_id,
                    now,
                )
            )
            if swap.take_key is not None:
                await self.repo.add_adjustment(
                    Adjustment(
                        team.code,
                        swap.take_key,
                        swap.requester,
                        swap.partner,
                        AdjustKind.SWAP,
                        user_id,
                        now,
                    )
                )
        await self._audit(
            user_id, "duty.swap_accept" if accept else "duty.swap_decline", team.code, swap=swap.id
        )
        return settled

    # ---------------------------------------------------------- unavailability

    async def mark_unavailable(
        self, user_id: int, first: date, last: date, reason: str = ""
    ) -> UnavailableResult:
        if last < first or (last - first).days >= MAX_UNAVAILABLE_DAYS:
            raise InvalidInput("duty.bad_range", max=MAX_UNAVAILABLE_DAYS)
        tz = zone(self.default_tz)
        teams = [t for t in await self.repo.list_teams() if user_id in t.operators]
        if not teams:
            raise InvalidInput("duty.not_in_any_team")
        start = datetime.combine(first, time(0), tzinfo=tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
        if end <= self.clock.now():
            raise InvalidInput("duty.bad_range", max=MAX_UNAVAILABLE_DAYS)
        record = Unavailability(user_id, start, end, uuid.uuid4().hex[:12], reason[:200])
        # What the person would have worked, before the record exists.
        before: list[Shift] = []
        for team in teams:
            before.extend(
                s for s in await self.schedule(team, start, end) if user_id in s.operators
            )
        await self.repo.add_unavailability(record)
        affected: list[Shift] = []
        for s in before:
            team = next(t for t in teams if t.code == s.team)
            affected.append(await self.shift(team, s.day, s.index))
        await self.audit.record(
            AuditEntry(
                user_id,
                "duty.unavailable",
                "user",
                str(user_id),
                self.clock.now(),
                {"start": start.isoformat(), "end": end.isoformat()},
            )
        )
        return UnavailableResult(record, tuple(sorted(affected, key=lambda s: s.start)))

    async def clear_unavailable(self, user_id: int) -> int:
        return await self.repo.clear_unavailability(user_id, self.clock.now())

    # ---------------------------------------------------------------- routing

    def team_for(self, teams: Sequence[Team], sector: str | None, area: str | None) -> Team | None:
        matching = [t for t in teams if t.covers(sector, area)]
        if not matching:
            return None
        return sorted(matching, key=lambda t: (-t.specificity, t.code))[0]

    async def route(self, tip: TipRef) -> Routing:
        team = self.team_for(await self.repo.list_teams(), tip.sector, tip.area)
        now = self.clock.now()
        policy = team.policy if team else EscalationPolicy()
        recipients: tuple[int, ...] = ()
        chat_id = None
        if team is not None:
            if team.duty_chat_id is not None:
                chat_id = team.duty_chat_id
            else:
                recipients = await self.on_duty(team, now)
        if tip.kind is AlertKind.MESSAGE and chat_id is None:
            # A new message on a tip someone owns: the owner sees it too.
            owner = await self.owner_of(tip.tip_id)
            if owner is not None and owner not in recipients:
                recipients = (*recipients, owner)
        nobody = chat_id is None and not recipients
        alert = Alert(
            id=alert_id(tip),
            tip_id=tip.tip_id,
            code=tip.code,
            kind=tip.kind,
            team=team.code if team else None,
            notice_id=tip.notice_id,
            sector=tip.sector,
            area=tip.area,
            created_at=now,
            policy=policy,
            next_level=Level.BACKUP,
            # Nobody on duty: the backup level is due at once.
            due=now if nobody else due_for(now, policy, Level.BACKUP),
            steps=(Step(Level.DUTY, now, recipients),),
            message_id=tip.message_id,
        )
        if not await self.repo.add_alert(alert):
            # The same tip event delivered twice: route it once.
            return Routing(alert, team, (), None, duplicate=True)
        return Routing(alert, team, recipients, chat_id)

    async def owner_of(self, tip_id: str) -> int | None:
        for a in await self.repo.alerts_for_tip(tip_id):
            if a.kind is AlertKind.TIP and a.acked_by is not None:
                return a.acked_by
        return None

    async def record_card(self, alert_id: str, chat_id: int, message_id: int) -> None:
        await self.repo.add_card(alert_id, Card(chat_id, message_id))

    async def unreachable(self, alert_id: str) -> None:
        """No card of the duty level could be delivered: escalate without waiting."""
        await self.repo.expedite(alert_id, self.clock.now())

    async def next_due(self) -> datetime | None:
        return await self.repo.next_due()

    async def backup_for(
        self, team: Team | None, sector: str | None, area: str | None
    ) -> list[int]:
        if team is not None and team.managers:
            return list(team.managers)
        scope = Scope(sector, area)
        out = [
            g.user_id
            for g in await self.roles.holders(Role.MANAGER)
            if g.role is Role.MANAGER and g.scope.covers(scope)
        ]
        for uid in sorted(self.roles.superadmin_ids):
            if uid not in out:
                out.append(uid)
        return out

    async def claim_escalations(self, limit: int = 100) -> list[EscalationDue]:
        """Take every due escalation step (each exactly once) and say who to notify."""
        now = self.clock.now()
        out: list[EscalationDue] = []
        teams = {t.code: t for t in await self.repo.list_teams()}
        for _ in range(limit):
            claimed = await self.repo.claim_step(now)
            if claimed is None:
                break
            alert, level = claimed
            if alert.kind is AlertKind.TIP and await self.tips.is_handled(alert.tip_id):
                await self.repo.cancel_alert(alert.id)
                continue
            team = teams.get(alert.team or "")
            if level is Level.BACKUP:
                people = await self.backup_for(team, alert.sector, alert.area)
            else:
                people = (
                    await self.notices.investigators(alert.notice_id) if alert.notice_id else []
                )
                if not people:
                    people = await self.backup_for(None, alert.sector, alert.area)
            recipients = tuple(dict.fromkeys(people))
            step = Step(level, now, recipients)
            await self.repo.add_step(alert.id, step)
            await self.audit.record(
                AuditEntry(
                    None,
                    "duty.escalate",
                    "tip",
                    alert.tip_id,
                    now,
                    {"alert": alert.id, "level": int(level), "recipients": list(recipients)},
                )
            )
            out.append(EscalationDue(replace(alert, steps=(*alert.steps, step)), level, recipients))
        return out

    async def may_acknowledge(self, principal: Principal, alert: Alert) -> bool:
        scope = Scope(alert.sector, alert.area)
        team = await self.repo.get_team(alert.team) if alert.team else None
        if team is not None:
            scope = Scope(team.sector, team.area)
        if principal.can(Permission.MANAGE_DUTY, scope):
            return True
        if not principal.can(Permission.HANDLE_TIPS):
            return False
        if team is not None and principal.user_id in await self.on_duty(team):
            return True
        if alert.kind is AlertKind.MESSAGE and principal.user_id == await self.owner_of(
            alert.tip_id
        ):
            return True
        # Whoever an escalation step asked to step in may take it.
        escalated = {u for s in alert.steps if s.level >= Level.BACKUP for u in s.recipients}
        return principal.user_id in escalated

    async def acknowledge(self, principal: Principal, alert_id: str) -> Alert:
        alert = await self.repo.get_alert(alert_id)
        if alert is None:
            raise NotFound("duty.alert_unknown")
        if alert.state is AlertState.ACKNOWLEDGED:
            raise InvalidInput("duty.already_taken_short")
        if alert.state is not AlertState.OPEN:
            raise InvalidInput("duty.alert_closed")
        if not await self.may_acknowledge(principal, alert):
            raise PermissionDenied("duty.ack_refused")
        now = self.clock.now()
        taken = await self.repo.acknowledge(alert.id, principal.user_id, now)
        if taken is None:
            raise InvalidInput("duty.already_taken_short")
        if alert.kind is AlertKind.TIP:
            await self.tips.mark_acknowledged(alert.tip_id, principal.user_id)
        await self.audit.record(
            AuditEntry(
                principal.user_id,
                "duty.acknowledge",
                "tip",
                alert.tip_id,
                now,
                {"alert": alert.id, "seconds": (now - alert.created_at).total_seconds()},
            )
        )
        return taken

    # ------------------------------------------------------ handover, coverage

    async def due_handovers(self) -> list[Handover]:
        now = self.clock.now()
        out: list[Handover] = []
        for team in await self.repo.list_teams():
            adj, unav = await self._inputs(team, now - timedelta(days=1), now)
            for shift in shifts_at(team, now, adj, unav):
                if now - shift.start > HANDOVER_WINDOW:
                    continue
                record = ShiftRecord(
                    shift.key, team.code, shift.start, shift.end, shift.operators, shift.required
                )
                if not await self.repo.claim_shift(record, now):
                    continue
                prev = previous_shift(team, shift)
                outgoing = build_shift(team, prev[0], prev[1], adj, unav) if prev else None
                open_tips = await self.tips.open_tips(team.sector, team.area)
                escalated: list[Alert] = []
                if outgoing is not None:
                    escalated = await self.repo.escalated_between(
                        team.code, outgoing.start, outgoing.end
                    )
                owners: dict[str, int] = {}
                for tip in open_tips:
                    for a in await self.repo.alerts_for_tip(tip.tip_id):
                        if a.acked_by is not None and a.kind is AlertKind.TIP:
                            owners[tip.tip_id] = a.acked_by
                out.append(
                    Handover(team, shift, outgoing, tuple(open_tips), tuple(escalated), owners)
                )
        return out

    async def due_reminders(self) -> list[tuple[Team, Shift]]:
        """Shifts starting within the reminder lead time, each reminded once."""
        if self.reminder <= timedelta(0):
            return []
        now = self.clock.now()
        out: list[tuple[Team, Shift]] = []
        for team in await self.repo.list_teams():
            adj, unav = await self._inputs(team, now, now + timedelta(days=1))
            nxt = next_shift(team, now, adj, unav)
            if nxt is None or nxt.start - now > self.reminder or not nxt.operators:
                continue
            if await self.repo.claim_run(f"remind:{nxt.key}", now):
                out.append((team, nxt))
        return out

    async def next_changes(self) -> list[datetime]:
        """When the next shift changes (and their reminders) are due, for early wake-ups."""
        now = self.clock.now()
        out: set[datetime] = set()
        for team in await self.repo.list_teams():
            nxt = next_shift(team, now)
            if nxt is None:
                continue
            out.add(nxt.start)
            if self.reminder > timedelta(0) and nxt.start - self.reminder > now:
                out.add(nxt.start - self.reminder)
        return sorted(out)

    async def due_coverage_warnings(self) -> list[CoverageWarning]:
        now = self.clock.now()
        out: list[CoverageWarning] = []
        for team in await self.repo.list_teams():
            local = now.astimezone(team.zone)
            if local.hour < self.coverage_hour:
                continue
            if not await self.repo.claim_run(f"coverage:{team.code}:{local.date()}", now):
                continue
            gaps = coverage_gaps(await self.schedule(team, now, now + self.coverage_horizon))
            if gaps:
                recipients = await self.backup_for(team, team.sector, team.area)
                out.append(CoverageWarning(team, tuple(gaps), tuple(recipients)))
        return out

    # -------------------------------------------------------------------- SLA

    async def sla(self, actor: Principal, days: int) -> SlaReport:
        if not (1 <= days <= 366):
            raise InvalidInput("duty.bad_days", max=366)
        now = self.clock.now()
        start = now - timedelta(days=days)
        visible = {
            t.code
            for t in await self.repo.list_teams()
            if actor.can(Permission.MANAGE_DUTY, Scope(t.sector, t.area))
        }
        alerts = [
            a
            for a in await self.repo.alerts_between(start, now)
            if (a.team in visible) or actor.can(Permission.MANAGE_DUTY, Scope(a.sector, a.area))
        ]
        gaps: dict[str, int] = {}
        for rec in await self.repo.shift_records(start, now):
            if rec.team in visible and rec.gap > 0:
                gaps[rec.team] = gaps.get(rec.team, 0) + 1
        return sla_report(alerts, gaps)

    def shift_for_key(self, team: Team, key: str) -> tuple[date, int]:
        parsed = parse_shift_key(key)
        if parsed is None or parsed[0] != team.code:
            raise InvalidInput("duty.no_such_shift", team=team.code)
        return parsed[1], parsed[2]

    @staticmethod
    def key_of(team: Team, day: date, index: int) -> str:
        return shift_key(team.code, day, index)
