"""The TwiML documents our voice webhooks answer, built with twilio's VoiceResponse. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import VoiceResponse

from contactcenter.settings import Topic, VoiceSettings

_TEXTS = {
    "en": {
        "welcome": "Thank you for calling.",
        "item": "For {label}, press {digit}.",
        "queue": "Please hold: the next free agent will take your call.",
        "closed": "We are closed now. Please leave a message after the tone, and we will call you back.",
        "no_agent": "All our agents are busy. Please leave a message after the tone, and we will call you back.",
        "thanks": "Thank you. We received your message. Goodbye.",
        "nothing": "We did not receive a message. We will call you back. Goodbye.",
        "connect": "Connecting you to an agent.",
    },
    "fa": {
        "welcome": "از تماس شما سپاسگزاریم.",
        "item": "برای {label}، عدد {digit} را بگیرید.",
        "queue": "لطفاً گوشی را نگه دارید؛ نخستین همکار آزاد پاسخ می‌دهد.",
        "closed": "اکنون خارج از ساعت کاری هستیم. لطفاً پس از بوق پیام بگذارید تا با شما تماس بگیریم.",
        "no_agent": "همهٔ همکاران ما مشغول هستند. لطفاً پس از بوق پیام بگذارید تا با شما تماس بگیریم.",
        "thanks": "سپاس. پیام شما دریافت شد. خدانگهدار.",
        "nothing": "پیامی دریافت نشد. با شما تماس می‌گیریم. خدانگهدار.",
        "connect": "در حال وصل کردن شما به یک همکار.",
    },
}


def _lang(code: str) -> str:
    return "fa" if code.lower().startswith("fa") else "en"


def _say_all(target: VoiceResponse, languages: Sequence[str], key: str) -> None:
    for code in languages:
        target.say(_TEXTS[_lang(code)][key], language=code)


def menu(voice: VoiceSettings, topics: Sequence[Topic], action: str, *, welcome: bool) -> str:
    """Gather one digit; the menu is read in every configured language. No digit: the action is called
    without Digits (it repeats the menu or takes the first topic)."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action, method="POST", timeout=voice.menu_timeout)
    for code in voice.languages:
        texts = _TEXTS[_lang(code)]
        if welcome:
            gather.say(texts["welcome"], language=code)
        for digit, topic in enumerate(topics, start=1):
            label = topic.label_fa if _lang(code) == "fa" and topic.label_fa else topic.label
            gather.say(texts["item"].format(label=label, digit=digit), language=code)
    response.redirect(action, method="POST")
    return str(response)


def enqueue(voice: VoiceSettings, queue: str, action: str) -> str:
    """Put the caller in the topic's queue; ``action`` learns how the caller left it."""
    response = VoiceResponse()
    _say_all(response, voice.languages, "queue")
    response.enqueue(queue, action=action, method="POST")
    return str(response)


def voicemail(voice: VoiceSettings, reason: str, action: str, transcription_callback: str) -> str:
    """Record a message with transcription; ``reason`` is closed or no_agent."""
    response = VoiceResponse()
    _say_all(response, voice.languages, reason)
    response.record(action=action, method="POST", max_length=voice.voicemail_max_seconds, play_beep=True,
                    transcribe=True, transcribe_callback=transcription_callback, finish_on_key="#")
    _say_all(response, voice.languages, "nothing")
    response.hangup()
    return str(response)


def goodbye(voice: VoiceSettings, key: str) -> str:
    response = VoiceResponse()
    _say_all(response, voice.languages, key)
    response.hangup()
    return str(response)


def connect_agent(voice: VoiceSettings, identity: str, language: str | None = None) -> str:
    """An agent's call-back, once the customer answers: dial the agent's Twilio Client."""
    response = VoiceResponse()
    code = language or voice.languages[0]
    response.say(_TEXTS[_lang(code)]["connect"], language=code)
    dial = response.dial()
    dial.client(identity)
    return str(response)


def empty() -> str:
    return str(VoiceResponse())
