"""Small pure helpers: UTF-16 lengths, ids, entity detection, ChatMember JSON, fake media."""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import struct
import zlib
from typing import Any

# --------------------------------------------------------------------------- text


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?!\w)")
_HASHTAG_RE = re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")
_URL_RE = re.compile(r"(?<![\w/])(?:https?://)[^\s<>\"]+[^\s<>\".,;:!?)\]]")
_EMAIL_RE = re.compile(r"(?<![\w.])[\w.+-]+@[\w-]+\.[\w.-]*\w")


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram's clients/servers attach to plain incoming text.

    bot_command (``/cmd`` and ``/cmd@bot``), mention, hashtag, url, email; offsets in UTF-16.
    """
    found: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    for kind, regex in (
        ("url", _URL_RE),
        ("email", _EMAIL_RE),
        ("bot_command", _COMMAND_RE),
        ("mention", _MENTION_RE),
        ("hashtag", _HASHTAG_RE),
    ):
        for m in regex.finditer(text):
            start, end = m.span()
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append((start, end, kind))
    found.sort()
    return [
        {
            "type": kind,
            "offset": utf16_len(text[:start]),
            "length": utf16_len(text[start:end]),
        }
        for start, end, kind in found
    ]


# --------------------------------------------------------------------------- ids

_counter = itertools.count(1)

_FILE_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
    "animation": "CgACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_file_id(kind: str) -> str:
    n = next(_counter)
    return _FILE_ID_PREFIX.get(kind, "BQACAgIAAxkBAAI") + _b64(
        struct.pack(">I", n) + secrets.token_bytes(45)
    )


def new_file_unique_id() -> str:
    n = next(_counter)
    return "AQAD" + _b64(struct.pack(">I", n) + secrets.token_bytes(8))


def new_media_group_id() -> str:
    return str(13_000_000_000_000_000 + secrets.randbelow(10**15))


def new_callback_query_id() -> str:
    return str(4_000_000_000_000_000_000 + secrets.randbelow(10**18))


def new_invite_hash() -> str:
    return _b64(secrets.token_bytes(12))


def new_chat_instance() -> str:
    return str(-(10**18) + secrets.randbelow(10**18) * 2)


# --------------------------------------------------------------------------- media


def tiny_png(width: int = 1, height: int = 1, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A valid PNG of the given size (solid colour)."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def image_size(data: bytes) -> tuple[int, int] | None:
    """Sniff (width, height) of PNG / GIF / JPEG bytes; None when unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + seg_len
    return None


def photo_dimensions(width: int, height: int) -> list[tuple[int, int]]:
    """The PhotoSize ladder Telegram produces (s=90, m=320, x=800, y=1280 on the long side)."""
    longest = max(width, height, 1)
    sizes: list[tuple[int, int]] = []
    for limit in (90, 320, 800, 1280):
        factor = min(1.0, limit / longest)
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        if size not in sizes:
            sizes.append(size)
        if factor == 1.0:
            break
    return sizes


def guess_mime(file_name: str | None, kind: str) -> str:
    ext = (file_name or "").rsplit(".", 1)[-1].lower() if file_name and "." in file_name else ""
    table = {
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "gif": "image/gif",
        "pdf": "application/pdf",
        "txt": "text/plain",
        "csv": "text/csv",
        "json": "application/json",
        "zip": "application/zip",
        "mp4": "video/mp4",
        "mov": "video/quicktime",
        "ogg": "audio/ogg",
        "oga": "audio/ogg",
        "mp3": "audio/mpeg",
        "webp": "image/webp",
    }
    if ext in table:
        return table[ext]
    return {
        "video": "video/mp4",
        "voice": "audio/ogg",
        "audio": "audio/mpeg",
        "animation": "video/mp4",
        "photo": "image/jpeg",
    }.get(kind, "application/octet-stream")


FILE_PATH_DIR = {
    "photo": ("photos", "jpg"),
    "document": ("documents", "bin"),
    "video": ("videos", "mp4"),
    "voice": ("voice", "oga"),
    "audio": ("music", "mp3"),
    "animation": ("animations", "mp4"),
    "sticker": ("stickers", "webp"),
    "video_note": ("video_notes", "mp4"),
    "thumbnail": ("thumbnails", "jpg"),
}


# --------------------------------------------------------------------------- chat members

ADMIN_RIGHTS: tuple[str, ...] = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
)
# Optional in ChatMemberAdministrator, present depending on chat type.
ADMIN_OPTIONAL_RIGHTS: tuple[str, ...] = (
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
    "can_manage_topics",
    "can_manage_direct_messages",
    "can_manage_tags",
)
ALL_ADMIN_RIGHTS: tuple[str, ...] = ADMIN_RIGHTS + ADMIN_OPTIONAL_RIGHTS

PERMISSIONS: tuple[str, ...] = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)

STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")


def default_admin_rights(chat_type: str, value: bool = True) -> dict[str, bool]:
    rights = {name: value for name in ADMIN_RIGHTS}
    rights["can_pin_messages"] = value
    if chat_type == "channel":
        rights["can_post_messages"] = value
        rights["can_edit_messages"] = value
        rights.pop("can_pin_messages")
    if chat_type == "supergroup":
        rights["can_manage_topics"] = value
    return rights


def default_permissions(value: bool = True) -> dict[str, bool]:
    return {name: value for name in PERMISSIONS}


def chat_member_json(
    user: dict[str, Any],
    status: str,
    rights: dict[str, Any] | None = None,
    *,
    chat_type: str = "supergroup",
    until_date: int | None = None,
    is_member: bool = True,
    custom_title: str | None = None,
    can_be_edited: bool = False,
    is_anonymous: bool = False,
) -> dict[str, Any]:
    """A ChatMember object of the right subtype for ``status``."""
    rights = dict(rights or {})
    out: dict[str, Any] = {"status": status, "user": dict(user)}
    if status == "creator":
        out["is_anonymous"] = is_anonymous
        if custom_title:
            out["custom_title"] = custom_title
    elif status == "administrator":
        base = default_admin_rights(chat_type, False)
        for key, value in rights.items():
            if key in ALL_ADMIN_RIGHTS:
                base[key] = bool(value)
        out["can_be_edited"] = can_be_edited
        out["is_anonymous"] = is_anonymous
        out.update(base)
        if custom_title:
            out["custom_title"] = custom_title
    elif status == "member":
        if until_date:
            out["until_date"] = until_date
    elif status == "restricted":
        perms = default_permissions(True)
        for key, value in rights.items():
            if key in PERMISSIONS:
                perms[key] = bool(value)
        out["is_member"] = is_member
        out.update(perms)
        out["until_date"] = until_date or 0
    elif status == "kicked":
        out["until_date"] = until_date or 0
    elif status != "left":
        raise ValueError(f"unknown chat member status {status!r}")
    return out
