"""Helpers of the deployment-kit tests: where the files are, and the environment of a
process that runs ``python -m bot`` the way the image and the systemd unit do."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PYTHON = sys.executable


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the bot's settings, plus ``extra``."""
    prefixes = ("BOT_", "MONGODB_", "WEBHOOK_", "TELEGRAM_", "TIPS_", "DATA_DIR", "SUPERADMIN")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def seconds(value: str) -> float:
    """A compose / systemd duration: ``60s``, ``1m30s``, ``90``."""
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", value):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total
