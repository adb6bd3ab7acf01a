"""Frozen settings: config/default.toml < an optional TOML file < CC_<SECTION>__<KEY> environment variables.

``Settings`` assembles one frozen section per subsystem (``server.py``, ``channels.py``, ``desk.py``); everything
is importable from here."""

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

from contactcenter.paths import config_dir
from contactcenter.settings.channels import (
    ChatSettings,
    EmailSettings,
    PortalSettings,
    SmsSettings,
    TelegramSettings,
    Topic,
    VoiceSettings,
    WebformSettings,
)
from contactcenter.settings.desk import (
    CUSTOMER_UPDATE_TEXT,
    HoursSettings,
    KbSettings,
    RoutingRule,
    RoutingSettings,
    SlaSettings,
    SurveySettings,
    WallboardSettings,
)
from contactcenter.settings.error import SettingsError
from contactcenter.settings.server import (
    AuthSettings,
    DatabaseSettings,
    IntakeSettings,
    LimitsSettings,
    LoggingSettings,
    MetricsSettings,
    PrivacySettings,
    RelaySettings,
    ServerSettings,
    WebhookSettings,
)

__all__ = ["CUSTOMER_UPDATE_TEXT", "AuthSettings", "ChatSettings", "DatabaseSettings", "EmailSettings",
           "HoursSettings", "IntakeSettings", "KbSettings", "LimitsSettings", "LoggingSettings", "MetricsSettings",
           "PortalSettings", "PrivacySettings", "RelaySettings", "RoutingRule", "RoutingSettings", "ServerSettings",
           "Settings", "SettingsError", "SlaSettings", "SmsSettings", "SurveySettings", "TelegramSettings", "Topic",
           "VoiceSettings", "WallboardSettings", "WebformSettings", "WebhookSettings", "load_settings", "secret_key"]


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
