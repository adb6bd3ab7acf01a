"""Tests for contactcenter.domain.language."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactcenter.domain.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("سلام، می‌خواهم رمز عبورم را تغییر دهم", "fa"),
        ("پ", "fa"),
        ("گزارش", "fa"),
        ("سلام", "fa"),  # Arabic script without specific letters -> fa
        ("مرحبا بكم في المدرسة", "ar"),
        ("كتاب", "ar"),
        ("مدرسة", "ar"),
        ("في", "ar"),
        ("كتاب پدر", "fa"),  # Persian-specific letter wins over Arabic-specific ones
        ("علي و کتاب", "fa"),
        ("ﻙﺘﺎﺏ", "ar"),  # Arabic presentation forms are folded first
        ("ﭘﺪﺭ", "fa"),
        ("Hello, I need help with my order", "en"),
        ("Café crème à la carte", "en"),
        ("من با iPhone مشکل دارم", "fa"),  # Persian sentence with an English brand name
        ("Hello my name is علی and I need a refund", "en"),  # English with a Persian name
    ],
)
def test_detect_language_examples(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "12345 ۱۲۳ ١٢٣", "!?،؛ 🙂", "\u200c\u064e\u0651"])
def test_no_letters_returns_default(text: str) -> None:
    assert detect_language(text) == "en"
    assert detect_language(text, default="fa") == "fa"
    assert detect_language(text, default="xx") == "xx"


def test_latin_text_ignores_default() -> None:
    assert detect_language("Where is my parcel?", default="fa") == "en"


def test_other_scripts_return_default() -> None:
    assert detect_language("Привет, как дела", default="xx") == "xx"
    assert detect_language("你好世界", default="fa") == "fa"


def test_small_arabic_share_is_not_enough() -> None:
    # 2 Arabic-script letters among many Latin ones.
    assert detect_language("please forward this to the billing team کی", default="xx") == "en"


@given(
    st.text(alphabet=st.sampled_from("ابتثجحخدذرزسشصضطظعغفقلمنوهپچژگکی "), min_size=1).filter(
        lambda s: s.strip() != ""
    )
)
def test_persian_letters_always_fa(text: str) -> None:
    assert detect_language(text) == "fa"


@given(
    st.text(alphabet=st.sampled_from("ابتثجحخدذرزسشصضطظعغفقلمنوهةيك "), min_size=1).filter(
        lambda s: s.strip() != ""
    )
)
def test_arabic_without_persian_letters(text: str) -> None:
    expected = "ar" if set(text) & set("ةيك") else "fa"
    assert detect_language(text) == expected


@given(st.text(alphabet=st.characters(codec="ascii", categories=["Lu", "Ll"]), min_size=1))
def test_ascii_letters_always_en(text: str) -> None:
    assert detect_language(text, default="fa") == "en"


@given(st.text(), st.sampled_from(["en", "fa", "zz"]))
def test_result_is_known_or_default(text: str, default: str) -> None:
    assert detect_language(text, default=default) in {"fa", "ar", "en", default}
