"""Scenario builders: register users/chats and inject updates the way Telegram would."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .builders import (
    chat_member_json,
    detect_entities,
    new_callback_query_id,
    new_chat_instance,
    new_media_group_id,
    tiny_png,
)
from .core import ChatLike, TelegramCore, UserLike
from .methods import CONTENT_KEYS, _legacy_forward_fields, _strip_reply
from .state import ChatRec, InviteLinkRec, JoinRequestRec, MemberRec, MessageRec, UserRec

GROUP_ANONYMOUS_BOT = 1087968824

MemberSpec = str | dict[str, Any]


class Injector(TelegramCore):
    # ================================================================== registry
    def add_user(
        self,
        id: int,
        first_name: str | None = None,
        username: str | None = None,
        *,
        last_name: str | None = None,
        language_code: str | None = "zh-hans",
        started: bool = True,
        is_bot: bool = False,
        is_premium: bool = False,
    ) -> dict[str, Any]:
        """Register a user (and their private chat with the bot).  Returns the User JSON."""
        user = UserRec(
            id=id,
            first_name=first_name or f"User{id}",
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_bot=is_bot,
            is_premium=is_premium,
            started=started,
        )
        self.users[id] = user
        chat = self.chats.get(id)
        if chat is None:
            chat = ChatRec(id=id, type="private")
            self.chats[id] = chat
        chat.first_name, chat.last_name, chat.username = user.first_name, last_name, username
        return user.to_json()

    def set_started(self, user: UserLike, started: bool = True) -> None:
        self.user(user).started = started

    def block_bot(self, user: UserLike, blocked: bool = True) -> None:
        """The user blocked the bot: later sends answer 403 "bot was blocked by the user"."""
        self.user(user).blocked = blocked

    def add_group(
        self,
        id: int,
        title: str | None = None,
        type: str = "supergroup",
        *,
        bot_status: str = "administrator",
        bot_rights: dict[str, bool] | None = None,
        username: str | None = None,
        is_forum: bool = False,
        owner: UserLike | None = None,
        members: Sequence[UserLike] = (),
        admins: Sequence[UserLike] = (),
        member_count: int | None = None,
        permissions: dict[str, bool] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Register a group/supergroup/channel with the bot in it.  Returns the Chat JSON.

        ``bot_rights`` overrides individual admin rights (all rights default to True when
        ``bot_status="administrator"``).
        """
        if type not in ("group", "supergroup", "channel"):
            raise ValueError(f"bad chat type {type!r}")
        chat = ChatRec(
            id=id,
            type=type,
            title=title or f"Chat {id}",
            username=username,
            is_forum=is_forum,
            member_count=member_count,
            description=description,
            permissions=dict(permissions or {}),
        )
        self.chats[id] = chat
        self._set_member(chat, self.bot_id, bot_status, bot_rights)
        if owner is not None:
            self._set_member(chat, self.user(owner).id, "creator")
        for admin in admins:
            self._set_member(chat, self.user(admin).id, "administrator")
        for member in members:
            self._set_member(chat, self.user(member).id, "member")
        return chat.to_json()

    def add_channel(
        self,
        id: int,
        title: str | None = None,
        username: str | None = None,
        *,
        bot_status: str = "administrator",
        bot_rights: dict[str, bool] | None = None,
        owner: UserLike | None = None,
    ) -> dict[str, Any]:
        return self.add_group(
            id,
            title,
            "channel",
            bot_status=bot_status,
            bot_rights=bot_rights,
            username=username,
            owner=owner,
        )

    def set_member(
        self,
        chat: ChatLike,
        user: UserLike,
        status: str,
        *,
        until_date: int | None = None,
        is_member: bool = True,
        custom_title: str | None = None,
        **rights: bool,
    ) -> dict[str, Any]:
        """Set a member's status silently (no update).  ``rights`` are admin rights for
        "administrator" or permissions for "restricted".  Returns the ChatMember JSON."""
        c = self.chat(chat)
        u = self.user(user)
        member = self._set_member(c, u.id, status, rights, until_date, is_member)
        member.custom_title = custom_title
        return self.member_json(c, u.id)

    def set_bot_rights(
        self, chat: ChatLike, status: str = "administrator", **rights: bool
    ) -> dict[str, Any]:
        """Change the bot's own membership/rights in a chat (no update)."""
        c = self.chat(chat)
        current = self.bot_member(c)
        merged = dict(current.rights) if current.status == status else {}
        merged.update(rights)
        self._set_member(c, self.bot_id, status, merged)
        return self.member_json(c, self.bot_id)

    def remove_bot(self, chat: ChatLike, status: str = "kicked") -> None:
        """The bot was kicked (default) or left: later sends answer 403."""
        c = self.chat(chat)
        c.members[self.bot_id] = MemberRec(self.bot_id, status)

    def migrate_group(self, old_id: ChatLike, new_id: int) -> dict[str, Any]:
        """Upgrade a basic group to a supergroup (state only; see ``migrate_update``)."""
        old = self.chat(old_id)
        if new_id in self.chats:
            return self.chats[new_id].to_json()
        new = ChatRec(
            id=new_id,
            type="supergroup",
            title=old.title,
            username=old.username,
            members=copy.deepcopy(old.members),
            permissions=dict(old.permissions),
            description=old.description,
            migrated_from=old.id,
            member_count=old.member_count,
        )
        self.chats[new_id] = new
        old.migrated_to = new_id
        return new.to_json()

    # ================================================================== raw injection
    async def inject(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any raw update (an update_id is added when missing).  Returns it."""
        return self._enqueue(copy.deepcopy(update))

    async def inject_duplicate(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver the very same update (same update_id/payload) once more."""
        return self._enqueue(copy.deepcopy(update), duplicate=True)

    # ================================================================== messages
    def _bot_receives(self, chat: ChatRec, data: dict[str, Any]) -> bool:
        """Would Telegram deliver this message to the bot (membership + privacy mode)?"""
        if chat.type == "private":
            return True
        member = self.bot_member(chat)
        if not self._is_present(member):
            return False
        if chat.type == "channel" or member.status in ("creator", "administrator"):
            return True
        if self.bot_extra.get("can_read_all_group_messages"):
            return True
        if not any(k in data for k in CONTENT_KEYS):
            return True  # service messages
        reply = data.get("reply_to_message")
        if reply and reply.get("from", {}).get("id") == self.bot_id:
            return True
        body = data.get("text") or data.get("caption") or ""
        ents = data.get("entities") or data.get("caption_entities") or []
        for ent in ents:
            if ent["type"] == "bot_command":
                return True
        return f"@{self.bot.username}".lower() in body.lower()

    def _deliver_message(self, chat: ChatRec, rec: MessageRec, kind: str) -> None:
        update = {kind: copy.deepcopy(rec.data)}
        if self._bot_receives(chat, rec.data):
            self._enqueue(update)
        else:
            self.filtered_updates.append(update)
            self._notify()

    def _resolve_reply(self, chat: ChatRec, reply_to: Any) -> dict[str, Any] | None:
        if reply_to is None:
            return None
        if isinstance(reply_to, dict):
            rec = self.message_rec(reply_to)
        else:
            rec = self.message_rec(int(reply_to), chat=chat)
        return _strip_reply(rec.data)

    def _file_bytes(self, value: Any, default: bytes) -> bytes:
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        return default

    def _chat_ref_json(self, ref: ChatLike) -> dict[str, Any]:
        if isinstance(ref, dict):
            return dict(ref)
        return self.chat(ref).to_json()

    async def send_message(
        self,
        user: UserLike | None,
        chat: ChatLike | None = None,
        text: str | None = None,
        *,
        caption: str | None = None,
        photo: bool | bytes | None = None,
        video: bool | bytes | None = None,
        voice: bool | bytes | None = None,
        audio: bool | bytes | None = None,
        document: bool | bytes | tuple[str, bytes] | None = None,
        sticker: bool | str | None = None,
        animation: bool | bytes | None = None,
        video_note: bool | bytes | None = None,
        location: tuple[float, ...] | None = None,
        live_period: int | None = None,
        venue: dict[str, Any] | None = None,
        contact: dict[str, Any] | str | None = None,
        poll: dict[str, Any] | str | None = None,
        dice: str | None = None,
        duration: int | None = None,
        reply_to: dict[str, Any] | int | None = None,
        forward_origin: dict[str, Any] | None = None,
        forward_from: UserLike | None = None,
        forward_from_chat: ChatLike | None = None,
        forward_from_message_id: int | None = None,
        forward_sender_name: str | None = None,
        forward_date: int | None = None,
        media_group_id: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        sender_chat: ChatLike | None = None,
        message_thread_id: int | None = None,
        date: int | None = None,
        extra: dict[str, Any] | None = None,
        edited: bool = False,
    ) -> dict[str, Any]:
        """A user (or, in channels, the channel) sends a message; queues the update.

        ``chat`` defaults to the user's private chat with the bot.  Returns the Message JSON
        (also stored, so the bot can reply to / copy / forward it).
        """
        u = self.user(user) if user is not None else None
        if chat is None:
            if u is None:
                raise ValueError("pass user or chat")
            c = self.chat(u.id)
        else:
            c = self.chat(chat)
        if c.type in ("group", "supergroup") and u is not None and u.id not in c.members:
            self._set_member(c, u.id, "member")
        content: dict[str, Any] = {}
        if message_thread_id is not None:
            content["message_thread_id"] = message_thread_id
            content["is_topic_message"] = True
        reply = self._resolve_reply(c, reply_to)
        if reply is not None:
            content["reply_to_message"] = reply
        origin = self._forward_origin(
            forward_origin,
            forward_from,
            forward_from_chat,
            forward_from_message_id,
            forward_sender_name,
            forward_date,
        )
        if origin is not None:
            content["forward_origin"] = origin
            content.update(_legacy_forward_fields(origin))
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        content.update(
            self._user_content(
                text=text,
                caption=caption,
                photo=photo,
                video=video,
                voice=voice,
                audio=audio,
                document=document,
                sticker=sticker,
                animation=animation,
                video_note=video_note,
                location=location,
                live_period=live_period,
                venue=venue,
                contact=contact,
                poll=poll,
                dice=dice,
                duration=duration,
                entities=entities,
                user=u,
            )
        )
        if extra:
            content.update(extra)
        s_chat = self.chat(sender_chat) if sender_chat is not None else None
        rec = self._new_message(
            c, content, from_user=u, from_bot=False, date=date, sender_chat=s_chat
        )
        if c.type == "private" and u is not None:
            u.started = True
            u.blocked = False
        kind = "channel_post" if c.type == "channel" else "message"
        if edited:
            kind = "edited_" + kind
        self._deliver_message(c, rec, kind)
        return rec.data

    def _forward_origin(
        self,
        origin: dict[str, Any] | None,
        from_user: UserLike | None,
        from_chat: ChatLike | None,
        from_message_id: int | None,
        sender_name: str | None,
        date: int | None,
    ) -> dict[str, Any] | None:
        when = date if date is not None else self._date() - 60
        if origin is not None:
            return {"date": when, **origin}
        if from_chat is not None:
            chat_json = self._chat_ref_json(from_chat)
            if chat_json.get("type") == "channel":
                return {
                    "type": "channel",
                    "date": when,
                    "chat": chat_json,
                    "message_id": from_message_id or 1,
                }
            return {"type": "chat", "date": when, "sender_chat": chat_json}
        if from_user is not None:
            user_json = from_user if isinstance(from_user, dict) else self.user(from_user).to_json()
            return {"type": "user", "date": when, "sender_user": user_json}
        if sender_name is not None:
            return {"type": "hidden_user", "date": when, "sender_user_name": sender_name}
        return None

    def _user_content(self, *, user: UserRec | None, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        text, caption = kw["text"], kw["caption"]
        media = False
        if kw["photo"] is not None and kw["photo"] is not False:
            sizes = self._make_photo(self._file_bytes(kw["photo"], tiny_png(8, 6)))
            out["photo"] = self.photo_json(sizes)
            media = True
        for kind, default_name, default in (
            ("video", "video.mp4", b"\x00\x00\x00\x18ftypmp42fake-video"),
            ("voice", None, b"OggS\x00fake-voice"),
            ("audio", "track.mp3", b"ID3fake-audio"),
            ("animation", "animation.mp4", b"\x00\x00\x00\x18ftypmp42fake-gif"),
            ("video_note", None, b"\x00\x00\x00\x18ftypmp42fake-note"),
        ):
            value = kw[kind]
            if value is None or value is False:
                continue
            rec = self._make_file(
                kind,
                self._file_bytes(value, default),
                file_name=default_name,
                width=640 if kind in ("video", "animation") else 240,
                height=360 if kind in ("video", "animation") else 240,
                duration=kw["duration"] or (3 if kind == "voice" else 5),
            )
            out[kind] = self.media_json(rec, kind)
            media = True
        doc = kw["document"]
        if doc is not None and doc is not False:
            if isinstance(doc, tuple):
                name, data = doc
            else:
                name, data = "document.pdf", self._file_bytes(doc, b"%PDF-1.4\n% fake\n")
            rec = self._make_file("document", data, file_name=name)
            out["document"] = self.media_json(rec, "document")
            media = True
        sticker = kw["sticker"]
        if sticker is not None and sticker is not False:
            rec = self._make_file("sticker", b"RIFF\x00\x00\x00\x00WEBPfake", width=512, height=512)
            emoji = sticker if isinstance(sticker, str) else "👍"
            out["sticker"] = self.media_json(rec, "sticker", emoji=emoji)
        if kw["location"] is not None:
            loc = self._location_json(kw["location"], kw["live_period"])
            out["location"] = loc
        if kw["venue"] is not None:
            v = dict(kw["venue"])
            loc = self._location_json((v.pop("latitude", 0.0), v.pop("longitude", 0.0)), None)
            venue = {
                "location": loc,
                "title": v.pop("title", "Venue"),
                "address": v.pop("address", ""),
            }
            venue.update(v)
            out["venue"] = venue
            out["location"] = loc
        contact = kw["contact"]
        if contact is not None:
            if isinstance(contact, str):
                contact = {
                    "phone_number": contact,
                    "first_name": user.first_name if user else "Contact",
                }
                if user is not None:
                    contact["user_id"] = user.id
            out["contact"] = dict(contact)
        poll = kw["poll"]
        if poll is not None:
            out["poll"] = self._poll_json(poll)
        if kw["dice"] is not None:
            out["dice"] = {"emoji": kw["dice"], "value": 6}
        if text is not None:
            if media:
                caption = text if caption is None else caption
            else:
                out["text"] = text
                ents = kw["entities"] if kw["entities"] is not None else detect_entities(text)
                if ents:
                    out["entities"] = ents
        if caption is not None and media:
            out["caption"] = caption
            ents = kw["entities"] if kw["entities"] is not None else detect_entities(caption)
            if ents:
                out["caption_entities"] = ents
        return out

    @staticmethod
    def _location_json(value: tuple[float, ...], live_period: int | None) -> dict[str, Any]:
        loc: dict[str, Any] = {"latitude": float(value[0]), "longitude": float(value[1])}
        if len(value) > 2 and value[2] is not None:
            loc["horizontal_accuracy"] = float(value[2])
        if live_period is not None:
            loc["live_period"] = live_period
        return loc

    @staticmethod
    def _poll_json(poll: dict[str, Any] | str) -> dict[str, Any]:
        if isinstance(poll, str):
            poll = {"question": poll}
        options = poll.get("options", ["Yes", "No"])
        return {
            "id": str(poll.get("id", 5_000_000_000_000_000_000 + len(str(poll)))),
            "question": poll["question"],
            "options": [
                {"persistent_id": str(i), "text": o, "voter_count": 0}
                for i, o in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": bool(poll.get("is_closed", False)),
            "is_anonymous": bool(poll.get("is_anonymous", False)),
            "type": poll.get("type", "regular"),
            "allows_multiple_answers": bool(poll.get("allows_multiple_answers", False)),
            "allows_revoting": True,
            "members_only": False,
        }

    async def send_album(
        self,
        user: UserLike,
        chat: ChatLike | None = None,
        photos: int = 3,
        *,
        videos: int = 0,
        caption: str | None = None,
    ) -> list[dict[str, Any]]:
        """An album: consecutive messages sharing one media_group_id (caption on the first)."""
        group_id = new_media_group_id()
        out = []
        for i in range(photos + videos):
            kwargs: dict[str, Any] = {"photo": True} if i < photos else {"video": True}
            msg = await self.send_message(
                user,
                chat,
                caption=caption if i == 0 else None,
                media_group_id=group_id,
                **kwargs,
            )
            out.append(msg)
        return out

    async def new_chat_members(
        self, chat: ChatLike, users: Sequence[UserLike], by: UserLike | None = None
    ) -> dict[str, Any]:
        """Service message "X joined/was added" (members become "member")."""
        c = self.chat(chat)
        user_recs = [self.user(u) for u in users]
        for u in user_recs:
            self._set_member(c, u.id, "member")
        actor = self.user(by) if by is not None else user_recs[0]
        rec = self._new_message(
            c,
            {"new_chat_members": [u.to_json() for u in user_recs]},
            from_user=actor,
            from_bot=False,
        )
        self._deliver_message(c, rec, "message")
        return rec.data

    async def left_chat_member(
        self, chat: ChatLike, user: UserLike, by: UserLike | None = None
    ) -> dict[str, Any]:
        c = self.chat(chat)
        u = self.user(user)
        c.members[u.id] = MemberRec(u.id, "left")
        actor = self.user(by) if by is not None else u
        rec = self._new_message(
            c, {"left_chat_member": u.to_json()}, from_user=actor, from_bot=False
        )
        self._deliver_message(c, rec, "message")
        return rec.data

    # ================================================================== edits
    async def edit_message(
        self,
        message: dict[str, Any],
        text: str | None = None,
        *,
        caption: str | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The author edits their message: ``edited_message`` update.  Returns new version."""
        rec = self.message_rec(message)
        rec.snapshot()
        if text is not None:
            rec.data["text"] = text
            ents = entities if entities is not None else detect_entities(text)
            rec.data.pop("entities", None)
            if ents:
                rec.data["entities"] = ents
        if caption is not None:
            rec.data["caption"] = caption
            ents = entities if entities is not None else detect_entities(caption)
            rec.data.pop("caption_entities", None)
            if ents:
                rec.data["caption_entities"] = ents
        return self._edited(rec)

    async def edit_location(
        self,
        message: dict[str, Any],
        lat: float,
        lon: float,
        *,
        heading: int | None = None,
        horizontal_accuracy: float | None = None,
    ) -> dict[str, Any]:
        """A live location moved: ``edited_message`` update with the new coordinates."""
        rec = self.message_rec(message)
        loc = rec.data.get("location")
        if loc is None:
            raise AssertionError("message has no location")
        rec.snapshot()
        new = dict(loc)
        new.update({"latitude": float(lat), "longitude": float(lon)})
        if heading is not None:
            new["heading"] = heading
        if horizontal_accuracy is not None:
            new["horizontal_accuracy"] = float(horizontal_accuracy)
        rec.data["location"] = new
        return self._edited(rec)

    def _edited(self, rec: MessageRec) -> dict[str, Any]:
        rec.data["edit_date"] = max(self._date(), int(rec.data["date"]))
        chat = self.chats[rec.chat_id]
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        self._deliver_message(chat, rec, kind)
        return rec.data

    # ================================================================== callbacks
    async def press(
        self,
        user: UserLike,
        message: dict[str, Any],
        data: str,
        *,
        strict: bool = True,
    ) -> str:
        """The user presses an inline button on ``message`` (uses the fake's *current* version
        of it).  With ``strict`` the button must exist and the message must not be deleted.
        Returns the callback query id."""
        u = self.user(user)
        rec = self.message_rec(message)
        if strict:
            if rec.deleted:
                raise AssertionError(f"message {rec.message_id} was deleted; cannot press")
            buttons = [
                b.get("callback_data")
                for row in rec.data.get("reply_markup", {}).get("inline_keyboard", [])
                for b in row
            ]
            if data not in buttons:
                raise AssertionError(
                    f"no inline button with callback_data={data!r} on message "
                    f"{rec.message_id}; buttons: {buttons}"
                )
        qid = new_callback_query_id()
        query = {
            "id": qid,
            "from": u.to_json(),
            "message": copy.deepcopy(rec.data),
            "chat_instance": self._chat_instance(rec.chat_id),
            "data": data,
        }
        self.callback_queries[qid] = {"query": query, "answer": None, "date": self.now()}
        self._enqueue({"callback_query": query})
        return qid

    def _chat_instance(self, chat_id: int) -> str:
        store = self.bot_extra.setdefault("_chat_instances", {})
        if chat_id not in store:
            store[chat_id] = new_chat_instance()
        return str(store[chat_id])

    def answered_callback(self, query_id: str) -> dict[str, Any] | None:
        """Params of the answerCallbackQuery call for ``query_id`` (None if unanswered)."""
        entry = self.callback_queries.get(query_id)
        return None if entry is None else entry["answer"]

    # ================================================================== membership
    def _link_for(self, chat: ChatRec, link: str | dict[str, Any] | None) -> InviteLinkRec | None:
        if link is None:
            return None
        url = link if isinstance(link, str) else link["invite_link"]
        rec = chat.invite_links.get(url)
        if rec is None:
            rec = InviteLinkRec(
                invite_link=url, chat_id=chat.id, creator_id=self.bot_id, creates_join_request=True
            )
            chat.invite_links[url] = rec
        return rec

    async def join_request(
        self,
        user: UserLike,
        chat: ChatLike,
        invite_link: str | dict[str, Any] | None = None,
        bio: str | None = None,
    ) -> dict[str, Any]:
        """``chat_join_request`` update; the request stays pending until approved/declined.
        For 5 minutes (fake clock) the bot may message the requester even if not started."""
        u = self.user(user)
        c = self.chat(chat)
        link = self._link_for(c, invite_link)
        date = self._date()
        c.join_requests[u.id] = JoinRequestRec(
            c.id, u.id, date, bio=bio, invite_link=link.invite_link if link else None
        )
        body: dict[str, Any] = {
            "chat": c.to_json(),
            "from": u.to_json(),
            "user_chat_id": u.id,
            "date": date,
        }
        if bio is not None:
            body["bio"] = bio
        if link is not None:
            body["invite_link"] = self.link_json(link)
        return self._enqueue({"chat_join_request": body})

    def _member_spec(self, chat: ChatRec, user: UserRec, spec: MemberSpec) -> dict[str, Any]:
        if isinstance(spec, str):
            spec = {"status": spec}
        spec = dict(spec)
        status = spec.pop("status")
        if status in ("administrator",) and not spec:
            from .builders import default_admin_rights

            spec = default_admin_rights(chat.type, user.id == self.bot_id)
        return chat_member_json(
            user.to_json(),
            status,
            spec,
            chat_type=chat.type,
            until_date=spec.get("until_date"),
            is_member=spec.get("is_member", True),
        )

    def _apply_member(self, chat: ChatRec, user_id: int, member: dict[str, Any]) -> None:
        status = member["status"]
        rights = {k: v for k, v in member.items() if isinstance(v, bool) and k.startswith("can_")}
        self._set_member(
            chat, user_id, status, rights, member.get("until_date"), member.get("is_member", True)
        )

    async def chat_member_update(
        self,
        chat: ChatLike,
        user: UserLike,
        old_status: MemberSpec,
        new_status: MemberSpec,
        by: UserLike | None = None,
        *,
        invite_link: str | dict[str, Any] | None = None,
        via_join_request: bool = False,
    ) -> dict[str, Any]:
        """``chat_member`` update (and the state change).  Note: Telegram only delivers it
        when "chat_member" is listed in allowed_updates and the bot is an administrator."""
        c = self.chat(chat)
        u = self.user(user)
        actor = self.user(by) if by is not None else u
        old = self._member_spec(c, u, old_status)
        new = self._member_spec(c, u, new_status)
        self._apply_member(c, u.id, new)
        body: dict[str, Any] = {
            "chat": c.to_json(),
            "from": actor.to_json(),
            "date": self._date(),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        link = self._link_for(c, invite_link)
        if link is not None:
            body["invite_link"] = self.link_json(link)
        if via_join_request:
            body["via_join_request"] = True
        if c.type == "private" or not self._bot_has_right(c, "can_manage_chat"):
            self.filtered_updates.append({"chat_member": body})
            self._notify()
            return {"chat_member": body}
        return self._enqueue({"chat_member": body})

    async def my_chat_member_update(
        self,
        chat: ChatLike,
        old: MemberSpec,
        new: MemberSpec,
        by: UserLike | None = None,
    ) -> dict[str, Any]:
        """``my_chat_member`` update about the bot (added/promoted/kicked/blocked...)."""
        c = self.chat(chat)
        if by is not None:
            actor = self.user(by)
        elif c.type == "private":
            actor = self.user(c.id)
        else:
            actor = self._default_actor(c)
        old_json = self._member_spec(c, self.bot, old)
        new_json = self._member_spec(c, self.bot, new)
        if c.type == "private":
            u = self.user(c.id)
            u.blocked = new_json["status"] == "kicked"
            if not u.blocked:
                u.started = True
        else:
            self._apply_member(c, self.bot_id, new_json)
        body = {
            "chat": c.to_json(),
            "from": actor.to_json(),
            "date": self._date(),
            "old_chat_member": old_json,
            "new_chat_member": new_json,
        }
        return self._enqueue({"my_chat_member": body})

    def _default_actor(self, chat: ChatRec) -> UserRec:
        for status in ("creator", "administrator", "member"):
            for uid, m in chat.members.items():
                if m.status == status and uid != self.bot_id:
                    return self.users[uid]
        return self._anon_bot()

    def _anon_bot(self) -> UserRec:
        if GROUP_ANONYMOUS_BOT not in self.users:
            self.users[GROUP_ANONYMOUS_BOT] = UserRec(
                GROUP_ANONYMOUS_BOT, "Group", username="GroupAnonymousBot", is_bot=True
            )
        return self.users[GROUP_ANONYMOUS_BOT]

    async def migrate_update(
        self, old_chat: ChatLike, new_chat_id: int, by: UserLike | None = None
    ) -> list[dict[str, Any]]:
        """Group → supergroup upgrade: state change plus the two service messages Telegram
        sends (``migrate_to_chat_id`` in the old group, ``migrate_from_chat_id`` in the new)."""
        old = self.chat(old_chat)
        actor = self.user(by) if by is not None else self._default_actor(old)
        self.migrate_group(old, new_chat_id)
        new = self.chats[new_chat_id]
        first = self._new_message(
            old, {"migrate_to_chat_id": new_chat_id}, from_user=actor, from_bot=False
        )
        anon = self._anon_bot()
        second = self._new_message(
            new, {"migrate_from_chat_id": old.id}, from_user=anon, from_bot=False, sender_chat=new
        )
        return [
            self._enqueue({"message": copy.deepcopy(first.data)}),
            self._enqueue({"message": copy.deepcopy(second.data)}),
        ]
