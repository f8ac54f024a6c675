"""Text limits as Telegram counts them (UTF-16 code units) and input validation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from kernel.errors import InvalidInput

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
MAX_PHOTOS = 10
TITLE_LIMIT = 120
CASE_NO_LIMIT = 64
TERMS_LIMIT = 300


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: how Telegram measures captions and messages.

    Characters outside the Basic Multilingual Plane (most emoji, rare CJK) count twice.
    """
    return len(text.encode("utf-16-le")) // 2


def check_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidInput("notices.err.title_empty")
    if utf16_len(title) > TITLE_LIMIT:
        raise InvalidInput("notices.err.title_long", limit=TITLE_LIMIT, length=utf16_len(title))
    return title


def check_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise InvalidInput("notices.err.body_empty")
    if utf16_len(body) > TEXT_LIMIT:
        raise InvalidInput("notices.err.body_long", limit=TEXT_LIMIT, length=utf16_len(body))
    return body


def check_case_no(case_no: str) -> str:
    case_no = " ".join(case_no.split())
    if utf16_len(case_no) > CASE_NO_LIMIT:
        raise InvalidInput("notices.err.case_long", limit=CASE_NO_LIMIT)
    return case_no


# REWARDS_MAX_AMOUNT's default; the bot passes the configured value.
MAX_REWARD = Decimal("1000000")


def check_reward_max(amount: Decimal, max_amount: Decimal) -> None:
    """An offer may promise no more than any reward may be (REWARDS_MAX_AMOUNT)."""
    if amount > max_amount:
        whole = max_amount == max_amount.to_integral_value()
        limit = f"{int(max_amount):,}" if whole else f"{max_amount:,.2f}"
        raise InvalidInput("notices.err.reward_too_large", max=limit)


def parse_reward(text: str, *, max_amount: Decimal = MAX_REWARD) -> tuple[Decimal, str]:
    """``"5000 提供关键线索者"`` -> (Decimal("5000"), "提供关键线索者"). Amount in yuan,
    at most ``max_amount``."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        raise InvalidInput("notices.err.reward_format")
    raw = parts[0].replace(",", "").replace("，", "").removesuffix("元").removeprefix("¥")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise InvalidInput("notices.err.reward_format") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput("notices.err.reward_amount")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput("notices.err.reward_amount")
    check_reward_max(amount, max_amount)
    terms = " ".join(parts[1].split()) if len(parts) > 1 else ""
    if utf16_len(terms) > TERMS_LIMIT:
        raise InvalidInput("notices.err.terms_long", limit=TERMS_LIMIT)
    return amount.quantize(Decimal("0.01")) if amount != amount.to_integral() else amount, terms


def check_rendered(text: str, *, has_photo: bool) -> None:
    """The text a group will see must fit Telegram's caption or message limit."""
    limit = CAPTION_LIMIT if has_photo else TEXT_LIMIT
    length = utf16_len(text)
    if length > limit:
        key = "notices.err.caption_long" if has_photo else "notices.err.text_long"
        raise InvalidInput(key, limit=limit, length=length, over=length - limit)


def check_expiry(expires_at: datetime, now: datetime) -> None:
    if expires_at <= now:
        raise InvalidInput("notices.err.expiry_past")


def check_photo_count(count: int, *, required: bool) -> None:
    if count > MAX_PHOTOS:
        raise InvalidInput("notices.err.too_many_photos", limit=MAX_PHOTOS)
    if required and count == 0:
        raise InvalidInput("notices.err.photo_required")
