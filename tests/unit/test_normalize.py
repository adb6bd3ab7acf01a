"""Tests for kb.normalize."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kb.normalize import normalize, search_key, tokens

ZWNJ = "\u200c"

# Characters that matter for Persian search, to bias generated text towards them.
_INTERESTING = (
    "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيىكةۀأإآٱؤئء"
    "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0654\u0670\u0640"
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
    "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩،؛؟«»"
    "aAzZéÉßİ\u0301 \t\n\u00a0\u3000ﻙﯼﺓ"
)
persianish_text = st.text(alphabet=st.sampled_from(_INTERESTING), max_size=40)
any_text = st.one_of(st.text(max_size=40), persianish_text)

FORBIDDEN = (
    "\u200c\u200b\u200d\u200e\u200f\ufeff\u064a\u0649\u0643\u0629\u06c0\u0640"
    "\u064b\u064e\u0651\u0670"
    + "".join(chr(c) for c in range(0x06F0, 0x06FA))
    + "".join(chr(c) for c in range(0x0660, 0x066A))
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("علي", "علی"),  # Arabic yeh
        ("موسى", "موسی"),  # alef maksura
        ("كتاب", "کتاب"),  # Arabic kaf
        ("مدرسة", "مدرسه"),  # teh marbuta
        ("خانۀ", "خانه"),  # heh with yeh above
        ("أحمد إمام آب ٱلله", "احمد امام اب الله"),
        ("مؤمن", "مومن"),
        ("مُحَمَّدٌ", "محمد"),  # harakat, shadda, tanwin
        ("رحمٰن", "رحمن"),  # superscript alef
        ("کـــتاب", "کتاب"),  # tatweel
        ("می\u200cخواهم", "میخواهم"),
        ("\u200fسلام\u200e \u202bدنیا\u202c\u2067!\u2069\ufeff\u200b\u200d", "سلام دنیا!"),
        ("۱۲۳", "123"),
        ("١٢٣", "123"),
        ("۰۹٠٩", "0909"),
        ("  Hello\t\n  WORLD  ", "hello world"),
        ("Straße", "strasse"),
        ("ﻙﺘﺎﺏ", "کتاب"),  # presentation forms via NFKC
        ("ＡＢＣ１２", "abc12"),  # full-width via NFKC
        ("سلام\u00a0\u3000دنیا", "سلام دنیا"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_zwnj_and_joined_spellings_normalize_alike() -> None:
    assert normalize("می‌خواهم") == normalize("میخواهم")
    assert normalize("کتاب‌ها") == normalize("کتابها")


def test_mixed_persian_english_sentence() -> None:
    raw = "سلام، من  می‌خواهم Password خود را در iPhone عوض كنم ۲ بار"
    assert normalize(raw) == "سلام، من میخواهم password خود را در iphone عوض کنم 2 بار"
    assert tokens(raw) == [
        "سلام",
        "من",
        "میخواهم",
        "password",
        "خود",
        "را",
        "در",
        "iphone",
        "عوض",
        "کنم",
        "2",
        "بار",
    ]


def test_tokens_split_on_persian_and_latin_punctuation() -> None:
    text = "«سلام»،دنیا؛ چطوری؟ foo_bar,baz.qux! ٪۵۰"
    assert tokens(text) == ["سلام", "دنیا", "چطوری", "foo", "bar", "baz", "qux", "50"]


def test_tokens_zwnj_versus_space() -> None:
    assert tokens("می‌خواهم") == ["میخواهم"]
    assert tokens("می خواهم") == ["می", "خواهم"]
    assert tokens("") == []


@pytest.mark.parametrize(
    "spelling",
    ["می خواهم", "می‌خواهم", "میخواهم", "مي خواهم", "مي\u200cخواهم", "  می   خواهم "],
)
def test_search_key_mi_prefix(spelling: str) -> None:
    assert search_key(spelling) == "میخواهم"


@pytest.mark.parametrize("spelling", ["نمی خواهم", "نمی‌خواهم", "نمیخواهم"])
def test_search_key_nemi_prefix(spelling: str) -> None:
    assert search_key(spelling) == "نمیخواهم"


def test_search_key_only_joins_whole_word_prefix() -> None:
    # "می" inside a longer word, at the end, or before a digit/punctuation is left alone.
    assert search_key("سمی خواهم") == "سمی خواهم"
    assert search_key("دائمی است") == "دائمی است"
    assert search_key("من می") == "من می"
    assert search_key("می 2") == "می 2"
    assert search_key("می، خواهم") == "می، خواهم"
    assert search_key("من می روم و نمی آیم") == "من میروم و نمیایم"


def test_removed_controls_do_not_block_composition() -> None:
    # Dropping ZWNJ/ZWJ can bring a base letter and a combining mark together.
    assert normalize("e\u200c\u0301") == "é"
    assert normalize("A\u200d\u030a") == "å"


@given(any_text)
@example("e\u200d\u0301")
@example("\u0130\u200c\u0301")
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(any_text)
def test_normalize_removes_variant_characters(text: str) -> None:
    out = normalize(text)
    assert not set(out) & set(FORBIDDEN)
    assert out == out.strip()
    assert "  " not in out
    assert not any(ch.isspace() and ch != " " for ch in out)


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40))
def test_normalize_ascii_matches_general_path(text: str) -> None:
    # The ASCII fast path must agree with casefold + whitespace collapse.
    assert normalize(text) == " ".join(text.casefold().split())
    assert normalize(text + "\u200c") == normalize(text)


@given(st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=12))
def test_persian_and_arabic_digits_map_to_ascii(digits: list[int]) -> None:
    ascii_digits = "".join(str(d) for d in digits)
    persian = "".join(chr(0x06F0 + d) for d in digits)
    arabic = "".join(chr(0x0660 + d) for d in digits)
    assert normalize(persian) == ascii_digits
    assert normalize(arabic) == ascii_digits
    assert tokens(f"کد {persian}") == ["کد", ascii_digits]


@given(persianish_text, persianish_text)
@example("ي", "\u0654")  # yeh + ZWNJ + hamza above: must compose to ئ as without the ZWNJ
def test_zwnj_is_equivalent_to_nothing(left: str, right: str) -> None:
    assert normalize(left + ZWNJ + right) == normalize(left + right)


@given(any_text)
def test_tokens_are_normalized_words(text: str) -> None:
    toks = tokens(text)
    norm = normalize(text)
    for tok in toks:
        assert tok
        assert tok in norm
        assert all(ch.isalnum() for ch in tok)
    assert tokens(" ".join(toks)) == toks


@given(
    st.sampled_from(["", "من ", "ما امروز "]),
    st.sampled_from(["می", "نمی"]),
    st.sampled_from(["خواهم", "روم", "دانند"]),
    st.sampled_from(["", " که", "، Ok"]),
)
def test_search_key_prefix_spellings_agree(before: str, prefix: str, verb: str, after: str) -> None:
    keys = {
        search_key(f"{before}{prefix} {verb}{after}"),
        search_key(f"{before}{prefix}{ZWNJ}{verb}{after}"),
        search_key(f"{before}{prefix}{verb}{after}"),
    }
    assert keys == {normalize(f"{before}{prefix}{verb}{after}")}


@given(any_text)
def test_search_key_is_idempotent_and_only_removes_spaces(text: str) -> None:
    key = search_key(text)
    assert search_key(key) == key
    assert key.replace(" ", "") == normalize(text).replace(" ", "")
