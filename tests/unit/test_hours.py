"""Business hours (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contactcenter.domain.hours import BusinessHours, HoursError
from contactcenter.settings import SettingsError, load_settings


def test_open_days_and_times_in_the_configured_zone() -> None:
    hours = BusinessHours.parse("Asia/Tehran", ("sat", "sun", "mon", "tue", "wed"), "08:00", "17:00")
    # Monday 2026-11-23 05:00 UTC is 08:30 in Tehran (UTC+03:30)
    assert hours.is_open(datetime(2026, 11, 23, 5, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 11, 23, 4, 0, tzinfo=UTC))  # 07:30
    assert not hours.is_open(datetime(2026, 11, 23, 13, 30, tzinfo=UTC))  # 17:00 is closed
    assert not hours.is_open(datetime(2026, 11, 27, 8, 0, tzinfo=UTC))  # Friday


def test_defaults_are_always_open_and_equal_times_never() -> None:
    always = BusinessHours.parse("UTC", (), "00:00", "24:00")
    assert always.is_open(datetime(2026, 1, 1, 23, 59, tzinfo=UTC))
    never = BusinessHours.parse("UTC", (), "00:00", "00:00")
    assert not never.is_open(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


@pytest.mark.parametrize(("zone", "days", "opens"), [("Mars/Base", (), "09:00"), ("UTC", ("funday",), "09:00"),
                                                     ("UTC", (), "9am")])
def test_bad_hours_are_refused(zone: str, days: tuple[str, ...], opens: str) -> None:
    with pytest.raises(HoursError):
        BusinessHours.parse(zone, days, opens, "17:00")
    with pytest.raises(SettingsError):
        load_settings(environ={"CC_HOURS__TIMEZONE": zone, "CC_HOURS__DAYS": ",".join(days),
                               "CC_HOURS__OPEN": opens})
