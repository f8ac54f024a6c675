"""Live updates: one MongoDB change stream per process, fanned out to browsers over SSE.

``LiveHub`` reads one change stream (``storage.changes``) over the collections pages need
(``LIVE_COLLECTIONS``) and hands each change to every subscriber of a topic that covers
its collection. Each browser connection (``GET /live?topic=...``) is one subscriber with
a bounded queue: a browser that falls behind loses its backlog and gets a ``reload`` event
instead of growing the process's memory. The stream's resume token is saved in MongoDB
(``console_live``), so a restarted process continues where it stopped.

Pages declare topics (``Topic``) with the permission needed to subscribe and an optional
per-officer filter; the SSE endpoint drops events the officer may not see. What reaches
the browser is a notification, never the document itself::

    event: tips
    id: <resume token>
    data: {"topic": "tips", "op": "insert", "id": "<document _id>"}

and the page fetches what changed through an ordinary (permission-checked) request, e.g.
``<tbody hx-get="/tips/rows" hx-trigger="sse:tips">``. Two more events exist: ``reload``
(the browser missed events that cannot be replayed: reload the page) and ``signed_out``.
A reconnecting browser sends ``Last-Event-ID``; the events it missed are replayed from the
database (or it gets ``reload`` when they are too many or gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from console.viewer import Requirement, Viewer
from storage.changes import Change, ResumeLost

log = logging.getLogger("six_circles.console.live")

# What the console's pages watch. A topic may only use collections listed here; adding one
# is a one-line change (never a collection with identities: storage.changes refuses those).
LIVE_COLLECTIONS: tuple[str, ...] = (
    "tips",
    "tip_messages",
    "deliveries",
    "notices",
    "duty_alerts",
    "rewards",
)

QUEUE_SIZE = 256  # events waiting for one browser before it is told to reload
REPLAY_LIMIT = 500  # most missed events replayed to a reconnecting browser


class Reload:
    """Marker: the subscriber lost events; the page should reload."""


class Closed:
    """Marker: the hub is stopping; end the stream."""


RELOAD: Final = Reload()
CLOSED: Final = Closed()


@dataclass(frozen=True, slots=True)
class LiveEvent:
    topic: str
    change: Change

    @property
    def id(self) -> str:
        return self.change.token

    @property
    def op(self) -> str:
        return self.change.op

    @property
    def doc_id(self) -> str:
        return self.change.doc_id

    @property
    def collection(self) -> str:
        return self.change.collection

    @property
    def document(self) -> Mapping[str, Any] | None:
        """The document after the change (None for a delete). Server-side only."""
        return self.change.document

    @property
    def at(self) -> datetime | None:
        return self.change.at


Visible = Callable[[LiveEvent, Viewer], bool | Awaitable[bool]]
Describe = Callable[[LiveEvent], Mapping[str, Any]]


def default_payload(event: LiveEvent) -> Mapping[str, Any]:
    return {"topic": event.topic, "op": event.op, "id": event.doc_id}


@dataclass(frozen=True, slots=True)
class Topic:
    """A stream of changes a page subscribes to.

    ``permission``: who may subscribe (as a route's ``perm``; None: any officer).
    ``visible(event, viewer)``: whether this officer may learn of this change (e.g. a tip
    outside their scope: False); may be async; None lets every event through.
    ``payload(event)``: the JSON sent to the browser; keep it to ids and kinds.
    ``coalesce_s``: changes with the same ``key(event)`` (default: the document) reach a
    browser at most once per this many seconds: the first at once, then the latest of
    those that came meanwhile at the end of the period (a delivery to 1,000 groups makes
    one event a second per notice, not thousands). 0: every change is sent.
    """

    name: str
    collections: tuple[str, ...]
    permission: Requirement = None
    visible: Visible | None = None
    payload: Describe = default_payload
    coalesce_s: float = 0.0
    key: Callable[[LiveEvent], str] | None = None


class Cursor(Protocol):
    async def next(self) -> Change | None: ...

    @property
    def token(self) -> str | None: ...

    async def close(self) -> None: ...


class ChangeFeed(Protocol):
    collections: tuple[str, ...]

    async def open(
        self, resume_after: str | None = None, *, max_await_ms: int | None = None
    ) -> Cursor: ...


class Positions(Protocol):
    async def load(self, name: str) -> str | None: ...

    async def save(self, name: str, token: str) -> None: ...


class TooFarBehind(Exception):
    """More events were missed than a replay sends."""


class Subscription:
    """One subscriber's bounded queue of events (``LiveHub.subscribe``)."""

    def __init__(self, hub: LiveHub, topics: frozenset[str], maxsize: int) -> None:
        self.topics = topics
        self._hub = hub
        self._queue: asyncio.Queue[LiveEvent | Reload | Closed] = asyncio.Queue(maxsize)
        self.dropped = 0

    def push(self, item: LiveEvent | Reload | Closed) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # Too slow: forget the backlog, tell the browser to reload.
            while not self._queue.empty():
                self._queue.get_nowait()
                self.dropped += 1
            self._queue.put_nowait(CLOSED if isinstance(item, Closed) else RELOAD)

    async def get(self) -> LiveEvent | Reload | Closed:
        return await self._queue.get()

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._hub._subscribers.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Saver:
    every_s: float
    idle_every_s: float
    saved: str | None = None
    saved_at: float = field(default_factory=time.monotonic)


class LiveHub:
    def __init__(
        self,
        feed: ChangeFeed,
        positions: Positions | None,
        name: str,
        *,
        queue_size: int = QUEUE_SIZE,
        save_every_s: float = 1.0,
        idle_save_every_s: float = 30.0,
        retry_s: float = 1.0,
    ) -> None:
        self.feed = feed
        self.name = name
        self._positions = positions
        self._queue_size = queue_size
        self._retry_s = retry_s
        self._topics: dict[str, Topic] = {}
        self._by_collection: dict[str, list[Topic]] = {}
        self._subscribers: set[Subscription] = set()
        self._saver = _Saver(save_every_s, idle_save_every_s)
        self._token: str | None = None
        self._token_is_event = False
        self._task: asyncio.Task[None] | None = None
        self._cursor: Cursor | None = None
        self.delivered = 0  # changes read (for tests and logs)

    # ---- topics and subscribers ----------------------------------------------------------

    def add_topic(self, topic: Topic) -> None:
        if topic.name in self._topics:
            raise ValueError(f"live topic {topic.name!r} declared twice")
        missing = set(topic.collections) - set(self.feed.collections)
        if missing:
            raise ValueError(
                f"live topic {topic.name!r} needs {sorted(missing)} watched: add them to "
                "console.live.LIVE_COLLECTIONS"
            )
        self._topics[topic.name] = topic
        for coll in topic.collections:
            self._by_collection.setdefault(coll, []).append(topic)

    def topic(self, name: str) -> Topic | None:
        return self._topics.get(name)

    @property
    def topics(self) -> Mapping[str, Topic]:
        return dict(self._topics)

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        names = frozenset(topics)
        unknown = names - self._topics.keys()
        if unknown:
            raise KeyError(f"unknown live topics: {sorted(unknown)}")
        sub = Subscription(self, names, self._queue_size)
        self._subscribers.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _events(self, change: Change, topics: frozenset[str] | None = None) -> list[LiveEvent]:
        return [
            LiveEvent(t.name, change)
            for t in self._by_collection.get(change.collection, ())
            if topics is None or t.name in topics
        ]

    def _dispatch(self, change: Change) -> None:
        events = self._events(change)
        if not events:
            return
        for sub in list(self._subscribers):
            for event in events:
                if event.topic in sub.topics:
                    sub.push(event)

    def _broadcast(self, item: Reload | Closed) -> None:
        for sub in list(self._subscribers):
            sub.push(item)

    # ---- the stream ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def token(self) -> str | None:
        """Where the stream is (the last change read, or the stream's position)."""
        return self._token

    async def _open(self) -> Cursor:
        if self._token is not None:
            try:
                return await self.feed.open(self._token)
            except ResumeLost as exc:
                log.warning("live: cannot resume (%s); starting from now", exc)
                self._token = None
                self._broadcast(RELOAD)
        return await self.feed.open()

    async def start(self) -> None:
        """Open the stream (changes from now on are seen, or from the saved position)."""
        if self.running:
            return
        if self._positions is not None and self._token is None:
            self._token = await self._positions.load(self.name)
        cursor = await self._open()
        self._cursor = cursor
        if self._token is None:  # a first start: remember "from here" at once
            self._token, self._token_is_event = cursor.token, False
            await self._save(force=True)
        self._task = asyncio.create_task(self._run(cursor), name=f"live-hub:{self.name}")

    async def stop(self) -> None:
        """Stop reading, save the position, end every subscriber's stream."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            with contextlib.suppress(Exception):
                await cursor.close()
        await self._save(force=True)
        self._broadcast(CLOSED)

    def close_subscribers(self) -> None:
        """End every subscriber's stream (the web server is shutting down)."""
        self._broadcast(CLOSED)

    async def _run(self, cursor: Cursor | None) -> None:
        while True:
            try:
                if cursor is None:
                    cursor = await self._open()
                    self._cursor = cursor
                while True:
                    change = await cursor.next()
                    if change is not None:
                        self.delivered += 1
                        self._token, self._token_is_event = change.token, True
                        self._dispatch(change)
                    else:
                        position = cursor.token
                        if position is not None and position != self._token:
                            self._token, self._token_is_event = position, False
                    await self._save()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live: change stream failed; reopening in %.1f s", self._retry_s)
                if cursor is not None:
                    with contextlib.suppress(Exception):
                        await cursor.close()
                cursor = self._cursor = None
                await asyncio.sleep(self._retry_s)

    async def _save(self, *, force: bool = False) -> None:
        saver = self._saver
        token = self._token
        if self._positions is None or token is None or token == saver.saved:
            return
        waited = time.monotonic() - saver.saved_at
        due = saver.every_s if self._token_is_event else saver.idle_every_s
        if not force and waited < due:
            return
        try:
            await self._positions.save(self.name, token)
        except Exception:
            if force:
                log.exception("live: could not save the stream position")
            return
        saver.saved, saver.saved_at = token, time.monotonic()

    # ---- catching up a reconnecting browser -----------------------------------------------

    async def replay(
        self, after: str, topics: Iterable[str], *, limit: int = REPLAY_LIMIT
    ) -> list[LiveEvent]:
        """The events of ``topics`` after the change ``after`` up to now (``ResumeLost``
        when the database no longer has them, ``TooFarBehind`` past ``limit``)."""
        names = frozenset(topics)
        cursor = await self.feed.open(after, max_await_ms=20)
        events: list[LiveEvent] = []
        read = 0
        try:
            while True:
                change = await cursor.next()
                if change is None:
                    return events
                read += 1
                if read > limit * 4:
                    raise TooFarBehind(after)
                events.extend(self._events(change, names))
                if len(events) > limit:
                    raise TooFarBehind(after)
        finally:
            with contextlib.suppress(Exception):
                await cursor.close()


# ---- the SSE endpoint ----------------------------------------------------------------------


async def is_visible(topic: Topic, event: LiveEvent, viewer: Viewer) -> bool:
    if not viewer.allows(topic.permission):
        return False
    if topic.visible is None:
        return True
    verdict = topic.visible(event, viewer)
    if not isinstance(verdict, bool):
        verdict = await verdict
    return verdict


def encode(topic: Topic, event: LiveEvent) -> str:
    return json.dumps(dict(topic.payload(event)), ensure_ascii=False, default=str)


class Coalescer:
    """One subscriber's held-back events of coalescing topics (``Topic.coalesce_s``)."""

    FORGET_S = 60.0  # keys quiet this long are forgotten (bounded memory)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: dict[tuple[str, str], float] = {}  # when each key last went out
        self._held: dict[tuple[str, str], tuple[float, LiveEvent]] = {}  # due, latest

    def offer(self, topic: Topic, event: LiveEvent) -> LiveEvent | None:
        """The event to send now, or None: held back, ``due()`` hands it out later."""
        if topic.coalesce_s <= 0:
            return event
        key = (topic.name, topic.key(event) if topic.key is not None else event.doc_id)
        now = self._clock()
        held = self._held.get(key)
        if held is not None:
            self._held[key] = (held[0], event)  # the latest one goes out when due
            return None
        last = self._sent.get(key)
        if last is None or now - last >= topic.coalesce_s:
            self._sent[key] = now
            return event
        self._held[key] = (last + topic.coalesce_s, event)
        return None

    def next_due(self) -> float | None:
        """When the next held event is due (on the clock given), None when none is held."""
        return min((due for due, _ in self._held.values()), default=None)

    def due(self) -> list[LiveEvent]:
        """Held events whose time has come, in the order they fell due."""
        now = self._clock()
        ready = sorted((due, key) for key, (due, _) in self._held.items() if due <= now)
        out: list[LiveEvent] = []
        for _, key in ready:
            out.append(self._held.pop(key)[1])
            self._sent[key] = now
        for key, at in list(self._sent.items()):
            if now - at > self.FORGET_S and key not in self._held:
                del self._sent[key]
        return out
