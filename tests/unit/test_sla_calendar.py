"""Business-time arithmetic: examples at DST changes, split shifts, holidays, and properties with hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from contactcenter.sla.calendar import BusinessCalendar, CalendarError, normalize_intervals
from contactcenter.sla.calendar_spec import parse_calendar, parse_days

H = 60
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TEHRAN = ZoneInfo("Asia/Tehran")


def local(zone: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=zone, fold=fold).astimezone(UTC)  # type: ignore[misc]


def every_day(zone: ZoneInfo, *intervals: tuple[int, int]) -> BusinessCalendar:
    return BusinessCalendar.weekly(zone, range(7), intervals)


# -- examples -----------------------------------------------------------------------------------------------------


def test_whole_day_lasts_23_hours_when_clocks_spring_forward_in_berlin() -> None:
    cal = every_day(BERLIN, (0, 24 * H))
    day = date(2026, 3, 29)
    assert cal.between(local(BERLIN, 2026, 3, 29), local(BERLIN, 2026, 3, 30)) == timedelta(hours=23)
    assert sum((b - a for a, b in cal.spans_on(day)), timedelta()) == timedelta(hours=23)


def test_whole_day_lasts_25_hours_when_clocks_fall_back_in_berlin() -> None:
    cal = every_day(BERLIN, (0, 24 * H))
    assert cal.between(local(BERLIN, 2026, 10, 25), local(BERLIN, 2026, 10, 26)) == timedelta(hours=25)


def test_shift_across_the_spring_forward_gap_is_an_hour_shorter() -> None:
    cal = every_day(NEW_YORK, (1 * H, 4 * H))  # 02:00 -> 03:00 on 2026-03-08
    start = local(NEW_YORK, 2026, 3, 8, 1)
    assert cal.between(start, start + timedelta(hours=12)) == timedelta(hours=2)
    assert cal.add(start, timedelta(hours=1, minutes=30)) == local(NEW_YORK, 2026, 3, 8, 3, 30)


def test_shift_starting_inside_the_gap_opens_at_the_change() -> None:
    cal = every_day(NEW_YORK, (2 * H + 30, 5 * H))
    (span,) = cal.spans_on(date(2026, 3, 8))
    assert span == (local(NEW_YORK, 2026, 3, 8, 3), local(NEW_YORK, 2026, 3, 8, 5))


def test_shift_across_the_fall_back_change_includes_the_repeated_hour() -> None:
    cal = every_day(NEW_YORK, (0, 3 * H))  # 02:00 -> 01:00 on 2026-11-01
    start = local(NEW_YORK, 2026, 11, 1)
    assert cal.between(start, start + timedelta(hours=12)) == timedelta(hours=4)
    # 90 minutes from 00:30 ends at the second 01:00 (standard time)
    assert cal.add(local(NEW_YORK, 2026, 11, 1, 0, 30), timedelta(minutes=90)) == local(
        NEW_YORK, 2026, 11, 1, 1, fold=1
    )


def test_split_shift_skips_the_lunch_break_in_tehran() -> None:
    cal = parse_calendar(
        {"business_hours": True, "timezone": "Asia/Tehran", "days": "Sa-We", "hours": ["08:00-12:30", "13:30-17:00"]}
    )
    noon = local(TEHRAN, 2026, 11, 23, 12)  # a Monday
    assert cal.add(noon, timedelta(hours=1)) == local(TEHRAN, 2026, 11, 23, 14)
    assert cal.between(noon, local(TEHRAN, 2026, 11, 23, 14)) == timedelta(hours=1)
    assert not cal.is_open(local(TEHRAN, 2026, 11, 23, 13))


def test_iranian_weekend_and_exact_end_of_day() -> None:
    cal = parse_calendar({"business_hours": True, "timezone": "Asia/Tehran", "days": "Sa-We", "hours": ["08:00-17:00"]})
    wednesday = local(TEHRAN, 2026, 11, 25, 16, 30)
    # 30 minutes remain on Wednesday; Thursday and Friday are closed
    assert cal.add(wednesday, timedelta(hours=1)) == local(TEHRAN, 2026, 11, 28, 8, 30)
    # running out exactly at closing time gives the next opening: the first moment more time could elapse
    assert cal.add(wednesday, timedelta(minutes=30)) == local(TEHRAN, 2026, 11, 28, 8)
    assert cal.between(wednesday, local(TEHRAN, 2026, 11, 28, 8)) == timedelta(minutes=30)


def test_holidays_close_the_whole_local_date() -> None:
    nowruz = [date(2026, 3, 21), date(2026, 3, 22), date(2026, 3, 23), date(2026, 3, 24)]
    cal = BusinessCalendar.weekly(TEHRAN, parse_days("Sa-We"), [(8 * H, 17 * H)], nowruz)
    friday = local(TEHRAN, 2026, 3, 20, 12)
    assert cal.next_open(friday) == local(TEHRAN, 2026, 3, 25, 8)
    assert cal.between(friday, local(TEHRAN, 2026, 3, 25, 9)) == timedelta(hours=1)


def test_twenty_four_seven_is_real_time() -> None:
    cal = parse_calendar({"business_hours": False})
    t = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert cal.add(t, timedelta(hours=5)) == t + timedelta(hours=5)
    assert cal.between(t, t + timedelta(days=3)) == timedelta(days=3)


def test_bad_calendars_are_refused_with_a_reason() -> None:
    with pytest.raises(CalendarError, match="time zone"):
        parse_calendar({"business_hours": True, "timezone": "Mars/Olympus"})
    with pytest.raises(CalendarError, match="day"):
        parse_calendar({"business_hours": True, "days": "Xy-Mo"})
    with pytest.raises(CalendarError, match="night shift"):
        parse_calendar({"business_hours": True, "hours": ["22:00-06:00"]})
    with pytest.raises(CalendarError, match="no opening hours"):
        parse_calendar({"business_hours": True, "days": []})
    with pytest.raises(CalendarError, match="closed for more than"):
        BusinessCalendar.weekly("UTC", [0], [(0, 60)], [date(2026, 1, 5) + timedelta(weeks=i) for i in range(200)]).add(
            datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=2)
        )


def test_day_ranges_wrap_around_the_week() -> None:
    assert parse_days("Sa-We") == [0, 1, 2, 5, 6]
    assert parse_days("mon,wed, fri") == [0, 2, 4]
    assert parse_days(["Mo-Tu", "Su"]) == [0, 1, 6]


def test_week_overrides_single_days() -> None:
    cal = parse_calendar(
        {"business_hours": True, "timezone": "UTC", "days": "Mo-Fr", "hours": ["09:00-17:00"], "week": {"fr": []}}
    )
    assert cal.week[4] == ()
    assert cal.week[0] == ((540, 1020),)


def test_intervals_are_merged() -> None:
    assert normalize_intervals([(600, 700), (0, 60), (650, 800), (60, 90), (5, 5)]) == ((0, 90), (600, 800))


# -- properties ---------------------------------------------------------------------------------------------------

ZONES = [BERLIN, NEW_YORK, TEHRAN, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")]
LOW = datetime(2025, 1, 1, tzinfo=UTC)
HIGH = datetime(2027, 12, 31, tzinfo=UTC)


@st.composite
def intervals(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    cuts = draw(st.lists(st.integers(0, 24 * 4), max_size=6, unique=True).map(sorted))
    pairs = [(cuts[i] * 15, cuts[i + 1] * 15) for i in range(0, len(cuts) - 1, 2)]
    return tuple(pairs)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    if draw(st.integers(0, 9)) == 0:
        return BusinessCalendar.twenty_four_seven()
    zone = draw(st.sampled_from(ZONES))
    week = tuple(draw(intervals()) for _ in range(7))
    assume(any(week))
    holidays = draw(st.frozensets(st.dates(date(2024, 12, 1), date(2028, 2, 1)), max_size=40))
    return BusinessCalendar(zone, week, holidays)


moments = st.datetimes(LOW.replace(tzinfo=None), HIGH.replace(tzinfo=None), timezones=st.just(UTC))
amounts = st.timedeltas(timedelta(0), timedelta(days=20))
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(calendars(), moments, amounts)
def test_between_inverts_add(cal: BusinessCalendar, t: datetime, amount: timedelta) -> None:
    due = cal.add(t, amount)
    assert due >= t
    assert cal.between(t, due) == amount
    assert cal.is_open(due)  # add lands on a moment where time runs


@fast
@given(calendars(), moments, moments)
def test_add_of_between_is_the_next_business_instant(cal: BusinessCalendar, a: datetime, b: datetime) -> None:
    t, u = min(a, b), max(a, b)
    assert cal.add(t, cal.between(t, u)) == cal.next_open(u)


@fast
@given(calendars(), moments, amounts, amounts)
def test_between_is_additive_and_monotone(cal: BusinessCalendar, a: datetime, x: timedelta, y: timedelta) -> None:
    b, c = a + x, a + x + y
    ab, bc, ac = cal.between(a, b), cal.between(b, c), cal.between(a, c)
    assert ab + bc == ac
    assert ab <= ac and bc <= ac
    assert ac <= c - a


@fast
@given(calendars(), moments, amounts, amounts)
def test_add_is_monotone_and_composes(cal: BusinessCalendar, t: datetime, d1: timedelta, d2: timedelta) -> None:
    first = cal.add(t, d1)
    assert cal.add(t, min(d1, d2)) <= cal.add(t, max(d1, d2))
    assert cal.add(first, d2) == cal.add(t, d1 + d2)


@fast
@given(calendars(), moments)
def test_next_open_is_open_and_nothing_runs_before_it(cal: BusinessCalendar, t: datetime) -> None:
    opening = cal.next_open(t)
    assert cal.is_open(opening)
    assert cal.between(t, opening) == timedelta(0)
    assert cal.is_open(t) == (opening == t)


@fast
@given(calendars(), moments)
def test_spans_are_ordered_and_disjoint(cal: BusinessCalendar, t: datetime) -> None:
    spans = []
    for span in cal.spans_from(t):
        spans.append(span)
        if len(spans) == 30:
            break
    for (a, b), (c, _) in pairwise(spans):
        assert a < b <= c


# Oracle: in a zone without DST, a minute is open exactly when its local wall time is inside an interval of a
# non-holiday local date. Count open minutes one by one and compare.
@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([TEHRAN, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")]),
    st.tuples(*[intervals() for _ in range(7)]),
    st.frozensets(st.dates(date(2026, 1, 1), date(2026, 1, 20)), max_size=5),
    st.datetimes(datetime(2026, 1, 1), datetime(2026, 1, 14), timezones=st.just(UTC)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
    st.integers(0, 3 * 24 * 60),
)
def test_between_matches_a_minute_by_minute_count(
    zone: ZoneInfo, week: tuple[tuple[tuple[int, int], ...], ...], holidays: frozenset[date], t: datetime, span: int
) -> None:
    assume(any(week))
    cal = BusinessCalendar(zone, week, holidays)
    open_minutes = 0
    for i in range(span):
        wall = (t + timedelta(minutes=i)).astimezone(zone)
        minute = wall.hour * 60 + wall.minute
        if wall.date() not in holidays and any(s <= minute < e for s, e in week[wall.weekday()]):
            open_minutes += 1
    assert cal.between(t, t + timedelta(minutes=span)) == timedelta(minutes=open_minutes)
