"""In-memory records kept by the fake Telegram server."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import TgError


@dataclass
class UserRec:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    is_premium: bool = False
    started: bool = True  # has the user ever started (written to) the bot?
    blocked: bool = False  # has the user blocked the bot?

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        if self.language_code:
            out["language_code"] = self.language_code
        if self.is_premium:
            out["is_premium"] = True
        return out


@dataclass
class MemberRec:
    user_id: int
    status: str  # creator | administrator | member | restricted | left | kicked
    rights: dict[str, bool] = field(default_factory=dict)  # admin rights or permissions
    until_date: int | None = None
    is_member: bool = True  # for "restricted"
    custom_title: str | None = None
    joined_date: int | None = None


@dataclass
class InviteLinkRec:
    invite_link: str
    chat_id: int
    creator_id: int
    creates_join_request: bool = False
    is_primary: bool = False
    is_revoked: bool = False
    name: str | None = None
    expire_date: int | None = None
    member_limit: int | None = None
    subscription_period: int | None = None
    subscription_price: int | None = None
    joined: int = 0


@dataclass
class JoinRequestRec:
    chat_id: int
    user_id: int
    date: int
    bio: str | None = None
    invite_link: str | None = None
    status: str = "pending"  # pending | approved | declined


@dataclass
class ChatRec:
    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    description: str | None = None
    is_forum: bool = False
    members: dict[int, MemberRec] = field(default_factory=dict)
    permissions: dict[str, bool] = field(default_factory=dict)
    migrated_to: int | None = None
    migrated_from: int | None = None
    next_message_id: int = 1
    pinned: list[int] = field(default_factory=list)
    invite_links: dict[str, InviteLinkRec] = field(default_factory=dict)
    join_requests: dict[int, JoinRequestRec] = field(default_factory=dict)
    menu_button: dict[str, Any] | None = None
    photo: dict[str, Any] | None = None
    member_count: int | None = None  # overrides the count of known members when set
    primary_link: str | None = None

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.first_name or ""
            if self.last_name:
                out["last_name"] = self.last_name
        else:
            out["title"] = self.title or ""
        if self.username:
            out["username"] = self.username
        if self.type == "supergroup" and self.is_forum:
            out["is_forum"] = True
        if self.type == "group":
            out["all_members_are_administrators"] = False
        return out


@dataclass
class FileRec:
    file_id: str
    file_unique_id: str
    kind: str  # photo | document | video | voice | audio | animation | sticker | thumbnail
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    file_path: str | None = None
    uploaded: bool = False  # came in through a bot upload (vs. injected by a test)

    @property
    def file_size(self) -> int:
        return len(self.data)


@dataclass
class MessageRec:
    chat_id: int
    message_id: int
    data: dict[str, Any]  # the current Telegram Message object
    from_bot: bool
    history: list[dict[str, Any]] = field(default_factory=list)  # previous versions
    deleted: bool = False
    sent_reply_markup: dict[str, Any] | None = None  # any keyboard the bot attached (incl. reply)

    def versions(self) -> list[dict[str, Any]]:
        return [*self.history, self.data]

    def snapshot(self) -> None:
        self.history.append(copy.deepcopy(self.data))


@dataclass
class Call:
    """One Bot API request as the fake saw it."""

    seq: int
    method: str  # canonical spelling, e.g. "sendMessage" (the raw one is in raw_method)
    params: dict[str, Any]  # parsed; uploads replaced by {"upload": ..., "size": ...} metadata
    timestamp: float  # fake clock (tg.now())
    token: str = ""
    raw_method: str = ""
    result: Any = None
    error: TgError | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    via: str = "http"  # "http" | "webhook-reply"

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> int:
        return 200 if self.error is None else self.error.error_code

    def short(self) -> str:
        outcome = "ok" if self.error is None else f"ERR {self.error.description}"
        params = {k: v for k, v in self.params.items() if k != "reply_markup"}
        text = repr(params)
        if len(text) > 160:
            text = text[:157] + "..."
        return f"#{self.seq} {self.method} {text} -> {outcome}"


@dataclass
class WebhookDelivery:
    update_id: int
    status: int | None  # HTTP status, None when the connection failed
    attempt: int = 1
    error: str | None = None
    timestamp: float = 0.0


@dataclass
class FailRule:
    method: str  # lower-case, or "*" for any
    error: TgError
    times: int
    match: dict[str, Any]


@dataclass
class Stats:
    requests: int = 0
    messages: int = 0  # messages successfully produced by the bot (album items count each)
    too_many_requests: int = 0  # 429 answers (flood limits and injected)
    errors: int = 0
    bytes_uploaded: int = 0
    uploads: int = 0
    by_method: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "messages": self.messages,
            "too_many_requests": self.too_many_requests,
            "errors": self.errors,
            "bytes_uploaded": self.bytes_uploaded,
            "uploads": self.uploads,
            "by_method": dict(self.by_method),
        }


@dataclass
class QueuedUpdate:
    update: dict[str, Any]
    duplicate: bool = False
    sent: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return update_type(self.update)


def update_type(update: dict[str, Any]) -> str:
    for key in update:
        if key != "update_id":
            return key
    return "unknown"
