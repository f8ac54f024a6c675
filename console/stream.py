"""``GET /live?topic=a,b``: the Server-Sent Events stream a page subscribes to.

The base layout connects to it (htmx SSE extension) when the page's route declares
``live=(...)`` topics. The subscriber's officer is read again from the database before
events are delivered (at most every ``EVENT_RECHECK_S``) and every ``RECHECK_S`` while
idle: a signed-out or revoked officer gets ``signed_out`` and the stream ends. Topics
that coalesce (``Topic.coalesce_s``) send at most one event per key and period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from console.auth import load_viewer
from console.cookies import SESSION_COOKIE
from console.errors import Forbidden
from console.keys import HUB, SERVICES
from console.live import (
    CLOSED,
    RELOAD,
    Coalescer,
    LiveEvent,
    TooFarBehind,
    Topic,
    encode,
    is_visible,
)
from console.render import signed_out_url
from console.routing import PageRouter
from console.viewer import Viewer
from storage.changes import ResumeLost

PING_S = 15.0
SEND_TIMEOUT_S = 30.0
RECHECK_S = 15.0  # re-read the officer this often while no event comes
EVENT_RECHECK_S = 2.0  # ... and before delivering an event, if older than this
RETRY_MS = 2000  # the browser reconnects after this long
MAX_TOPICS = 16

router = PageRouter()


class _Officer:
    """The subscriber's officer, re-read from the database when due."""

    def __init__(self, request: web.Request, viewer: Viewer) -> None:
        self._request = request
        self.viewer: Viewer | None = viewer
        self.why = ""
        self._loop = asyncio.get_running_loop()
        self._checked = self._loop.time()

    async def current(self, max_age: float) -> Viewer | None:
        if self.viewer is not None and self._loop.time() - self._checked >= max_age:
            cookie = self._request.cookies.get(SESSION_COOKIE, "")
            self.viewer, self.why = await load_viewer(self._request.app[SERVICES], cookie)
            self._checked = self._loop.time()
        return self.viewer


async def _signed_out(request: web.Request, resp: EventSourceResponse, why: str) -> None:
    await resp.send(json.dumps({"url": signed_out_url(request, why)}), event="signed_out")


async def _send(
    resp: EventSourceResponse, coalescer: Coalescer, topic: Topic, event: LiveEvent
) -> None:
    """Send a visible event now, or leave it to the coalescer (``Topic.coalesce_s``)."""
    if coalescer.offer(topic, event) is not None:
        await resp.send(encode(topic, event), id=event.id, event=event.topic)


@router.get("/live", name="live")
async def live(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    hub = request.app[HUB]
    names = list(
        dict.fromkeys(
            n.strip() for part in request.query.getall("topic", []) for n in part.split(",")
        )
    )
    names = [n for n in names if n]
    if not names or len(names) > MAX_TOPICS:
        raise web.HTTPNotFound()
    topics = {}
    for name in names:
        topic = hub.topic(name)
        if topic is None:
            raise web.HTTPNotFound()
        if not viewer.allows(topic.permission):
            raise Forbidden()
        topics[name] = topic
    officer = _Officer(request, viewer)
    loop = asyncio.get_running_loop()
    coalescer = Coalescer(loop.time)
    with hub.subscribe(names) as sub:
        async with sse_response(
            request,
            ping_interval=PING_S,
            send_timeout=SEND_TIMEOUT_S,
            headers={"X-Accel-Buffering": "no"},
        ) as resp:
            await resp.send("{}", event="hello", retry=RETRY_MS)
            replayed: set[tuple[str, str]] = set()
            last = resp.last_event_id
            if last:
                try:
                    missed = await hub.replay(last, names)
                except (ResumeLost, TooFarBehind):
                    await resp.send("{}", event="reload")
                    missed = []
                for event in missed:
                    replayed.add((event.topic, event.id))
                    if await is_visible(topics[event.topic], event, viewer):
                        await _send(resp, coalescer, topics[event.topic], event)
            closed = asyncio.ensure_future(resp.wait())
            try:
                while True:
                    getter = asyncio.ensure_future(sub.get())
                    wait_s = RECHECK_S
                    due = coalescer.next_due()
                    if due is not None:
                        wait_s = min(wait_s, max(0.0, due - loop.time()))
                    done, _ = await asyncio.wait(
                        {getter, closed}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        if closed in done:
                            break
                        held = coalescer.due()
                        current = await officer.current(EVENT_RECHECK_S if held else RECHECK_S)
                        if current is None:
                            await _signed_out(request, resp, officer.why)
                            break
                        for event in held:
                            topic = topics[event.topic]
                            await resp.send(encode(topic, event), id=event.id, event=event.topic)
                        continue
                    item = getter.result()
                    if item is CLOSED:
                        break
                    if item is RELOAD:
                        await resp.send("{}", event="reload")
                        continue
                    assert isinstance(item, LiveEvent)
                    if (item.topic, item.id) in replayed:
                        replayed.discard((item.topic, item.id))
                        continue
                    current = await officer.current(EVENT_RECHECK_S)
                    if current is None:
                        await _signed_out(request, resp, officer.why)
                        break
                    topic = topics[item.topic]
                    if await is_visible(topic, item, current):
                        await _send(resp, coalescer, topic, item)
            except (ConnectionResetError, TimeoutError):
                pass
            finally:
                closed.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await closed
    return resp
