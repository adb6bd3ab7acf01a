"""Normalized contact addresses: e-mail lower-cased, phones in E.164."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from contactcenter.domain.enums import IdentityKind

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


class AddressError(ValueError):
    """An e-mail address or phone number that cannot be read."""


@dataclass(frozen=True, slots=True)
class Address:
    """One way to reach a contact: a kind and its normalized value."""

    kind: IdentityKind
    value: str


def normalize_email(raw: str) -> str:
    """Lower-case a plain ``local@domain`` address; raise AddressError when it is not one."""
    value = raw.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise AddressError(f"not a valid e-mail address: {raw!r}")
    return value


def normalize_phone(raw: str, region: str = "IR") -> str:
    """Return the phone number in E.164; numbers without a country code are read in ``region``."""
    digits = raw.translate(_DIGITS).strip()
    try:
        number = phonenumbers.parse(digits, region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise AddressError(f"not a valid phone number: {raw!r} ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise AddressError(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
