"""Read a calendar description (the ``calendar`` table of an SLA policy) into a ``BusinessCalendar``.

    { business_hours = true, timezone = "Asia/Tehran", days = "Sa-We", hours = ["08:00-12:30", "13:30-17:00"],
      week = { th = ["08:00-12:00"] }, holidays = ["2026-03-21"], holidays_ical = ["holidays/iran.ics"] }

``business_hours = false`` (or no table) means around the clock. ``days`` is a list of day names or ranges
("Sa-We", "mon-fri", "Mo,We,Fr"; ranges wrap around the week); ``hours`` applies to each of those days and ``week``
overrides single days (an empty list closes the day). iCal files are read through ``read_file`` so that this module
stays free of I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contactcenter.sla.calendar import DAY_MINUTES, BusinessCalendar, CalendarError, Interval
from contactcenter.sla.holidays import holidays_from_ical

_DAY_NAMES = (
    ("mo", "mon", "monday"),
    ("tu", "tue", "tuesday"),
    ("we", "wed", "wednesday"),
    ("th", "thu", "thursday"),
    ("fr", "fri", "friday"),
    ("sa", "sat", "saturday"),
    ("su", "sun", "sunday"),
)
_DAY_INDEX = {name: i for i, names in enumerate(_DAY_NAMES) for name in names}


def parse_day(name: str) -> int:
    """The weekday index (0 = Monday) of a day name or abbreviation."""
    try:
        return _DAY_INDEX[name.strip().lower()]
    except KeyError:
        raise CalendarError(f"unknown day {name!r}") from None


def parse_days(value: str | list[str]) -> list[int]:
    """Days from "Sa-We", "mon,wed,fri" or a list of such items; ranges wrap (Sa-We = Sa Su Mo Tu We)."""
    items = value.split(",") if isinstance(value, str) else [part for v in value for part in str(v).split(",")]
    days: list[int] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        if "-" in item:
            first_name, last_name = item.split("-", 1)
            first, last = parse_day(first_name), parse_day(last_name)
            days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            days.append(parse_day(item))
    return sorted(set(days))


def parse_clock(value: str) -> int:
    """Minutes after midnight of "HH:MM" ("24:00" is the end of the day)."""
    hours, sep, minutes = value.strip().partition(":")
    if not sep or not hours.isdecimal() or not minutes.isdecimal() or len(minutes) != 2:
        raise CalendarError(f"not a time of day: {value!r} (use HH:MM)")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > DAY_MINUTES:
        raise CalendarError(f"not a time of day: {value!r}")
    return total


def parse_interval(value: str) -> Interval:
    """Minutes of "HH:MM-HH:MM"."""
    start, sep, end = value.partition("-")
    if not sep:
        raise CalendarError(f"not an interval: {value!r} (use HH:MM-HH:MM)")
    return parse_clock(start), parse_clock(end)


def parse_calendar(
    spec: Mapping[str, Any] | None, read_file: Callable[[str], bytes] | None = None
) -> BusinessCalendar:
    """A calendar from its description; raises ``CalendarError`` with a readable message."""
    if not spec or not spec.get("business_hours", False):
        return BusinessCalendar.twenty_four_seven()
    zone_name = str(spec.get("timezone", "UTC"))
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"unknown time zone {zone_name!r}") from None
    days = parse_days(spec.get("days", "Mo-Fr"))
    hours = [parse_interval(str(h)) for h in _as_list(spec.get("hours", ["09:00-17:00"]))]
    week: list[tuple[Interval, ...]] = [tuple(hours) if d in days else () for d in range(7)]
    overrides = spec.get("week", {})
    if not isinstance(overrides, Mapping):
        raise CalendarError("calendar.week must be a table of day = [intervals]")
    for name, intervals in overrides.items():
        week[parse_day(str(name))] = tuple(parse_interval(str(h)) for h in _as_list(intervals))
    holidays: set[date] = set()
    for item in _as_list(spec.get("holidays", [])):
        try:
            holidays.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
        except ValueError:
            raise CalendarError(f"not a date: {item!r} (use YYYY-MM-DD)") from None
    for path in _as_list(spec.get("holidays_ical", [])):
        if read_file is None:
            raise CalendarError("holidays_ical needs a file reader")
        try:
            data = read_file(str(path))
        except OSError as exc:
            raise CalendarError(f"cannot read {path}: {exc.strerror or exc}") from None
        holidays |= holidays_from_ical(data, zone)
    return BusinessCalendar(zone, tuple(week), frozenset(holidays))


def _as_list(value: object) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
