"""What the console takes from the settings (``bot.config.Settings``), derived once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.config import Settings


def tile_origin(tile_url: str) -> str | None:
    """The origin map tiles come from, as a CSP source (``{s}`` subdomains: ``*.``)."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    host = parts.netloc.replace("{s}", "*")
    return f"{parts.scheme}://{host}"


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    host: str
    port: int
    base_url: str  # public, without trailing slash, e.g. https://x.gov/console
    session_lifetime: timedelta
    tile_url: str  # empty: no base layer
    tile_attribution: str
    default_locale: str
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleConfig:
        return cls(
            host=settings.console_host,
            port=settings.console_port,
            base_url=settings.console_base_url,
            session_lifetime=timedelta(hours=settings.console_session_hours),
            tile_url=settings.console_tile_url,
            tile_attribution=settings.console_tile_attribution,
            default_locale=settings.default_locale,
            tz=settings.tz,
        )

    @property
    def base_path(self) -> str:
        """The path the console is served under ("" for the root)."""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def secure(self) -> bool:
        """Cookies are Secure when the public URL is https."""
        return self.base_url.startswith("https://")

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def tile_origin(self) -> str | None:
        return tile_origin(self.tile_url)

    def link(self, path: str) -> str:
        """An absolute public URL for a console path (``/signin/...``)."""
        return self.base_url + path
