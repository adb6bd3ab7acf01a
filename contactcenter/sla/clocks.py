"""SLA clocks as a pure function of a ticket's recorded history. No I/O, no clock of its own.

Every call recomputes every clock from the whole history with the policy given, so a change of priority or policy,
a pause or a reopen can never leave a stale due time behind: the same history and policy always give the same answer.

Rules (one clock per metric; next response has one clock per cycle):

- first response starts when the ticket is created and is met by the first public agent reply. Status changes,
  notes and later replies never move it.
- next response starts with the first customer message after an agent reply (while no cycle is open) and is met by
  the next public agent reply; every cycle is a clock of its own.
- resolution starts when the ticket is created, is met when it is solved or closed, and resumes on reopen.
- A clock runs while the ticket is neither waiting on the customer (pending, on hold) nor solved/closed. A customer
  message ends the wait even before its status change is recorded. Time runs on the policy's business calendar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from contactcenter.domain.enums import TicketStatus
from contactcenter.sla.calendar import ZERO, BusinessCalendar

WAITING = frozenset({TicketStatus.PENDING, TicketStatus.ON_HOLD})
DONE = frozenset({TicketStatus.SOLVED, TicketStatus.CLOSED})


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class Kind(StrEnum):
    """What happened to a ticket, as far as the clocks care."""

    CREATED = "created"
    CUSTOMER_MESSAGE = "customer_message"
    AGENT_REPLY = "agent_reply"  # public replies only; internal notes are not responses
    STATUS = "status"


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # waiting on the customer
    STOPPED = "stopped"  # the ticket was solved or closed before the response
    MET = "met"


@dataclass(frozen=True, slots=True)
class Happening:
    """One entry of the history. ``status`` is the new status of a STATUS entry."""

    at: datetime
    kind: Kind
    status: TicketStatus | None = None


@dataclass(frozen=True, slots=True)
class Point:
    """A moment of a clock at which something fires: a warning or the breach. ``at`` is None when it cannot come."""

    name: str
    amount: timedelta  # business time elapsed on the clock at that moment
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Clock:
    """One metric's clock as of ``now``."""

    metric: Metric
    cycle: int  # 0 for first response and resolution; 1, 2, ... for next-response cycles
    state: ClockState
    target: timedelta
    started_at: datetime
    stopped_at: datetime | None  # when met or stopped (None while running or paused)
    elapsed: timedelta  # business time run so far
    calendar_elapsed: timedelta  # real time from start to stop (or now)
    due_at: datetime | None  # the breach moment (None while paused or stopped short of the target)
    breached: bool
    points: tuple[Point, ...] = field(default=())

    @property
    def remaining(self) -> timedelta:
        return max(ZERO, self.target - self.elapsed)


@dataclass(frozen=True, slots=True)
class Targets:
    """Targets per metric (None: not measured) and the warning points before each breach."""

    first_response: timedelta | None = None
    next_response: timedelta | None = None
    resolution: timedelta | None = None
    warn_percent: tuple[int, ...] = (75,)  # warnings when this share of the target has run
    warn_before: tuple[timedelta, ...] = (timedelta(minutes=15),)  # ... and this long before the breach

    def target(self, metric: Metric) -> timedelta | None:
        return {Metric.FIRST_RESPONSE: self.first_response, Metric.NEXT_RESPONSE: self.next_response,
                Metric.RESOLUTION: self.resolution}[metric]

    def points(self, target: timedelta) -> list[tuple[str, timedelta]]:
        """Named amounts of business time at which to fire, ascending; the breach is last."""
        found: dict[str, timedelta] = {}
        for percent in self.warn_percent:
            if 0 < percent < 100:
                found[f"warn-{percent}%"] = target * percent / 100
        for before in self.warn_before:
            if ZERO < before < target:
                found[f"warn-{int(before.total_seconds() // 60)}m"] = target - before
        ordered = sorted(found.items(), key=lambda item: (item[1], item[0]))
        ordered.append(("breach", target))
        return ordered


Segment = tuple[datetime, datetime | None]  # a stretch during which a clock ran; None: still running


@dataclass
class _Run:
    """A clock being built: its start, the stretches it ran, and whether it was met."""

    metric: Metric
    cycle: int
    started_at: datetime
    segments: list[Segment] = field(default_factory=list)
    met_at: datetime | None = None
    stopped_at: datetime | None = None

    def run(self, at: datetime, running: bool) -> None:
        """Start or stop the current stretch at ``at``."""
        if running and (not self.segments or self.segments[-1][1] is not None):
            if self.segments and self.segments[-1][1] == at:  # touching stretches join
                self.segments[-1] = (self.segments[-1][0], None)
            else:
                self.segments.append((at, None))
        elif not running and self.segments and self.segments[-1][1] is None:
            self.segments[-1] = (self.segments[-1][0], at)


