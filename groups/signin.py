"""Signing in to the officer web console from the bot: single-use links and sessions.

The bot's ``/console`` gives an officer a link carrying a random token, valid for
``LINK_TTL`` and usable once; only its SHA-256 is stored. Opening the link shows a
confirmation page (a prefetching Telegram client or link scanner does not consume it);
pressing the button consumes it and creates a session. A session is kept on the server
(only the SHA-256 of its id is stored) and names the officer's Telegram id; roles are read
from the database on every request, so a revoked role takes effect at once. ``/console_logout``
ends every session of the officer.

Officers are the holders of any permission but ``SEND_TIPS`` (what members have).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from groups.access import RoleService
from groups.roles import Permission, Principal
from kernel.audit import AuditEntry, AuditLog
from kernel.clock import Clock
from kernel.errors import DomainError, PermissionDenied

LINK_TTL = timedelta(seconds=60)
# A session's last_seen is written at most this often (not on every request).
TOUCH_EVERY = timedelta(seconds=60)
USER_AGENT_CHARS = 300

OFFICER_PERMISSIONS = frozenset(Permission) - {Permission.SEND_TIPS}


def is_officer(principal: Principal) -> bool:
    """Anyone holding a permission beyond what a member has (sending tips)."""
    return bool(principal.permissions() & OFFICER_PERMISSIONS)


def new_secret() -> str:
    """A random URL-safe secret (256 bits)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored instead of a link token or session id."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True, slots=True)
class SignInLink:
    token_hash: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    session_hash: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    last_seen: datetime
    user_agent: str
    csrf_token: str  # sent back with every state-changing request


class SignInRefused(DomainError):
    """A link that cannot sign anyone in; the key says why (unknown, used, expired)."""


class LinkRepository(Protocol):
    async def add(self, link: SignInLink) -> None: ...

    async def get(self, token_hash: str) -> SignInLink | None: ...

    async def consume(self, token_hash: str, now: datetime) -> SignInLink | None:
        """Mark the link used if it is unused and unexpired at ``now``; the link, or None."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: ConsoleSession) -> None: ...

    async def get(self, session_hash: str) -> ConsoleSession | None: ...

    async def touch(self, session_hash: str, now: datetime) -> None: ...

    async def delete(self, session_hash: str) -> bool: ...

    async def delete_user(self, user_id: int) -> int:
        """End every session of ``user_id``; how many there were."""
        ...

    async def of_user(self, user_id: int) -> list[ConsoleSession]: ...


@dataclass(frozen=True, slots=True)
class NewSession:
    session_id: str  # the secret for the cookie; never stored
    session: ConsoleSession


class SignInService:
    def __init__(
        self,
        links: LinkRepository,
        sessions: SessionRepository,
        roles: RoleService,
        audit: AuditLog,
        clock: Clock,
        *,
        session_lifetime: timedelta,
        link_ttl: timedelta = LINK_TTL,
    ) -> None:
        self._links = links
        self._sessions = sessions
        self._roles = roles
        self._audit = audit
        self._clock = clock
        self._lifetime = session_lifetime
        self._link_ttl = link_ttl

    @property
    def session_lifetime(self) -> timedelta:
        return self._lifetime

    async def _record(self, actor: int, action: str, object_id: str, **details: object) -> None:
        await self._audit.record(
            AuditEntry(actor, action, "console_session", object_id, self._clock.now(), details)
        )

    async def issue_link(self, principal: Principal) -> str:
        """A new single-use link token for an officer (the caller of ``/console``)."""
        if not is_officer(principal):
            raise PermissionDenied("console.not_officer")
        token = new_secret()
        now = self._clock.now()
        link = SignInLink(digest(token), principal.user_id, now, now + self._link_ttl)
        await self._links.add(link)
        await self._record(principal.user_id, "console.link", link.token_hash[:12])
        return token

    def _check(self, link: SignInLink | None) -> SignInLink:
        if link is None:
            raise SignInRefused("console.link_unknown")
        if link.used_at is not None:
            raise SignInRefused("console.link_used")
        if link.expires_at <= self._clock.now():
            raise SignInRefused("console.link_expired")
        return link

    async def preview(self, token: str) -> SignInLink:
        """Who a link would sign in, without using it (the page before the button)."""
        return self._check(await self._links.get(digest(token)))

    async def sign_in(self, token: str, user_agent: str) -> NewSession:
        """Use the link once and open a session for its officer (still an officer now)."""
        token_hash = digest(token)
        now = self._clock.now()
        link = await self._links.consume(token_hash, now)
        if link is None:
            self._check(await self._links.get(token_hash))
            raise SignInRefused("console.link_used")  # lost a race with another press
        principal = await self._roles.principal(link.user_id)
        if not is_officer(principal):
            raise PermissionDenied("console.not_officer")
        session_id = new_secret()
        session = ConsoleSession(
            session_hash=digest(session_id),
            user_id=link.user_id,
            created_at=now,
            expires_at=now + self._lifetime,
            last_seen=now,
            user_agent=user_agent[:USER_AGENT_CHARS],
            csrf_token=new_secret(),
        )
        await self._sessions.add(session)
        await self._record(
            link.user_id,
            "console.sign_in",
            session.session_hash[:12],
            user_agent=session.user_agent,
        )
        return NewSession(session_id, session)

    async def session(self, session_id: str) -> ConsoleSession | None:
        """The live session behind a cookie value (None when unknown or expired)."""
        if not session_id or len(session_id) > 128:
            return None
        found = await self._sessions.get(digest(session_id))
        now = self._clock.now()
        if found is None or found.expires_at <= now:
            return None
        if now - found.last_seen >= TOUCH_EVERY:
            await self._sessions.touch(found.session_hash, now)
        return found

    async def sign_out(self, session: ConsoleSession) -> None:
        if await self._sessions.delete(session.session_hash):
            await self._record(session.user_id, "console.sign_out", session.session_hash[:12])

    async def end_sessions_of(self, user_id: int, *, reason: str) -> int:
        """End every session of ``user_id`` (``/console_logout``, lost officer rights...)."""
        ended = await self._sessions.delete_user(user_id)
        await self._record(
            user_id, "console.sign_out_all", str(user_id), ended=ended, reason=reason
        )
        return ended

    async def sessions_of(self, user_id: int) -> list[ConsoleSession]:
        now = self._clock.now()
        return [s for s in await self._sessions.of_user(user_id) if s.expires_at > now]
