"""Structured logging with secrets redacted: tokens, webhook secrets, phone numbers."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable

PHONE_RE = re.compile(r"(?<!\d)(\+?86[- ]?)?1[3-9]\d{9}(?!\d)|\+\d{10,14}(?!\d)")
TOKEN_RE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{30,}")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        text = TOKEN_RE.sub("***:***", text)
        return PHONE_RE.sub("[phone]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line. A record logged with ``extra={"coarse_time": True}``
    (tipster business, see ``bot.middlewares.context``) is time-stamped to the minute."""

    def format(self, record: logging.LogRecord) -> str:
        coarse = bool(getattr(record, "coarse_time", False))
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M" if coarse else "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)  # we log our own line
