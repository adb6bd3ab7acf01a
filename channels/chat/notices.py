"""What the widget tells a visitor when nobody can answer live. Pure."""

from __future__ import annotations

from dataclasses import dataclass

LIVE = "live"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether the chat is answered live now, and why not."""

    mode: str  # live | offline
    reason: str | None = None  # closed | no_agent


def availability(is_open: bool, agents: int) -> Availability:
    if not is_open:
        return Availability(OFFLINE, "closed")
    if agents <= 0:
        return Availability(OFFLINE, "no_agent")
    return Availability(LIVE)


_TEXTS = {
    ("en", "closed"): "We are closed right now. Leave your message: it becomes a ticket and an agent answers it "
                      "here when we open.",
    ("en", "no_agent"): "No agent is free right now. Leave your message: it becomes a ticket and an agent "
                        "answers it here as soon as possible.",
    ("fa", "closed"): "اکنون خارج از ساعت کاری هستیم. پیامتان را بگذارید؛ به صورت تیکت ثبت می‌شود و در ساعت کاری "
                      "همین‌جا پاسخ می‌گیرید.",
    ("fa", "no_agent"): "اکنون همکاری آزاد نیست. پیامتان را بگذارید؛ به صورت تیکت ثبت می‌شود و در نخستین فرصت "
                        "همین‌جا پاسخ می‌گیرید.",
    ("en", "ticket"): "Your message is saved as ticket #{number}. The answer appears in this chat, and at your "
                      "private link: {link}",
    ("fa", "ticket"): "پیام شما با شمارهٔ تیکت {number} ثبت شد. پاسخ در همین گفتگو و در پیوند خصوصی شما نمایش "
                      "داده می‌شود: {link}",
}


def notice(language: str | None, key: str, **values: object) -> str:
    """The text for ``key`` (closed, no_agent, ticket) in Persian or English."""
    lang = "fa" if language == "fa" else "en"
    return _TEXTS[(lang, key)].format(**values)
