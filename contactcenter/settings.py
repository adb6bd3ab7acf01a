"""Frozen settings: config/default.toml < an optional TOML file < CC_<SECTION>__<KEY> environment variables."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contactcenter.domain.hours import BusinessHours, HoursError
from contactcenter.paths import config_dir
from routing.policy import RingStep


class SettingsError(ValueError):
    """A setting has a wrong name, type or value."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    data_dir: str = "./data"
    secret_key: str = ""
    max_body_bytes: int = 25 * 1024 * 1024
    log_level: str = "INFO"
    uvloop: bool = True  # `serve` runs on uvloop's event loop where it is installed (not on Windows)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""
    pool_size: int = 10
    echo: bool = False


@dataclass(frozen=True)
class IntakeSettings:
    reopen_window_days: int = 7
    default_language: str = "en"


@dataclass(frozen=True)
class RelaySettings:
    enabled: bool = True
    poll_interval: float = 1.0
    batch_size: int = 100
    max_attempts: int = 8
    retry_base_delay: float = 2.0
    claim_timeout: float = 60.0
    linger: float = 0.1
    keep_done_days: float = 7.0  # delivered events are deleted after this many days (0: kept for ever)


@dataclass(frozen=True)
class AuthSettings:
    session_hours: int = 12
    cookie_secure: bool = False
    login_attempts: int = 10
    login_window_seconds: int = 900
    backoff_free_attempts: int = 3  # failed sign-ins in a row (per e-mail) before waits start
    backoff_base_seconds: float = 1.0  # the first wait; it doubles with every further failure (0: no backoff)
    backoff_max_seconds: float = 300.0
    invite_hours: int = 72  # how long an invitation link can be used (once)
    token_days: int = 0  # default lifetime of new API tokens in days (0: until revoked)


@dataclass(frozen=True)
class Topic:
    id: str
    label: str
    label_fa: str = ""
    skill: str = ""
    type: str = "question"
    priority: str = "normal"


@dataclass(frozen=True)
class WebformSettings:
    rate_per_ip: int = 20
    rate_per_address: int = 10
    window_seconds: int = 3600
    max_attachments: int = 5
    max_attachment_bytes: int = 10 * 1024 * 1024
    allowed_attachment_types: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    default_region: str = "IR"
    topics: tuple[Topic, ...] = ()

    def topic(self, topic_id: str) -> Topic | None:
        """The configured topic with this id, if any."""
        return next((t for t in self.topics if t.id == topic_id), None)

    @staticmethod
    def parse_topics(value: Any) -> tuple[Topic, ...]:
        return tuple(t if isinstance(t, Topic) else Topic(**t) for t in value)


@dataclass(frozen=True)
class RoutingRule:
    """Adds a skill (and may raise priority or set the type) when every condition given matches."""

    name: str
    keywords: tuple[str, ...] = ()  # any of these words or phrases in the subject or text (Persian-aware)
    tier: str = ""  # the customer's organization tier
    contract: bool = False  # the customer's organization has a service contract in force
    channel: str = ""
    type: str = ""  # the ticket type (e.g. complaint)
    skill: str = ""
    level: int = 1
    optional: bool = False  # an overflow step may drop it
    priority: str = ""  # at least this priority
    set_type: str = ""


@dataclass(frozen=True)
class RoutingSettings:
    enabled: bool = True
    strategy: str = "best_match"
    aging_minutes: float = 10.0
    missed_offers_to_away: int = 3
    voice_blocks_other_work: bool = True
    candidates: int = 10
    timer_interval: float = 1.0
    channel_classes: Mapping[str, str] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=dict)
    offer_timeout: Mapping[str, float] = field(default_factory=dict)
    wrap_up: Mapping[str, float] = field(default_factory=dict)
    rings: Mapping[str, tuple[RingStep, ...]] = field(default_factory=dict)
    rules: tuple[RoutingRule, ...] = ()

    def channel_class(self, channel: str) -> str:
        """The capacity bucket of a channel (voice, chat, messaging, email...)."""
        return self.channel_classes.get(channel, "email")

    def steps(self, queue: str | None) -> tuple[RingStep, ...]:
        """The overflow steps of a queue (the "default" ones when it has none of its own)."""
        return self.rings.get(queue or "", self.rings.get("default", ()))

    @staticmethod
    def parse_rings(value: Any) -> dict[str, tuple[RingStep, ...]]:
        return {str(queue): tuple(s if isinstance(s, RingStep) else RingStep(**s) for s in steps)
                for queue, steps in dict(value).items()}

    @staticmethod
    def parse_rules(value: Any) -> tuple[RoutingRule, ...]:
        def rule(values: Mapping[str, Any]) -> RoutingRule:
            fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            return RoutingRule(**fields)

        return tuple(r if isinstance(r, RoutingRule) else rule(r) for r in value)


