"""The ticket status state machine."""

from __future__ import annotations

from contactcenter.domain.enums import TicketStatus as S

ALLOWED: dict[S, frozenset[S]] = {
    S.NEW: frozenset({S.OPEN, S.PENDING, S.ON_HOLD, S.SOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.PENDING, S.ON_HOLD, S.SOLVED, S.CLOSED}),
    S.PENDING: frozenset({S.OPEN, S.ON_HOLD, S.SOLVED, S.CLOSED}),
    S.ON_HOLD: frozenset({S.OPEN, S.PENDING, S.SOLVED, S.CLOSED}),
    S.SOLVED: frozenset({S.OPEN, S.CLOSED}),
    S.CLOSED: frozenset(),
}

ACTIVE: frozenset[S] = frozenset({S.NEW, S.OPEN, S.PENDING, S.ON_HOLD})
# Statuses in which a ticket needs an agent's work: it waits in a queue, or counts against its
# assignee's capacity (pending and on-hold tickets wait on someone else). Keep in step with
# db.models.WAITING_SQL.
ROUTABLE: frozenset[S] = frozenset({S.NEW, S.OPEN})


class TransitionError(ValueError):
    """A status change the lifecycle does not allow."""


def check_transition(current: S, target: S) -> None:
    """Raise TransitionError unless ``current -> target`` is allowed (staying put is always allowed)."""
    if current != target and target not in ALLOWED[current]:
        allowed = ", ".join(sorted(ALLOWED[current])) or "none (closed tickets are final)"
        raise TransitionError(f"cannot change status from {current} to {target}; allowed: {allowed}")


def status_after_customer_message(current: S) -> S:
    """A customer writing moves a waiting ticket back to open; new tickets stay new."""
    return S.NEW if current == S.NEW else S.OPEN
