"""Configuration from the environment and ``.env`` (pydantic-settings)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from groups.roles import PermissionTable, Role
from tips.geocoding import split_base_url

TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
LOCALES = ("zh-CN", "en")
ID_KEY_HOWTO = (
    'e.g. python -c "import secrets; print(secrets.token_urlsafe(48))"; '
    "keep it and never change it while tips are being written"
)

TOKEN_HELP = (
    "BOT_TOKEN is missing or malformed: create a bot with @BotFather in Telegram "  # noqa: S105
    "(https://t.me/BotFather, /newbot), then set BOT_TOKEN=<id>:<secret> in the environment "
    "or in .env"
)

MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr
    mongodb_uri: SecretStr | None = None
    mongodb_db: str = "six_circles"
    telegram_api_url: str = "https://api.telegram.org"
    bot_mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(8080, ge=1, le=65535)
    webhook_path: str = "/telegram/webhook"
    superadmin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Roles that may see a tipster's Telegram identity with /reveal (comma-separated role
    # names; never member). Every reveal is audited with its reason.
    reveal_tipster_roles: Annotated[tuple[Role, ...], NoDecode] = (Role.SUPERADMIN,)
    default_locale: Literal["zh-CN", "en"] = "zh-CN"
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    polling_timeout_s: int = Field(30, ge=1, le=60)
    # Incoming flood guard per user (messages and button presses per window).
    throttle_messages: int = Field(30, ge=0)
    throttle_window_s: float = Field(10.0, gt=0)
    # --- Duty rotation (issue 6) ---
    # Local hour (team time zone) after which the daily coverage warning goes out.
    duty_coverage_hour: int = Field(9, ge=0, le=23)
    # How far ahead the coverage check looks for short-handed shifts.
    duty_coverage_horizon_h: int = Field(72, ge=1, le=24 * 14)
    # How often the escalation sweep runs (early wake-ups are scheduled for known due times).
    duty_escalation_sweep_s: float = Field(15.0, gt=0, le=300)
    # Minutes before a shift starts that its operators are reminded (0: no reminders).
    duty_reminder_min: int = Field(30, ge=0, le=24 * 60)

    # ---- Tips (issue 5) -----------------------------------------------------------------
    # Flood limit per tipster: at most TIPS_FLOOD_LIMIT tips per TIPS_FLOOD_WINDOW_S (0: off).
    tips_flood_limit: int = Field(10, ge=0)
    tips_flood_window_s: float = Field(600.0, gt=0)
    # Size limits of one tip: all text and captions together, files, items.
    tips_max_text_chars: int = Field(4000, ge=100, le=100_000)
    tips_max_file_mb: int = Field(20, ge=1, le=2000)
    tips_max_parts: int = Field(30, ge=1, le=200)
    # Address geocoding: "off" (default: addresses are kept as text and the member is asked
    # for a location pin) or "nominatim" (OpenStreetMap; 1 request/s, cached).
    tips_geocoder: Literal["off", "nominatim"] = "off"
    tips_nominatim_user_agent: str = "six-circles-bot"
    # The Nominatim server: OpenStreetMap's public one, your own, or a test's fake.
    tips_nominatim_url: str = "https://nominatim.openstreetmap.org"
    # Renamed to TIPS_NOMINATIM_URL: refused, so addresses never go to a server by mistake.
    tips_nominatim_domain: str | None = None
    tips_nominatim_country_codes: str | None = "cn"
    tips_geocoder_timeout_s: float = Field(5.0, gt=0, le=60)
    # How long the "open a private chat" hint stays in a group after a reply-tip.
    tips_group_hint_ttl_s: int = Field(60, ge=5, le=3600)
    # Key of the keyed hashes that make tip intake idempotent (never stored in the
    # database). Required in production (BOT_MODE=webhook or MONGODB_URI set); scripts/run
    # writes one into .env in development.
    tips_id_key: SecretStr | None = None

    # --- Rewards (issue 7) ---
    # Currency of discretionary rewards (offers carry their own), ISO 4217.
    rewards_currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    # Largest amount anyone may propose (exact decimal).
    rewards_max_amount: Decimal = Field(Decimal("1000000"), gt=0, max_digits=14, decimal_places=2)
    # Remind approvers of proposals waiting longer than this (and again each period).
    rewards_remind_after_h: float = Field(72.0, gt=0)
    rewards_remind_sweep_s: float = Field(900.0, ge=10)
    # How a tipster claims an approved reward, per area code ("*": every other area), JSON:
    # {"town-a": "请携带线索编号到城关派出所领取", "*": "..."}. Unset: the built-in text.
    rewards_claim_instructions: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    # --- Outgoing traffic and notices (issue 4: bot/sender.py, bot/routers/notices.py) ---
    # One limiter paces every message the bot sends (album items count one each).
    send_global_per_s: float = Field(25.0, gt=0)
    send_group_per_min: float = Field(20.0, gt=0)
    send_chat_per_s: float = Field(1.0, gt=0)
    send_private_burst: int = Field(4, ge=1, le=30)  # private chats: burst at that average
    send_max_retries: int = Field(5, ge=0, le=20)  # 429 retries per request
    notice_concurrency: int = Field(64, ge=1, le=1000)  # groups in flight per notice
    notice_progress_s: float = Field(3.0, ge=0)  # at most one progress edit per interval
    notice_resume_after_s: float = Field(60.0, ge=1)  # reclaim a dead worker's deliveries

    # --- groups and admission (issue 3) ---
    # Join requests nobody decided within this many hours are declined automatically.
    join_request_timeout_h: float = Field(48.0, gt=0, le=24 * 30)
    # How often the automatic-decline sweep runs.
    join_request_sweep_s: float = Field(300.0, ge=10)

    # --- Officer web console (issue 15: console/) ---
    # Served by `python -m bot` too (CONSOLE_ENABLED=false: only by `python -m console`).
    console_enabled: bool = True
    console_host: str = "127.0.0.1"
    console_port: int = Field(8081, ge=1, le=65535)
    # Public base URL (behind a reverse proxy); a path is allowed. Unset: http://HOST:PORT.
    console_url: str | None = None
    console_session_hours: float = Field(12.0, gt=0, le=24 * 31)
    # Map tiles ({z}/{x}/{y}, optional {s}); empty: maps have no base layer.
    console_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    console_tile_attribution: str = "© OpenStreetMap contributors"

    @field_validator("rewards_claim_instructions", mode="before")
    @classmethod
    def _claim_json(cls, v: object) -> object:
        if isinstance(v, str):
            try:
                v = json.loads(v) if v.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError('must be JSON like {"area-code": "text", "*": "text"}') from exc
        return v

    @field_validator("mongodb_uri", mode="before")
    @classmethod
    def _mongodb_uri(cls, v: object) -> object:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if isinstance(raw, str):
            raw = raw.strip()
            if not raw:
                return None  # MONGODB_URI= (empty): the embedded database, as when unset
            if not raw.startswith(MONGODB_SCHEMES):
                raise ValueError(
                    "must be a MongoDB connection string starting with mongodb:// or "
                    "mongodb+srv:// (leave it unset for the embedded database)"
                )
        return raw

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, v: SecretStr) -> SecretStr:
        if not TOKEN_RE.match(v.get_secret_value().strip()):
            raise ValueError("malformed")
        return SecretStr(v.get_secret_value().strip())

    @field_validator("superadmin_ids", mode="before")
    @classmethod
    def _split_ids(cls, v: object) -> object:
        if isinstance(v, str):
            parts = [p.strip() for p in v.replace(";", ",").split(",")]
            return [int(p) for p in parts if p]
        if isinstance(v, int):
            return [v]
        return v

    @field_validator("reveal_tipster_roles", mode="before")
    @classmethod
    def _reveal_roles(cls, v: object) -> object:
        names = v.replace(";", ",").split(",") if isinstance(v, str) else v
        if not isinstance(names, list | tuple | set | frozenset):
            return v
        roles: list[Role] = []
        for raw in names:
            name = str(raw).strip().lower()
            if not name:
                continue
            try:
                role = Role(name)
            except ValueError:
                known = ", ".join(r.value for r in Role if r is not Role.MEMBER)
                raise ValueError(f"unknown role {name!r}; use {known}") from None
            if role is Role.MEMBER:
                raise ValueError("member can never reveal tipsters")
            if role not in roles:
                roles.append(role)
        if not roles:
            raise ValueError("name at least one role, e.g. superadmin")
        return tuple(roles)

    @field_validator("default_locale", mode="before")
    @classmethod
    def _locale_alias(cls, v: object) -> object:
        if isinstance(v, str) and v.lower().replace("_", "-") in ("zh", "zh-cn", "zh-hans"):
            return "zh-CN"
        return v

    @field_validator("timezone")
    @classmethod
    def _tz_exists(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("tips_nominatim_url")
    @classmethod
    def _nominatim_url(cls, v: str) -> str:
        split_base_url(v)  # raises ValueError with the reason
        return v.strip().rstrip("/")

    @field_validator("tips_nominatim_domain")
    @classmethod
    def _nominatim_domain_renamed(cls, v: str | None) -> str | None:
        if v:
            raise ValueError(f"renamed: set TIPS_NOMINATIM_URL=https://{v.strip('/')} instead")
        return None

    @field_validator("tips_id_key")
    @classmethod
    def _id_key_length(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        if len(v.get_secret_value().strip()) < 32:
            raise ValueError(f"too short: use at least 32 random characters ({ID_KEY_HOWTO})")
        return SecretStr(v.get_secret_value().strip())

    @field_validator("console_url")
    @classmethod
    def _console_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL, e.g. https://console.example.gov")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return v.strip().rstrip("/")

    @field_validator("console_tile_url")
    @classmethod
    def _tile_url(cls, v: str) -> str:
        v = v.strip()
        if not v:
            return ""
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL (or empty: no base layer)")
        if not all(p in v for p in ("{z}", "{x}", "{y}")):
            raise ValueError("must contain {z}, {x} and {y}")
        return v

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @model_validator(mode="after")
    def _webhook_complete(self) -> Settings:
        if self.bot_mode == "webhook":
            if not self.webhook_url:
                raise ValueError("BOT_MODE=webhook needs WEBHOOK_URL (the public HTTPS URL)")
            if self.webhook_secret is None or not SECRET_RE.match(
                self.webhook_secret.get_secret_value()
            ):
                raise ValueError(
                    "BOT_MODE=webhook needs WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ -"
                )
        if self.tips_id_key is None and self.is_production:
            raise ValueError(
                "TIPS_ID_KEY is missing: in production (BOT_MODE=webhook or MONGODB_URI set) "
                f"set it to a secret kept outside the database ({ID_KEY_HOWTO})"
            )
        return self

    @property
    def is_production(self) -> bool:
        """Webhook mode, or a database of its own (not the embedded development one)."""
        return self.bot_mode == "webhook" or self.mongodb_uri is not None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def permissions(self) -> PermissionTable:
        """What each role may do here (REVEAL_TIPSTER_ROLES decides who may reveal)."""
        return PermissionTable(frozenset(self.reveal_tipster_roles))

    @property
    def console_base_url(self) -> str:
        """The console's public base URL, without a trailing slash."""
        if self.console_url:
            return self.console_url
        host = "127.0.0.1" if self.console_host in ("0.0.0.0", "::", "") else self.console_host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.console_port}"

    @property
    def bot_id(self) -> int:
        return int(self.bot_token.get_secret_value().split(":", 1)[0])


def describe_error(exc: ValidationError) -> str:
    """One line a person can act on."""
    for err in exc.errors():
        if err["loc"] and err["loc"][0] == "bot_token":
            return TOKEN_HELP
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]).upper() or "configuration"
    msg = str(first["msg"]).removeprefix("Value error, ")
    return (
        f"invalid configuration: {where}: {msg}"
        if first["loc"]
        else f"invalid configuration: {msg}"
    )


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
