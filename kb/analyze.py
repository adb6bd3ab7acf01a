"""Analysis: normalized text -> search terms (English and Persian Snowball stems)."""

from __future__ import annotations

from functools import lru_cache

import snowballstemmer

from kb.normalize import search_key, tokens

__all__ = ["terms"]

_ENGLISH = snowballstemmer.stemmer("english")
_PERSIAN = snowballstemmer.stemmer("persian")
# Words that carry no topic in support questions; BM25's IDF would weigh them down anyway, but
# dropping them keeps short queries from matching on "the" alone.
_STOP = frozenset(
    str.split(
        "a an and are as at be been but by can could did do does for from had has have how i if in is it its "
    "me my of on or our so than that the their them then there these they this to was we were what when "
    "where which who why will with would you your"
    )
)


@lru_cache(maxsize=65536)
def _stem(token: str) -> str:
    """Stem one normalized token with the Snowball stemmer of its script; digits stay as they are."""
    if token.isascii():
        return token if token.isdigit() else str(_ENGLISH.stemWord(token))
    return str(_PERSIAN.stemWord(token))


def terms(text: str) -> list[str]:
    """Return the search terms of ``text``: normalized tokens, stop words dropped, each stemmed."""
    return [_stem(t) for t in tokens(search_key(text)) if t not in _STOP]