def compute_clocks(
    history: Iterable[Happening], targets: Targets, calendar: BusinessCalendar, now: datetime
) -> list[Clock]:
    """Every clock of a ticket as of ``now``, from its history (entries after ``now`` are ignored).

    Entries are applied in time order; entries at the same moment keep their given order.
    """
    events = sorted((h for h in history if h.at <= now), key=lambda h: h.at)
    runs: list[_Run] = []
    first: _Run | None = None
    resolution: _Run | None = None
    cycle: _Run | None = None  # the open next-response cycle
    cycles = 0
    status = TicketStatus.NEW
    waiting = False
    replied = False

    def running() -> bool:
        return not waiting and status not in DONE

    def sync(at: datetime) -> None:
        for run in (first, cycle):
            if run is not None and run.met_at is None:
                run.run(at, running())
        if resolution is not None:
            resolution.run(at, running())
            resolution.met_at = at if status in DONE else None

    for event in events:
        if event.kind == Kind.CREATED and first is None:
            first = _Run(Metric.FIRST_RESPONSE, 0, event.at)
            resolution = _Run(Metric.RESOLUTION, 0, event.at)
            runs += [first, resolution]
        elif event.kind == Kind.STATUS and event.status is not None:
            status = event.status
            waiting = status in WAITING
        elif event.kind == Kind.CUSTOMER_MESSAGE:
            waiting = False
            if replied and cycle is None:
                cycles += 1
                cycle = _Run(Metric.NEXT_RESPONSE, cycles, event.at)
                runs.append(cycle)
        elif event.kind == Kind.AGENT_REPLY:
            for run in (first, cycle):
                if run is not None and run.met_at is None:
                    run.run(event.at, False)
                    run.met_at = event.at
            replied = replied or first is not None
            cycle = None
        sync(event.at)
    return [_finish(run, targets, calendar, now, status) for run in runs if targets.target(run.metric) is not None]


def _finish(run: _Run, targets: Targets, calendar: BusinessCalendar, now: datetime, status: TicketStatus) -> Clock:
    target = targets.target(run.metric)
    assert target is not None
    open_ended = bool(run.segments) and run.segments[-1][1] is None
    elapsed = sum((calendar.between(s, e if e is not None else now) for s, e in run.segments), ZERO)
    if run.met_at is not None:
        state, stopped_at = ClockState.MET, run.met_at
    elif open_ended:
        state, stopped_at = ClockState.RUNNING, None
    elif status in DONE:
        state, stopped_at = ClockState.STOPPED, run.segments[-1][1] if run.segments else run.started_at
    else:
        state, stopped_at = ClockState.PAUSED, None
    points = tuple(Point(name, amount, reach(calendar, run.segments, amount))
                   for name, amount in targets.points(target))
    due_at = points[-1].at
    breached = due_at is not None and due_at <= now
    return Clock(run.metric, run.cycle, state, target, run.started_at, stopped_at, elapsed,
                 (stopped_at or now) - run.started_at, due_at, breached, points)


def reach(calendar: BusinessCalendar, segments: Sequence[Segment], amount: timedelta) -> datetime | None:
    """When a clock that ran over ``segments`` passes ``amount`` of business time; None if it never will.

    The moment is the first one after which more than ``amount`` has run (``BusinessCalendar.add``), so a clock
    met with exactly its target left is not breached.
    """
    left = amount
    for start, end in segments:
        if end is None:
            return calendar.add(start, left)
        part = calendar.between(start, end)
        if left < part:
            return calendar.add(start, left)
        left -= part
    return None


def history_summary(clocks: Sequence[Clock]) -> Mapping[str, object]:
    """Figures for reports: response and resolution times in business and calendar time, and breach counts."""
    out: dict[str, object] = {"breaches": sum(1 for c in clocks if c.breached)}
    for clock in clocks:
        if clock.metric != Metric.NEXT_RESPONSE and clock.state == ClockState.MET:
            out[f"{clock.metric}_business_seconds"] = clock.elapsed.total_seconds()
            out[f"{clock.metric}_calendar_seconds"] = clock.calendar_elapsed.total_seconds()
    return out
