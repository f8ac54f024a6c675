"""Dialogs as data: a table of steps run by one engine.

A dialog is a multi-step form in a private chat (compose a notice, send a tip, fill in a
join request). It is written as a table of :class:`Step` rows: what the step shows (text
and buttons), which messages are its input and how they change the draft, whether it may be
skipped, and the label under which the review screen offers it for editing. The engine
(:func:`mount`) registers the aiogram handlers for every row:

- a message is routed by the FSM state ``<dialog>:<step>``; what the step does not take
  gets the step's "expected ..." answer, and commands go on to their own handlers (the
  dialog waits where it was);
- a button is a :class:`DialogButton` naming the dialog, the step it was shown for, an
  action and a value; a press for another step than the draft's current one, or with no
  draft, is answered as stale, an unknown action as forged, and nothing changes;
- ``skip``, ``cancel`` and ``edit`` are built in; ``/cancel`` ends the dialog too;
- the draft is stored after every step; after a step the dialog moves to the next step
  that applies, or back to the review step when the member came from it.

It borrows aiogram_dialog's idea (windows with text, input and buttons bound to a state)
without its dependency: drafts live in the feature's own MongoDB store, and a step can still
render itself (an album preview) or hand over to a sub-step that is not in the sequence (a
radius after "around a point").
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.i18n import Translator
from groups.roles import Principal
from kernel.errors import DomainError

D = TypeVar("D")

STALE = "core.stale_button"
FORGED = "core.bad_callback"


class DialogButton(CallbackData, prefix="dlg"):
    """A button of a dialog step: ``action`` with ``value``, shown at ``step``."""

    dialog: str
    step: str
    action: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class Button:
    """A button as a step declares it: its (translated) text, action and value."""

    text: str
    action: str
    value: str = ""


ReplyMarkup = ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


@dataclass(frozen=True, slots=True)
class Screen:
    """What a step shows: a text with buttons, optionally a reply keyboard (share a
    location, share a contact) sent with it."""

    text: str
    rows: Sequence[Sequence[Button]] = ()
    reply_keyboard: ReplyMarkup | None = None


# ---- outcomes: what a step's input or button does next ----------------------------------


@dataclass(frozen=True, slots=True)
class Next(Generic[D]):
    """Store the draft and go on: the next step that applies, or the review step when the
    member was editing from it."""

    draft: D


@dataclass(frozen=True, slots=True)
class Goto(Generic[D]):
    """Store the draft and show ``step`` (also one outside the sequence, e.g. a sub-step)."""

    step: str
    draft: D


@dataclass(frozen=True, slots=True)
class Stay(Generic[D]):
    """Store the draft (None: unchanged) and stay; ``say`` answers the message (an
    acknowledgement like "photo 2 received") with the step's buttons under it."""

    draft: D | None = None
    say: str | None = None


@dataclass(frozen=True, slots=True)
class Refresh(Generic[D]):
    """Store the draft and redraw the step's message in place (toggle buttons)."""

    draft: D


@dataclass(frozen=True, slots=True)
class Alert:
    """Refuse a button press with a pop-up; nothing changes."""

    text: str


@dataclass(frozen=True, slots=True)
class End:
    """The dialog is over (submitted): drop the draft and the state; ``say`` is the answer."""

    say: str | None = None


Outcome = Next[Any] | Goto[Any] | Stay[Any] | Refresh[Any] | Alert | End


class DraftStore(Protocol[D]):
    """Where a dialog keeps its drafts, one per user, and how a draft records its step."""

    async def load(self, user_id: int) -> D | None: ...

    async def store(self, draft: D) -> None: ...

    async def drop(self, user_id: int) -> None: ...

    def step_of(self, draft: D) -> str: ...

    def editing(self, draft: D) -> bool:
        """Whether the member reached the review step (each change then returns there)."""
        ...

    def at(self, draft: D, step: str, *, editing: bool) -> D:
        """The draft moved to ``step``."""
        ...


