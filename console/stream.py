"""``GET /live?topic=a,b``: the Server-Sent Events stream a page subscribes to.

The base layout connects to it (htmx SSE extension) when the page's route declares
``live=(...)`` topics. The subscriber's officer is read again from the database before
events are delivered (at most every ``EVENT_RECHECK_S``) and every ``RECHECK_S`` while
idle: a signed-out or revoked officer gets ``signed_out`` and the stream ends.
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
from console.live import CLOSED, RELOAD, LiveEvent, TooFarBehind, encode, is_visible
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
                        await resp.send(
                            encode(topics[event.topic], event), id=event.id, event=event.topic
                        )
            closed = asyncio.ensure_future(resp.wait())
            try:
                while True:
                    getter = asyncio.ensure_future(sub.get())
                    done, _ = await asyncio.wait(
                        {getter, closed}, timeout=RECHECK_S, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        if closed in done:
                            break
                        if await officer.current(0) is None:
                            await _signed_out(request, resp, officer.why)
                            break
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
                        await resp.send(encode(topic, item), id=item.id, event=item.topic)
            except (ConnectionResetError, TimeoutError):
                pass
            finally:
                closed.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await closed
    return resp
