"""Search-oriented text normalization with Persian as a first-class language.

``normalize`` folds the many ways the same Persian/Arabic-script word can be
typed (Arabic vs Persian yeh and kaf, alef and heh variants, diacritics,
ZWNJ, bidi marks, non-ASCII digits) and Latin case into one canonical form.
``tokens`` splits normalized text into words and ``search_key`` additionally
joins the verbal prefixes "می"/"نمی" to the following word.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "search_key", "tokens"]


def _build_table() -> dict[int, str | None]:
    """Return the ``str.translate`` table applied after NFKC."""
    table: dict[int, str | None] = {}
    letters = {
        "ي": "ی",  # U+064A Arabic yeh -> Persian yeh
        "ى": "ی",  # U+0649 alef maksura -> Persian yeh
        "ك": "ک",  # U+0643 Arabic kaf -> keheh
        "ڪ": "ک",  # U+06AA swash kaf -> keheh
        "ة": "ه",  # U+0629 teh marbuta -> heh
        "ۀ": "ه",  # U+06C0 heh with yeh above (ezafe) -> heh
        "ہ": "ه",  # U+06C1 heh goal -> heh
        "ۂ": "ه",  # U+06C2 heh goal with hamza above -> heh
        "ۃ": "ه",  # U+06C3 teh marbuta goal -> heh
        "أ": "ا",  # U+0623 alef with hamza above
        "إ": "ا",  # U+0625 alef with hamza below
        "آ": "ا",  # U+0622 alef with madda above
        "ٱ": "ا",  # U+0671 alef wasla
        "ٲ": "ا",  # U+0672 alef with wavy hamza above
        "ٳ": "ا",  # U+0673 alef with wavy hamza below
        "ؤ": "و",  # U+0624 waw with hamza above
    }
    for src, dst in letters.items():
        table[ord(src)] = dst
    # Persian and Arabic-Indic digits -> ASCII.
    for i in range(10):
        table[0x06F0 + i] = str(i)
        table[0x0660 + i] = str(i)
    removed = [
        *range(0x064B, 0x0660),  # harakat, shadda, sukun, hamza marks, ...
        0x0670,  # superscript alef
        0x0640,  # tatweel
        *range(0x0610, 0x061B),  # Quranic honorific marks
        *range(0x06D6, 0x06DD),  # Quranic annotation marks
        *range(0x06DF, 0x06E5),
        0x06E7,
        0x06E8,
        *range(0x06EA, 0x06EE),
        0x200B,  # zero-width space
        0x200C,  # zero-width non-joiner
        0x200D,  # zero-width joiner
        0x200E,  # left-to-right mark
        0x200F,  # right-to-left mark
        *range(0x202A, 0x202F),  # bidi embeddings/overrides
        *range(0x2066, 0x206A),  # bidi isolates
        0x061C,  # Arabic letter mark
        0x2060,  # word joiner
        0x00AD,  # soft hyphen
        0xFEFF,  # zero-width no-break space / BOM
    ]
    for cp in removed:
        table[cp] = None
    return table


_TABLE = _build_table()
_INVISIBLE = {cp: None for cp, to in _TABLE.items() if to is None and unicodedata.category(chr(cp)) == "Cf"}
_WORD_RE = re.compile(r"[^\W_]+")
# "می"/"نمی" as a whole word, then one space, then a letter.
_PREFIX_RE = re.compile(r"(?<![^\W_])(ن?می) (?=[^\W\d_])")


def normalize(text: str) -> str:
    """Return ``text`` normalized for search matching.

    Applies NFKC, folds Arabic letter variants to their Persian forms (yeh,
    kaf, heh, alef, waw), drops Arabic diacritics/tatweel and zero-width or
    bidi control characters (so "می‌خواهم" equals "میخواهم"), maps Persian
    and Arabic-Indic digits to ASCII, casefolds, and collapses whitespace.
    The result is idempotent: ``normalize(normalize(s)) == normalize(s)``.
    """
    if text.isascii():
        return " ".join(text.lower().split())
    # Invisible characters go first, so that a ZWNJ between a letter and a mark does not keep
    # them from composing (ي + hamza above is ئ, with or without a ZWNJ between).
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE)).translate(_TABLE).casefold()
    # Removing characters or casefolding can expose new compositions.
    text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Return the word tokens of ``normalize(text)``.

    A token is a run of letters/digits in any script (characters for which
    ``str.isalnum`` is true); everything else, including the underscore and
    Persian/Arabic punctuation such as ، ؛ ؟ « », separates tokens.
    """
    return _WORD_RE.findall(normalize(text))


def search_key(text: str) -> str:
    """Return ``normalize(text)`` with the prefixes "می"/"نمی" glued on.

    Persian verbs are written with the continuous prefix either attached,
    joined by ZWNJ or separated by a space; ``normalize`` unifies the first
    two, and this also joins a standalone "می" or "نمی" to the next word, so
    "می خواهم", "می‌خواهم" and "میخواهم" all give "میخواهم".
    """
    return _PREFIX_RE.sub(r"\1", normalize(text))
