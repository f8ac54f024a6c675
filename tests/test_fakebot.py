"""Tests of the fake Telegram Bot API server, driven by real aiogram Bot objects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakebot import FakeTelegram, TgError, tiny_png, utf16_len

USER = 1001
OTHER = 1002
GROUP = -1001234567890


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake
        assert not fake.internal_errors, fake.internal_errors


@pytest.fixture
def bot(tg: FakeTelegram) -> Bot:
    return tg.make_bot()  # closed by tg.stop()


def make_bot(tg: FakeTelegram) -> Bot:
    return tg.make_bot()


async def test_plain_aiogram_session_works(tg: FakeTelegram) -> None:
    plain = Bot(
        token="42:TEST", session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
    )
    try:
        assert (await plain.get_me()).username == "six_circles_bot"
    finally:
        await plain.session.close()


# ------------------------------------------------------------------------- basics


async def test_get_me_and_send_message(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot, me.can_join_groups) == (
        42,
        "six_circles_bot",
        True,
        True,
    )
    tg.add_user(USER, "Ann", "ann")
    msg = await bot.send_message(USER, "hi <b>there</b> &amp; /help", parse_mode="HTML")
    assert msg.text == "hi there & /help"
    assert msg.chat.id == USER and msg.from_user is not None and msg.from_user.id == 42
    assert [(e.type, e.offset, e.length) for e in msg.entities or []] == [
        ("bold", 3, 5),
        ("bot_command", 11, 5),
    ]
    assert tg.sent_to(USER)[0]["text"] == "hi there & /help"
    call = tg.calls_of("sendmessage", chat_id=USER)[0]
    assert call.params["parse_mode"] == "HTML" and call.ok
    second = await bot.send_message(
        USER, "again", reply_parameters=ReplyParameters(message_id=msg.message_id)
    )
    assert second.message_id == msg.message_id + 1
    assert second.reply_to_message is not None
    assert second.reply_to_message.message_id == msg.message_id
    assert tg.last_sent(USER) is tg.sent_to(USER)[-1]


async def test_send_message_errors(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    tg.add_user(OTHER, "Bob", started=False)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(555, "x")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(OTHER, "x")
    tg.block_bot(USER)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(USER, "x")
    tg.block_bot(USER, False)
    # UTF-16 accounting: an emoji is two code units
    assert utf16_len("😀") == 2
    await bot.send_message(USER, "😀" * 2048)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "😀" * 2048 + "a")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "   ")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "1 < 2 <oops>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="reserved"):
        await bot.send_message(USER, "end.", parse_mode="MarkdownV2")
    ok = await bot.send_message(USER, "*bold* end\\.", parse_mode="MarkdownV2")
    assert ok.text == "bold end." and ok.entities and ok.entities[0].type == "bold"

    tg.add_group(GROUP, "Circle")
    await bot.send_message(GROUP, "hello group")
    tg.remove_bot(GROUP)
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "x")

    tg.add_group(-555, "Old group", type="group")
    tg.migrate_group(-555, -1009999)
    with pytest.raises(TelegramMigrateToChat) as exc:
        await bot.send_message(-555, "x")
    assert exc.value.migrate_to_chat_id == -1009999
    await bot.send_message(-1009999, "moved")
    assert len(tg.calls_of("sendMessage", ok=False)) == 9


async def test_raw_http_forms_and_unknown_method(tg: FakeTelegram) -> None:
    tg.add_user(USER, "Ann")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.base_url}/bot1:x/fooBar") as resp:
            assert resp.status == 404
            body = await resp.json()
            assert body == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.post(
            f"{tg.base_url}/bot1:x/SENDMESSAGE", data={"chat_id": str(USER), "text": "007"}
        ) as resp:
            body = await resp.json()
            assert body["ok"] and body["result"]["text"] == "007"
        async with http.get(
            f"{tg.base_url}/bot1:x/sendMessage", params={"chat_id": USER, "text": "q"}
        ) as resp:
            assert (await resp.json())["result"]["text"] == "q"
        async with http.post(
            f"{tg.base_url}/bot1:x/sendMessage", json={"chat_id": USER, "text": "j"}
        ) as resp:
            assert (await resp.json())["result"]["text"] == "j"
    assert [c.params["text"] for c in tg.calls_of("sendMessage")] == ["007", "q", "j"]
    assert tg.calls_of("sendMessage", chat_id=str(USER))  # loose matching


# ------------------------------------------------------------------------- files


async def test_photo_upload_reuse_and_download(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    png = tiny_png(64, 48)
    msg = await bot.send_photo(USER, BufferedInputFile(png, "pic.png"), caption="a pic")
    assert msg.photo and msg.caption == "a pic"
    largest = msg.photo[-1]
    assert (largest.width, largest.height) == (64, 48)
    assert tg.stats.uploads == 1 and tg.stats.bytes_uploaded == len(png)
    call = tg.calls_of("sendPhoto")[0]
    assert call.params["photo"]["size"] == len(png)
    again = await bot.send_photo(USER, largest.file_id)
    assert again.photo and again.photo[-1].file_unique_id == largest.file_unique_id
    assert tg.stats.uploads == 1
    data = await bot.download(largest.file_id)
    assert data is not None and data.read() == png
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(USER, largest.file_id, caption="x" * 1025)
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(USER, "nonsense")
    doc = await bot.send_document(USER, BufferedInputFile(b"a,b\n1,2\n", "t.csv"))
    assert doc.document and doc.document.file_name == "t.csv"
    assert doc.document.mime_type == "text/csv"
    with pytest.raises(TelegramBadRequest, match="can't use file of type Document as Photo"):
        await bot.send_photo(USER, doc.document.file_id)
    voice = await bot.send_voice(USER, BufferedInputFile(b"OggS...", "v.ogg"), duration=3)
    assert voice.voice and voice.voice.duration == 3
    video = await bot.send_video(USER, BufferedInputFile(b"\0\0mp4", "v.mp4"), duration=2)
    assert video.video and video.video.duration == 2


async def test_media_group(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    first = await bot.send_photo(USER, BufferedInputFile(tiny_png(), "a.png"))
    assert first.photo
    media: list[Any] = [
        InputMediaPhoto(media=BufferedInputFile(tiny_png(10, 10), "1.png"), caption="album"),
        InputMediaPhoto(media=BufferedInputFile(tiny_png(20, 10), "2.png")),
        InputMediaPhoto(media=first.photo[-1].file_id),
    ]
    msgs = await bot.send_media_group(USER, media)
    assert len(msgs) == 3
    assert len({m.media_group_id for m in msgs}) == 1 and msgs[0].media_group_id
    assert [m.message_id for m in msgs] == [2, 3, 4]
    assert msgs[0].caption == "album" and msgs[1].caption is None
    assert tg.stats.uploads == 3 and tg.stats.messages == 4
    with pytest.raises(TelegramBadRequest):
        await bot.send_media_group(USER, media[:1])


# ------------------------------------------------------------------------- edits


async def test_edit_and_delete(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]])
    msg = await bot.send_message(USER, "v1", reply_markup=kb)
    assert msg.reply_markup is not None
    edited = await bot.edit_message_text(
        text="v2", chat_id=USER, message_id=msg.message_id, reply_markup=kb
    )
    assert isinstance(edited, Message) and edited.text == "v2" and edited.edit_date
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            text="v2", chat_id=USER, message_id=msg.message_id, reply_markup=kb
        )
    # editing text without reply_markup drops the inline keyboard, like Telegram
    dropped = await bot.edit_message_text(text="v2", chat_id=USER, message_id=msg.message_id)
    assert isinstance(dropped, Message) and dropped.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=USER, message_id=msg.message_id)
    await bot.edit_message_reply_markup(chat_id=USER, message_id=msg.message_id, reply_markup=kb)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=USER, message_id=999)
    with pytest.raises(TelegramBadRequest, match="there is no caption"):
        await bot.edit_message_caption(chat_id=USER, message_id=msg.message_id, caption="c")
    current = tg.sent_to(USER)[0]
    assert current["text"] == "v2" and current["reply_markup"]["inline_keyboard"]
    assert [v["text"] for v in tg.versions(current)] == ["v1", "v2", "v2", "v2"]
    assert await bot.delete_message(USER, msg.message_id)
    assert tg.is_deleted(current) and tg.sent_to(USER) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, msg.message_id)
    incoming = await tg.send_message(USER, text="hello")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text(text="x", chat_id=USER, message_id=incoming["message_id"])


# ------------------------------------------------------------------------- updates


async def test_long_polling_wakes_and_honours_offset(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for(lambda: tg.active_polls == 1, what="poll started")
    sent = await tg.send_message(USER, text="/start")
    updates = await poll
    assert time.monotonic() - started < 2.5
    assert len(updates) == 1 and updates[0].message is not None
    assert updates[0].message.text == "/start"
    assert updates[0].message.message_id == sent["message_id"]
    # not confirmed yet: returned again
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    # confirming with offset drops it
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []
    # allowed_updates filtering + limit
    await tg.send_message(USER, text="one")
    await tg.send_message(USER, text="two")
    await tg.edit_message(tg.injected[-1]["message"], "two!")
    got = await bot.get_updates(limit=1, timeout=0, allowed_updates=["edited_message"])
    assert len(got) == 1 and got[0].edited_message is not None
    assert len(tg.filtered_updates) == 2
    assert tg.pending_updates  # "one" is still unconfirmed


async def test_dispatcher_polling_end_to_end(tg: FakeTelegram) -> None:
    tg.add_user(USER, "Ann")
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            f"Welcome, {message.from_user.first_name}!" if message.from_user else "Welcome"
        )

    @dp.callback_query(F.data == "ok")
    async def pressed(query: Any) -> None:
        await query.answer("done")

    bot = make_bot(tg)
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        await tg.send_message(USER, text="/start")
        reply = await tg.wait_for_message(USER, text_contains="Welcome, Ann")
        assert reply["chat"]["id"] == USER
        kb = {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}
        tg._store_bot_message(tg.chats[USER], {"text": "press"}, _params({"reply_markup": kb}))
        qid = await tg.press(USER, tg.last_sent(USER) or {}, "ok")
        call = await tg.wait_for_call("answerCallbackQuery", callback_query_id=qid)
        assert call.params["text"] == "done"
        assert (tg.answered_callback(qid) or {})["text"] == "done"
        await tg.wait_until_idle()
    finally:
        await dp.stop_polling()
        await task
    assert tg.calls_of("getUpdates")[0].params.get("allowed_updates") is not None


def _params(data: dict[str, Any]) -> Any:
    from tests.fakebot.params import Params

    return Params(data)


async def test_callback_press_and_answer(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    kb = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go:1")]]
    )
    msg = await bot.send_message(USER, "choose", reply_markup=kb)
    await bot.edit_message_text(
        text="choose now", chat_id=USER, message_id=msg.message_id, reply_markup=kb
    )
    with pytest.raises(AssertionError, match="no inline button"):
        await tg.press(USER, tg.last_sent(USER) or {}, "nope")
    qid = await tg.press(USER, tg.last_sent(USER) or {}, "go:1")
    updates = await bot.get_updates(timeout=0)
    query = updates[-1].callback_query
    assert query is not None and query.id == qid and query.data == "go:1"
    assert isinstance(query.message, Message) and query.message.text == "choose now"
    assert tg.answered_callback(qid) is None
    await bot.answer_callback_query(qid, text="ok!", show_alert=True)
    assert tg.answered_callback(qid) == {
        "callback_query_id": qid,
        "text": "ok!",
        "show_alert": True,
    }
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(qid)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(
            USER,
            "x",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="y" * 65)]]
            ),
        )


async def test_webhook_delivery_with_secret(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    received: list[tuple[dict[str, Any], str | None]] = []
    fail = {"on": False}

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.Response(status=500 if fail["on"] else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr-t_")
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook") and info.pending_update_count == 0
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        update = await tg.send_message(USER, text="hi via hook")
        await tg.wait_for(lambda: len(received) == 1)
        assert received[0][1] == "s3cr-t_"
        assert received[0][0]["message"]["text"] == "hi via hook"
        await tg.wait_until_idle()
        assert tg.webhook_deliveries[-1].status == 200
        # duplicates (Telegram re-delivery) keep the update_id
        await tg.inject_duplicate(tg.injected[-1])
        await tg.wait_for(lambda: len(received) == 2)
        assert received[1][0]["update_id"] == received[0][0]["update_id"]
        assert update["text"] == "hi via hook"
        # non-2xx answers are retried webhook_retries times
        tg.webhook_retries = 2
        fail["on"] = True
        await tg.send_message(USER, text="boom")
        await tg.wait_for(lambda: len(tg.failed_webhook_updates) == 1)
        assert [d.status for d in tg.webhook_deliveries[-3:]] == [500, 500, 500]
        info = await bot.get_webhook_info()
        assert info.last_error_message and "500" in info.last_error_message
        assert await bot.delete_webhook()
        assert await bot.get_updates(timeout=0) == []
    finally:
        await runner.cleanup()


async def test_webhook_with_aiogram_handler_replying_in_response(tg: FakeTelegram) -> None:
    tg.add_user(USER, "Ann")
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> Any:
        return message.answer(f"echo: {message.text}")  # answered in the webhook response

    bot = make_bot(tg)
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="tok", handle_in_background=False).register(
        app, path="/wh"
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/wh", secret_token="tok")
        await tg.send_message(USER, text="ping")
        reply = await tg.wait_for_message(USER, text_contains="echo: ping")
        assert reply["from"]["id"] == 42
        assert tg.calls_of("sendMessage")[0].via == "webhook-reply"
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------- failures


async def test_fail_next(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    tg.add_user(OTHER, "Bob")
    tg.fail_next("sendMessage", TgError.retry_after(7), chat_id=USER)
    await bot.send_message(OTHER, "unaffected")
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(USER, "x")
    assert exc.value.retry_after == 7
    await bot.send_message(USER, "now fine")
    tg.fail_next("sendMessage", TgError.migrate(-100777))
    with pytest.raises(TelegramMigrateToChat) as mig:
        await bot.send_message(USER, "x")
    assert mig.value.migrate_to_chat_id == -100777
    tg.fail_next("sendmessage", TgError.forbidden("bot was blocked by the user"), times=2)
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError, match="blocked"):
            await bot.send_message(USER, "x")
    tg.fail_next("*", TgError.bad_request("boom"))
    with pytest.raises(TelegramBadRequest, match="boom"):
        await bot.get_me()
    assert tg.stats.too_many_requests == 1
    assert [c.status for c in tg.calls_of("sendMessage")] == [200, 429, 200, 400, 403, 403]


async def test_flood_limits(tg: FakeTelegram, bot: Bot) -> None:
    for uid in range(2000, 2012):
        tg.add_user(uid, f"U{uid}")
    tg.add_group(GROUP, "Circle")
    # scale=0.01 → windows of 100 s / 6000 s: deterministic regardless of machine speed
    tg.enforce_limits(per_bot_per_second=10, per_chat_per_second=1, scale=0.01)
    for uid in range(2000, 2010):
        await bot.send_message(uid, "hi")  # within limits: no 429
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(2010, "over the bot limit")
    assert 90 <= exc.value.retry_after <= 100
    tg.advance(100)
    await bot.send_message(2010, "fine again")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(2010, "same chat too soon")
    # per-group window and album weight
    tg.enforce_limits(
        per_bot_per_second=100, per_chat_per_second=100, per_group_per_minute=3, scale=1
    )
    for _ in range(3):
        await bot.send_message(GROUP, "g")
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(GROUP, "g")
    assert 55 <= exc.value.retry_after <= 60
    tg.advance(60)
    await bot.send_message(GROUP, "g")
    photo = tiny_png()
    album: list[Any] = [
        InputMediaPhoto(media=BufferedInputFile(photo, f"{i}.png")) for i in range(3)
    ]
    with pytest.raises(TelegramRetryAfter):
        await bot.send_media_group(GROUP, album)  # 1 + 3 items > 3 per minute
    tg.advance(60)
    assert len(await bot.send_media_group(GROUP, album)) == 3
    assert tg.stats.too_many_requests == 4
    tg.disable_limits()
    await bot.send_message(GROUP, "free")


# ------------------------------------------------------------------------- groups


async def test_join_request_approve_and_window(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann", started=False)
    tg.add_user(OTHER, "Bob", started=False)
    tg.add_group(GROUP, "Circle")
    link = await bot.create_chat_invite_link(GROUP, name="apply", creates_join_request=True)
    assert link.invite_link.startswith("https://t.me/+") and link.creates_join_request
    update = await tg.join_request(USER, GROUP, invite_link=link.invite_link, bio="hi")
    got = await bot.get_updates(timeout=0)
    req = got[0].chat_join_request
    assert req is not None and req.user_chat_id == USER and req.bio == "hi"
    assert req.invite_link is not None and req.invite_link.invite_link == link.invite_link
    assert got[0].update_id == update["update_id"]
    await bot.send_message(req.user_chat_id, "Tell us about yourself")  # within 5 minutes
    assert await bot.approve_chat_join_request(GROUP, USER)
    member = await bot.get_chat_member(GROUP, USER)
    assert member.status == "member"
    with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
        await bot.approve_chat_join_request(GROUP, USER)
    with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
        await bot.decline_chat_join_request(GROUP, OTHER)
    await tg.join_request(OTHER, GROUP)
    tg.advance(301)
    with pytest.raises(TelegramForbiddenError, match="can't initiate"):
        await bot.send_message(OTHER, "too late")
    assert await bot.decline_chat_join_request(GROUP, OTHER)
    revoked = await bot.revoke_chat_invite_link(GROUP, link.invite_link)
    assert revoked.is_revoked


async def test_moderation_and_chat_info(tg: FakeTelegram, bot: Bot) -> None:
    owner = tg.add_user(900, "Owner")
    tg.add_user(USER, "Ann")
    tg.add_group(GROUP, "Circle", owner=owner, members=[USER])
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Circle" and chat.type == "supergroup"
    admins = await bot.get_chat_administrators(GROUP)
    assert [a.user.id for a in admins] == [900]
    me = await bot.get_chat_member(GROUP, 42)
    assert me.status == "administrator" and getattr(me, "can_restrict_members", False)
    assert await bot.get_chat_member_count(GROUP) == 3
    await bot.restrict_chat_member(GROUP, USER, ChatPermissions(can_send_messages=False))
    restricted = await bot.get_chat_member(GROUP, USER)
    assert restricted.status == "restricted"
    assert await bot.ban_chat_member(GROUP, USER, revoke_messages=True)
    assert tg.member_status(GROUP, USER) == "kicked"
    with pytest.raises(TelegramBadRequest, match="can't remove chat owner"):
        await bot.ban_chat_member(GROUP, 900)
    assert await bot.unban_chat_member(GROUP, USER, only_if_banned=True)
    assert tg.member_status(GROUP, USER) == "left"
    tg.set_bot_rights(GROUP, can_restrict_members=False)
    with pytest.raises(TelegramBadRequest, match="not enough rights"):
        await bot.ban_chat_member(GROUP, USER)
    msg = await bot.send_message(GROUP, "pin me")
    assert await bot.pin_chat_message(GROUP, msg.message_id)
    assert tg.pinned(GROUP) == [msg.message_id]
    full = await bot.get_chat(GROUP)
    assert full.pinned_message is not None and full.pinned_message.text == "pin me"
    assert await bot.set_my_commands(
        [BotCommand(command="start", description="Start")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="en",
    )
    cmds = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="en")
    assert [c.command for c in cmds] == ["start"]
    assert tg.commands_for({"type": "all_private_chats"}, "en")[0]["description"] == "Start"
    with pytest.raises(TelegramBadRequest):
        await bot.set_my_commands([BotCommand(command="Bad-Cmd", description="x")])
    assert await bot.send_chat_action(GROUP, "typing")
    assert await bot.leave_chat(GROUP)
    with pytest.raises(TelegramForbiddenError, match="not a member"):
        await bot.send_message(GROUP, "x")


async def test_group_privacy_mode(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    tg.add_group(GROUP, "Circle", bot_status="member")
    await tg.send_message(USER, GROUP, "just chatting")
    await tg.send_message(USER, GROUP, "/stats@six_circles_bot")
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["/stats@six_circles_bot"]
    assert len(tg.filtered_updates) == 1


async def test_injected_updates_parse_with_aiogram(tg: FakeTelegram, bot: Bot) -> None:
    owner = tg.add_user(900, "Owner")
    tg.add_user(USER, "Ann", "ann")
    tg.add_group(GROUP, "Circle", owner=owner, members=[USER])
    tg.add_channel(-100555, "News", "news")
    tg.add_group(-77, "Basic", type="group", owner=owner)
    cmd = await tg.send_message(USER, GROUP, "/checkin@six_circles_bot now")
    photo = await tg.send_message(USER, GROUP, photo=True, caption="proof", reply_to=cmd)
    album = await tg.send_album(USER, GROUP, photos=2, caption="two")
    live = await tg.send_message(USER, GROUP, location=(55.75, 37.61, 10.0), live_period=900)
    await tg.edit_location(live, 55.76, 37.62)
    await tg.send_message(
        USER, venue={"latitude": 1.0, "longitude": 2.0, "title": "Gym", "address": "Main st"}
    )
    await tg.send_message(USER, contact="+100200300")
    await tg.send_message(USER, text="look", forward_from_chat=-100555, forward_from_message_id=17)
    await tg.send_message(USER, voice=True, duration=4)
    await tg.send_message(USER, video=True)
    await tg.send_message(USER, document=("plan.pdf", b"%PDF"))
    await tg.send_message(USER, sticker="🔥")
    await tg.send_message(USER, poll="Tea?")
    await tg.send_message(None, -100555, "channel post")
    await tg.chat_member_update(GROUP, USER, "member", "left")
    await tg.my_chat_member_update(GROUP, "administrator", "member", by=900)
    await tg.migrate_update(-77, -100777)
    await tg.inject(
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": USER, "type": "private"},
                "text": "raw",
            }
        }
    )
    updates = await bot.get_updates(
        timeout=0,
        allowed_updates=[
            "message",
            "edited_message",
            "channel_post",
            "chat_member",
            "my_chat_member",
        ],
    )
    parsed = [
        Update.model_validate(u.model_dump(by_alias=True, exclude_none=True), context={"bot": bot})
        for u in updates
    ]
    kinds = [u.event_type for u in parsed]
    assert kinds.count("message") == 16 and "edited_message" in kinds
    assert "channel_post" in kinds and "chat_member" in kinds and "my_chat_member" in kinds
    first = parsed[0].message
    assert first is not None and first.entities and first.entities[0].type == "bot_command"
    assert first.entities[0].length == len("/checkin@six_circles_bot")
    assert parsed[1].message and parsed[1].message.reply_to_message
    assert album[0]["media_group_id"] == album[1]["media_group_id"]
    assert album[1]["message_id"] == album[0]["message_id"] + 1
    fwd = next(u.message for u in parsed if u.message and u.message.text == "look")
    assert fwd.forward_origin is not None and fwd.forward_origin.type == "channel"
    assert [
        u.message.migrate_to_chat_id for u in parsed if u.message and u.message.migrate_to_chat_id
    ] == [-100777]
    edited = next(u.edited_message for u in parsed if u.edited_message)
    assert edited.location and edited.location.latitude == 55.76
    # injected media are downloadable
    file_id = photo["photo"][-1]["file_id"]
    data = await bot.download(file_id)
    assert data is not None and data.read()[:4] == b"\x89PNG"
    # the bot can copy / forward injected messages
    copied = await bot.copy_message(USER, GROUP, photo["message_id"], caption="copied")
    forwarded = await bot.forward_message(USER, GROUP, cmd["message_id"])
    assert forwarded.forward_origin is not None and forwarded.forward_origin.type == "user"
    assert tg.sent_to(USER)[0]["message_id"] == copied.message_id
    assert tg.sent_to(USER)[0]["caption"] == "copied"


async def test_wait_helpers_timeout_and_consumption(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_user(USER, "Ann")
    await bot.send_message(USER, "first")
    await bot.send_message(USER, "second")
    assert (await tg.wait_for_message(USER))["text"] == "first"
    assert (await tg.wait_for_message(USER))["text"] == "second"
    c1 = await tg.wait_for_call("sendMessage", chat_id=USER)
    c2 = await tg.wait_for_call("sendMessage", chat_id=USER)
    assert (c1.params["text"], c2.params["text"]) == ("first", "second")
    with pytest.raises(AssertionError, match="timed out") as exc:
        await tg.wait_for_call("sendMessage", timeout=0.05)
    assert "sendMessage" in str(exc.value)
    later = asyncio.create_task(tg.wait_for_message(USER, text_contains="third"))
    await bot.send_message(USER, "the third")
    assert (await later)["text"] == "the third"
