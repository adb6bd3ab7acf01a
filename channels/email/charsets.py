"""Bytes and headers of real mail -> text, whatever charset they claim (or fail to claim). Pure."""

from __future__ import annotations

import codecs
import email.header
import re
import unicodedata

# Names seen in real mail that Python does not know, or knows as a narrower charset than senders use.
_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "ksc5601": "cp949", "euc-kr": "cp949",
    "iso-2022-jp": "iso2022_jp_2", "csiso2022jp": "iso2022_jp_2",
    "shift_jis": "cp932", "shift-jis": "cp932", "x-sjis": "cp932", "sjis": "cp932", "windows-31j": "cp932",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "iso-8859-8-i": "iso-8859-8", "windows-874": "cp874", "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-7": "utf-7", "utf8": "utf-8", "x-user-defined": "cp1252", "big5-hkscs": "big5hkscs",
}
_ENCODED_WORD_GAP = re.compile(r"(\?=)\s+(=\?)")
_SPACES = re.compile(r"[ \t]+")


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a declared charset, or None when it is missing or unknown."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    if name in ("us-ascii", "ascii", "ansi_x3.4-1968"):
        return None  # 8-bit bytes under an ASCII label: read as undeclared (UTF-8, else windows-1252)
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode text bytes: the declared charset, else UTF-8, else windows-1252; never raises."""
    codec = codec_for(charset)
    if codec is not None:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec is not None:
        try:
            return data.decode(codec, "replace")
        except (LookupError, ValueError):
            pass
    return data.decode("cp1252", "replace")


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in value)


def fix_8bit(value: str) -> str:
    """Header text parsed from raw bytes keeps undecodable bytes as surrogates: decode them properly."""
    if _has_surrogates(value):
        return decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    return value


def clean_line(value: str) -> str:
    """One line: no control or direction-override characters, runs of spaces collapsed."""
    value = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                    for c in value if c not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    return _SPACES.sub(" ", value).strip()


def decode_header(raw: str) -> str:
    """A header value as one clean line: RFC 2047 encoded words in any charset, raw 8-bit bytes too."""
    value = fix_8bit(raw).replace("\r", "").replace("\n", "")
    if "=?" not in value:
        return clean_line(value)
    value = _ENCODED_WORD_GAP.sub(r"\1\2", value)  # whitespace between encoded words is not text
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # a malformed encoded word: show the header as it came
        return clean_line(value)
    parts: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
        elif charset is None:
            parts.append(chunk.decode("raw-unicode-escape", "replace"))
        else:
            parts.append(decode_bytes(chunk, charset))
    return clean_line("".join(parts))
