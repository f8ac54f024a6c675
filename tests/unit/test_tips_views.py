"""Officer-facing tip cards and list lines, in both languages."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.i18n import Translator
from bot.tip_views import card_text, list_line
from groups.model import GeoPoint
from tips.model import (
    LocationSource,
    Part,
    PartKind,
    Tip,
    TipCategory,
    TipLocation,
    TipStatus,
    TipSummary,
)

AT = datetime(2026, 11, 23, 2, 5, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def tip(**kw: object) -> Tip:
    base: dict[str, object] = {
        "tip_id": "x",
        "code": "T-7K3Q9",
        "notice_id": "n1",
        "category": None,
        "parts": (
            Part(PartKind.TEXT, "白色面包车"),
            Part(PartKind.PHOTO, "车尾", file_id="f1"),
            Part(PartKind.PHOTO, file_id="f2"),
            Part(PartKind.VOICE, file_id="v"),
        ),
        "locations": (
            TipLocation(LocationSource.TYPED_DECIMAL, GeoPoint(30.1, 120.1)),
            TipLocation(LocationSource.TELEGRAM, GeoPoint(30.2741, 120.1551), accuracy_m=12.4),
        ),
        "sector": "drivers",
        "area": "chengguan",
        "pseudonym": "A137",
        "status": TipStatus.NEW,
        "created_at": AT,
        "updated_at": AT,
        "notice_ref": "N-2611-07",
        "notice_title": "寻找白色面包车",
    }
    base.update(kw)
    return Tip(**base)  # type: ignore[arg-type]


def test_card_shows_pseudonym_best_location_media_and_local_time() -> None:
    zh = card_text(Translator("zh-CN"), tip(), TZ)
    assert "T-7K3Q9" in zh and "新线索" in zh and "举报人 #A137" in zh
    assert "N-2611-07" in zh and "2026-11-23 10:05" in zh  # Asia/Shanghai
    first_location = zh.index("30.274100, 120.155100")
    assert first_location < zh.index("30.100000, 120.100000")  # the device pin is primary
    assert "精度约 12 米" in zh and "照片 2" in zh and "语音 1" in zh
    assert "白色面包车" in zh and "回复本消息" in zh
    en = card_text(Translator("en"), tip(), TZ)
    assert "Tipster #A137" in en and "device location" in en and "Reply to this message" in en


def test_card_for_general_forgotten_and_summary() -> None:
    t = Translator("en")
    general = tip(notice_id=None, notice_ref=None, category=TipCategory.PLACE, forgotten=True)
    text = card_text(t, general, TZ)
    assert "Suspicious place" in text and "identity unlinked" in text and "A137" not in text
    summary = card_text(t, TipSummary.of(tip()))  # default tz
    assert "T-7K3Q9" in summary and "3 files" in summary and "Tipster #A137" in summary
    huge = card_text(t, tip(parts=(Part(PartKind.TEXT, "x" * 5000),)), TZ)
    assert len(huge) <= 3900


def test_list_line() -> None:
    line = list_line(Translator("zh-CN"), tip(), TZ, distance_m=1234)
    assert line.startswith("1.23 公里 · T-7K3Q9") and "📍" in line and "📎3" in line


def test_split_text_counts_utf16_units_and_keeps_everything() -> None:
    from bot.kit.text import split_text
    from broadcasts.text import utf16_len

    assert split_text("short") == ["short"]
    lines = [f"第{i}行：白色面包车向北行驶😀" for i in range(400)]
    text = "\n".join(lines)
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(utf16_len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == text  # cut at line breaks: nothing lost
    # No break anywhere: cut between characters, never inside a surrogate pair.
    emoji = "😀" * 3000  # 6000 units
    pieces = split_text(emoji)
    assert [utf16_len(p) for p in pieces] == [4096, 1904] and "".join(pieces) == emoji
    # A space late in a piece is preferred to a hard cut.
    words = " ".join(["abcdefghij"] * 500)
    pieces = split_text(words, limit=100)
    assert all(len(p) <= 100 and not p.startswith(" ") for p in pieces)
    assert " ".join(pieces) == words


def test_fit_text_cuts_by_utf16_units() -> None:
    from bot.kit.text import fit_text
    from broadcasts.text import utf16_len

    assert fit_text("abc", 3) == "abc"
    assert fit_text("abcd", 3) == "ab…"
    cut = fit_text("😀" * 3000)
    assert utf16_len(cut) <= 4096 and cut.endswith("…") and cut.count("😀") == 2047
    zh = Translator("zh-CN")
    long_tip = tip(parts=(Part(PartKind.TEXT, "😀" * 3000),))
    assert utf16_len(card_text(zh, long_tip)) <= 3900
    assert card_text(zh, long_tip, whole=True).count("😀") == 3000