@dataclass
class Turn(Generic[D]):
    """One event in a dialog: the draft, who acts, in which language, where to answer.

    ``data`` is aiogram's handler data: services provided by name are there too."""

    dialog: Dialog[D]
    draft: D
    t: Translator
    principal: Principal
    chat: Message
    state: FSMContext
    data: dict[str, Any]

    @property
    def step(self) -> str:
        return self.dialog.store.step_of(self.draft)

    def markup(self, step: Step[D], rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup:
        return self.dialog.markup(step, rows, self.t)


Show = Callable[[Turn[D]], Awaitable[Screen]]
Take = Callable[[Turn[D], Message], Awaitable[Outcome]]
Press = Callable[[Turn[D], str], Awaitable[Outcome]]
Render = Callable[[Turn[D], InlineKeyboardMarkup], Awaitable[None]]


def is_text(message: Message) -> bool:
    return message.text is not None


@dataclass(frozen=True)
class Step(Generic[D]):
    """One row of a dialog's table.

    ``show`` renders the prompt; ``take`` handles a message the step accepts (``takes``),
    other messages get ``wrong`` (a catalogue key); ``buttons`` maps an action to what its
    press does. ``skip`` makes the step skippable (the Skip button and what skipping sets),
    ``label`` (a catalogue key) lists it on the review screen, ``applies`` leaves it out of
    the sequence for some drafts, ``in_sequence=False`` makes it a sub-step reached only by
    :class:`Goto`. ``review=True`` marks the review step: reaching it turns editing on.
    ``on_edit`` prepares the draft when the member chooses to edit this step from the review
    (e.g. clear the photos). ``render`` replaces the standard message (text + buttons) when
    a step shows more than one message (a notice preview)."""

    name: str
    show: Show[D]
    take: Take[D] | None = None
    takes: Callable[[Message], bool] = is_text
    wrong: str = "dialog.expected_text"
    buttons: Mapping[str, Press[D]] = field(default_factory=dict)
    skip: Callable[[D], D] | None = None
    label: str | None = None
    applies: Callable[[D], bool] = lambda _draft: True
    in_sequence: bool = True
    review: bool = False
    on_edit: Callable[[D], D] | None = None
    render: Render[D] | None = None


@dataclass
class Dialog(Generic[D]):
    """A dialog: its name (the FSM state prefix and the buttons' ``dialog``), its steps in
    order, where drafts live, and the catalogue keys of the built-in buttons and answers."""

    name: str
    steps: Sequence[Step[D]]
    store: DraftStore[D]
    cancel_label: str = "dialog.button.cancel"
    skip_label: str = "dialog.button.skip"
    cancelled: str = "dialog.cancelled"
    no_draft: str = STALE

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"dialog {self.name}: step names repeat: {names}")
        self._by_name = {s.name: s for s in self.steps}

    # ---- the table ------------------------------------------------------------------------

    def step(self, name: str) -> Step[D]:
        return self._by_name[name]

    def has(self, name: str) -> bool:
        return name in self._by_name

    def state(self, step: str) -> str:
        return f"{self.name}:{step}"

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.state(s.name) for s in self.steps)

    def first(self, draft: D) -> Step[D]:
        return self.following(None, draft)

    def following(self, after: str | None, draft: D) -> Step[D]:
        """The step after ``after`` (None: the first) that applies to the draft; the review
        step when the member is editing."""
        review = self.review_step
        if after is not None and review is not None and self.store.editing(draft):
            return review
        names = [s.name for s in self.steps]
        start = 0 if after is None else names.index(after) + 1
        for step in self.steps[start:]:
            if step.in_sequence and step.applies(draft):
                return step
        if review is None:
            raise LookupError(f"dialog {self.name}: no step after {after!r}")
        return review

    @property
    def review_step(self) -> Step[D] | None:
        return next((s for s in self.steps if s.review), None)

    def editable(self, draft: D) -> list[Step[D]]:
        """Steps the review screen offers for editing, in order."""
        return [s for s in self.steps if s.label and s.in_sequence and s.applies(draft)]

    # ---- buttons --------------------------------------------------------------------------

    def button(self, step: Step[D], b: Button) -> InlineKeyboardButton:
        data = DialogButton(dialog=self.name, step=step.name, action=b.action, value=b.value)
        return InlineKeyboardButton(text=b.text, callback_data=data.pack())

    def markup(
        self, step: Step[D], rows: Sequence[Sequence[Button]], t: Translator
    ) -> InlineKeyboardMarkup:
        """The step's buttons, then Skip (when skippable) and Cancel."""
        extra: list[list[Button]] = []
        if step.skip is not None:
            extra.append([Button(t(self.skip_label), "skip")])
        extra.append([Button(t(self.cancel_label), "cancel")])
        return InlineKeyboardMarkup(
            inline_keyboard=[[self.button(step, b) for b in row] for row in [*rows, *extra]]
        )

    def edit_rows(self, draft: D, t: Translator, per_row: int = 3) -> list[list[Button]]:
        """The review screen's "change ..." buttons."""
        buttons = [Button(t(s.label or s.name), "edit", s.name) for s in self.editable(draft)]
        return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]

    # ---- moving -----------------------------------------------------------------------------

    async def begin(self, turn: Turn[D]) -> None:
        """Start the dialog with ``turn.draft`` (already a fresh draft): its first step."""
        await self.show(turn, self.first(turn.draft).name)

    async def show(self, turn: Turn[D], name: str) -> None:
        """Move the draft to step ``name``, store it, and prompt for it."""
        step = self.step(name)
        editing = self.store.editing(turn.draft) or step.review
        turn.draft = self.store.at(turn.draft, name, editing=editing)
        await self.store.store(turn.draft)
        await turn.state.set_state(self.state(name))
        await self.prompt(turn, step)

    async def prompt(self, turn: Turn[D], step: Step[D]) -> None:
        screen = await step.show(turn)
        markup = self.markup(step, screen.rows, turn.t)
        if step.render is not None:
            await step.render(turn, markup)
            return
        if screen.reply_keyboard is not None:
            # A reply keyboard and inline buttons cannot share a message: the text goes
            # with the reply keyboard, the buttons under a short second line.
            await turn.chat.answer(screen.text, reply_markup=screen.reply_keyboard)
            await turn.chat.answer(turn.t("dialog.buttons_hint"), reply_markup=markup)
            return
        await turn.chat.answer(screen.text, reply_markup=markup)

    async def apply(self, turn: Turn[D], outcome: Outcome, query: CallbackQuery | None) -> None:
        """Carry out what a step's input or button decided."""
        if isinstance(outcome, Alert):
            if query is not None:
                await query.answer(outcome.text[:200], show_alert=True)
            else:
                await turn.chat.answer(outcome.text)
            return
        if query is not None:
            await query.answer()
        current = self.step(turn.step)
        if isinstance(outcome, End):
            await self.store.drop(turn.principal.user_id)
            await turn.state.clear()
            if query is not None and query.message is not None:
                await _drop_buttons(query)
            if outcome.say:
                await turn.chat.answer(outcome.say, reply_markup=ReplyKeyboardRemove())
            return
        if isinstance(outcome, Stay):
            if outcome.draft is not None:
                turn.draft = outcome.draft
                await self.store.store(turn.draft)
            if outcome.say:
                screen = await current.show(turn)
                await turn.chat.answer(outcome.say, reply_markup=turn.markup(current, screen.rows))
            return
        turn.draft = outcome.draft
        if isinstance(outcome, Refresh):
            await self.store.store(turn.draft)
            screen = await current.show(turn)
            if query is not None and isinstance(query.message, Message):
                with contextlib.suppress(TelegramAPIError):
                    await query.message.edit_text(
                        screen.text, reply_markup=turn.markup(current, screen.rows)
                    )
            return
        if isinstance(outcome, Goto):
            await self.show(turn, outcome.step)
            return
        target = self.following(current.name if current.in_sequence else None, turn.draft)
        if not current.in_sequence:  # a sub-step returns to the step that led to it
            target = self._parent_of(current, turn.draft)
        await self.show(turn, target.name)

    def _parent_of(self, sub: Step[D], draft: D) -> Step[D]:
        """The in-sequence step a sub-step belongs to: the nearest one before it in the
        table (e.g. "audience" for "radius")."""
        names = [s.name for s in self.steps]
        for step in reversed(self.steps[: names.index(sub.name)]):
            if step.in_sequence:
                return step
        return self.first(draft)