@dataclass(frozen=True)
class EmailSettings:
    # inbound SMTP listener
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = ""
    support_addresses: tuple[str, ...] = ("support@example.com",)
    plus_addressing: bool = True
    max_message_bytes: int = 25 * 1024 * 1024
    max_recipients: int = 50
    max_line_bytes: int = 1024 * 1024
    command_limit: int = 1000
    timeout_seconds: float = 60.0
    tls_cert_file: str = ""
    tls_key_file: str = ""
    require_starttls: bool = False
    auth_required: bool = False
    auth_username: str = ""
    auth_password: str = ""
    auth_require_tls: bool = True
    # parsing bounds
    max_parts: int = 100
    max_depth: int = 10
    max_links: int = 500
    max_text_chars: int = 100_000
    max_attachment_bytes: int = 20 * 1024 * 1024
    # outbound
    from_address: str = ""
    from_name: str = "Support"
    reply_token: bool = True
    quote_previous: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout: float = 30.0
    # acknowledgements of new tickets
    acknowledge: bool = False
    acknowledge_per_sender: int = 3
    acknowledge_window_seconds: int = 3600

    @property
    def sender_address(self) -> str:
        """The From address of our mail: ``from_address``, else the first support address."""
        return (self.from_address or (self.support_addresses[0] if self.support_addresses else "")).lower()


@dataclass(frozen=True)
class HoursSettings:
    """When people answer live (chat and phone); outside these hours a chat or call becomes a ticket."""

    timezone: str = "UTC"
    days: tuple[str, ...] = ()  # mon..sun; empty: every day
    open: str = "00:00"
    close: str = "24:00"

    def __post_init__(self) -> None:
        self.schedule()  # refuse bad hours at load time, not at the first chat

    def schedule(self) -> BusinessHours:
        """The hours as a pure value with ``is_open(moment)``."""
        try:
            return BusinessHours.parse(self.timezone, self.days, self.open, self.close)
        except HoursError as exc:
            raise SettingsError(f"setting hours: {exc}") from None


@dataclass(frozen=True)
class ChatSettings:
    allowed_origins: tuple[str, ...] = ()
    rate_per_visitor: int = 30
    rate_per_ip: int = 120
    window_seconds: int = 60
    max_message_chars: int = 5000
    max_frame_bytes: int = 65536
    prechat_required: bool = True
    identity_secret: str = ""
    history_limit: int = 500
    visitor_cookie_days: int = 365


@dataclass(frozen=True)
class VoiceSettings:
    account_sid: str = ""
    auth_token: str = ""
    caller_id: str = ""
    api_base_url: str = ""
    languages: tuple[str, ...] = ("en-US", "fa-IR")
    menu_topics: tuple[str, ...] = ("general", "billing", "technical", "complaint")
    menu_timeout: int = 6
    menu_attempts: int = 2
    voicemail_max_seconds: int = 120
    queue_prefix: str = "cc-"
    agent_client_prefix: str = "agent-"


