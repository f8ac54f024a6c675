"""Message catalogues: ``bot/locales/<feature>.toml``, each with ``[zh-CN]`` and ``[en]`` tables.

Keys are dotted (``core.welcome``); nested TOML tables are flattened. A test checks that
both languages define the same keys with the same placeholders.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES = ("zh-CN", "en")
LOCALE_DIR = Path(__file__).with_name("locales")


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(full, value, out)
        else:
            out[full] = str(value)


@lru_cache(maxsize=1)
def catalogues() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {loc: {} for loc in LOCALES}
    for path in sorted(LOCALE_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for loc in LOCALES:
            flat: dict[str, str] = {}
            _flatten("", data.get(loc, {}), flat)
            dup = merged[loc].keys() & flat.keys()
            if dup:
                raise ValueError(f"{path.name}: keys defined twice: {sorted(dup)}")
            merged[loc].update(flat)
    return merged


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def normalize_locale(code: str | None, default: str) -> str:
    if not code:
        return default
    code = code.lower().replace("_", "-")
    if code.startswith("zh"):
        return "zh-CN"
    if code.startswith("en"):
        return "en"
    return default


def locale_of(profile: object | None, default: str) -> str:
    """The language to write to someone in: their /lang choice, else Telegram's, else default."""
    chosen = getattr(profile, "locale", None)
    if chosen in LOCALES:
        return str(chosen)
    return normalize_locale(getattr(profile, "language_code", None), default)


class Translator:
    """``t("core.welcome", name=...)`` in one locale, falling back to the other."""

    def __init__(self, locale: str) -> None:
        if locale not in LOCALES:
            raise ValueError(f"unknown locale {locale!r}")
        self.locale = locale
        self._cat = catalogues()[locale]

    def __call__(self, key: str, /, **params: Any) -> str:
        template = self._cat.get(key)
        if template is None:
            for other in LOCALES:
                template = catalogues()[other].get(key)
                if template is not None:
                    break
            else:
                return key
        return template.format(**params) if params else template

    def has(self, key: str) -> bool:
        return key in self._cat


def translators() -> dict[str, Translator]:
    return {loc: Translator(loc) for loc in LOCALES}
