"""Bot API method implementations (everything except the update-delivery methods).

Each ``api_<canonicalName>`` method takes :class:`Params` and returns the ``result`` or raises
:class:`TgError`.  Descriptions copy real Telegram answers where they are known; a few rare
ones are best guesses (noted in comments).
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from typing import Any

from .builders import (
    ALL_ADMIN_RIGHTS,
    PERMISSIONS,
    detect_entities,
    new_invite_hash,
    utf16_len,
)
from .core import TelegramCore
from .errors import TgError
from .params import Params, Upload
from .state import ChatRec, FileRec, InviteLinkRec, MemberRec, MessageRec
from .textparse import parse_text

CONTENT_KEYS = (
    "text",
    "entities",
    "link_preview_options",
    "photo",
    "video",
    "document",
    "voice",
    "audio",
    "animation",
    "sticker",
    "video_note",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "caption",
    "caption_entities",
    "show_caption_above_media",
    "has_media_spoiler",
)
MEDIA_KEYS = ("photo", "video", "document", "voice", "audio", "animation", "video_note")
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
WRONG_FILE = "wrong file identifier/HTTP URL specified"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_LANG_RE = re.compile(r"([a-z]{2})?")
MAX_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024


class ApiMethods(TelegramCore):
    # ================================================================== helpers
    def _now_int(self) -> int:
        return int(self.now())

    def _parse_caption(self, p: Params) -> dict[str, Any]:
        raw = p.get_str("caption")
        if raw is None:
            return {}
        text, entities = parse_text(raw, p.get_str("parse_mode"), p.get_list("caption_entities"))
        if utf16_len(text) > 1024:
            raise TgError.bad_request("message caption is too long")
        out: dict[str, Any] = {}
        if text:
            out["caption"] = text
            entities = _merge_entities(entities, detect_entities(text))
            if entities:
                out["caption_entities"] = entities
        if p.get_bool("show_caption_above_media"):
            out["show_caption_above_media"] = True
        return out

    def _parse_message_text(self, p: Params) -> dict[str, Any]:
        raw = p.get_str("text")
        if raw is None or raw == "":
            raise TgError.bad_request("message text is empty")
        text, entities = parse_text(raw, p.get_str("parse_mode"), p.get_list("entities"))
        if not text.strip():
            raise TgError.bad_request("message text is empty")
        if utf16_len(text) > 4096:
            raise TgError.bad_request("message is too long")
        out: dict[str, Any] = {"text": text}
        entities = _merge_entities(entities, detect_entities(text))
        if entities:
            out["entities"] = entities
        lpo = p.get_obj("link_preview_options")
        if lpo is None and p.get_bool("disable_web_page_preview"):
            lpo = {"is_disabled": True}
        if lpo:
            out["link_preview_options"] = lpo
        return out

    def _validate_markup(self, markup: dict[str, Any] | None) -> dict[str, Any] | None:
        if markup is None:
            return None
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise TgError.bad_request("can't parse inline keyboard markup JSON object")
            clean_rows: list[list[dict[str, Any]]] = []
            for row in rows:
                clean_row: list[dict[str, Any]] = []
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise TgError.bad_request(
                            "can't parse inline keyboard button: Text must be non-empty"
                        )
                    button = {k: v for k, v in button.items() if v is not None}
                    actions = [a for a in _BUTTON_ACTIONS if a in button]
                    if not actions:
                        raise TgError.bad_request(
                            "can't parse inline keyboard button: Text buttons are unallowed "
                            "in the inline keyboard"
                        )
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= 64:
                        raise TgError.bad_request("BUTTON_DATA_INVALID")
                    url = button.get("url")
                    if url is not None and not re.match(r"(https?|tg)://\S+$", str(url)):
                        raise TgError.bad_request(
                            f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                        )
                    clean_row.append(button)
                clean_rows.append(clean_row)
            return {"inline_keyboard": clean_rows}
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise TgError.bad_request("can't parse reply keyboard markup JSON object")
            return {k: v for k, v in markup.items() if v is not None}
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return {k: v for k, v in markup.items() if v is not None}
        if not markup:
            return None
        raise TgError.bad_request("can't parse reply keyboard markup JSON object")

    def _reply_to(self, chat: ChatRec, p: Params) -> dict[str, Any] | None:
        rp = p.get_obj("reply_parameters")
        allow = p.get_bool("allow_sending_without_reply")
        mid: Any = None
        if rp:
            mid = rp.get("message_id")
            allow = bool(rp.get("allow_sending_without_reply", allow))
            other = rp.get("chat_id")
            if other is not None and str(other) != str(chat.id):
                src_chat = self._api_chat(other)
                src = self._message(src_chat.id, mid)
                if src is None:
                    if allow:
                        return None
                    raise TgError.bad_request("message to be replied not found")
                return {"__external__": _strip_reply(src.data)}
        elif p.get("reply_to_message_id") is not None:
            mid = p.get_int("reply_to_message_id")
        if mid is None:
            return None
        rec = self._message(chat.id, mid)
        if rec is None:
            if allow:
                return None
            raise TgError.bad_request("message to be replied not found")
        return _strip_reply(rec.data)

    def _send(
        self,
        p: Params,
        build: Callable[[ChatRec], dict[str, Any]],
        what: str = "text messages",
        allow_markup: bool = True,
    ) -> dict[str, Any]:
        chat = self._api_chat(p.get("chat_id"))
        self._check_can_send(chat, what)
        content = build(chat)
        rec = self._store_bot_message(chat, content, p, allow_markup)
        return rec.data

    def _store_bot_message(
        self,
        chat: ChatRec,
        content: dict[str, Any],
        p: Params,
        allow_markup: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> MessageRec:
        reply = self._reply_to(chat, p)
        markup = self._validate_markup(p.get_obj("reply_markup")) if allow_markup else None
        head: dict[str, Any] = {}
        thread = p.get_int("message_thread_id")
        if thread and chat.type == "supergroup" and chat.is_forum:
            head["message_thread_id"] = thread
            head["is_topic_message"] = True
        if reply is not None:
            if "__external__" in reply:
                head["external_reply"] = {
                    "origin": _origin_of(reply["__external__"]),
                    "chat": reply["__external__"]["chat"],
                    "message_id": reply["__external__"]["message_id"],
                }
            else:
                head["reply_to_message"] = reply
        if extra:
            head.update(extra)
        head.update(content)
        if markup and "inline_keyboard" in markup:
            head["reply_markup"] = markup
        if p.get_bool("protect_content"):
            head["has_protected_content"] = True
        rec = self._new_message(chat, head, from_user=self.bot, from_bot=True)
        rec.sent_reply_markup = markup
        self.stats.messages += 1
        return rec

    # ------------------------------------------------------------------ files
    def _from_upload(self, up: Upload, kind: str, cache: dict[str, Any]) -> Any:
        key = f"{up.name}:{kind}"
        if key in cache:
            return cache[key]
        if not up.data:
            raise TgError.bad_request("file must be non-empty")
        if len(up.data) > MAX_UPLOAD:
            raise TgError.entity_too_large()
        result: Any
        if kind == "photo":
            result = self._make_photo(up.data, uploaded=True)
        else:
            result = self._make_file(
                kind,
                up.data,
                file_name=up.filename,
                mime_type=up.content_type
                if up.content_type not in (None, "application/octet-stream")
                else None,
                uploaded=True,
            )
        cache[key] = result
        return result

    def _input_file(self, p: Params, ref: Any, kind: str, cache: dict[str, Any]) -> Any:
        """Resolve an InputFile reference → FileRec (or list of PhotoSize FileRecs for photos)."""
        if ref is None or ref == "":
            raise TgError.bad_request(f"there is no {kind.replace('_', ' ')} in the request")
        if not isinstance(ref, str):
            raise TgError.bad_request(WRONG_FILE)
        if ref.startswith("attach://"):
            up = p.files.get(ref[len("attach://") :])
            if up is None:
                raise TgError.bad_request(WRONG_FILE)
            return self._from_upload(up, kind, cache)
        if ref.startswith(("http://", "https://")):
            data = self.default_photo_bytes() if kind == "photo" else f"<{ref}>".encode()
            name = ref.rstrip("/").rsplit("/", 1)[-1] or None
            if kind == "photo":
                return self._make_photo(data)
            return self._make_file(kind, data, file_name=name)
        rec = self.files.get(ref)
        if rec is None:
            raise TgError.bad_request(WRONG_FILE)
        if kind == "photo":
            if rec.kind != "photo":
                raise TgError.bad_request(f"can't use file of type {rec.kind.title()} as Photo")
            return self.photo_groups[rec.file_id]
        compatible = rec.kind == kind or (
            kind == "document" and rec.kind in ("video", "audio", "animation", "voice")
        )
        if not compatible:
            raise TgError.bad_request(
                f"can't use file of type {rec.kind.replace('_', ' ').title()} as "
                f"{kind.replace('_', ' ').title()}"
            )
        return rec

    def _media_content(
        self, p: Params, kind: str, ref: Any, cache: dict[str, Any], spec: dict[str, Any]
    ) -> dict[str, Any]:
        found = self._input_file(p, ref, kind, cache)
        if kind == "photo":
            return {"photo": self.photo_json(found)}
        rec: FileRec = found
        if rec.uploaded:
            for attr in ("duration", "width", "height"):
                if spec.get(attr) is not None:
                    setattr(rec, attr, int(spec[attr]))
        extra: dict[str, Any] = {}
        if kind == "audio":
            extra = {"performer": spec.get("performer"), "title": spec.get("title")}
        if kind == "sticker" and spec.get("emoji"):
            extra = {"emoji": spec.get("emoji")}
        return {kind: self.media_json(rec, kind, **extra)}

    def _send_media(self, p: Params, kind: str, what: str) -> dict[str, Any]:
        def build(chat: ChatRec) -> dict[str, Any]:
            content = self._media_content(p, kind, p.get(kind), {}, p.data)
            if kind not in ("sticker", "video_note"):
                content.update(self._parse_caption(p))
            if p.get_bool("has_spoiler"):
                content["has_media_spoiler"] = True
            return content

        return self._send(p, build, what)

    # ================================================================== identity
    def api_getMe(self, p: Params) -> Any:
        return self.get_me_json()

    def api_logOut(self, p: Params) -> Any:
        return True

    def api_close(self, p: Params) -> Any:
        return True

    # ================================================================== sending
    def api_sendMessage(self, p: Params) -> Any:
        return self._send(p, lambda chat: self._parse_message_text(p))

    def api_sendPhoto(self, p: Params) -> Any:
        return self._send_media(p, "photo", "photos")

    def api_sendDocument(self, p: Params) -> Any:
        return self._send_media(p, "document", "documents")

    def api_sendVideo(self, p: Params) -> Any:
        return self._send_media(p, "video", "videos")

    def api_sendVoice(self, p: Params) -> Any:
        return self._send_media(p, "voice", "voice notes")

    def api_sendAudio(self, p: Params) -> Any:
        return self._send_media(p, "audio", "audio files")

    def api_sendAnimation(self, p: Params) -> Any:
        return self._send_media(p, "animation", "animations")

    def api_sendVideoNote(self, p: Params) -> Any:
        return self._send_media(p, "video_note", "video notes")

    def api_sendSticker(self, p: Params) -> Any:
        return self._send_media(p, "sticker", "stickers")

    def api_sendMediaGroup(self, p: Params) -> Any:
        media = p.get_list("media")
        if not media:
            raise TgError.bad_request('parameter "media" is required')
        if not 2 <= len(media) <= 10:
            # Telegram's exact wording for this case is not documented; close enough.
            raise TgError.bad_request("MEDIA_GROUP_COUNT_INVALID: send 2-10 media in a group")
        types = [m.get("type") if isinstance(m, dict) else None for m in media]
        for t in types:
            if t not in ("photo", "video", "document", "audio"):
                raise TgError.bad_request(f'unsupported media type "{t}" in the media group')
        for single in ("document", "audio"):
            if single in types and any(t != single for t in types):
                raise TgError.bad_request(f"{single} can't be mixed with other media types")
        chat = self._api_chat(p.get("chat_id"))
        self._check_can_send(chat, "photos" if "photo" in types else f"{types[0]}s")
        cache: dict[str, Any] = {}
        contents: list[dict[str, Any]] = []
        for item in media:
            kind = item["type"]
            content = self._media_content(p, kind, item.get("media"), cache, item)
            content.update(self._parse_caption(Params(item)))
            if item.get("has_spoiler"):
                content["has_media_spoiler"] = True
            contents.append(content)
        group_id = _media_group_id()
        inner = Params({k: v for k, v in p.data.items() if k != "reply_markup"}, p.files)
        out = []
        for content in contents:
            rec = self._store_bot_message(
                chat, content, inner, allow_markup=False, extra={"media_group_id": group_id}
            )
            out.append(rec.data)
        return out

    def api_sendLocation(self, p: Params) -> Any:
        def build(chat: ChatRec) -> dict[str, Any]:
            return {"location": self._location(p)}

        return self._send(p, build)

    def _location(self, p: Params) -> dict[str, Any]:
        lat, lon = p.get_float("latitude"), p.get_float("longitude")
        if lat is None or lon is None or not -90 <= lat <= 90 or not -180 <= lon <= 180:
            raise TgError.bad_request("wrong coordinates specified")  # best guess wording
        loc: dict[str, Any] = {"latitude": lat, "longitude": lon}
        acc = p.get_float("horizontal_accuracy")
        if acc is not None:
            if not 0 <= acc <= 1500:
                raise TgError.bad_request("wrong horizontal accuracy specified")
            loc["horizontal_accuracy"] = acc
        live = p.get_int("live_period")
        if live is not None:
            if not (60 <= live <= 86400 or live == 0x7FFFFFFF):
                raise TgError.bad_request("wrong live period specified")
            loc["live_period"] = live
        heading = p.get_int("heading")
        if heading is not None:
            loc["heading"] = heading
        radius = p.get_int("proximity_alert_radius")
        if radius is not None:
            loc["proximity_alert_radius"] = radius
        return loc

    def api_sendVenue(self, p: Params) -> Any:
        def build(chat: ChatRec) -> dict[str, Any]:
            loc = self._location(p)
            title, address = p.get_str("title"), p.get_str("address")
            if not title:
                raise TgError.bad_request("venue title is empty")  # best guess wording
            venue: dict[str, Any] = {"location": loc, "title": title, "address": address or ""}
            for key in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
                if p.get_str(key):
                    venue[key] = p.get_str(key)
            return {"venue": venue, "location": loc}

        return self._send(p, build)

    def api_sendContact(self, p: Params) -> Any:
        def build(chat: ChatRec) -> dict[str, Any]:
            phone, first = p.get_str("phone_number"), p.get_str("first_name")
            if not phone:
                raise TgError.bad_request("phone number is empty")  # best guess wording
            if not first:
                raise TgError.bad_request("first name is empty")  # best guess wording
            contact: dict[str, Any] = {"phone_number": phone, "first_name": first}
            for key in ("last_name", "vcard"):
                if p.get_str(key):
                    contact[key] = p.get_str(key)
            return {"contact": contact}

        return self._send(p, build)

    def api_sendPoll(self, p: Params) -> Any:
        def build(chat: ChatRec) -> dict[str, Any]:
            question = p.get_str("question")
            options = p.get_list("options") or []
            if not question:
                raise TgError.bad_request("poll question must be non-empty")
            if not 2 <= len(options) <= 12:
                raise TgError.bad_request("poll must have at least 2 option")
            opts = [
                {
                    "persistent_id": str(i),
                    "text": o["text"] if isinstance(o, dict) else str(o),
                    "voter_count": 0,
                }
                for i, o in enumerate(options)
            ]
            poll = {
                "id": str(random.randrange(10**18, 10**19)),
                "question": question,
                "options": opts,
                "total_voter_count": 0,
                "is_closed": p.get_bool("is_closed"),
                "is_anonymous": p.get_bool("is_anonymous", True),
                "type": p.get_str("type") or "regular",
                "allows_multiple_answers": p.get_bool("allows_multiple_answers"),
                "allows_revoting": True,
                "members_only": False,
            }
            if poll["type"] == "quiz" and p.get("correct_option_id") is not None:
                poll["correct_option_id"] = p.get_int("correct_option_id")
            return {"poll": poll}

        return self._send(p, build, "polls")

    def api_sendDice(self, p: Params) -> Any:
        def build(chat: ChatRec) -> dict[str, Any]:
            emoji = p.get_str("emoji") or "🎲"
            top = {"🎯": 6, "🎲": 6, "🏀": 5, "⚽": 5, "🎳": 6, "🎰": 64}.get(emoji, 6)
            return {"dice": {"emoji": emoji, "value": random.randint(1, top)}}

        return self._send(p, build, "stickers")

    def _source_message(self, p: Params, verb: str) -> MessageRec:
        src_chat = self._api_chat(p.get("from_chat_id"))
        self._check_chat_access(src_chat)
        src = self._message(src_chat.id, p.get("message_id"))
        if src is None:
            raise TgError.bad_request(f"message to {verb} not found")
        if not any(k in src.data for k in CONTENT_KEYS):
            raise TgError.bad_request(f"message can't be {verb.replace('copy', 'copi')}ed")
        if src.data.get("has_protected_content"):
            raise TgError.bad_request("message has protected content and can't be forwarded")
        return src

    def api_copyMessage(self, p: Params) -> Any:
        src = self._source_message(p, "copy")

        def build(chat: ChatRec) -> dict[str, Any]:
            content = {k: copy.deepcopy(v) for k, v in src.data.items() if k in CONTENT_KEYS}
            if p.get("caption") is not None and any(k in content for k in MEDIA_KEYS):
                content.pop("caption", None)
                content.pop("caption_entities", None)
                content.update(self._parse_caption(p))
            if "poll" in content:
                content["poll"]["id"] = str(random.randrange(10**18, 10**19))
            return content

        data = self._send(p, build, _what_of(src.data))
        return {"message_id": data["message_id"]}

    def api_forwardMessage(self, p: Params) -> Any:
        src = self._source_message(p, "forward")

        def build(chat: ChatRec) -> dict[str, Any]:
            content = {k: copy.deepcopy(v) for k, v in src.data.items() if k in CONTENT_KEYS}
            origin = src.data.get("forward_origin") or _origin_of(src.data)
            content["forward_origin"] = origin
            content.update(_legacy_forward_fields(origin))
            return content

        return self._send(p, build, _what_of(src.data), allow_markup=False)

    # ================================================================== editing
    def _editable(self, p: Params) -> MessageRec | None:
        if p.get_str("inline_message_id"):
            return None
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        if p.get("message_id") is None:
            raise TgError.bad_request("message identifier is not specified")
        rec = self._message(chat.id, p.get("message_id"))
        if rec is None:
            raise TgError.bad_request("message to edit not found")
        if not rec.from_bot:
            raise TgError.bad_request("message can't be edited")
        return rec

    def _apply_edit(
        self,
        rec: MessageRec,
        content: dict[str, Any],
        markup: dict[str, Any] | None,
        drop: tuple[str, ...] = (),
        force: bool = False,
    ) -> dict[str, Any]:
        current = {k: rec.data.get(k) for k in content}
        current_dropped = [k for k in drop if k in rec.data]
        inline = markup if markup and "inline_keyboard" in markup else None
        if (
            not force
            and current == content
            and not current_dropped
            and rec.data.get("reply_markup") == inline
        ):
            raise TgError.bad_request(NOT_MODIFIED)
        rec.snapshot()
        for key in drop:
            rec.data.pop(key, None)
        for key, value in content.items():
            if value is None:
                rec.data.pop(key, None)
            else:
                rec.data[key] = value
        if inline is None:
            rec.data.pop("reply_markup", None)
        else:
            rec.data["reply_markup"] = inline
        rec.sent_reply_markup = inline
        rec.data["edit_date"] = max(self._now_int(), int(rec.data["date"]))
        return rec.data

    def _edit_markup(self, p: Params) -> dict[str, Any] | None:
        markup = self._validate_markup(p.get_obj("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise TgError.bad_request("inline keyboard expected")  # best guess wording
        return markup

    def api_editMessageText(self, p: Params) -> Any:
        content = self._parse_message_text(p)
        markup = self._edit_markup(p)
        rec = self._editable(p)
        if rec is None:
            return True
        if "text" not in rec.data:
            raise TgError.bad_request("there is no text in the message to edit")
        content.setdefault("entities", None)
        content.setdefault("link_preview_options", rec.data.get("link_preview_options"))
        return self._apply_edit(rec, content, markup)

    def api_editMessageCaption(self, p: Params) -> Any:
        caption = self._parse_caption(p)
        markup = self._edit_markup(p)
        rec = self._editable(p)
        if rec is None:
            return True
        if not any(k in rec.data for k in MEDIA_KEYS):
            raise TgError.bad_request("there is no caption in the message to edit")
        content = {
            "caption": caption.get("caption"),
            "caption_entities": caption.get("caption_entities"),
        }
        return self._apply_edit(rec, content, markup)

    def api_editMessageReplyMarkup(self, p: Params) -> Any:
        markup = self._edit_markup(p)
        rec = self._editable(p)
        if rec is None:
            return True
        return self._apply_edit(rec, {}, markup)

    def api_editMessageMedia(self, p: Params) -> Any:
        media = p.get_obj("media")
        if not media or media.get("type") not in (
            "photo",
            "video",
            "document",
            "audio",
            "animation",
        ):
            raise TgError.bad_request("can't parse InputMedia JSON object")
        markup = self._edit_markup(p)
        rec = self._editable(p)
        if rec is None:
            return True
        if not any(k in rec.data for k in MEDIA_KEYS):
            raise TgError.bad_request("there is no media in the message to edit")
        kind = media["type"]
        content: dict[str, Any] = dict.fromkeys(MEDIA_KEYS)
        content.update(self._media_content(p, kind, media.get("media"), {}, media))
        cap = self._parse_caption(Params(media))
        content["caption"] = cap.get("caption")
        content["caption_entities"] = cap.get("caption_entities")
        return self._apply_edit(rec, content, markup)

    def api_editMessageLiveLocation(self, p: Params) -> Any:
        markup = self._edit_markup(p)
        rec = self._editable(p)
        if rec is None:
            return True
        loc = rec.data.get("location")
        key = (rec.chat_id, rec.message_id)
        if not loc or "live_period" not in loc or key in self.stopped_live:
            raise TgError.bad_request("message can't be edited")
        new = dict(loc)
        new.update(self._location(p))
        new["live_period"] = loc["live_period"]
        return self._apply_edit(rec, {"location": new}, markup)

    def api_stopMessageLiveLocation(self, p: Params) -> Any:
        markup = self._edit_markup(p)
        rec = self._editable(p)
        if rec is None:
            return True
        loc = rec.data.get("location")
        key = (rec.chat_id, rec.message_id)
        if not loc or "live_period" not in loc or key in self.stopped_live:
            raise TgError.bad_request("message can't be edited")
        self.stopped_live.add(key)
        new = {k: v for k, v in loc.items() if k not in ("heading", "proximity_alert_radius")}
        return self._apply_edit(rec, {"location": new}, markup, force=True)

    def api_deleteMessage(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        self._delete_one(chat, p.get("message_id"))
        return True

    def api_deleteMessages(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        ids = p.get_list("message_ids") or []
        if not 1 <= len(ids) <= 100:
            raise TgError.bad_request("message identifiers are not specified")
        deleted = 0
        for mid in ids:
            try:
                self._delete_one(chat, mid)
                deleted += 1
            except TgError:
                continue
        if not deleted:
            raise TgError.bad_request("message to delete not found")
        return True

    def _delete_one(self, chat: ChatRec, message_id: Any) -> None:
        rec = self._message(chat.id, message_id)
        if rec is None:
            raise TgError.bad_request("message to delete not found")
        admin = chat.type != "private" and self._bot_has_right(chat, "can_delete_messages")
        if not admin:
            if chat.type != "private" and not rec.from_bot:
                raise TgError.bad_request("message can't be deleted")
            if self.now() - float(rec.data["date"]) > 48 * 3600:
                raise TgError.bad_request("message can't be deleted for everyone")
        rec.deleted = True

    def api_pinChatMessage(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        self._check_pin_rights(chat)
        rec = self._message(chat.id, p.get("message_id"))
        if rec is None:
            raise TgError.bad_request("message to pin not found")
        if rec.message_id in chat.pinned:
            chat.pinned.remove(rec.message_id)
        chat.pinned.append(rec.message_id)
        return True

    def _check_pin_rights(self, chat: ChatRec) -> None:
        if chat.type == "private":
            return
        right = "can_edit_messages" if chat.type == "channel" else "can_pin_messages"
        member = self.bot_member(chat)
        ok = self._bot_has_right(chat, right) or (
            member.status == "member"
            and chat.type != "channel"
            and chat.permissions.get("can_pin_messages", False)
        )
        if not ok:
            raise TgError.bad_request("not enough rights to manage pinned messages in the chat")

    def api_unpinChatMessage(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        self._check_pin_rights(chat)
        mid = p.get_int("message_id")
        if mid is None:
            if chat.pinned:
                chat.pinned.pop()
        elif mid in chat.pinned:
            chat.pinned.remove(mid)
        elif self._message(chat.id, mid) is None:
            raise TgError.bad_request("message to unpin not found")
        return True

    def api_unpinAllChatMessages(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        self._check_pin_rights(chat)
        chat.pinned.clear()
        return True

    def api_answerCallbackQuery(self, p: Params) -> Any:
        qid = p.get_str("callback_query_id")
        entry = self.callback_queries.get(qid or "")
        if entry is None or entry["answer"] is not None:
            raise TgError.bad_request(QUERY_TOO_OLD)
        text = p.get_str("text")
        if text is not None and len(text) > 200:
            raise TgError.bad_request("MESSAGE_TOO_LONG")
        entry["answer"] = dict(p.data)
        return True

    def api_sendChatAction(self, p: Params) -> Any:
        action = p.get_str("action")
        if action not in CHAT_ACTIONS:
            raise TgError.bad_request("wrong parameter action in request")
        chat = self._api_chat(p.get("chat_id"))
        self._check_can_send(chat)
        return True

    def api_setMessageReaction(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        rec = self._message(chat.id, p.get("message_id"))
        if rec is None:
            raise TgError.bad_request("message to react not found")
        return True

    # ================================================================== chats
    def api_getChat(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        out = chat.to_json()
        out.pop("all_members_are_administrators", None)
        out.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": True,
                    "limited_gifts": True,
                    "unique_gifts": True,
                    "premium_subscription": True,
                    "gifts_from_channels": True,
                },
            }
        )
        if chat.description:
            out["description"] = chat.description
        if chat.type in ("group", "supergroup"):
            from .builders import default_permissions

            perms = default_permissions(True)
            perms.update(chat.permissions)
            out["permissions"] = perms
        if chat.type != "private" and self._bot_has_right(chat, "can_invite_users"):
            if chat.primary_link is None:
                chat.primary_link = self._new_link(chat, primary=True).invite_link
            out["invite_link"] = chat.primary_link
        if chat.pinned:
            pinned = self._message(chat.id, chat.pinned[-1])
            if pinned is not None:
                out["pinned_message"] = _strip_reply(pinned.data)
        if chat.migrated_from is not None:
            out["migrated_from_chat_id"] = chat.migrated_from  # not in the API; harmless
        return out

    def api_getChatMember(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        user = self._api_user(p.get("user_id"))
        if chat.type == "private" and user.id not in (chat.id, self.bot_id):
            raise TgError.bad_request("user not found")
        return self.member_json(chat, user.id)

    def api_getChatAdministrators(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        if chat.type == "private":
            raise TgError.bad_request("there are no administrators in the private chat")
        # Per the Bot API docs the list contains administrators "which aren't bots".
        return [
            self.member_json(chat, uid)
            for uid, m in chat.members.items()
            if m.status in ("creator", "administrator") and not self.users[uid].is_bot
        ]

    def api_getChatMemberCount(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        if chat.type == "private":
            return 2 if chat.id != self.bot_id else 1
        if chat.member_count is not None:
            return chat.member_count
        return sum(1 for m in chat.members.values() if self._is_present(m))

    def api_leaveChat(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        if chat.type == "private":
            raise TgError.bad_request("chat member status can't be changed in private chats")
        self._check_chat_access(chat)
        old = self.member_json(chat, self.bot_id)
        chat.members[self.bot_id] = MemberRec(self.bot_id, "left")
        self._auto_member_update(chat, self.bot_id, old, by=self.bot_id, mine=True)
        return True

    def _auto_member_update(
        self,
        chat: ChatRec,
        user_id: int,
        old: dict[str, Any],
        by: int,
        mine: bool = False,
        invite_link: InviteLinkRec | None = None,
        via_join_request: bool = False,
    ) -> None:
        """Telegram sends (my_)chat_member updates for changes the bot itself makes."""
        if not self.auto_member_updates:
            return
        if not mine and not self._bot_has_right(chat, "can_manage_chat"):
            return
        new = self.member_json(chat, user_id)
        if new == old:
            return
        body: dict[str, Any] = {
            "chat": chat.to_json(),
            "from": self.users[by].to_json(),
            "date": self._now_int(),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        if invite_link is not None:
            body["invite_link"] = self.link_json(invite_link)
        if via_join_request:
            body["via_join_request"] = True
        self._enqueue({"my_chat_member" if mine else "chat_member": body})

    # ------------------------------------------------------------------ invite links
    def _new_link(self, chat: ChatRec, primary: bool = False, **fields: Any) -> InviteLinkRec:
        link = InviteLinkRec(
            invite_link=f"https://t.me/+{new_invite_hash()}",
            chat_id=chat.id,
            creator_id=self.bot_id,
            is_primary=primary,
            **fields,
        )
        chat.invite_links[link.invite_link] = link
        return link

    def _invite_chat(self, p: Params) -> ChatRec:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        if chat.type == "private":
            raise TgError.bad_request("chat not found")
        if not self._bot_has_right(chat, "can_invite_users"):
            raise TgError.bad_request("not enough rights to manage chat invite link")
        return chat

    def _link_fields(self, p: Params) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        name = p.get_str("name")
        if name is not None:
            if len(name) > 32:
                raise TgError.bad_request("invite link name is too long")  # best guess
            fields["name"] = name or None
        expire = p.get_int("expire_date")
        if expire is not None:
            if expire and expire <= self._now_int():
                raise TgError.bad_request("EXPIRE_DATE_INVALID")
            fields["expire_date"] = expire or None
        limit = p.get_int("member_limit")
        if limit is not None:
            if limit and not 1 <= limit <= 99999:
                raise TgError.bad_request("USAGE_LIMIT_INVALID")
            fields["member_limit"] = limit or None
        if "creates_join_request" in p:
            fields["creates_join_request"] = p.get_bool("creates_join_request")
        return fields

    def api_createChatInviteLink(self, p: Params) -> Any:
        chat = self._invite_chat(p)
        fields = self._link_fields(p)
        if fields.get("creates_join_request") and fields.get("member_limit"):
            raise TgError.bad_request(
                "member limit can't be specified for links requiring administrator approval"
            )
        return self.link_json(self._new_link(chat, **fields))

    def api_editChatInviteLink(self, p: Params) -> Any:
        chat = self._invite_chat(p)
        link = chat.invite_links.get(p.get_str("invite_link") or "")
        if link is None or link.is_revoked:
            raise TgError.bad_request("INVITE_HASH_EXPIRED")
        for key, value in self._link_fields(p).items():
            setattr(link, key, value)
        if link.creates_join_request and link.member_limit:
            raise TgError.bad_request(
                "member limit can't be specified for links requiring administrator approval"
            )
        return self.link_json(link)

    def api_revokeChatInviteLink(self, p: Params) -> Any:
        chat = self._invite_chat(p)
        link = chat.invite_links.get(p.get_str("invite_link") or "")
        if link is None:
            raise TgError.bad_request("INVITE_HASH_EXPIRED")
        link.is_revoked = True
        if link.is_primary:
            chat.primary_link = self._new_link(chat, primary=True).invite_link
        return self.link_json(link)

    def api_exportChatInviteLink(self, p: Params) -> Any:
        chat = self._invite_chat(p)
        if chat.primary_link is not None:
            chat.invite_links[chat.primary_link].is_revoked = True
        chat.primary_link = self._new_link(chat, primary=True).invite_link
        return chat.primary_link

    def _pending_request(self, p: Params) -> tuple[ChatRec, int]:
        chat = self._invite_chat(p)
        user = self._api_user(p.get("user_id"))
        req = chat.join_requests.get(user.id)
        if req is None or req.status != "pending":
            raise TgError.bad_request("HIDE_REQUESTER_MISSING")
        return chat, user.id

    def api_approveChatJoinRequest(self, p: Params) -> Any:
        chat, uid = self._pending_request(p)
        if self._is_present(chat.members.get(uid)):
            chat.join_requests[uid].status = "approved"
            raise TgError.bad_request("USER_ALREADY_PARTICIPANT")
        req = chat.join_requests[uid]
        req.status = "approved"
        old = self.member_json(chat, uid)
        self._set_member(chat, uid, "member")
        link = chat.invite_links.get(req.invite_link or "")
        if link is not None:
            link.joined += 1
        self._auto_member_update(
            chat, uid, old, by=self.bot_id, invite_link=link, via_join_request=True
        )
        return True

    def api_declineChatJoinRequest(self, p: Params) -> Any:
        chat, uid = self._pending_request(p)
        chat.join_requests[uid].status = "declined"
        return True

    # ------------------------------------------------------------------ moderation
    def _moderation(self, p: Params) -> tuple[ChatRec, int]:
        chat = self._api_chat(p.get("chat_id"))
        if chat.type == "private":
            raise TgError.bad_request("chat member status can't be changed in private chats")
        self._check_chat_access(chat)
        user = self._api_user(p.get("user_id"))
        if not self._bot_has_right(chat, "can_restrict_members"):
            raise TgError.bad_request("not enough rights to restrict/unrestrict chat member")
        return chat, user.id

    def _until(self, p: Params) -> int:
        until = p.get_int("until_date") or 0
        now = self._now_int()
        if until and (until < now + 30 or until > now + 366 * 86400):
            until = 0  # Telegram: "banned forever"
        return until

    def api_banChatMember(self, p: Params) -> Any:
        chat, uid = self._moderation(p)
        target = chat.members.get(uid)
        if uid == self.bot_id:
            raise TgError.bad_request("can't remove self")  # best guess wording
        if target and target.status == "creator":
            raise TgError.bad_request("can't remove chat owner")
        if target and target.status == "administrator":
            raise TgError.bad_request("user is an administrator of the chat")
        old = self.member_json(chat, uid)
        until = 0 if chat.type == "group" else self._until(p)
        self._set_member(chat, uid, "kicked", until_date=until)
        if p.get_bool("revoke_messages") or chat.type == "group":
            for rec in self.messages.values():
                if rec.chat_id == chat.id and rec.data.get("from", {}).get("id") == uid:
                    rec.deleted = True
        self._auto_member_update(chat, uid, old, by=self.bot_id)
        return True

    def api_unbanChatMember(self, p: Params) -> Any:
        chat, uid = self._moderation(p)
        target = chat.members.get(uid)
        old = self.member_json(chat, uid)
        if target is not None and target.status == "kicked":
            chat.members[uid] = MemberRec(uid, "left")
        elif p.get_bool("only_if_banned"):
            return True
        elif target is not None and target.status == "creator":
            raise TgError.bad_request("can't remove chat owner")
        elif target is not None and target.status == "administrator":
            raise TgError.bad_request("user is an administrator of the chat")
        elif self._is_present(target):
            # Without only_if_banned Telegram removes a current member from the chat.
            chat.members[uid] = MemberRec(uid, "left")
        self._auto_member_update(chat, uid, old, by=self.bot_id)
        return True

    def api_restrictChatMember(self, p: Params) -> Any:
        chat, uid = self._moderation(p)
        if chat.type != "supergroup":
            raise TgError.bad_request("method is available only for supergroups")
        if uid == self.bot_id:
            raise TgError.bad_request("can't restrict self")
        target = chat.members.get(uid)
        if target and target.status in ("creator", "administrator"):
            raise TgError.bad_request("user is an administrator of the chat")
        perms = p.get_obj("permissions")
        if perms is None:
            raise TgError.bad_request("permissions are not specified")  # best guess wording
        full = {k: bool(perms.get(k, False)) for k in PERMISSIONS}
        if not p.get_bool("use_independent_chat_permissions") and any(
            full[k]
            for k in PERMISSIONS
            if k.startswith("can_send_") or k == "can_add_web_page_previews"
        ):
            full["can_send_messages"] = True
        old = self.member_json(chat, uid)
        present = self._is_present(target)
        if all(full.values()):
            chat.members[uid] = MemberRec(uid, "member" if present else "left")
        else:
            self._set_member(
                chat, uid, "restricted", full, until_date=self._until(p), is_member=present
            )
        self._auto_member_update(chat, uid, old, by=self.bot_id)
        return True

    def api_promoteChatMember(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        user = self._api_user(p.get("user_id"))
        if not self._bot_has_right(chat, "can_promote_members"):
            raise TgError.bad_request("not enough rights")
        target = chat.members.get(user.id)
        if target and target.status == "creator":
            raise TgError.bad_request("can't change chat owner rights")  # best guess wording
        rights = {k: p.get_bool(k) for k in ALL_ADMIN_RIGHTS if k in p}
        old = self.member_json(chat, user.id)
        if any(rights.values()):
            self._set_member(chat, user.id, "administrator", rights)
        elif target and target.status == "administrator":
            chat.members[user.id] = MemberRec(user.id, "member")
        self._auto_member_update(chat, user.id, old, by=self.bot_id)
        return True

    def api_setChatPermissions(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        if not self._bot_has_right(chat, "can_restrict_members"):
            raise TgError.bad_request("not enough rights to change chat permissions")
        perms = p.get_obj("permissions") or {}
        chat.permissions = {k: bool(perms.get(k, False)) for k in PERMISSIONS}
        return True

    def api_setChatTitle(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        if not self._bot_has_right(chat, "can_change_info"):
            raise TgError.bad_request("not enough rights to change chat title")
        title = p.get_str("title") or ""
        if not 1 <= len(title) <= 128:
            raise TgError.bad_request("chat title is empty")
        chat.title = title
        return True

    def api_setChatDescription(self, p: Params) -> Any:
        chat = self._api_chat(p.get("chat_id"))
        self._check_chat_access(chat)
        if not self._bot_has_right(chat, "can_change_info"):
            raise TgError.bad_request("not enough rights to change chat description")
        chat.description = p.get_str("description") or None
        return True

    # ================================================================== bot settings
    def _scope_key(self, p: Params) -> tuple[str, str]:
        scope = p.get_obj("scope") or {"type": "default"}
        kind = scope.get("type")
        if kind not in (
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            "chat",
            "chat_administrators",
            "chat_member",
        ):
            raise TgError.bad_request("can't parse BotCommandScope JSON object")
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat = self._api_chat(scope.get("chat_id"))
            scope = {**scope, "chat_id": chat.id}
            if kind == "chat_member":
                scope["user_id"] = self._api_user(scope.get("user_id")).id
        lang = p.get_str("language_code") or ""
        if not _LANG_RE.fullmatch(lang):
            # The Bot API documents a two-letter ISO 639-1 code (so "zh-hans" is rejected).
            raise TgError.bad_request("invalid language code specified")  # best guess wording
        return json.dumps(scope, sort_keys=True), lang

    def api_setMyCommands(self, p: Params) -> Any:
        key = self._scope_key(p)
        commands = p.get_list("commands")
        if commands is None:
            raise TgError.bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise TgError.bad_request("too many commands specified")
        clean = []
        for cmd in commands:
            if not isinstance(cmd, dict):
                raise TgError.bad_request("can't parse BotCommand JSON object")
            name = str(cmd.get("command", "")).lstrip("/")
            if not _COMMAND_RE.fullmatch(name):
                raise TgError.bad_request("BOT_COMMAND_INVALID")
            desc = str(cmd.get("description", ""))
            if not 1 <= len(desc) <= 256:
                raise TgError.bad_request("command description is empty")
            clean.append({"command": name, "description": desc})
        if clean:
            self.commands[key] = clean
        else:
            self.commands.pop(key, None)
        return True

    def api_getMyCommands(self, p: Params) -> Any:
        return copy.deepcopy(self.commands.get(self._scope_key(p), []))

    def api_deleteMyCommands(self, p: Params) -> Any:
        self.commands.pop(self._scope_key(p), None)
        return True

    def api_setChatMenuButton(self, p: Params) -> Any:
        button = p.get_obj("menu_button") or {"type": "default"}
        if button.get("type") not in ("commands", "web_app", "default"):
            raise TgError.bad_request("can't parse MenuButton JSON object")
        if p.get("chat_id") is not None:
            chat = self._api_chat(p.get("chat_id"))
            if chat.type != "private":
                raise TgError.bad_request("chat not found")
            chat.menu_button = button
        else:
            self.default_menu_button = button
        return True

    def api_getChatMenuButton(self, p: Params) -> Any:
        if p.get("chat_id") is not None:
            chat = self._api_chat(p.get("chat_id"))
            if chat.menu_button and chat.menu_button.get("type") != "default":
                return chat.menu_button
        button = self.default_menu_button
        return button if button.get("type") != "default" else {"type": "commands"}

    def _bot_text(self, field: str, p: Params) -> Any:
        store = self.bot_extra.setdefault("_texts", {})
        store[(field, p.get_str("language_code") or "")] = p.get_str(field) or ""
        return True

    def api_setMyDescription(self, p: Params) -> Any:
        return self._bot_text("description", p)

    def api_setMyShortDescription(self, p: Params) -> Any:
        return self._bot_text("short_description", p)

    def api_setMyName(self, p: Params) -> Any:
        return self._bot_text("name", p)

    def api_getMyDescription(self, p: Params) -> Any:
        texts = self.bot_extra.get("_texts", {})
        return {"description": texts.get(("description", p.get_str("language_code") or ""), "")}

    def api_getMyShortDescription(self, p: Params) -> Any:
        texts = self.bot_extra.get("_texts", {})
        return {
            "short_description": texts.get(
                ("short_description", p.get_str("language_code") or ""), ""
            )
        }

    def api_getMyName(self, p: Params) -> Any:
        texts = self.bot_extra.get("_texts", {})
        return {"name": texts.get(("name", p.get_str("language_code") or ""), self.bot.first_name)}

    def api_setMyDefaultAdministratorRights(self, p: Params) -> Any:
        self.default_admin_rights[p.get_bool("for_channels")] = p.get_obj("rights") or {}
        return True

    # ================================================================== files
    def api_getFile(self, p: Params) -> Any:
        rec = self.files.get(p.get_str("file_id") or "")
        if rec is None:
            raise TgError.bad_request(WRONG_FILE)
        if rec.file_size > MAX_DOWNLOAD:
            raise TgError.bad_request("file is too big")
        return {
            "file_id": rec.file_id,
            "file_unique_id": rec.file_unique_id,
            "file_size": rec.file_size,
            "file_path": self._assign_path(rec),
        }


# ====================================================================== module helpers


def _strip_reply(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in data.items() if k != "reply_to_message"})


def _media_group_id() -> str:
    from .builders import new_media_group_id

    return new_media_group_id()


def _what_of(data: dict[str, Any]) -> str:
    for key, what in (
        ("photo", "photos"),
        ("video", "videos"),
        ("document", "documents"),
        ("voice", "voice notes"),
        ("audio", "audio files"),
        ("sticker", "stickers"),
        ("animation", "animations"),
        ("poll", "polls"),
        ("video_note", "video notes"),
    ):
        if key in data:
            return what
    return "text messages"


def _origin_of(data: dict[str, Any]) -> dict[str, Any]:
    chat = data["chat"]
    if chat.get("type") == "channel":
        origin: dict[str, Any] = {
            "type": "channel",
            "date": data["date"],
            "chat": chat,
            "message_id": data["message_id"],
        }
        if data.get("author_signature"):
            origin["author_signature"] = data["author_signature"]
        return origin
    if data.get("sender_chat"):
        return {"type": "chat", "date": data["date"], "sender_chat": data["sender_chat"]}
    return {"type": "user", "date": data["date"], "sender_user": data.get("from", {})}


def _legacy_forward_fields(origin: dict[str, Any]) -> dict[str, Any]:
    """The deprecated forward_* fields Telegram still sends next to ``forward_origin``."""
    out: dict[str, Any] = {"forward_date": origin["date"]}
    kind = origin["type"]
    if kind == "user":
        out["forward_from"] = origin["sender_user"]
    elif kind == "hidden_user":
        out["forward_sender_name"] = origin["sender_user_name"]
    elif kind == "chat":
        out["forward_from_chat"] = origin["sender_chat"]
        if origin.get("author_signature"):
            out["forward_signature"] = origin["author_signature"]
    elif kind == "channel":
        out["forward_from_chat"] = origin["chat"]
        out["forward_from_message_id"] = origin["message_id"]
        if origin.get("author_signature"):
            out["forward_signature"] = origin["author_signature"]
    return out


def _merge_entities(
    parsed: list[dict[str, Any]], detected: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Add auto-detected url/mention/command entities that don't overlap formatting ones."""
    out = list(parsed)
    for ent in detected:
        a, b = ent["offset"], ent["offset"] + ent["length"]
        if any(a < e["offset"] + e["length"] and e["offset"] < b for e in parsed):
            continue
        out.append(ent)
    out.sort(key=lambda e: (e["offset"], -e["length"]))
    return out