@dataclass(frozen=True)
class KbSettings:
    suggestions: int = 3
    min_score: float = 0.05
    auto_answer_margin: float = 0.15
    # the least threshold while the fine-tuned model scores (`kb tune`): its scores run higher (BENCHMARKS.md, kb6)
    tuned_threshold: float = 0.6
    thresholds: Mapping[str, float] = field(default_factory=lambda: {
        "chat": 0.5, "telegram": 0.5, "webform": 0.5, "email": 0.5, "sms": 1.01, "voice": 1.01})
    learn_phrasings: bool = True
    max_phrasing_chars: int = 300
    auto_answer_channels: tuple[str, ...] = ("chat", "telegram")
    embeddings: str = "auto"
    semantic_weight: float = 0.75
    answer_hold_seconds: float = 600.0
    hold_check_interval: float = 15.0

    def __post_init__(self) -> None:
        if self.embeddings not in ("auto", "off"):
            raise SettingsError(f'kb.embeddings must be "auto" or "off", not {self.embeddings!r}')
        if not 0 <= self.semantic_weight <= 1:
            raise SettingsError("kb.semantic_weight must be between 0 and 1")
        if self.tuned_threshold < 0:
            raise SettingsError("kb.tuned_threshold must not be negative")
        if self.answer_hold_seconds < 0 or self.hold_check_interval <= 0:
            raise SettingsError("kb.answer_hold_seconds must be >= 0 and kb.hold_check_interval > 0")

    def threshold(self, channel: str) -> float:
        """The automatic-answer threshold of ``channel``; above 1 (or unknown channel) means never."""
        return float(self.thresholds.get(channel, 1.01))


@dataclass(frozen=True)
class SmsSettings:
    """Twilio SMS/MMS (docs/messaging.md). Secrets come from the environment (CC_SMS__AUTH_TOKEN)."""

    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base_url: str = ""
    status_callbacks: bool = True
    conversation_gap_hours: float = 72.0
    reopen_solved: bool = False
    stop_keywords: tuple[str, ...] = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "لغو", "توقف",
                                      "انصراف")
    start_keywords: tuple[str, ...] = ("START", "YES", "UNSTOP", "شروع")
    default_region: str = "IR"
    send_timeout: float = 15.0


@dataclass(frozen=True)
class TelegramSettings:
    """Telegram bot (docs/messaging.md). Secrets come from the environment (CC_TELEGRAM__BOT_TOKEN, ...)."""

    bot_token: str = ""
    webhook_secret: str = ""
    api_base_url: str = ""
    ignore_group_chats: bool = True
    keep_unknown_updates: bool = False
    conversation_gap_hours: float = 72.0
    reopen_solved: bool = True


CUSTOMER_UPDATE_TEXT = {
    "en": ("Hello,\n\nWe are sorry: your request #{ticket} is taking longer than we promised. It has been given "
           "priority and we will answer you as soon as we can. There is no need to write again.\n"),
    "fa": ("سلام،\n\nپوزش می‌خواهیم: رسیدگی به درخواست شماره #{ticket} بیش از زمانی که وعده داده بودیم طول کشیده است. "
           "درخواست شما در اولویت قرار گرفت و در اسرع وقت پاسخ می‌دهیم. نیازی به ارسال دوباره پیام نیست.\n"),
}


@dataclass(frozen=True)
class SlaSettings:
    enabled: bool = True
    max_sleep_seconds: float = 30.0
    batch_size: int = 200
    calendar_dir: str = ""
    # notify_customer steps: the channels that can take an automatic written update, and its text per language
    customer_update_channels: tuple[str, ...] = ("email", "sms", "telegram", "chat", "webform")
    customer_update_text: Mapping[str, str] = field(default_factory=lambda: dict(CUSTOMER_UPDATE_TEXT))

    def __post_init__(self) -> None:
        if self.max_sleep_seconds <= 0 or self.batch_size < 1:
            raise SettingsError("sla.max_sleep_seconds must be > 0 and sla.batch_size >= 1")
        texts = self.customer_update_text
        if not isinstance(texts.get("en"), str) or not all(isinstance(v, str) and v.strip() for v in texts.values()):
            raise SettingsError("sla.customer_update_text needs an \"en\" text, and no text may be empty")

    def customer_update(self, language: str, ticket_id: int) -> str:
        """The update a notify_customer step sends, in the ticket's language (English when there is none)."""
        primary = (language or "").split("-")[0].lower()
        return self.customer_update_text.get(primary, self.customer_update_text["en"]).replace("{ticket}",
                                                                                              str(ticket_id))

    def calendar_path(self) -> Path:
        """Where relative ``holidays_ical`` paths of policy calendars are read from."""
        return Path(self.calendar_dir).expanduser() if self.calendar_dir else config_dir()