async def _drop_buttons(query: CallbackQuery) -> None:
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramAPIError):
            await query.message.edit_reply_markup(reply_markup=None)


# ---- the aiogram side ---------------------------------------------------------------------


def mount(dialog: Dialog[D], router: Router, *, flags: dict[str, Any] | None = None) -> None:
    """Register the dialog's handlers on ``router``: one per step that takes input, one for
    messages a step does not take, one for every button, and ``/cancel``."""
    flags = dict(flags or {})
    not_command = ~F.text.startswith("/")

    async def turn_for(
        user_id: int,
        chat: Message,
        t: Translator,
        principal: Principal,
        state: FSMContext,
        data: dict[str, Any],
    ) -> Turn[D] | None:
        draft = await dialog.store.load(user_id)
        if draft is None:
            return None
        return Turn(dialog, draft, t, principal, chat, state, data)

    def input_handler(step: Step[D]) -> Callable[..., Awaitable[None]]:
        async def on_input(
            message: Message,
            t: Translator,
            principal: Principal,
            state: FSMContext,
            **data: Any,
        ) -> None:
            turn = await turn_for(principal.user_id, message, t, principal, state, data)
            if turn is None or not dialog.has(turn.step):
                await state.clear()
                await message.answer(t(dialog.no_draft))
                return
            if turn.step != step.name:  # the state and the stored draft disagree: the draft wins
                await dialog.show(turn, turn.step)
                return
            if step.take is None or not step.takes(message):
                await message.answer(t(step.wrong))
                return
            await dialog.apply(turn, await step.take(turn, message), None)

        on_input.__name__ = on_input.__qualname__ = f"{dialog.name}_{step.name}_input"
        return on_input

    for step in dialog.steps:
        router.message(StateFilter(dialog.state(step.name)), not_command, flags=flags)(
            input_handler(step)
        )

    async def on_button(
        query: CallbackQuery,
        callback_data: DialogButton,
        t: Translator,
        principal: Principal,
        state: FSMContext,
        **data: Any,
    ) -> None:
        msg = query.message
        if not isinstance(msg, Message) or msg.chat.type != "private":
            await query.answer(t(STALE), show_alert=True)
            return
        turn = await turn_for(principal.user_id, msg, t, principal, state, data)
        if turn is None or turn.step != callback_data.step or not dialog.has(turn.step):
            await query.answer(t(STALE), show_alert=True)
            return
        step = dialog.step(turn.step)
        try:
            outcome = await _press(dialog, step, turn, callback_data)
        except DomainError as exc:
            await query.answer(t(exc.key, **exc.params)[:200], show_alert=True)
            return
        if outcome is None:
            await query.answer(t(FORGED), show_alert=True)
            return
        await dialog.apply(turn, outcome, query)

    on_button.__name__ = on_button.__qualname__ = f"{dialog.name}_button"
    router.callback_query(DialogButton.filter(F.dialog == dialog.name), flags=flags)(on_button)

    async def on_cancel(
        message: Message, t: Translator, principal: Principal, state: FSMContext
    ) -> None:
        await dialog.store.drop(principal.user_id)
        await state.clear()
        await message.answer(t(dialog.cancelled), reply_markup=ReplyKeyboardRemove())

    on_cancel.__name__ = on_cancel.__qualname__ = f"{dialog.name}_cancel"
    router.message(Command("cancel"), StateFilter(*dialog.states), flags=flags)(on_cancel)


async def _press(
    dialog: Dialog[D], step: Step[D], turn: Turn[D], cb: DialogButton
) -> Outcome | None:
    """What a button does; None for an action this step does not have (a forged button)."""
    if cb.action == "cancel":
        return End(turn.t(dialog.cancelled))
    if cb.action == "skip":
        return Next(step.skip(turn.draft)) if step.skip is not None else None
    if cb.action == "edit":
        if not step.review or cb.value not in {s.name for s in dialog.editable(turn.draft)}:
            return None
        target = dialog.step(cb.value)
        draft = target.on_edit(turn.draft) if target.on_edit is not None else turn.draft
        return Goto(target.name, draft)
    press = step.buttons.get(cb.action)
    if press is None:
        return None
    return await press(turn, cb.value)
