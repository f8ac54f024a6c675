from __future__ import annotations

import ast
from pathlib import Path

from bot.i18n import LOCALES, Translator, catalogues, normalize_locale, placeholders

ROOT = Path(__file__).resolve().parents[2]


def test_both_locales_have_the_same_keys_and_placeholders() -> None:
    cats = catalogues()
    zh, en = cats["zh-CN"], cats["en"]
    assert zh.keys() == en.keys(), sorted(zh.keys() ^ en.keys())
    for key in zh:
        assert placeholders(zh[key]) == placeholders(en[key]), key


def test_every_key_used_in_code_exists() -> None:
    """String literals passed to t(...) or DomainError subclasses must be catalogue keys."""
    keys = catalogues()["en"].keys()
    missing: list[str] = []
    for pkg in ("bot", "groups", "broadcasts", "tips", "rewards", "duty", "console"):
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in {
                    "t",
                    "tt",
                    "PermissionDenied",
                    "InvalidInput",
                    "NotFound",
                    "DomainError",
                }:
                    value = first.value
                    if "." in value and " " not in value and value not in keys:
                        missing.append(f"{path.relative_to(ROOT)}: {value}")
    assert not missing, missing


def test_translator_formats_and_falls_back() -> None:
    t = Translator("en")
    assert "Ann" in t("core.welcome", name="Ann")
    assert t("no.such.key") == "no.such.key"


def test_normalize_locale() -> None:
    assert normalize_locale("zh-hans", "en") == "zh-CN"
    assert normalize_locale("zh-TW", "en") == "zh-CN"
    assert normalize_locale("en-GB", "zh-CN") == "en"
    assert normalize_locale("ru", "zh-CN") == "zh-CN"
    assert normalize_locale(None, "en") == "en"
    assert set(LOCALES) == {"zh-CN", "en"}
