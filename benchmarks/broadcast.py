"""Broadcast benchmark: one notice with 3 photos to N groups through a fake Bot API that
enforces Telegram's flood limits (scaled by --scale so a run stays short).

    python -m benchmarks.broadcast                  # 1000 groups, Telegram's real limits,
                                                    # baseline on 100 (about 4 minutes)
    python -m benchmarks.broadcast --quick          # the short CI configuration
                                                    # (200 groups, baseline on 20)

Processes: this one runs the fake Bot API and a SecantusDB server; the bot side (the real
delivery engine, sender and rate limiter, against the database) runs in a child process so
that its peak RSS is measured alone. The naive baseline (aiogram's classic broadcasting
loop: send, sleep a fixed 50 ms / scale, on 429 sleep retry_after) runs in another child.
Prints one JSON document. Numbers are reported, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TELEGRAM = {"global_per_s": 30, "group_per_min": 20, "chat_per_s": 1}
BOT_ID = 4_242_001
TOKEN = f"{BOT_ID}:" + "B" * 35
MESSAGES_PER_GROUP = 4  # album of 3 + the message carrying the buttons


def peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM, not ``ru_maxrss``: a child started by fork
    and exec inherits in ``ru_maxrss`` the parent's resident set at the fork (here the
    orchestrator with the fake Bot API and its 10,000 groups), which is not the bot's."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- the bot side (child process) ----------------------------------------------------------
async def run_engine(args: argparse.Namespace) -> dict[str, Any]:
    from aiogram import Bot
    from aiogram.client.telegram import TelegramAPIServer

    from bot.notice_views import NoticeViews
    from bot.runner import freeze_heap
    from bot.sender import install_sender
    from bot.session import TelegramSession
    from broadcasts.delivery import CountsFn, DeliveryEngine
    from broadcasts.model import Delivery, DeliveryCounts, Notice, NoticeKind, NoticeStatus, Photo
    from broadcasts.ratelimit import Limits
    from broadcasts.service import NoticeService
    from groups.model import Audience
    from kernel.clock import SystemClock
    from storage.audit import MongoAuditLog
    from storage.client import connect
    from storage.groups import MongoGroupRepository
    from storage.notices import (
        MongoDeliveryRepository,
        MongoNoticeRepository,
        MongoRecurrenceRepository,
    )

    class Quiet:
        async def progress(self, notice: Notice, counts: CountsFn) -> None:
            return None

        async def finished(
            self, notice: Notice, counts: DeliveryCounts, failures: list[Delivery]
        ) -> None:
            return None

    client, db = await connect(args.mongo_uri, args.db)
    bot = Bot(TOKEN, session=TelegramSession(api=TelegramAPIServer.from_base(args.api)))
    f = args.scale
    limits = Limits(
        global_per_s=TELEGRAM["global_per_s"] * args.rate_fraction,
        group_per_min=TELEGRAM["group_per_min"] * args.rate_fraction,
        chat_per_s=TELEGRAM["chat_per_s"] * args.rate_fraction,
    ).scaled(f)
    pacer = install_sender(bot, limits)
    clock = SystemClock()
    notices, deliveries = MongoNoticeRepository(db), MongoDeliveryRepository(db)
    groups = MongoGroupRepository(db)
    views = NoticeViews(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"), "bench_bot")
    service = NoticeService(
        notices,
        deliveries,
        groups,
        MongoRecurrenceRepository(db),
        MongoAuditLog(db),
        clock,
        views.main_text,
    )
    from bot.sender import TelegramNoticeMessenger

    engine = DeliveryEngine(
        notices,
        deliveries,
        groups,
        TelegramNoticeMessenger(bot, views),
        Quiet(),
        clock,
        "bench",
        service.plan_targets,
        concurrency=args.concurrency,
    )
    now = clock.now()
    notice = Notice(
        notice_id=uuid.uuid4().hex,
        ref=await notices.next_ref(now),
        kind=NoticeKind.WANTED_PERSON,
        title="协查：抢劫案嫌疑人",
        body="男，约30岁，身高175厘米，黑色外套。如有线索请立即报告。",
        created_by=1,
        created_at=now,
        expires_at=now + timedelta(days=7),
        audience=Audience(sectors=("drivers",)),
        photos=tuple(Photo(source=p) for p in args.photos),
        status=NoticeStatus.SENDING,
    )
    await notices.insert(notice)
    freeze_heap()  # as ``python -m bot`` does at start-up
    started = time.perf_counter()
    await engine.run(notice.notice_id)
    wall = time.perf_counter() - started
    counts = await deliveries.counts(notice.notice_id)
    await pacer.close()
    await bot.session.close()
    await client.close()
    return {
        "wall_s": round(wall, 3),
        "sent": counts.sent,
        "failed": counts.failed,
        "pending": counts.remaining,
        "retries_after_429": pacer.stats["429"],
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


async def run_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """aiogram's classic broadcast: one group after another, a fixed sleep after each send."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.exceptions import TelegramRetryAfter
    from aiogram.types import (
        FSInputFile,
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        InputMediaPhoto,
    )

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(args.api)))
    pause = 0.05 / args.scale
    kb = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="提供线索", url="https://t.me/bench_bot?start=tip_N")]
        ]
    )
    file_ids: list[str] = []
    retries = 0

    async def send(call: Any) -> Any:
        nonlocal retries
        while True:
            try:
                return await call()
            except TelegramRetryAfter as exc:
                retries += 1
                await asyncio.sleep(exc.retry_after)

    started = time.perf_counter()
    for chat_id in args.chat_ids:
        media = [
            InputMediaPhoto(
                media=file_ids[i] if file_ids else FSInputFile(p),
                caption="协查通报" if i == 0 else None,
            )
            for i, p in enumerate(args.photos)
        ]
        msgs = await send(lambda m=media, c=chat_id: bot.send_media_group(c, m))
        if not file_ids:
            file_ids = [m.photo[-1].file_id for m in msgs]
        await asyncio.sleep(pause)
        await send(lambda c=chat_id: bot.send_message(c, "点击按钮提供线索", reply_markup=kb))
        await asyncio.sleep(pause)
    wall = time.perf_counter() - started
    await bot.session.close()
    return {
        "wall_s": round(wall, 3),
        "retries_after_429": retries,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def child_main(argv: list[str]) -> None:
    ns = json.loads(sys.stdin.read())  # on stdin: 10,000 chat ids do not fit in argv
    args = argparse.Namespace(**ns)
    result = asyncio.run(run_baseline(args) if args.mode == "baseline" else run_engine(args))
    print(json.dumps(result))


# -- the orchestrator ------------------------------------------------------------------------
async def child(ns: dict[str, Any]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.broadcast",
        "--child",
        "stdin",
        cwd=str(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(json.dumps(ns).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{err.decode()[-3000:]}")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def audit_fake(tg: Any, chat_ids: list[int]) -> dict[str, int]:
    lost = duplicated = incomplete = 0
    for chat_id in chat_ids:
        n = len(tg.sent_records(chat_id))
        if n == 0:
            lost += 1
        elif n < MESSAGES_PER_GROUP:
            incomplete += 1
        elif n > MESSAGES_PER_GROUP:
            duplicated += n - MESSAGES_PER_GROUP
    return {"lost_groups": lost, "incomplete_groups": incomplete, "duplicate_messages": duplicated}


async def measure(
    mode: str, args: argparse.Namespace, mongo_uri: str, photos: list[str], n: int
) -> dict[str, Any]:
    from pymongo.errors import PyMongoError

    from groups.model import Group
    from storage.client import connect
    from storage.groups import MongoGroupRepository
    from storage.schema import ensure_schema
    from tests.fakebot import FakeTelegram

    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    chat_ids = [-(1_000_000_000_000 + i) for i in range(n)]
    async with FakeTelegram(
        bot_id=BOT_ID, bot_username="bench_bot", auto_member_updates=False
    ) as tg:
        tg.enforce_limits(
            TELEGRAM["global_per_s"],
            TELEGRAM["group_per_min"],
            TELEGRAM["chat_per_s"],
            scale=args.scale,
        )
        for chat_id in chat_ids:
            tg.add_group(chat_id, f"g{chat_id}")
        client, db = await connect(mongo_uri, db_name)
        await ensure_schema(db)
        if mode == "engine":
            repo = MongoGroupRepository(db)
            await db.groups.insert_many(
                [
                    {
                        "_id": c,
                        "title": f"g{c}",
                        "sector": "drivers",
                        "area": None,
                        "status": "active",
                        "member_count": 30,
                    }
                    for c in chat_ids
                ]
            )
            assert (
                len(
                    await repo.targets(
                        __import__("groups.model").model.Audience(sectors=("drivers",))
                    )
                )
                == n
            )
            del Group
        ns = {
            "mode": mode,
            "api": tg.base_url,
            "mongo_uri": mongo_uri,
            "db": db_name,
            "scale": args.scale,
            "rate_fraction": args.rate_fraction,
            "concurrency": args.concurrency,
            "photos": photos,
            "chat_ids": chat_ids,
        }
        # The fake Bot API runs in this process: keep its garbage collector from pausing
        # it mid-run (a ~100 ms stall lets queued requests in as a burst, and 429s follow
        # that the bot did not cause).
        gc.collect()
        gc.freeze()
        result = await child(ns)
        gc.unfreeze()
        stats = tg.stats
        result |= audit_fake(tg, chat_ids)
        result |= {
            "requests": stats.requests,
            "messages_sent": stats.messages,
            "http_429": stats.too_many_requests,
            "http_429_ratio": round(stats.too_many_requests / max(1, stats.requests), 4),
            "photo_uploads": stats.uploads,
            "photo_bytes_uploaded": stats.bytes_uploaded,
        }
        try:  # best effort: the server's data directory is deleted anyway
            await client.drop_database(db_name)
        except PyMongoError as exc:
            print(f"could not drop {db_name}: {exc}", file=sys.stderr)
        await client.close()
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from storage.embedded import EmbeddedMongo
    from tests.fakebot import tiny_png

    with tempfile.TemporaryDirectory() as tmp:
        photos = []
        for i in range(3):
            path = Path(tmp) / f"photo{i}.png"
            # A realistic ~120 KB photo: a valid PNG followed by padding bytes.
            path.write_bytes(tiny_png(4, 4, (40 * i, 80, 160)) + os.urandom(120_000))
            photos.append(str(path))
        mongo = EmbeddedMongo(Path(tmp) / "db")
        uri = await mongo.start()
        try:
            ours = await measure("engine", args, uri, photos, args.groups)
            base_n = args.baseline_groups if args.baseline_groups is not None else args.groups
            baseline = await measure("baseline", args, uri, photos, base_n) if base_n > 0 else None
        finally:
            await mongo.stop()
    total = args.groups * MESSAGES_PER_GROUP
    minimum = total / (TELEGRAM["global_per_s"] * args.scale)
    report: dict[str, Any] = {
        "config": {
            "groups": args.groups,
            "photos": 3,
            "scale": args.scale,
            "telegram_limits_scaled": {k: v * args.scale for k, v in TELEGRAM.items()},
            "bot_rate_fraction": args.rate_fraction,
            "concurrency": args.concurrency,
        },
        "wall_s": ours["wall_s"],
        "theoretical_min_s": round(minimum, 3),
        "efficiency": round(minimum / ours["wall_s"], 3) if ours["wall_s"] else None,
        "messages_sent": ours["messages_sent"],
        "requests": ours["requests"],
        "http_429": ours["http_429"],
        "http_429_ratio": ours["http_429_ratio"],
        "duplicate_messages": ours["duplicate_messages"],
        "lost_groups": ours["lost_groups"],
        "incomplete_groups": ours["incomplete_groups"],
        "deliveries_sent": ours["sent"],
        "deliveries_failed": ours["failed"],
        "photo_uploads": ours["photo_uploads"],
        "photo_bytes_uploaded": ours["photo_bytes_uploaded"],
        "peak_rss_mb": ours["peak_rss_mb"],
    }
    if baseline is not None:
        ours_rate = args.groups / ours["wall_s"]
        base_rate = base_n / baseline["wall_s"]
        report["baseline"] = {
            "groups": base_n,
            "wall_s": baseline["wall_s"],
            "groups_per_s": round(base_rate, 2),
            "http_429": baseline["http_429"],
            "duplicate_messages": baseline["duplicate_messages"],
            "lost_groups": baseline["lost_groups"],
            "photo_uploads": baseline["photo_uploads"],
        }
        report["groups_per_s"] = round(ours_rate, 2)
        report["speedup_vs_baseline"] = round(ours_rate / base_rate, 2)
    return report


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--groups", type=int, default=1000, help="groups to deliver to (default 1000)")
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="flood limits sped up by this factor (default 1: Telegram's real limits; network "
        "jitter is not scaled, so large factors measure the machine more than the engine)",
    )
    p.add_argument(
        "--baseline-groups",
        type=int,
        default=None,
        help="groups for the naive baseline (default: 100, at most --groups; 0 skips it)",
    )
    p.add_argument(
        "--rate-fraction",
        type=float,
        default=0.97,
        help="bot limits as a fraction of Telegram's (default 0.97)",
    )
    p.add_argument("--concurrency", type=int, default=64, help="deliveries in flight (default 64)")
    p.add_argument(
        "--quick", action="store_true", help="short configuration for CI: 200 groups, baseline 20"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.groups = 200
        args.baseline_groups = 20 if args.baseline_groups is None else args.baseline_groups
    if args.baseline_groups is None:
        args.baseline_groups = min(100, args.groups)
    return args


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        report = asyncio.run(main(parse(sys.argv[1:])))
        print(json.dumps(report, indent=2, ensure_ascii=False))
        # Numbers are reported, not asserted; correctness is: nothing lost or sent twice.
        broken = (
            report["duplicate_messages"] or report["lost_groups"] or report["incomplete_groups"]
        )
        sys.exit(1 if broken else 0)