@dataclass(frozen=True)
class PrivacySettings:
    master_key: str = field(default="", repr=False)  # never in logs
    key_cache_size: int = 10_000
    retention_days: int = 0
    retention_mode: str = "anonymize"
    retention_interval_seconds: float = 3600.0
    retention_batch_size: int = 200

    def __post_init__(self) -> None:
        if self.retention_mode not in {"anonymize", "delete"}:
            raise SettingsError("privacy.retention_mode must be 'anonymize' or 'delete'")
        if self.retention_days < 0 or self.retention_batch_size < 1 or self.retention_interval_seconds <= 0 \
                or self.key_cache_size < 1:
            raise SettingsError("privacy: retention_days >= 0, retention_batch_size >= 1, "
                                "retention_interval_seconds > 0 and key_cache_size >= 1")


@dataclass(frozen=True)
class WallboardSettings:
    push_interval: float = 0.5

    def __post_init__(self) -> None:
        if self.push_interval < 0:
            raise SettingsError("wallboard.push_interval must be >= 0")


@dataclass(frozen=True)
class SurveySettings:
    enabled: bool = True
    delay_seconds: float = 3600.0
    channels: tuple[str, ...] = ("email", "webform", "sms", "telegram", "chat")
    sms_reply_window_hours: float = 72.0
    change_days: float = 7.0

    def __post_init__(self) -> None:
        if self.delay_seconds < 0 or self.sms_reply_window_hours < 0 or self.change_days < 0:
            raise SettingsError("surveys.delay_seconds, sms_reply_window_hours and change_days must be >= 0")


@dataclass(frozen=True)
class PortalSettings:
    magic_link_minutes: float = 15.0
    magic_link_per_email: int = 3
    magic_link_per_ip: int = 20
    magic_link_window_seconds: float = 3600.0
    session_hours: float = 168.0

    def __post_init__(self) -> None:
        if self.magic_link_minutes <= 0 or self.session_hours <= 0 or self.magic_link_window_seconds <= 0:
            raise SettingsError("portal.magic_link_minutes, session_hours and magic_link_window_seconds must be > 0")


@dataclass(frozen=True)
class LimitsSettings:
    """Rate limits on what sends mail or SMS on our behalf (0 turns a limit off)."""

    agent_sends_per_minute: int = 30  # agent replies per agent per minute on the send_channels
    send_channels: tuple[str, ...] = ("email", "sms")
    invites_per_hour: int = 20  # invitations per admin per hour


