"""Business hours: is a moment inside the configured opening hours? Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursError(ValueError):
    """The hours settings cannot be read."""


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Open ``days`` (0 = Monday), from ``opens`` (minutes after midnight) until ``closes``, in ``zone``."""

    zone: ZoneInfo
    days: frozenset[int]
    opens: int
    closes: int

    @classmethod
    def parse(cls, timezone: str, days: tuple[str, ...], open_at: str, close_at: str) -> BusinessHours:
        """Read the settings; raise HoursError on a bad zone, day or time."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise HoursError(f"unknown time zone {timezone!r}") from None
        unknown = [d for d in days if d.lower() not in DAYS]
        if unknown:
            raise HoursError(f"unknown day(s) {unknown}; use {', '.join(DAYS)}")
        chosen = frozenset(DAYS.index(d.lower()) for d in days) if days else frozenset(range(7))
        return cls(zone, chosen, _minutes(open_at), _minutes(close_at))

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (timezone-aware) falls inside the opening hours."""
        local = at.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return local.weekday() in self.days and self.opens <= minute < self.closes


def _minutes(value: str) -> int:
    if value == "24:00":
        return 24 * 60
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise HoursError(f"not a time of day: {value!r} (use HH:MM)") from None
    return parsed.hour * 60 + parsed.minute
