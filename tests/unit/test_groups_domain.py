"""Pure logic of the groups feature: validation, masking, parsing, statuses, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from groups.admission import (
    Application,
    AppState,
    normalize_phone,
    profile_answers,
    steps_for,
    validate_answer,
)
from groups.catalog import parse_area_args, parse_point, parse_radius, slug
from groups.members import (
    Member,
    Membership,
    MemberStatus,
    mask_phone,
    overall_status,
    roster_counts,
    roster_csv,
)
from groups.registry import REQUIRED_RIGHTS, missing_rights
from kernel.errors import InvalidInput

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("浙A12345", "浙A12345"),
        ("浙a 123·45", "浙A12345"),
        ("粤BD12345", "粤BD12345"),
        ("京A1234学", "京A1234学"),
    ],
)
def test_plate_accepted_and_normalised(raw: str, expected: str) -> None:
    assert validate_answer("plate", raw) == expected


@pytest.mark.parametrize("raw", ["ABC123", "浙I12345", "浙A1234", "浙A123456789", "12345"])
def test_plate_rejected(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_answer("plate", raw)
    assert err.value.key == "admission.bad_plate"


def test_licence_formats() -> None:
    assert validate_answer("licence", "91330100 MA2B3C4D5E") == "91330100MA2B3C4D5E"
    assert validate_answer("licence", "330100000012345") == "330100000012345"
    for bad in ("1234", "91330100MA2B3C4D5I", "x" * 18):
        with pytest.raises(InvalidInput):
            validate_answer("licence", bad)


def test_lengths_and_names() -> None:
    assert validate_answer("name", "  Zhang   San ") == "Zhang San"
    assert validate_answer("name", "欧阳·娜娜") == "欧阳·娜娜"
    for bad in ("Z", "Zhang3", "a" * 41, "<b>x</b>"):
        with pytest.raises(InvalidInput) as err:
            validate_answer("name", bad)
        assert err.value.key == "admission.bad_name"
    with pytest.raises(InvalidInput) as err:
        validate_answer("address", "abc")
    assert err.value.params == {"min": 4, "max": 200}
    with pytest.raises(InvalidInput) as err:
        validate_answer("phone", "13812345678")
    assert err.value.key == "admission.phone_button"


def test_phone_normalisation() -> None:
    assert normalize_phone("13812345678") == "+8613812345678"
    assert normalize_phone("+86 138-1234-5678") == "+8613812345678"
    assert normalize_phone("8613812345678") == "+8613812345678"
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    for bad in ("12", "phone", "+1234567890123456"):
        with pytest.raises(InvalidInput):
            normalize_phone(bad)


def test_mask_phone() -> None:
    assert mask_phone("+8613812345678") == "+86138****5678"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+4412345") == "+*****45"
    assert mask_phone("") == "****"


def test_steps_per_sector() -> None:
    assert steps_for("drivers")[-2:] == ("plate", "company")
    assert steps_for("landlords")[-1] == "property_address"
    assert steps_for("recyclers")[-1] == steps_for("hospitality")[-1] == "licence"
    assert (
        steps_for("cadres") == steps_for("businesses") == ("name", "phone", "workplace", "address")
    )


def test_next_step_and_profile_reuse() -> None:
    member = Member(
        1, "Ann", "+8613812345678", "Didi", "Road 1", {"plate": "浙A12345", "company": "Co"}
    )
    answers = profile_answers(member)
    app = Application("a" * 12, 1, -1, "landlords", None, AppState.FORM, steps_for("landlords"))
    assert app.next_step == "name"
    reused = Application(
        "a" * 12, 1, -1, "landlords", None, AppState.FORM, steps_for("landlords"), answers
    )
    assert reused.next_step == "property_address"
    drivers = Application(
        "a" * 12, 1, -1, "drivers", None, AppState.FORM, steps_for("drivers"), answers
    )
    assert drivers.next_step is None


def test_overall_status() -> None:
    active = Membership(-1, "drivers", None, MemberStatus.ACTIVE)
    left = Membership(-2, "drivers", None, MemberStatus.LEFT)
    assert overall_status(MemberStatus.LEFT, [left, active]) is MemberStatus.ACTIVE
    assert overall_status(MemberStatus.ACTIVE, [left]) is MemberStatus.LEFT
    assert overall_status(MemberStatus.BANNED, [left]) is MemberStatus.BANNED
    assert overall_status(MemberStatus.REMOVED, []) is MemberStatus.REMOVED


def test_missing_rights() -> None:
    assert missing_rights(None) == list(REQUIRED_RIGHTS)
    assert missing_rights(REQUIRED_RIGHTS) == []
    assert missing_rights({"can_invite_users", "can_delete_messages"}) == [
        "can_pin_messages",
        "can_restrict_members",
    ]


def test_area_arguments() -> None:
    spec = parse_area_args(["城关", "派出所", "30.27,120.15", "5", "parent=城关镇"])
    assert spec.name == "城关 派出所" and spec.parent == "城关镇"
    assert spec.center is not None and (spec.center.lat, spec.center.lon) == (30.27, 120.15)
    assert spec.radius_km == 5
    assert parse_area_args(["x", "30，120", "2.5km"]).radius_km == 2.5
    edit = parse_area_args(["name=New", "center=none", "parent="])
    assert (edit.name, edit.clear_center, edit.parent) == ("New", True, "")
    with pytest.raises(InvalidInput):
        parse_area_args(["x", "30,120"])  # radius missing
    with pytest.raises(InvalidInput):
        parse_point("91,0")
    for bad in ("0", "-1", "nan", "inf", "501", "abc"):
        with pytest.raises(InvalidInput):
            parse_radius(bad)


def test_slug() -> None:
    assert slug("Chengguan Town") == "chengguan-town"
    assert slug("城关派出所") is None
    assert slug("1st Street") == "st-street"


def test_roster_csv_masks_and_neutralises_formulas() -> None:
    m = Member(
        7,
        "=cmd|' /C calc'!A0",
        "+8613812345678",
        "-Shop",
        "Road",
        {"plate": "浙A12345"},
        "drivers",
        None,
        MemberStatus.ACTIVE,
        (Membership(-100, "drivers", None, MemberStatus.ACTIVE, NOW),),
        9,
        NOW,
    )
    raw = roster_csv([m], show_phone=False)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, row = rows
    record = dict(zip(header, row, strict=True))
    assert record["phone"] == "+86138****5678"
    assert record["name"].startswith("'=") and record["workplace"] == "'-Shop"
    assert record["plate"] == "浙A12345" and record["groups"] == "-100:active"
    assert "+8613812345678" in roster_csv([m], show_phone=True).decode("utf-8-sig")
    assert roster_counts([m])[("drivers", None)]["active"] == 1
