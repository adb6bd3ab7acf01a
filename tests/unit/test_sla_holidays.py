"""Holidays imported from iCalendar data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contactcenter.sla.calendar import CalendarError
from contactcenter.sla.calendar_spec import parse_calendar
from contactcenter.sla.holidays import holidays_from_ical

TEHRAN = ZoneInfo("Asia/Tehran")

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//holidays//EN
BEGIN:VEVENT
UID:nowruz-2026@test
SUMMARY:Nowruz
DTSTART;VALUE=DATE:20260321
DTEND;VALUE=DATE:20260325
END:VEVENT
BEGIN:VEVENT
UID:islamic-republic-day@test
SUMMARY:Islamic Republic Day
DTSTART;VALUE=DATE:20260401
END:VEVENT
BEGIN:VEVENT
UID:yearly@test
SUMMARY:Yearly closing day
DTSTART;VALUE=DATE:20250604
RRULE:FREQ=YEARLY;COUNT=3
EXDATE;VALUE=DATE:20260604
END:VEVENT
BEGIN:VEVENT
UID:timed@test
SUMMARY:Afternoon off (UTC), which is the next day in Tehran
DTSTART:20261231T210000Z
DTEND:20261231T220000Z
END:VEVENT
END:VCALENDAR
"""


def test_all_day_multi_day_recurring_excluded_and_timed_events() -> None:
    days = holidays_from_ical(ICS, TEHRAN)
    assert {date(2026, 3, 21), date(2026, 3, 22), date(2026, 3, 23), date(2026, 3, 24)} <= days
    assert date(2026, 3, 25) not in days  # DTEND of an all-day event is exclusive
    assert date(2026, 4, 1) in days
    assert date(2025, 6, 4) in days and date(2027, 6, 4) in days
    assert date(2026, 6, 4) not in days  # EXDATE
    assert date(2028, 6, 4) not in days  # COUNT=3
    assert date(2027, 1, 1) in days  # 21:00 UTC is 00:30 the next day in Tehran
    assert len(days) == 8


def test_calendar_reads_ical_files_through_the_reader() -> None:
    read: list[str] = []

    def reader(path: str) -> bytes:
        read.append(path)
        return ICS.encode()

    cal = parse_calendar(
        {"business_hours": True, "timezone": "Asia/Tehran", "days": "Sa-We", "hours": ["08:00-17:00"],
         "holidays": ["2026-03-25"], "holidays_ical": ["iran.ics"]},
        reader,
    )
    assert read == ["iran.ics"]
    friday = datetime(2026, 3, 20, 12, tzinfo=TEHRAN)
    assert cal.next_open(friday) == datetime(2026, 3, 28, 8, tzinfo=TEHRAN).astimezone(UTC)
    assert cal.add(friday, timedelta(hours=1)) == datetime(2026, 3, 28, 9, tzinfo=TEHRAN).astimezone(UTC)


def test_unreadable_ical_is_a_calendar_error() -> None:
    with pytest.raises(CalendarError):
        holidays_from_ical("this is not a calendar", TEHRAN)

    def missing(path: str) -> bytes:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(CalendarError, match="cannot read"):
        parse_calendar({"business_hours": True, "holidays_ical": "x.ics"}, missing)
