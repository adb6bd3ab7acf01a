"""Settings of the server itself: HTTP, database, intake, relay, sign-in, privacy, limits, logs, metrics, webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field

from contactcenter.settings.error import SettingsError


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
    batch_size: int = 300
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
