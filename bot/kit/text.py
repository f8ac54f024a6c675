"""Message text that fits Telegram: lengths in UTF-16 code units, as Telegram counts them
(most emoji count two), cut or split without losing anything but a separator."""

from __future__ import annotations

from collections.abc import Iterable

from broadcasts.text import utf16_len

MESSAGE_LIMIT = 4096  # a text message
CAPTION_LIMIT = 1024  # a media caption


def fit_text(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to at most ``limit`` units, ending in "…" when cut; for a message that
    must be one (a card with buttons)."""
    if utf16_len(text) <= limit:
        return text
    units = 1  # the ellipsis
    for end, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return text[:end] + "…"
    return text


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``text`` in pieces of at most ``limit`` units, cut at a line break, else a space, in
    the second half of a piece; else anywhere between two characters. Nothing is lost but
    the line break or space a piece was cut at."""
    if utf16_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        units = 0
        end = 0
        for ch in rest:
            units += 2 if ord(ch) > 0xFFFF else 1
            if units > limit:
                break
            end += 1
        cut, skip = end, 0
        for sep in ("\n", " "):
            at = rest.rfind(sep, 0, end)
            if at > end // 2:
                cut, skip = at, 1
                break
        pieces.append(rest[:cut])
        rest = rest[cut + skip :]
    if rest.strip():
        pieces.append(rest)
    return pieces


def join_lines(lines: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Lines joined into as few messages as fit ``limit`` units; a line longer than a
    message is split on its own."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        for piece in split_text(line, limit):
            if current and utf16_len(current) + 1 + utf16_len(piece) > limit:
                chunks.append(current)
                current = piece
            else:
                current = f"{current}\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks
