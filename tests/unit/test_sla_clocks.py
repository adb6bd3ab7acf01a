"""SLA clocks from event histories, without a database: pauses, reopen, cycles and the bugs other engines have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from contactcenter.domain.enums import TicketStatus as S
from contactcenter.sla.calendar import BusinessCalendar
from contactcenter.sla.clocks import Clock, ClockState, Happening, Kind, Metric, Targets, compute_clocks, reach

UTC_ZONE = ZoneInfo("UTC")
# Monday to Friday, 08:00-17:00 UTC; 2026-11-23 is a Monday
OFFICE = BusinessCalendar.weekly(UTC_ZONE, range(5), [(8 * 60, 17 * 60)])
ALWAYS = BusinessCalendar.twenty_four_seven()
HOUR = timedelta(hours=1)
TARGETS = Targets(first_response=4 * HOUR, next_response=2 * HOUR, resolution=16 * HOUR, warn_percent=(75,),
                  warn_before=(timedelta(minutes=15),))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def created(t: datetime) -> list[Happening]:
    return [Happening(t, Kind.CREATED), Happening(t, Kind.CUSTOMER_MESSAGE)]


def status(t: datetime, value: S) -> Happening:
    return Happening(t, Kind.STATUS, value)


def reply(t: datetime) -> Happening:
    return Happening(t, Kind.AGENT_REPLY)


def customer(t: datetime) -> Happening:
    return Happening(t, Kind.CUSTOMER_MESSAGE)


def clock(clocks: list[Clock], metric: Metric, cycle: int = 0) -> Clock:
    (found,) = [c for c in clocks if c.metric == metric and c.cycle == cycle]
    return found


def test_new_ticket_runs_first_response_and_resolution_in_business_time() -> None:
    clocks = compute_clocks(created(at(23, 15)), TARGETS, OFFICE, now=at(23, 16))
    first = clock(clocks, Metric.FIRST_RESPONSE)
    assert first.state == ClockState.RUNNING
    assert first.elapsed == HOUR
    assert first.due_at == at(24, 10)  # 2 h on Monday, 2 h on Tuesday
    assert [(p.name, p.at) for p in first.points] == [
        ("warn-75%", at(24, 9)), ("warn-15m", at(24, 9, 45)), ("breach", at(24, 10))]
    assert clock(clocks, Metric.RESOLUTION).due_at == at(25, 13)
    assert not any(c.breached for c in clocks)
    assert {c.metric for c in clocks} == {Metric.FIRST_RESPONSE, Metric.RESOLUTION}  # no next response yet


def test_first_response_is_the_first_public_reply_not_a_later_update() -> None:
    history = [*created(at(23, 9)), reply(at(23, 10)), status(at(23, 11), S.PENDING), customer(at(23, 12)),
               status(at(23, 12), S.OPEN), reply(at(23, 15))]
    first = clock(compute_clocks(history, TARGETS, OFFICE, now=at(25, 9)), Metric.FIRST_RESPONSE)
    assert first.state == ClockState.MET
    assert first.stopped_at == at(23, 10)
    assert first.elapsed == HOUR and first.calendar_elapsed == HOUR


def test_status_changes_and_notes_do_not_answer_the_customer() -> None:
    history = [*created(at(23, 9)), status(at(23, 9, 5), S.OPEN)]
    first = clock(compute_clocks(history, TARGETS, OFFICE, now=at(23, 14)), Metric.FIRST_RESPONSE)
    assert first.state == ClockState.RUNNING and first.due_at == at(23, 13) and first.breached


def test_clocks_stop_when_the_ticket_is_solved_and_stay_stopped() -> None:
    history = [*created(at(23, 9)), reply(at(23, 10)), status(at(23, 11), S.SOLVED)]
    clocks = compute_clocks(history, TARGETS, OFFICE, now=at(30, 9))  # a week later
    resolution = clock(clocks, Metric.RESOLUTION)
    assert resolution.state == ClockState.MET
    assert resolution.elapsed == 2 * HOUR
    assert resolution.stopped_at == at(23, 11)
    assert resolution.due_at is None and not resolution.breached


def test_response_clock_of_a_ticket_solved_without_reply_is_stopped_not_met() -> None:
    history = [*created(at(23, 9)), status(at(23, 10), S.CLOSED)]
    first = clock(compute_clocks(history, TARGETS, OFFICE, now=at(30, 9)), Metric.FIRST_RESPONSE)
    assert first.state == ClockState.STOPPED and first.elapsed == HOUR and not first.breached


def test_pause_across_closed_hours_resumes_with_the_time_left() -> None:
    # created Monday 16:00; pending at 16:30 (30 min run); the customer answers Tuesday 10:00
    history = [*created(at(23, 16)), status(at(23, 16, 30), S.PENDING)]
    paused = clock(compute_clocks(history, TARGETS, OFFICE, now=at(24, 9)), Metric.FIRST_RESPONSE)
    assert paused.state == ClockState.PAUSED and paused.due_at is None
    assert paused.elapsed == timedelta(minutes=30) and paused.remaining == timedelta(hours=3, minutes=30)
    history += [customer(at(24, 10)), status(at(24, 10), S.OPEN)]
    resumed = clock(compute_clocks(history, TARGETS, OFFICE, now=at(24, 10)), Metric.FIRST_RESPONSE)
    assert resumed.state == ClockState.RUNNING
    assert resumed.due_at == at(24, 13, 30)


def test_customer_message_ends_the_wait_before_its_status_change_is_recorded() -> None:
    history = [*created(at(23, 9)), status(at(23, 10), S.ON_HOLD), customer(at(23, 12))]
    first = clock(compute_clocks(history, TARGETS, OFFICE, now=at(23, 12)), Metric.FIRST_RESPONSE)
    assert first.state == ClockState.RUNNING and first.due_at == at(23, 15)


def test_reopen_resumes_resolution_with_the_time_already_used() -> None:
    history = [*created(at(23, 9)), reply(at(23, 10)), status(at(23, 11), S.SOLVED), customer(at(24, 9)),
               status(at(24, 9), S.OPEN)]
    clocks = compute_clocks(history, TARGETS, OFFICE, now=at(24, 10))
    resolution = clock(clocks, Metric.RESOLUTION)
    assert resolution.state == ClockState.RUNNING
    assert resolution.elapsed == 3 * HOUR  # 2 h before solving + 1 h since the reopen
    assert resolution.due_at == at(25, 14)  # 14 h left from Tuesday 09:00: 8 h Tuesday, 6 h from 08:00 Wednesday
    next_response = clock(clocks, Metric.NEXT_RESPONSE, 1)
    assert next_response.state == ClockState.RUNNING and next_response.due_at == at(24, 11)


def test_each_customer_message_after_a_reply_starts_one_next_response_cycle() -> None:
    history = [*created(at(23, 9)), reply(at(23, 9, 30)), customer(at(23, 10)), customer(at(23, 10, 30)),
               reply(at(23, 13)), customer(at(23, 14))]
    clocks = compute_clocks(history, TARGETS, OFFICE, now=at(23, 15))
    one, two = clock(clocks, Metric.NEXT_RESPONSE, 1), clock(clocks, Metric.NEXT_RESPONSE, 2)
    assert one.started_at == at(23, 10) and one.state == ClockState.MET and one.breached  # 3 h > 2 h
    assert one.due_at == at(23, 12)
    assert two.state == ClockState.RUNNING and two.due_at == at(23, 16) and not two.breached


def test_policy_change_recomputes_from_the_whole_history() -> None:
    history = [*created(at(23, 9)), status(at(23, 10), S.PENDING), customer(at(23, 12)), status(at(23, 12), S.OPEN)]
    before = clock(compute_clocks(history, TARGETS, OFFICE, now=at(23, 12)), Metric.FIRST_RESPONSE)
    stricter = Targets(first_response=2 * HOUR, resolution=8 * HOUR)
    after = clock(compute_clocks(history, stricter, OFFICE, now=at(23, 12)), Metric.FIRST_RESPONSE)
    assert before.due_at == at(23, 15)
    assert after.due_at == at(23, 13)  # 1 h used before the pause, 1 h left from 12:00 — not 2 h from now
    around_the_clock = clock(compute_clocks(history, stricter, ALWAYS, now=at(23, 12)), Metric.FIRST_RESPONSE)
    assert around_the_clock.due_at == at(23, 13)


def test_breach_while_paused_is_kept() -> None:
    history = [*created(at(23, 9)), status(at(23, 14), S.PENDING)]
    first = clock(compute_clocks(history, TARGETS, OFFICE, now=at(24, 9)), Metric.FIRST_RESPONSE)
    assert first.state == ClockState.PAUSED and first.breached and first.due_at == at(23, 13)


def test_exactly_on_target_is_not_a_breach() -> None:
    history = [*created(at(23, 9)), reply(at(23, 13))]
    first = clock(compute_clocks(history, TARGETS, OFFICE, now=at(24, 9)), Metric.FIRST_RESPONSE)
    assert first.state == ClockState.MET and first.elapsed == first.target and not first.breached


def test_future_entries_are_ignored() -> None:
    history = [*created(at(23, 9)), reply(at(23, 11))]
    first = clock(compute_clocks(history, TARGETS, OFFICE, now=at(23, 10)), Metric.FIRST_RESPONSE)
    assert first.state == ClockState.RUNNING


# -- properties ---------------------------------------------------------------------------------------------------

steps = st.lists(
    st.tuples(
        st.timedeltas(timedelta(0), timedelta(hours=30)),
        st.sampled_from([Kind.CUSTOMER_MESSAGE, Kind.AGENT_REPLY, Kind.STATUS]),
        st.sampled_from([S.OPEN, S.PENDING, S.ON_HOLD, S.SOLVED]),
    ),
    max_size=12,
)


def build(start: datetime, items: list[tuple[timedelta, Kind, S]]) -> list[Happening]:
    history = created(start)
    t = start
    for gap, kind, value in items:
        t += gap
        history.append(Happening(t, kind, value if kind == Kind.STATUS else None))
    return history


@settings(max_examples=120, deadline=None)
@given(st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1), timezones=st.just(UTC)), steps,
       st.timedeltas(timedelta(0), timedelta(days=3)))
def test_elapsed_never_decreases_and_due_times_are_consistent(
    start: datetime, items: list[tuple[timedelta, Kind, S]], later: timedelta
) -> None:
    history = build(start, items)
    now = history[-1].at
    first = {(c.metric, c.cycle): c for c in compute_clocks(history, TARGETS, OFFICE, now)}
    second = {(c.metric, c.cycle): c for c in compute_clocks(history, TARGETS, OFFICE, now + later)}
    assert first.keys() == second.keys()
    for key, a in first.items():
        b = second[key]
        assert a.elapsed <= b.elapsed <= a.elapsed + OFFICE.between(now, now + later)
        if a.state != ClockState.RUNNING:
            assert a.elapsed == b.elapsed and a.due_at == b.due_at  # nothing runs without a new entry
        else:
            assert a.due_at == b.due_at  # a running clock's due time does not depend on when we look
            assert a.due_at is not None and OFFICE.between(a.started_at, a.due_at) >= a.target - a.elapsed
        assert b.breached == (b.elapsed > b.target or (b.state == ClockState.RUNNING and b.elapsed == b.target
                                                       and b.due_at is not None and b.due_at <= now + later))
        assert [p.at for p in a.points if p.at] == sorted(p.at for p in a.points if p.at)


@settings(max_examples=80, deadline=None)
@given(st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1), timezones=st.just(UTC)), steps)
def test_reach_inverts_elapsed(start: datetime, items: list[tuple[timedelta, Kind, S]]) -> None:
    history = build(start, items)
    for c in compute_clocks(history, TARGETS, OFFICE, history[-1].at):
        if c.due_at is not None and c.state == ClockState.RUNNING:
            later = compute_clocks(history, TARGETS, OFFICE, c.due_at)
            (same,) = [x for x in later if (x.metric, x.cycle) == (c.metric, c.cycle)]
            assert same.elapsed == same.target


def test_reach_of_segments() -> None:
    segments = [(at(23, 9), at(23, 10)), (at(23, 16), None)]
    assert reach(OFFICE, segments, HOUR) == at(23, 16)
    assert reach(OFFICE, segments, 2 * HOUR) == at(24, 8)
    assert reach(OFFICE, segments[:1], 2 * HOUR) is None
