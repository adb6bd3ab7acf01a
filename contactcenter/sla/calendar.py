"""Business calendars and business-time arithmetic. Pure: no I/O, no clock.

A calendar is a time zone, a week of opening intervals (several per day: split shifts) and a set of holiday dates.
Each interval of a local date becomes one span of real time, from the first instant the local clock shows its start
until the first instant it shows its end. So a shift that spans a DST change lasts an hour more or less in real
time, a start inside the spring-forward gap opens at the moment of the change, and a shift that ends inside the
repeated hour of a fall-back night ends the first time its end is shown.

Two operations, both exact (``timedelta`` carries microseconds as integers):

- ``between(a, b)``: the business time inside ``[a, b)``.
- ``add(t, d)``: the latest instant ``x >= t`` with ``between(t, x) <= d``. When the amount runs out exactly at the
  end of an opening interval, that is the start of the next one: the first instant at which more than ``d`` could
  have elapsed. Hence ``between(t, add(t, d)) == d`` and ``add(t, between(t, u)) == next_open(u)`` for ``u >= t``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_MINUTES = 24 * 60
ZERO = timedelta(0)
# No calendar may stay closed longer than this; a longer search means the calendar is (nearly) never open.
SEARCH_DAYS = 3 * 366

Interval = tuple[int, int]  # minutes after local midnight: [start, end), end <= 1440


class CalendarError(ValueError):
    """The calendar cannot be built or is never open."""


def normalize_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sort and merge overlapping or touching intervals; drop empty ones; reject out-of-range minutes."""
    cleaned: list[Interval] = []
    for start, end in sorted(intervals):
        if not 0 <= start <= DAY_MINUTES or not 0 <= end <= DAY_MINUTES:
            raise CalendarError(f"interval {start}-{end} is outside 00:00-24:00")
        if end < start:
            raise CalendarError(f"interval {start}-{end} ends before it starts (split a night shift at midnight)")
        if end == start:
            continue
        if cleaned and start <= cleaned[-1][1]:
            cleaned[-1] = (cleaned[-1][0], max(cleaned[-1][1], end))
        else:
            cleaned.append((start, end))
    return tuple(cleaned)


@dataclass(frozen=True, eq=False)
class BusinessCalendar:
    """Opening hours per weekday (index 0 = Monday) in ``zone``, closed on ``holidays``.

    ``always_open`` calendars (24/7) ignore the week and the holidays: business time is real time.
    """

    zone: ZoneInfo
    week: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[date] = frozenset()
    always_open: bool = False
    _spans: dict[date, tuple[tuple[datetime, datetime], ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise CalendarError("a week has seven days")
        week = tuple(normalize_intervals(day) for day in self.week)
        object.__setattr__(self, "week", week)
        if not self.always_open and not any(week):
            raise CalendarError("the calendar has no opening hours")

    @classmethod
    def twenty_four_seven(cls) -> BusinessCalendar:
        """Around the clock: business time is real time."""
        full: tuple[Interval, ...] = ((0, DAY_MINUTES),)
        return cls(ZoneInfo("UTC"), (full,) * 7, always_open=True)

    @classmethod
    def weekly(
        cls, zone: str | ZoneInfo, days: Iterable[int], intervals: Iterable[Interval], holidays: Iterable[date] = ()
    ) -> BusinessCalendar:
        """The same ``intervals`` on each of ``days`` (0 = Monday)."""
        chosen = set(days)
        shared = normalize_intervals(intervals)
        tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        return cls(tz, tuple(shared if d in chosen else () for d in range(7)), frozenset(holidays))

    def with_holidays(self, more: Iterable[date]) -> BusinessCalendar:
        """The same calendar closed on ``more`` dates as well."""
        return BusinessCalendar(self.zone, self.week, self.holidays | frozenset(more), self.always_open)

    # -- spans of real time ---------------------------------------------------------------------------------------

    def spans_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The open spans (UTC, half-open, non-empty, ascending) of local date ``day``."""
        cached = self._spans.get(day)
        if cached is not None:
            return cached
        spans: list[tuple[datetime, datetime]] = []
        if day not in self.holidays:
            for start, end in self.week[day.weekday()]:
                a = self._instant(day, start)
                b = self._instant(day, end)
                if b > a:
                    spans.append((a, b))
        result = tuple(spans)
        if len(self._spans) > 4096:  # bounded memo; the arithmetic stays correct without it
            self._spans.clear()
        self._spans[day] = result
        return result

    def _instant(self, day: date, minute: int) -> datetime:
        """The first instant at which the local clock shows ``minute`` (or later) on ``day``, in UTC."""
        if minute >= DAY_MINUTES:
            day, minute = day + timedelta(days=1), minute - DAY_MINUTES
        wall = datetime.combine(day, time(minute // 60, minute % 60))
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:
            return first  # exists (fold=0 is its first occurrence when it is repeated)
        # Inside a spring-forward gap: the first instant at or after it is the moment of the change, which lies in
        # (wall read with the offset after the change, wall read with the offset before]. Bisect on microseconds.
        low = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        high = first
        if low > high:
            low, high = high, low
        before = low.astimezone(self.zone).utcoffset()
        while high - low > timedelta(microseconds=1):
            mid = low + (high - low) / 2
            if mid.astimezone(self.zone).utcoffset() == before:
                low = mid
            else:
                high = mid
        return high

    def spans_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open spans that end after ``moment``, the first one clipped to start no earlier than it."""
        start = _utc(moment)
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        closed_days = 0
        while True:
            spans = self.spans_on(day)
            closed_days = closed_days + 1 if not spans else 0
            if closed_days > SEARCH_DAYS:
                raise CalendarError(f"the calendar is closed for more than {SEARCH_DAYS} days after {start}")
            for a, b in spans:
                if b > start:
                    yield max(a, start), b
            day += timedelta(days=1)

    # -- arithmetic -----------------------------------------------------------------------------------------------

    def is_open(self, moment: datetime) -> bool:
        """Whether business time runs at ``moment``."""
        if self.always_open:
            return True
        at = _utc(moment)
        return any(a <= at < b for a, b in self.spans_on(at.astimezone(self.zone).date())) or any(
            a <= at < b for a, b in self.spans_on(at.astimezone(self.zone).date() - timedelta(days=1))
        )

    def next_open(self, moment: datetime) -> datetime:
        """The first business instant at or after ``moment``."""
        if self.always_open:
            return _utc(moment)
        return next(self.spans_from(moment))[0]

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time inside ``[start, end)``; zero when ``end <= start``."""
        a, b = _utc(start), _utc(end)
        if b <= a:
            return ZERO
        if self.always_open:
            return b - a
        total = ZERO
        for s, e in self.spans_from(a):
            if s >= b:
                break
            total += min(e, b) - s
        return total

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The latest instant ``x >= start`` with ``between(start, x) <= amount`` (see the module docstring)."""
        if amount < ZERO:
            raise ValueError("cannot add a negative business time")
        if self.always_open:
            return _utc(start) + amount
        remaining = amount
        for s, e in self.spans_from(start):
            if remaining < e - s:
                return s + remaining
            remaining -= e - s
        raise AssertionError("unreachable: spans_from never ends")  # pragma: no cover


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business-time arithmetic needs timezone-aware datetimes")
    return moment.astimezone(UTC)
