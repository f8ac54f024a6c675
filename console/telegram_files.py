"""Files the bot holds on Telegram (notice photos; tips' media), shown in the console.

The browser never talks to Telegram: a page links to one of the console's own routes, and
that route (after its permission and scope checks, exactly as for the page) calls
``stream_file``. The server asks Telegram where the file is (``getFile``) and streams its
bytes through. So the bot token, which is part of every Telegram file URL, never reaches a
page, the browser's history, a referrer or a log line; and the Content-Security-Policy
still allows images from the console itself only.

    @router.get("/notices/{ref}/photos/{n}", name="notice_photo", perm=Permission.BROADCAST)
    async def photo(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        notice = await monitor.notice(viewer.principal, request.match_info["ref"])
        return await stream_file(request, notice.photos[n].file_id)

``stream_file(request, file_id, *, allowed=IMAGES, download_name=None)``:
  - ``allowed``: content types served as such (inline); anything else is sent as
    ``application/octet-stream`` for download (never rendered by the browser).
  - raises ``kernel.errors.NotFound("console.files.unavailable")`` (a 404 page in the
    officer's language) when Telegram no longer has the file, it is larger than the Bot API
    lets bots download (20 MB), or Telegram cannot be reached; nothing is sent then.
The response is never cached (``Cache-Control: no-store``, as every console page).
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import AsyncGenerator
from pathlib import Path

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiohttp import web

from console.keys import SERVICES
from kernel.errors import NotFound

log = logging.getLogger("six_circles.console.files")

IMAGES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
MAX_BYTES = 20 * 1024 * 1024  # the Bot API's download limit for bots
CHUNK = 64 * 1024
TIMEOUT_S = 30


def content_type(file_path: str) -> str:
    guessed, _ = mimetypes.guess_type(file_path)
    return guessed or "application/octet-stream"


async def _chunks(bot: Bot, file_path: str) -> AsyncGenerator[bytes, None]:
    api = bot.session.api
    if api.is_local:  # a local Bot API server keeps files on a disk this host reads
        path = Path(api.wrap_local_file.to_local(file_path))
        f = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
        finally:
            f.close()
        return
    url = api.file_url(bot.token, file_path)
    async for chunk in bot.session.stream_content(
        url=url, timeout=TIMEOUT_S, chunk_size=CHUNK, raise_for_status=True
    ):
        yield chunk


async def stream_file(
    request: web.Request,
    file_id: str | None,
    *,
    allowed: frozenset[str] = IMAGES,
    download_name: str | None = None,
) -> web.StreamResponse:
    """Stream a Telegram file to the browser (see the module's docstring)."""
    if not file_id:
        raise NotFound("console.files.unavailable")
    bot = request.app[SERVICES].bot
    try:
        found = await bot.get_file(file_id)
    except (TelegramAPIError, aiohttp.ClientError, TimeoutError) as exc:
        log.info("file unavailable: %s", type(exc).__name__)
        raise NotFound("console.files.unavailable") from exc
    if not found.file_path or (found.file_size or 0) > MAX_BYTES:
        raise NotFound("console.files.unavailable")
    kind = content_type(found.file_path)
    chunks = _chunks(bot, found.file_path)
    try:
        first = await anext(chunks, b"")  # fails here, before anything is sent
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.info("file download failed: %s", type(exc).__name__)
        raise NotFound("console.files.unavailable") from exc
    response = web.StreamResponse()
    if kind in allowed:
        response.content_type = kind
        response.headers["Content-Disposition"] = "inline"
    else:
        response.content_type = "application/octet-stream"
        name = download_name or Path(found.file_path).name
        response.headers["Content-Disposition"] = f'attachment; filename="{_safe(name)}"'
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    except (aiohttp.ClientError, TimeoutError, OSError, ConnectionResetError):
        log.info("file download interrupted")
        return response
    finally:
        await chunks.aclose()
    await response.write_eof()
    return response


def _safe(name: str) -> str:
    return "".join(c for c in name if c.isalnum() or c in "._-") or "file"
