"""Settings of how the desk works: routing, business hours, the knowledge base, SLA, wallboard, surveys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contactcenter.domain.hours import BusinessHours, HoursError
from contactcenter.paths import config_dir
from contactcenter.settings.error import SettingsError
from routing.policy import RingStep


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
