"""Cheap script-based language detection for Persian, Arabic and English."""

from __future__ import annotations

import unicodedata

__all__ = ["detect_language"]

#: Minimum share of Arabic-script letters (among all letters) to answer fa/ar.
ARABIC_SCRIPT_SHARE = 0.3
#: Only this many leading characters are looked at (enough to tell the script, cheap on long mail).
SAMPLE_CHARS = 2000
#: Minimum share of Latin letters (among all letters) to answer "en".
LATIN_SHARE = 0.5

_PERSIAN_SPECIFIC = frozenset("پچژگکی")
_ARABIC_SPECIFIC = frozenset("ةيك")


def _is_arabic_script(cp: int) -> bool:
    """Return True for code points in the Arabic-script blocks."""
    return (
        0x0600 <= cp <= 0x06FF
        or 0x0750 <= cp <= 0x077F
        or 0x0870 <= cp <= 0x08FF
        or 0xFB50 <= cp <= 0xFDFF
        or 0xFE70 <= cp <= 0xFEFF
    )


def _is_latin(cp: int) -> bool:
    """Return True for code points in the common Latin blocks."""
    return cp < 0x0250 or 0x1E00 <= cp <= 0x1EFF or 0x2C60 <= cp <= 0x2C7F or 0xA720 <= cp <= 0xA7FF


def detect_language(text: str, default: str = "en") -> str:
    """Guess the language of ``text`` by counting letters per script.

    Returns "fa" or "ar" when Arabic-script letters are at least
    ``ARABIC_SCRIPT_SHARE`` of all letters: "ar" only if an Arabic-specific
    letter (ة ي ك) occurs and no Persian-specific one (پ چ ژ گ ک ی), otherwise
    "fa". Returns "en" when Latin letters are at least ``LATIN_SHARE`` of the
    letters, and ``default`` when there are no letters or no clear script.
    """
    text = text[:SAMPLE_CHARS]
    if text.isascii():
        return "en" if any(c.isalpha() for c in text) else default
    # Fold Arabic presentation forms and full-width Latin to base letters.
    text = unicodedata.normalize("NFKC", text)
    letters = arabic = latin = 0
    persian_specific = arabic_specific = False
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        cp = ord(ch)
        if _is_arabic_script(cp):
            arabic += 1
            if ch in _PERSIAN_SPECIFIC:
                persian_specific = True
            elif ch in _ARABIC_SPECIFIC:
                arabic_specific = True
        elif _is_latin(cp):
            latin += 1
    if letters == 0:
        return default
    if arabic >= ARABIC_SCRIPT_SHARE * letters:
        return "ar" if arabic_specific and not persian_specific else "fa"
    if latin >= LATIN_SHARE * letters:
        return "en"
    return default
