"""How a notice looks in a group (and in the investigator's preview): plain text, no markup,
so nothing an investigator types can be interpreted as formatting or links."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translator
from broadcasts.model import Notice, NoticeStatus
from broadcasts.refs import tip_payload


def local_time(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def money(notice: Notice) -> str:
    if notice.reward is None:
        return ""
    amount = notice.reward.amount
    text = f"{amount:,.2f}".removesuffix(".00")
    return text


class NoticeViews:
    def __init__(self, tz: ZoneInfo, bot_username: str = "") -> None:
        self.tz = tz
        self.bot_username = bot_username

    def tip_url(self, notice: Notice) -> str:
        return f"https://t.me/{self.bot_username}?start={tip_payload(notice.ref)}"

    def main_text(self, notice: Notice, t: Translator | None = None) -> str:
        t = t or Translator(notice.locale)
        lines: list[str] = []
        if notice.status.is_closed:
            lines.append(t(f"notices.view.closed_{notice.status.value}"))
        header = t(
            "notices.view.header", kind=t(f"notices.kind.{notice.kind.value}"), ref=notice.ref
        )
        lines.append(("🚨 " if notice.urgent else "") + header)
        lines.append(notice.title)
        lines.append("")
        lines.append(notice.body)
        extra: list[str] = []
        if notice.case_no:
            extra.append(t("notices.view.case_no", case_no=notice.case_no))
        if notice.reward is not None:
            extra.append(
                t("notices.view.reward", amount=money(notice), terms=notice.reward.terms).rstrip(
                    " ：:—-"
                )
            )
        extra.append(t("notices.view.expires", when=local_time(notice.expires_at, self.tz)))
        lines.append("")
        lines.extend(extra)
        lines.append("")
        lines.append(
            t("notices.view.footer_closed")
            if notice.status.is_closed
            else t("notices.view.footer_open", ref=notice.ref)
        )
        return "\n".join(lines)

    def buttons_text(self, notice: Notice, t: Translator | None = None) -> str:
        """The short message under an album, carrying the buttons."""
        t = t or Translator(notice.locale)
        if notice.status.is_closed:
            return t("notices.view.buttons_closed", ref=notice.ref)
        return t("notices.view.buttons_open", ref=notice.ref)

    def keyboard(self, notice: Notice, t: Translator | None = None) -> InlineKeyboardMarkup:
        t = t or Translator(notice.locale)
        if notice.status.is_closed:
            return InlineKeyboardMarkup(inline_keyboard=[])
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=t("notices.view.tip_button"), url=self.tip_url(notice))]
            ]
        )


def status_label(t: Translator, status: NoticeStatus) -> str:
    return t(f"notices.status.{status.value}")
