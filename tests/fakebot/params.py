"""Request parameter parsing: JSON bodies, multipart / urlencoded forms and query strings."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import TgError

# Keys whose string values must never be coerced to numbers/JSON.
TEXT_KEYS = frozenset(
    {
        "text",
        "caption",
        "title",
        "address",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "question",
        "explanation",
        "description",
        "short_description",
        "name",
        "custom_title",
        "url",
        "secret_token",
        "callback_query_id",
        "inline_message_id",
        "file_id",
        "emoji",
        "foursquare_id",
        "foursquare_type",
        "google_place_id",
        "google_place_type",
        "ip_address",
        "invite_link",
        "language_code",
        "action",
        "parse_mode",
        "business_connection_id",
        "message_effect_id",
        "payload",
        "start_parameter",
        "performer",
        "file_name",
        "bio",
        "sticker",
        "photo",
        "video",
        "document",
        "voice",
        "audio",
        "animation",
        "video_note",
        "thumbnail",
        "username",
        "query",
        "data",
        "sender_chat_id_str",
    }
)
_INT_RE = re.compile(r"-?\d{1,20}")
_FLOAT_RE = re.compile(r"-?\d+\.\d*(?:[eE][-+]?\d+)?")


@dataclass
class Upload:
    """A multipart file part."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    def meta(self) -> dict[str, Any]:
        return {
            "upload": self.name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
        }


def coerce(key: str, value: Any) -> Any:
    """Turn a form/query string into the value Telegram would parse it as."""
    if not isinstance(value, str) or key in TEXT_KEYS:
        return value
    stripped = value.strip()
    if stripped[:1] in ("{", "[") or stripped == "null":
        try:
            return json.loads(stripped)
        except ValueError:
            raise TgError.bad_request(f"can't parse {key} JSON object") from None
    if _INT_RE.fullmatch(stripped):
        return int(stripped)
    if _FLOAT_RE.fullmatch(stripped):
        return float(stripped)
    if stripped in ("true", "True"):
        return True
    if stripped in ("false", "False"):
        return False
    return value


class Params:
    """Typed access to a call's parameters; conversion failures answer 400 like Telegram."""

    def __init__(self, data: dict[str, Any], files: dict[str, Upload] | None = None) -> None:
        self.data = data
        self.files = files or {}

    def __contains__(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def get_str(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        return (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if isinstance(value, dict | list)
            else str(value)
        )

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return int(value)
        except (TypeError, ValueError):
            raise TgError.bad_request(f"invalid {key} specified") from None

    def req_int(self, key: str) -> int:
        value = self.get_int(key)
        if value is None:
            raise TgError.bad_request(f"{key} is empty")
        return value

    def get_float(self, key: str, default: float | None = None) -> float | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TgError.bad_request(f"invalid {key} specified") from None

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return bool(value)

    def get_obj(self, key: str) -> dict[str, Any] | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise TgError.bad_request(f"can't parse {key} JSON object") from None
        if not isinstance(value, dict):
            raise TgError.bad_request(f"can't parse {key} JSON object")
        return value

    def get_list(self, key: str) -> list[Any] | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise TgError.bad_request(f"can't parse {key} JSON object") from None
        if not isinstance(value, list):
            raise TgError.bad_request(f"can't parse {key} JSON object")
        return value


def public_params(data: dict[str, Any], files: dict[str, Upload]) -> dict[str, Any]:
    """Copy of the params with ``attach://x`` references replaced by upload metadata."""

    def walk(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("attach://"):
            up = files.get(value[len("attach://") :])
            return up.meta() if up else value
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return {k: walk(v) for k, v in data.items()}