@dataclass(frozen=True)
class LoggingSettings:
    """How the server writes its log (docs/operations.md)."""

    format: str = "text"  # text | json (one JSON object per line)
    access: bool = False  # one line per HTTP request (method, route, status, duration, request id)

    def __post_init__(self) -> None:
        if self.format not in ("text", "json"):
            raise SettingsError(f"logging.format must be 'text' or 'json', not {self.format!r}")


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics at /metrics: readable with the bearer ``token`` when one is set, else only from
    the ``allow`` networks (loopback by default)."""

    enabled: bool = True
    token: str = ""
    allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")


@dataclass(frozen=True)
class WebhookSettings:
    """Outbound webhooks to other systems (docs/operations.md#webhooks)."""

    enabled: bool = True
    timeout_seconds: float = 10.0
    max_attempts: int = 8
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    poll_interval: float = 1.0
    batch_size: int = 50
    allow_private: tuple[str, ...] = ()  # networks that may be targets although private (e.g. "10.0.0.0/8")
    max_response_bytes: int = 65536

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0 or self.max_attempts < 1 or self.retry_base_seconds < 0:
            raise SettingsError("webhooks: timeout_seconds > 0, max_attempts >= 1, retry_base_seconds >= 0")


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    webform: WebformSettings = field(default_factory=WebformSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    hours: HoursSettings = field(default_factory=HoursSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    kb: KbSettings = field(default_factory=KbSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    sla: SlaSettings = field(default_factory=SlaSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    wallboard: WallboardSettings = field(default_factory=WallboardSettings)
    surveys: SurveySettings = field(default_factory=SurveySettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir).expanduser().resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_path / 'contactcenter.db'}"

    @property
    def base_url(self) -> str:
        return (self.server.public_url or f"http://{self.server.host}:{self.server.port}").rstrip("/")

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Settings:
        """A copy with some values replaced, e.g. ``{"server": {"port": 0}}``."""
        return _build(_merge(dataclasses.asdict(self), overrides))


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _coerce(section: str, key: str, value: Any, default: Any) -> Any:
    where = f"{section}.{key}"
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.lower() in {"1", "true", "yes", "on"}:
                return True
            if value.lower() in {"0", "false", "no", "off"}:
                return False
        if isinstance(value, bool):
            return value
    elif isinstance(default, int | float):
        try:
            return type(default)(value)
        except (TypeError, ValueError):
            pass
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, Mapping):
        with contextlib.suppress(ValueError):  # not JSON: refused below
            value = json.loads(value) if isinstance(value, str) else value
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            return dict(value)
    elif isinstance(default, tuple):
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        if isinstance(value, list | tuple):
            return tuple(value)
    raise SettingsError(f"setting {where}: {value!r} is not a valid {type(default).__name__}")


def _section(cls: type[Any], name: str, values: Mapping[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise SettingsError(f"unknown setting(s) in [{name}]: {', '.join(sorted(unknown))}")
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        parse = getattr(cls, f"parse_{key}", None)  # structured settings (lists of tables) parse themselves
        if parse is not None:
            try:
                kwargs[key] = parse(value)
            except (TypeError, ValueError, AttributeError) as exc:
                raise SettingsError(f"setting {name}.{key}: {exc}") from None
        else:
            kwargs[key] = _coerce(name, key, value, getattr(defaults, key))
    return cls(**kwargs)


def _build(values: Mapping[str, Any]) -> Settings:
    sections = {f.name: f.type for f in dataclasses.fields(Settings)}
    unknown = set(values) - set(sections)
    if unknown:
        raise SettingsError(f"unknown settings section(s): {', '.join(sorted(unknown))}")
    kinds = {"server": ServerSettings, "database": DatabaseSettings, "intake": IntakeSettings,
             "relay": RelaySettings, "auth": AuthSettings, "webform": WebformSettings,
             "routing": RoutingSettings, "email": EmailSettings,
             "hours": HoursSettings, "chat": ChatSettings, "voice": VoiceSettings,
             "sms": SmsSettings, "telegram": TelegramSettings, "kb": KbSettings, "sla": SlaSettings,
             "privacy": PrivacySettings, "wallboard": WallboardSettings, "surveys": SurveySettings,
             "portal": PortalSettings, "limits": LimitsSettings, "logging": LoggingSettings, "metrics": MetricsSettings,
             "webhooks": WebhookSettings}
    return Settings(**{name: _section(kinds[name], name, values.get(name, {})) for name in sections})


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if name.startswith("CC_") and "__" in name:
            section, _, key = name[3:].lower().partition("__")
            found.setdefault(section, {})[key] = value
    return found


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read config/default.toml, then ``path`` (or $CC_CONFIG), then CC_* variables."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = tomllib.loads((config_dir() / "default.toml").read_text("utf-8"))
    path = path or environ.get("CC_CONFIG")
    if path:
        try:
            values = _merge(values, tomllib.loads(Path(path).read_text("utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    return _build(_merge(values, _env_overrides(environ)))


def secret_key(settings: Settings) -> bytes:
    """The signing key: the configured one, else one generated once and kept in the data folder."""
    if settings.server.secret_key:
        return settings.server.secret_key.encode()
    path = settings.data_path / "secret_key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key
