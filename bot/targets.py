"""Naming a person in a command: reply to their message, @username, or numeric id."""

from __future__ import annotations

import re

from aiogram.types import Message

from groups.users import UserProfile, UserRepository

ID_RE = re.compile(r"^\d{1,15}$")
USERNAME_RE = re.compile(r"^@[A-Za-z0-9_]{3,32}$")


def looks_like_target(token: str) -> bool:
    return bool(ID_RE.match(token) or USERNAME_RE.match(token))


async def resolve_target(
    message: Message, args: list[str], users: UserRepository
) -> tuple[UserProfile | None, str | None, list[str]]:
    """Return (profile, what-was-asked-for, remaining args).

    A reply wins; otherwise the first argument that looks like @username or an id.
    A numeric id the bot has never seen still resolves (to a bare profile), because
    managers often copy ids from other tools.
    """
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and not reply.from_user.is_bot:
        u = reply.from_user
        known = await users.get(u.id)
        return (
            known or UserProfile(u.id, u.first_name, u.last_name, u.username),
            str(u.id),
            args,
        )
    for i, token in enumerate(args):
        if not looks_like_target(token):
            continue
        rest = args[:i] + args[i + 1 :]
        if token.startswith("@"):
            return await users.by_username(token), token, rest
        uid = int(token)
        return (await users.get(uid)) or UserProfile(uid, str(uid)), token, rest
    return None, None, args
