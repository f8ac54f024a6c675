"""The dialog engine's table logic: order, conditional and sub-steps, review, built-in
buttons (bot/kit/dialog.py). The aiogram side is covered by the dialogs' e2e tests."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from bot.i18n import Translator
from bot.kit.dialog import Button, Dialog, DialogButton, Screen, Step


@dataclass(frozen=True)
class Form:
    user_id: int = 1
    kind: str = ""
    photos: tuple[str, ...] = ()
    step: str = ""
    editing: bool = False


class Steps:
    """Only the draft-to-step mapping: the table logic never loads or stores."""

    async def load(self, user_id: int) -> Form | None:
        raise AssertionError("not used")

    async def store(self, draft: Form) -> None:
        raise AssertionError("not used")

    async def drop(self, user_id: int) -> None:
        raise AssertionError("not used")

    def step_of(self, draft: Form) -> str:
        return draft.step

    def editing(self, draft: Form) -> bool:
        return draft.editing

    def at(self, draft: Form, step: str, *, editing: bool) -> Form:
        return replace(draft, step=step, editing=editing)


async def blank(_turn: object) -> Screen:
    return Screen("?")


def dialog() -> Dialog[Form]:
    return Dialog(
        "demo",
        [
            Step("kind", blank, label="demo.kind"),
            Step("photos", blank, label="demo.photos", applies=lambda d: d.kind == "wanted"),
            Step("audience", blank, label="demo.audience"),
            Step("radius", blank, in_sequence=False),
            Step("case_no", blank, skip=lambda d: d, label="demo.case"),
            Step("review", blank, review=True),
        ],
        Steps(),
    )


def test_sequence_follows_the_table_and_leaves_out_steps_that_do_not_apply() -> None:
    d = dialog()
    assert d.first(Form()).name == "kind"
    assert d.following("kind", Form(kind="wanted")).name == "photos"
    assert d.following("kind", Form(kind="publicity")).name == "audience"
    assert d.following("audience", Form()).name == "case_no"  # "radius" is a sub-step
    assert d.following("case_no", Form()).name == "review"


def test_while_editing_every_step_returns_to_the_review() -> None:
    d = dialog()
    assert d.following("kind", Form(kind="wanted", editing=True)).name == "review"


def test_review_offers_only_labelled_steps_that_apply() -> None:
    d = dialog()
    t = Translator("en")
    assert [s.name for s in d.editable(Form(kind="publicity"))] == ["kind", "audience", "case_no"]
    rows = d.edit_rows(Form(kind="wanted"), t, per_row=3)
    assert [[b.value for b in row] for row in rows] == [["kind", "photos", "audience"], ["case_no"]]
    assert all(b.action == "edit" for row in rows for b in row)


def test_buttons_name_their_dialog_and_step_and_end_with_skip_and_cancel() -> None:
    d = dialog()
    t = Translator("en")
    markup = d.markup(d.step("case_no"), [[Button("A", "pick", "a")]], t)
    data = [
        DialogButton.unpack(b.callback_data or "") for row in markup.inline_keyboard for b in row
    ]
    assert [(x.dialog, x.step, x.action, x.value) for x in data] == [
        ("demo", "case_no", "pick", "a"),
        ("demo", "case_no", "skip", ""),
        ("demo", "case_no", "cancel", ""),
    ]
    labels = [b.text for row in markup.inline_keyboard for b in row]
    assert labels[-2:] == [t("dialog.button.skip"), t("dialog.button.cancel")]
    # A step that cannot be skipped has no Skip button.
    plain = d.markup(d.step("kind"), [], t)
    assert [b.text for row in plain.inline_keyboard for b in row] == [t("dialog.button.cancel")]


def test_step_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="repeat"):
        Dialog("bad", [Step("a", blank), Step("a", blank)], Steps())


def test_sub_step_returns_to_the_step_before_it() -> None:
    d = dialog()
    assert d._parent_of(d.step("radius"), Form()).name == "audience"
