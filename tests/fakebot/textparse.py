"""parse_mode handling: turn HTML / MarkdownV2 / Markdown into plain text + entities.

Strict like Telegram: malformed markup answers ``400 Bad Request: can't parse entities: ...``
so bots that forget to escape user input fail in tests the way they would in production.
Entity offsets/lengths are in UTF-16 code units.
"""

from __future__ import annotations

import re
from typing import Any

from .builders import utf16_len
from .errors import TgError

Entity = dict[str, Any]


def _fail(detail: str) -> TgError:
    return TgError.bad_request(f"can't parse entities: {detail}")


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


class _Out:
    """Accumulates plain text and open/closed entities (positions in python chars)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[tuple[int, int, Entity]] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def close(self, start: int, entity: Entity) -> None:
        if self.length > start:
            self.entities.append((start, self.length, entity))

    def result(self) -> tuple[str, list[Entity]]:
        text = "".join(self.parts)
        out: list[Entity] = []
        for start, end, entity in sorted(self.entities, key=lambda e: (e[0], -e[1])):
            item = dict(entity)
            item["offset"] = utf16_len(text[:start])
            item["length"] = utf16_len(text[start:end])
            out.append(item)
        return text, out


# --------------------------------------------------------------------------- HTML

_TAG_RE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*/?>"
)
_ATTR_RE = re.compile(r"([A-Za-z-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")
_ENTITY_RE = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z]+);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}


def _unescape(chunk: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.startswith("#x"):
            return chr(int(name[2:], 16))
        if name.startswith("#"):
            return chr(int(name[1:]))
        return _NAMED.get(name, m.group(0))

    return _ENTITY_RE.sub(repl, chunk)


def parse_html(source: str) -> tuple[str, list[Entity]]:
    out = _Out()
    stack: list[tuple[str, int, Entity | None]] = []
    i = 0
    while i < len(source):
        lt = source.find("<", i)
        if lt < 0:
            out.add(_unescape(source[i:]))
            break
        out.add(_unescape(source[i:lt]))
        m = _TAG_RE.match(source, lt)
        if not m:
            name_m = re.match(r"</?([^\s>]*)", source[lt:])
            name = name_m.group(1) if name_m else ""
            raise _fail(f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, lt)}')
        closing, tag, attr_src = m.group(1) == "/", m.group(2).lower(), m.group(3)
        if closing:
            if not stack:
                raise _fail(f"Unexpected end tag at byte offset {_byte_offset(source, lt)}")
            open_tag, start, entity = stack.pop()
            if open_tag != tag:
                raise _fail(
                    f"Unmatched end tag at byte offset {_byte_offset(source, lt)}, "
                    f'expected "</{open_tag}>", found "</{tag}>"'
                )
            if entity is not None:
                out.close(start, entity)
        else:
            attrs = {
                k.lower(): (v[1:-1] if v and v[0] in "\"'" else (v or ""))
                for k, v in _ATTR_RE.findall(attr_src)
            }
            entity = _html_entity(tag, attrs, source, lt, stack)
            stack.append((tag, out.length, entity))
        i = m.end()
    if stack:
        raise _fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _html_entity(
    tag: str, attrs: dict[str, str], source: str, pos: int, stack: list[Any]
) -> Entity | None:
    if tag in _SIMPLE_TAGS:
        kind = _SIMPLE_TAGS[tag]
        if kind == "code" and stack and stack[-1][0] == "pre":
            lang = attrs.get("class", "")
            if lang.startswith("language-") and stack[-1][2] is not None:
                stack[-1][2]["language"] = lang[len("language-") :]
            return None
        return {"type": kind}
    if tag == "span":
        if attrs.get("class") != "tg-spoiler":
            raise _fail(f'Unsupported start tag "span" at byte offset {_byte_offset(source, pos)}')
        return {"type": "spoiler"}
    if tag == "a":
        href = _unescape(attrs.get("href", ""))
        m = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if m:
            return {
                "type": "text_mention",
                "user": {"id": int(m.group(1)), "is_bot": False, "first_name": "User"},
            }
        return {"type": "text_link", "url": href} if href else None
    if tag == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in attrs else "blockquote"}
    if tag == "tg-emoji":
        return {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
    raise _fail(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(source, pos)}')


# --------------------------------------------------------------------------- MarkdownV2

_RESERVED_V2 = set("_*[]()~`>#+-=|{}.!")


def parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    out = _Out()
    stack: list[tuple[str, int, int]] = []  # (marker, out start, source pos)
    i = 0
    n = len(source)
    line_start = True
    quote_start: int | None = None
    while i < n:
        c = source[i]
        if c == "\\":
            if i + 1 < n and 0 < ord(source[i + 1]) < 127:
                out.add(source[i + 1])
                i += 2
                line_start = False
                continue
            raise _fail("Character '\\' is reserved and must be escaped with the preceding '\\'")
        if c == "\n":
            if quote_start is not None and not source.startswith(">", i + 1):
                out.close(quote_start, {"type": "blockquote"})
                quote_start = None
            out.add(c)
            i += 1
            line_start = True
            continue
        if c == ">" and line_start:
            if quote_start is None:
                quote_start = out.length
            i += 1
            line_start = False
            continue
        line_start = False
        if source.startswith("```", i):
            end = source.find("```", i + 3)
            if end < 0:
                raise _fail(
                    "Can't find end of Pre entity at byte offset " + str(_byte_offset(source, i))
                )
            body = source[i + 3 : end]
            language = ""
            if "\n" in body:
                first, rest = body.split("\n", 1)
                if first and " " not in first:
                    language, body = first, rest
            start = out.length
            out.add(re.sub(r"\\([`\\])", r"\1", body))
            entity: Entity = {"type": "pre"}
            if language:
                entity["language"] = language
            out.close(start, entity)
            i = end + 3
            continue
        if c == "`":
            end = i + 1
            while end < n and source[end] != "`":
                end += 2 if source[end] == "\\" else 1
            if end >= n:
                raise _fail(
                    "Can't find end of Code entity at byte offset " + str(_byte_offset(source, i))
                )
            start = out.length
            out.add(re.sub(r"\\([`\\])", r"\1", source[i + 1 : end]))
            out.close(start, {"type": "code"})
            i = end + 1
            continue
        if c == "[" or (c == "!" and source.startswith("![", i)):
            is_emoji = c == "!"
            close = _find_unescaped(source, "]", i + (2 if is_emoji else 1))
            if close < 0 or not source.startswith("(", close + 1):
                raise _fail(
                    f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )
            url_end = _find_unescaped(source, ")", close + 2)
            if url_end < 0:
                raise _fail(
                    "Can't find end of a url at byte offset " + str(_byte_offset(source, close + 1))
                )
            inner_text, inner_entities = parse_markdown_v2(
                source[i + (2 if is_emoji else 1) : close]
            )
            url = re.sub(r"\\(.)", r"\1", source[close + 2 : url_end])
            start = out.length
            out.add(inner_text)
            for ent in inner_entities:
                a = start + _index_of_utf16(inner_text, ent["offset"])
                b = start + _index_of_utf16(inner_text, ent["offset"] + ent["length"])
                clean = {k: v for k, v in ent.items() if k not in ("offset", "length")}
                out.entities.append((a, b, clean))
            if is_emoji:
                emoji_id = url.split("id=", 1)[-1]
                out.close(start, {"type": "custom_emoji", "custom_emoji_id": emoji_id})
            else:
                m = re.fullmatch(r"tg://user\?id=(\d+)", url)
                if m:
                    out.close(
                        start,
                        {
                            "type": "text_mention",
                            "user": {"id": int(m.group(1)), "is_bot": False, "first_name": "User"},
                        },
                    )
                else:
                    out.close(start, {"type": "text_link", "url": url})
            i = url_end + 1
            continue
        marker = None
        for candidate in ("__", "||", "*", "_", "~"):
            if source.startswith(candidate, i):
                marker = candidate
                break
        if marker is not None:
            if stack and stack[-1][0] == marker:
                _, start, _ = stack.pop()
                kind = {
                    "__": "underline",
                    "||": "spoiler",
                    "*": "bold",
                    "_": "italic",
                    "~": "strikethrough",
                }[marker]
                out.close(start, {"type": kind})
            else:
                stack.append((marker, out.length, i))
            i += len(marker)
            continue
        if c in _RESERVED_V2:
            raise _fail(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        out.add(c)
        i += 1
    if stack:
        raise _fail(
            "Can't find end of the entity starting at byte offset "
            + str(_byte_offset(source, stack[-1][2]))
        )
    if quote_start is not None:
        out.close(quote_start, {"type": "blockquote"})
    return out.result()


def _find_unescaped(source: str, char: str, start: int) -> int:
    i = start
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source[i] == char:
            return i
        i += 1
    return -1


def _index_of_utf16(text: str, offset16: int) -> int:
    pos16 = 0
    for idx, ch in enumerate(text):
        if pos16 >= offset16:
            return idx
        pos16 += utf16_len(ch)
    return len(text)


# --------------------------------------------------------------------------- legacy Markdown


def parse_markdown(source: str) -> tuple[str, list[Entity]]:
    out = _Out()
    i = 0
    n = len(source)
    while i < n:
        c = source[i]
        if c == "\\" and i + 1 < n and source[i + 1] in "_*`[":
            out.add(source[i + 1])
            i += 2
            continue
        if source.startswith("```", i):
            end = source.find("```", i + 3)
            if end < 0:
                raise _fail(
                    "Can't find end of the entity starting at byte offset "
                    + str(_byte_offset(source, i))
                )
            start = out.length
            out.add(source[i + 3 : end])
            out.close(start, {"type": "pre"})
            i = end + 3
            continue
        if c in "*_`":
            end = source.find(c, i + 1)
            if end < 0:
                raise _fail(
                    "Can't find end of the entity starting at byte offset "
                    + str(_byte_offset(source, i))
                )
            start = out.length
            out.add(source[i + 1 : end])
            out.close(start, {"type": {"*": "bold", "_": "italic", "`": "code"}[c]})
            i = end + 1
            continue
        if c == "[":
            close = source.find("]", i + 1)
            if close < 0 or not source.startswith("(", close + 1):
                raise _fail(
                    "Can't find end of the entity starting at byte offset "
                    + str(_byte_offset(source, i))
                )
            url_end = source.find(")", close + 2)
            if url_end < 0:
                raise _fail(
                    "Can't find end of the entity starting at byte offset "
                    + str(_byte_offset(source, i))
                )
            start = out.length
            out.add(source[i + 1 : close])
            out.close(start, {"type": "text_link", "url": source[close + 2 : url_end]})
            i = url_end + 1
            continue
        out.add(c)
        i += 1
    return out.result()


def parse_text(
    text: str, parse_mode: str | None, entities: list[Entity] | None
) -> tuple[str, list[Entity]]:
    """Apply parse_mode (case-insensitive) or explicit entities; returns (plain, entities)."""
    if entities:
        return text, [dict(e) for e in entities]
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise TgError.bad_request(f"unsupported parse_mode {parse_mode!r}")
