"""State container shared by the API method implementations and the update injectors."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

from .builders import (
    FILE_PATH_DIR,
    chat_member_json,
    default_admin_rights,
    default_permissions,
    guess_mime,
    image_size,
    new_file_id,
    new_file_unique_id,
    photo_dimensions,
    tiny_png,
)
from .errors import TgError
from .limits import FloodLimits
from .state import (
    Call,
    ChatRec,
    FailRule,
    FileRec,
    InviteLinkRec,
    MemberRec,
    MessageRec,
    QueuedUpdate,
    Stats,
    UserRec,
    WebhookDelivery,
)

# Telegram only sends these when they are listed in allowed_updates explicitly.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
JOIN_REQUEST_WINDOW = 300.0  # seconds a bot may write to a join requester (user_chat_id)

UserLike = int | dict[str, Any] | UserRec
ChatLike = int | str | dict[str, Any] | ChatRec


class TelegramCore:
    """All in-memory state + helpers.  Subclassed by the method/injection mixins."""

    def __init__(
        self,
        *,
        bot_id: int = 42,
        bot_username: str = "six_circles_bot",
        bot_first_name: str = "Six Circles",
        webhook_retries: int = 0,
        auto_member_updates: bool = True,
    ) -> None:
        self.bot = UserRec(
            id=bot_id,
            first_name=bot_first_name,
            username=bot_username,
            is_bot=True,
            language_code=None,
        )
        self.bot_extra: dict[str, Any] = {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.webhook_retries = webhook_retries
        self.auto_member_updates = auto_member_updates
        self.users: dict[int, UserRec] = {bot_id: self.bot}
        self.chats: dict[int, ChatRec] = {}
        self.messages: dict[tuple[int, int], MessageRec] = {}
        self.bot_sent: dict[int, list[int]] = {}
        self.files: dict[str, FileRec] = {}
        self.photo_groups: dict[str, list[FileRec]] = {}
        self.file_paths: dict[str, FileRec] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.default_menu_button: dict[str, Any] = {"type": "commands"}
        self.default_admin_rights: dict[bool, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.stats = Stats()
        self.webhook: dict[str, Any] | None = None
        self.webhook_last_error: tuple[int, str] | None = None
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.allowed_updates: list[str] = []
        self.injected: list[dict[str, Any]] = []
        self.filtered_updates: list[dict[str, Any]] = []
        self.limits: FloodLimits | None = None
        self._queue: list[QueuedUpdate] = []
        self._update_seq = 700_000_000
        self._call_seq = 0
        self._clock_offset = 0.0
        self._fail_rules: list[FailRule] = []
        self._changed: asyncio.Event | None = None
        self._file_path_seq = 0
        self.stopped_live: set[tuple[int, int]] = set()

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """Fake wall clock (unix seconds): real time plus everything passed to ``advance``."""
        return time.time() + self._clock_offset

    def monotonic(self) -> float:
        return time.monotonic() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake clock forward (message dates, join-request window, flood windows)."""
        self._clock_offset += seconds
        self._notify()

    def _date(self) -> int:
        return int(self.now())

    # ------------------------------------------------------------------ notifications
    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        if event is not None:
            event.set()

    def _on_enqueued(self) -> None:
        """Hook for the server (webhook delivery)."""

    # ------------------------------------------------------------------ bot identity
    @property
    def bot_id(self) -> int:
        return self.bot.id

    @property
    def bot_user(self) -> dict[str, Any]:
        return self.bot.to_json()

    def get_me_json(self) -> dict[str, Any]:
        return {**self.bot.to_json(), **self.bot_extra}

    # ------------------------------------------------------------------ lookups
    def user(self, user: UserLike) -> UserRec:
        if isinstance(user, UserRec):
            return user
        uid = int(user["id"]) if isinstance(user, dict) else int(user)
        try:
            return self.users[uid]
        except KeyError:
            raise KeyError(f"unknown user {uid}; call tg.add_user() first") from None

    def chat(self, chat: ChatLike) -> ChatRec:
        """The chat record for a test-side reference (id, "@username", dict or record)."""
        if isinstance(chat, ChatRec):
            return chat
        ref: int | str = chat["id"] if isinstance(chat, dict) else chat
        found = self._find_chat(ref)
        if found is None:
            raise KeyError(f"unknown chat {chat!r}; call tg.add_group()/add_user() first")
        return found

    def _find_chat(self, ref: int | str) -> ChatRec | None:
        if isinstance(ref, str):
            ref = ref.strip()
            if ref.startswith("@"):
                name = ref[1:].lower()
                for chat in self.chats.values():
                    if chat.username and chat.username.lower() == name:
                        return chat
                return None
            try:
                ref = int(ref)
            except ValueError:
                return None
        return self.chats.get(int(ref))

    def _api_chat(self, ref: Any) -> ChatRec:
        """Resolve a chat_id parameter of an API call (400 chat not found)."""
        if ref is None or ref == "":
            raise TgError.bad_request("chat_id is empty")
        if isinstance(ref, bool) or not isinstance(ref, int | str):
            raise TgError.bad_request("chat not found")
        chat = self._find_chat(ref)
        if chat is None:
            raise TgError.bad_request("chat not found")
        return chat

    def _api_user(self, ref: Any) -> UserRec:
        try:
            uid = int(ref)
        except (TypeError, ValueError):
            raise TgError.bad_request("invalid user_id specified") from None
        if uid not in self.users:
            raise TgError.bad_request("user not found")
        return self.users[uid]

    @staticmethod
    def chat_label(chat: ChatRec) -> str:
        return {"group": "group", "supergroup": "supergroup", "channel": "channel"}.get(
            chat.type, "group"
        )

    def bot_member(self, chat: ChatRec) -> MemberRec:
        member = chat.members.get(self.bot_id)
        if member is None:
            member = MemberRec(self.bot_id, "left")
        return member

    def _bot_has_right(self, chat: ChatRec, right: str) -> bool:
        member = self.bot_member(chat)
        if member.status == "creator":
            return True
        if member.status == "administrator":
            return bool(member.rights.get(right, False))
        return False

    def _in_join_window(self, user_id: int) -> bool:
        now = self.now()
        for chat in self.chats.values():
            req = chat.join_requests.get(user_id)
            if req and req.status == "pending" and now - req.date <= JOIN_REQUEST_WINDOW:
                return True
        return False

    def _check_chat_access(self, chat: ChatRec) -> None:
        """Errors Telegram gives for any bot action in a chat the bot cannot see."""
        if chat.migrated_to is not None:
            raise TgError.migrate(chat.migrated_to)
        if chat.type == "private":
            return
        member = self.bot_member(chat)
        if member.status == "kicked":
            raise TgError.forbidden(f"bot was kicked from the {self.chat_label(chat)} chat")
        if member.status == "left":
            raise TgError.forbidden(f"bot is not a member of the {self.chat_label(chat)} chat")

    def _check_can_send(self, chat: ChatRec, what: str = "text messages") -> None:
        """Errors for a message-producing call (``what`` names the content for the error)."""
        self._check_chat_access(chat)
        if chat.type == "private":
            user = self.users.get(chat.id)
            if user is None:
                raise TgError.bad_request("chat not found")
            if user.is_bot:
                raise TgError.forbidden("bot can't send messages to bots")
            if user.blocked:
                raise TgError.forbidden("bot was blocked by the user")
            if not user.started and not self._in_join_window(user.id):
                raise TgError.forbidden("bot can't initiate conversation with a user")
            return
        member = self.bot_member(chat)
        if chat.type == "channel":
            if not self._bot_has_right(chat, "can_post_messages"):
                raise TgError.bad_request("need administrator rights in the channel chat")
            return
        if member.status in ("creator", "administrator"):
            return
        perm = _PERMISSION_FOR.get(what, "can_send_messages")
        if member.status == "restricted":
            allowed = member.rights.get(perm, True)
        else:
            allowed = chat.permissions.get(perm, True)
        if not allowed:
            raise TgError.bad_request(f"not enough rights to send {what} to the chat")

    # ------------------------------------------------------------------ members
    def member_json(self, chat: ChatRec, user_id: int) -> dict[str, Any]:
        user = self.users[user_id]
        member = chat.members.get(user_id)
        if chat.type == "private":
            status = "member"
            member = MemberRec(user_id, status)
        elif member is None:
            member = MemberRec(user_id, "left")
        return self._member_rec_json(chat, user, member)

    def _member_rec_json(self, chat: ChatRec, user: UserRec, member: MemberRec) -> dict[str, Any]:
        return chat_member_json(
            user.to_json(),
            member.status,
            member.rights,
            chat_type=chat.type,
            until_date=member.until_date,
            is_member=member.is_member,
            custom_title=member.custom_title,
            can_be_edited=member.status == "administrator" and user.id != self.bot_id,
        )

    def _set_member(
        self,
        chat: ChatRec,
        user_id: int,
        status: str,
        rights: dict[str, Any] | None = None,
        until_date: int | None = None,
        is_member: bool = True,
    ) -> MemberRec:
        if status == "administrator":
            base = default_admin_rights(chat.type, user_id == self.bot_id)
            if user_id != self.bot_id:
                base = {k: False for k in base}
                base["can_manage_chat"] = True
            base.update({k: bool(v) for k, v in (rights or {}).items()})
            rights = base
        elif status == "restricted":
            base = default_permissions(True)
            base.update({k: bool(v) for k, v in (rights or {}).items()})
            rights = base
        member = MemberRec(
            user_id,
            status,
            dict(rights or {}),
            until_date=until_date,
            is_member=is_member,
            joined_date=self._date(),
        )
        chat.members[user_id] = member
        return member

    @staticmethod
    def _is_present(member: MemberRec | None) -> bool:
        if member is None:
            return False
        if member.status == "restricted":
            return member.is_member
        return member.status in ("creator", "administrator", "member")

    def link_json(self, link: InviteLinkRec) -> dict[str, Any]:
        out: dict[str, Any] = {
            "invite_link": link.invite_link,
            "creator": self.users[link.creator_id].to_json(),
            "creates_join_request": link.creates_join_request,
            "is_primary": link.is_primary,
            "is_revoked": link.is_revoked,
        }
        for key in (
            "name",
            "expire_date",
            "member_limit",
            "subscription_period",
            "subscription_price",
        ):
            value = getattr(link, key)
            if value is not None:
                out[key] = value
        if link.creates_join_request:
            chat = self.chats[link.chat_id]
            out["pending_join_request_count"] = sum(
                1
                for r in chat.join_requests.values()
                if r.status == "pending" and r.invite_link == link.invite_link
            )
        return out

    # ------------------------------------------------------------------ messages
    def _new_message(
        self,
        chat: ChatRec,
        content: dict[str, Any],
        *,
        from_user: UserRec | None,
        from_bot: bool,
        date: int | None = None,
        sender_chat: ChatRec | None = None,
    ) -> MessageRec:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        data: dict[str, Any] = {"message_id": message_id}
        if from_user is not None and chat.type != "channel":
            data["from"] = from_user.to_json()
        if chat.type == "channel":
            data["sender_chat"] = chat.to_json()
        elif sender_chat is not None:
            data["sender_chat"] = sender_chat.to_json()
        data["chat"] = chat.to_json()
        data["date"] = self._date() if date is None else date
        data.update(content)
        rec = MessageRec(chat.id, message_id, data, from_bot=from_bot)
        self.messages[(chat.id, message_id)] = rec
        if from_bot:
            self.bot_sent.setdefault(chat.id, []).append(message_id)
        return rec

    def _message(self, chat_id: int, message_id: Any) -> MessageRec | None:
        try:
            rec = self.messages.get((chat_id, int(message_id)))
        except (TypeError, ValueError):
            return None
        if rec is None or rec.deleted:
            return None
        return rec

    def message_rec(
        self, message: dict[str, Any] | MessageRec | int, chat: Any = None
    ) -> MessageRec:
        """Test-side lookup of a stored message (dict from the fake, record, or id+chat)."""
        if isinstance(message, MessageRec):
            return message
        if isinstance(message, dict):
            key = (int(message["chat"]["id"]), int(message["message_id"]))
        else:
            if chat is None:
                raise ValueError("pass chat= together with a bare message id")
            key = (self.chat(chat).id, int(message))
        try:
            return self.messages[key]
        except KeyError:
            raise KeyError(f"unknown message {key}") from None

    # ------------------------------------------------------------------ files
    def _register_file(self, rec: FileRec) -> FileRec:
        self.files[rec.file_id] = rec
        return rec

    def _make_file(
        self,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
        uploaded: bool = False,
    ) -> FileRec:
        return self._register_file(
            FileRec(
                file_id=new_file_id(kind),
                file_unique_id=new_file_unique_id(),
                kind=kind,
                data=data,
                file_name=file_name,
                mime_type=mime_type or (guess_mime(file_name, kind) if kind != "photo" else None),
                width=width,
                height=height,
                duration=duration,
                uploaded=uploaded,
            )
        )

    def _make_photo(self, data: bytes, uploaded: bool = False) -> list[FileRec]:
        size = image_size(data) or (1280, 960)
        sizes = [
            self._make_file("photo", data, width=w, height=h, uploaded=uploaded)
            for w, h in photo_dimensions(*size)
        ]
        for rec in sizes:
            self.photo_groups[rec.file_id] = sizes
        return sizes

    def _assign_path(self, rec: FileRec) -> str:
        if rec.file_path is None:
            self._file_path_seq += 1
            folder, ext = FILE_PATH_DIR.get(rec.kind, ("documents", "bin"))
            if rec.file_name and "." in rec.file_name:
                ext = rec.file_name.rsplit(".", 1)[-1]
            rec.file_path = f"{folder}/file_{self._file_path_seq}.{ext}"
            self.file_paths[rec.file_path] = rec
        return rec.file_path

    @staticmethod
    def photo_json(sizes: list[FileRec]) -> list[dict[str, Any]]:
        return [
            {
                "file_id": r.file_id,
                "file_unique_id": r.file_unique_id,
                "file_size": r.file_size,
                "width": r.width or 0,
                "height": r.height or 0,
            }
            for r in sizes
        ]

    @staticmethod
    def media_json(rec: FileRec, kind: str, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"file_id": rec.file_id, "file_unique_id": rec.file_unique_id}
        if kind in ("video", "animation", "video_note"):
            if kind != "video_note":
                out["width"] = rec.width or 640
                out["height"] = rec.height or 360
            else:
                out["length"] = rec.width or 240
            out["duration"] = rec.duration or 0
        if kind in ("voice", "audio"):
            out["duration"] = rec.duration or 0
        if kind == "sticker":
            out.update(
                {
                    "type": "regular",
                    "width": rec.width or 512,
                    "height": rec.height or 512,
                    "is_animated": False,
                    "is_video": False,
                }
            )
        if rec.file_name and kind in ("document", "video", "audio", "animation"):
            out["file_name"] = rec.file_name
        if rec.mime_type and kind not in ("sticker", "video_note"):
            out["mime_type"] = rec.mime_type
        out["file_size"] = rec.file_size
        out.update({k: v for k, v in extra.items() if v is not None})
        return out

    def default_photo_bytes(self) -> bytes:
        return tiny_png(4, 3)

    # ------------------------------------------------------------------ updates
    def _next_update_id(self) -> int:
        self._update_seq += 1
        return self._update_seq

    def _enqueue(self, update: dict[str, Any], duplicate: bool = False) -> dict[str, Any]:
        if "update_id" not in update:
            update = {"update_id": self._next_update_id(), **update}
        else:
            self._update_seq = max(self._update_seq, int(update["update_id"]))
        self._queue.append(QueuedUpdate(copy.deepcopy(update), duplicate=duplicate))
        self.injected.append(update)
        self._notify()
        self._on_enqueued()
        return update

    def _is_allowed(self, kind: str) -> bool:
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in DEFAULT_EXCLUDED_UPDATES

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed (getUpdates offset) / delivered (webhook)."""
        return [q.update for q in self._queue]


_PERMISSION_FOR = {
    "text messages": "can_send_messages",
    "photos": "can_send_photos",
    "videos": "can_send_videos",
    "documents": "can_send_documents",
    "voice notes": "can_send_voice_notes",
    "audio files": "can_send_audios",
    "video notes": "can_send_video_notes",
    "polls": "can_send_polls",
    "stickers": "can_send_other_messages",
    "animations": "can_send_other_messages",
}
