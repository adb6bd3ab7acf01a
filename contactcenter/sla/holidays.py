"""Holiday dates from iCalendar (RFC 5545) data, e.g. a published list of Iranian public holidays. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar

from contactcenter.sla.calendar import CalendarError

# Recurring events (RRULE) are expanded over this many years after their first occurrence, unless they end sooner.
RECURRENCE_YEARS = 30
MAX_EVENT_DAYS = 60  # an "event" longer than this is not a holiday list; refuse it rather than close for months


def holidays_from_ical(data: bytes | str, zone: ZoneInfo) -> frozenset[date]:
    """Every date covered by a VEVENT of ``data``.

    An all-day event covers DTSTART up to (not including) DTEND, one day without DTEND. A timed event covers the
    local dates (in ``zone``) its start and end fall on. RRULE recurrences are expanded; EXDATE is honoured.
    """
    try:
        calendar = Calendar.from_ical(data)
    except ValueError as exc:
        raise CalendarError(f"not an iCalendar file: {exc}") from None
    dates: set[date] = set()
    for event in calendar.walk("VEVENT"):
        if "DTSTART" not in event:
            continue
        start = event.decoded("DTSTART")
        end = event.decoded("DTEND") if "DTEND" in event else None
        if end is None and "DURATION" in event:
            end = start + event.decoded("DURATION")
        first_days = _days(start, end, zone)
        if len(first_days) > MAX_EVENT_DAYS:
            raise CalendarError(f"event {event.get('SUMMARY', '')!s} lasts {len(first_days)} days")
        starts = [start]
        if "RRULE" in event:
            starts = _expand(event, start)
        excluded = _excluded(event, zone)
        length = len(first_days)
        for occurrence in starts:
            first = _local_date(occurrence, zone)
            if first in excluded:
                continue
            dates.update(first + timedelta(days=i) for i in range(length))
    return frozenset(dates)


def _days(start: date, end: date | None, zone: ZoneInfo) -> list[date]:
    first = _local_date(start, zone)
    if end is None:
        return [first]
    if isinstance(end, datetime):
        last = _local_date(end - timedelta(microseconds=1), zone) if end > start else first
    else:
        last = end - timedelta(days=1)  # all-day DTEND is exclusive
    return [first + timedelta(days=i) for i in range(max(1, (last - first).days + 1))]


def _local_date(value: date, zone: ZoneInfo) -> date:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(zone).date()
    return value


def _expand(event: object, start: date) -> list[date]:
    rule = event["RRULE"]  # type: ignore[index]
    text = rule.to_ical().decode()
    anchor = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day)
    if isinstance(anchor, datetime) and anchor.tzinfo is not None and "UNTIL" in text and "Z" not in text:
        anchor = anchor.astimezone(UTC)
    horizon = anchor.replace(year=anchor.year + RECURRENCE_YEARS)
    try:
        recurrence = rrulestr(text, dtstart=anchor)
    except (ValueError, TypeError) as exc:
        raise CalendarError(f"cannot read RRULE {text!r}: {exc}") from None
    found = recurrence.between(anchor, horizon, inc=True)
    if isinstance(start, datetime):
        return list(found)
    return [moment.date() for moment in found]


def _excluded(event: object, zone: ZoneInfo) -> set[date]:
    raw = event.get("EXDATE")  # type: ignore[attr-defined]
    if raw is None:
        return set()
    groups = raw if isinstance(raw, list) else [raw]
    out: set[date] = set()
    for group in groups:
        for item in group.dts:
            out.add(_local_date(item.dt, zone))
    return out
