"""Who someone is to the bot: the language to write to them in and a name to show
officers. One place instead of a copy per feature."""

from __future__ import annotations

from bot.i18n import LOCALES, Translator, normalize_locale
from groups.users import UserRepository


class People:
    def __init__(self, users: UserRepository, default_locale: str) -> None:
        self._users = users
        self._default = default_locale

    async def locale(self, user_id: int, fallback: str | None = None) -> str:
        """Their /lang choice, else their Telegram language (or ``fallback``, e.g. the
        language code of the update in hand), else the default."""
        profile = await self._users.get(user_id)
        if profile is not None and profile.locale in LOCALES:
            return profile.locale
        code = (profile.language_code if profile else None) or fallback
        return normalize_locale(code, self._default)

    async def translator(self, user_id: int, fallback: str | None = None) -> Translator:
        return Translator(await self.locale(user_id, fallback))

    async def name(self, user_id: int | None, *, with_id: bool = True) -> str:
        """A name for officers' messages ("Li Wei (1001)"); "—" for nobody."""
        if user_id is None:
            return "—"
        profile = await self._users.get(user_id)
        if profile is None:
            return str(user_id)
        return f"{profile.display_name} ({user_id})" if with_id else profile.display_name
