"""Settings of the channels customers write on: web form, e-mail, chat, voice, SMS, Telegram, the portal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contactcenter.settings.error import SettingsError


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
