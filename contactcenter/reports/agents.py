"""Per-agent figures over the tickets created in the range."""

from __future__ import annotations

from collections import defaultdict
from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contactcenter.db.models import Message, SlaTicket, Survey, Ticket, User
from contactcenter.domain.enums import AuthorKind, Direction
from contactcenter.reports.table import Column, Range, Report
from contactcenter.reports.table import pairs as _pairs
from contactcenter.reports.volume import in_range

SOLVED = ("solved", "closed")


def _median(values: list[int]) -> float | None:
    return round(float(median(values)), 1) if values else None


def agents(session: Session, span: Range) -> Report:
    """For each staff member: tickets created in the range assigned to them now (handled) and how many of those
    are solved, their public replies on tickets created in the range, the medians of those tickets' first
    response and resolution (SLA figures, calendar and business seconds), and survey answers given in the range
    on tickets they had when solved."""
    in_span = select(Ticket.id).where(*in_range(span)).scalar_subquery()
    replies = _pairs(session.execute(
        select(Message.user_id, func.count()).where(
            Message.ticket_id.in_(in_span), Message.direction == Direction.OUTBOUND,
            Message.author_kind == AuthorKind.AGENT, Message.internal.is_(False), Message.user_id.is_not(None))
        .group_by(Message.user_id)))
    figures: dict[int, dict[str, Any]] = defaultdict(lambda: {"tickets": 0, "solved": 0, "fr": [], "frb": [],
                                                               "res": [], "resb": []})
    for r in session.execute(
            select(Ticket.assignee_id, Ticket.status, SlaTicket.first_response_calendar_seconds,
                   SlaTicket.first_response_business_seconds, SlaTicket.resolution_calendar_seconds,
                   SlaTicket.resolution_business_seconds)
            .outerjoin(SlaTicket, SlaTicket.ticket_id == Ticket.id)
            .where(*in_range(span), Ticket.assignee_id.is_not(None))):
        f = figures[r.assignee_id]
        f["tickets"] += 1
        f["solved"] += r.status in SOLVED
        for key, value in (("fr", r.first_response_calendar_seconds), ("frb", r.first_response_business_seconds),
                           ("res", r.resolution_calendar_seconds), ("resb", r.resolution_business_seconds)):
            if value is not None:
                f[key].append(value)
    ratings: dict[int, list[int]] = defaultdict(list)
    for user_id, rating in session.execute(
            select(Survey.user_id, Survey.rating).where(Survey.answered_at >= span.start,
                                                        Survey.answered_at < span.end,
                                                        Survey.user_id.is_not(None), Survey.rating.is_not(None))):
        if user_id is not None and rating is not None:
            ratings[user_id].append(rating)
    ids = set(figures) | set(replies) | set(ratings)
    users = session.execute(select(User.id, User.name).where(User.id.in_(ids))).all() if ids else []
    report = Report("agents", [
        Column("agent_id", "Agent id"), Column("name", "Agent", "string"), Column("tickets", "Tickets handled"),
        Column("solved", "Solved"), Column("replies", "Replies"),
        Column("median_first_response", "Median first response", "seconds"),
        Column("median_first_response_business", "Median first response (business)", "seconds"),
        Column("median_resolution", "Median resolution", "seconds"),
        Column("median_resolution_business", "Median resolution (business)", "seconds"),
        Column("satisfaction_responses", "Survey answers"),
        Column("satisfaction_average", "Satisfaction (1-5)", "number")])
    for user_id, name in sorted(users, key=lambda u: (u.name, u.id)):
        f = figures[user_id]
        rated = ratings.get(user_id, [])
        report.rows.append({
            "agent_id": user_id, "name": name, "tickets": f["tickets"], "solved": f["solved"],
            "replies": int(replies.get(user_id, 0)), "median_first_response": _median(f["fr"]),
            "median_first_response_business": _median(f["frb"]), "median_resolution": _median(f["res"]),
            "median_resolution_business": _median(f["resb"]), "satisfaction_responses": len(rated),
            "satisfaction_average": round(sum(rated) / len(rated), 2) if rated else None})
    report.summary = {"agents": len(report.rows), "tickets": sum(r["tickets"] for r in report.rows),
                      "replies": sum(r["replies"] for r in report.rows)}
    return report
