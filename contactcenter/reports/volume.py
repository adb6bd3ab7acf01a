"""Ticket volume by channel and hour of day, and response and resolution times by channel."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from contactcenter.db.models import Message, SlaTicket, Ticket
from contactcenter.domain.enums import AuthorKind, Direction
from contactcenter.reports.table import Column, Range, Report, stats
from contactcenter.reports.table import pairs as _pairs


def in_range(span: Range) -> list[ColumnElement[bool]]:
    """Tickets created in the range, not merged away (the index on tickets.created_at reads the range)."""
    return [Ticket.created_at >= span.start, Ticket.created_at < span.end, Ticket.merged_into_id.is_(None)]


def volume(session: Session, span: Range) -> Report:
    """Tickets created per channel and local hour of day (0-23); every hour of a channel with tickets is a row."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * 24)
    for channel, created in session.execute(select(Ticket.channel, Ticket.created_at).where(*in_range(span))):
        counts[channel][span.local(created).hour] += 1
    report = Report("volume", [Column("channel", "Channel", "string"), Column("hour", "Hour of day"),
                               Column("tickets", "Tickets")])
    for channel in sorted(counts):
        report.rows.extend({"channel": channel, "hour": hour, "tickets": n} for hour, n in enumerate(counts[channel]))
    by_hour = [sum(c[h] for c in counts.values()) for h in range(24)]
    report.summary = {"tickets": sum(by_hour), "by_channel": {c: sum(v) for c, v in sorted(counts.items())},
                      "by_hour": by_hour}
    return report


TIME_COLUMNS = [Column("channel", "Channel", "string"), Column("metric", "Metric", "string"),
                Column("time", "Clock", "string"), Column("count", "Tickets measured"),
                Column("median", "Median", "seconds"), Column("p90", "90th percentile", "seconds"),
                Column("mean", "Mean", "seconds")]
METRICS = ("first_response", "resolution")


def response_times(session: Session, span: Range) -> Report:
    """First response and resolution times of tickets created in the range, per channel and for all.

    Business seconds come from the SLA engine's figures (``sla_tickets``), so only tickets with a policy have
    them. Calendar seconds too, and for tickets without SLA figures: the first public agent reply's time after
    creation, and ``solved_at`` minus creation for solved tickets.
    """
    in_span = select(Ticket.id).where(*in_range(span)).scalar_subquery()
    first_reply = _pairs(session.execute(
        select(Message.ticket_id, func.min(Message.created_at))
        .where(Message.ticket_id.in_(in_span), Message.direction == Direction.OUTBOUND,
               Message.author_kind == AuthorKind.AGENT, Message.internal.is_(False))
        .group_by(Message.ticket_id)))
    rows = session.execute(
        select(Ticket.id, Ticket.channel, Ticket.created_at, Ticket.solved_at,
               SlaTicket.first_response_business_seconds, SlaTicket.first_response_calendar_seconds,
               SlaTicket.resolution_business_seconds, SlaTicket.resolution_calendar_seconds)
        .outerjoin(SlaTicket, SlaTicket.ticket_id == Ticket.id).where(*in_range(span))).all()
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in rows:
        replied = first_reply.get(r.id)
        figures = {
            ("first_response", "business"): r.first_response_business_seconds,
            ("first_response", "calendar"): r.first_response_calendar_seconds if r.first_response_calendar_seconds
            is not None else (max(0.0, (replied - r.created_at).total_seconds()) if replied else None),
            ("resolution", "business"): r.resolution_business_seconds,
            ("resolution", "calendar"): r.resolution_calendar_seconds if r.resolution_calendar_seconds
            is not None else (max(0.0, (r.solved_at - r.created_at).total_seconds()) if r.solved_at else None),
        }
        for (metric, clock), value in figures.items():
            if value is not None:
                values[(r.channel, metric, clock)].append(float(value))
                values[("all", metric, clock)].append(float(value))
    report = Report("response-times", TIME_COLUMNS)
    channels = [*sorted({r.channel for r in rows}), "all"]
    for channel in channels:
        for metric in METRICS:
            for clock in ("business", "calendar"):
                report.rows.append({"channel": channel, "metric": metric, "time": clock,
                                    **stats(values.get((channel, metric, clock), []))})
    report.summary = {"tickets": len(rows), **{f"{m}_{c}": stats(values.get(("all", m, c), []))
                                               for m in METRICS for c in ("business", "calendar")}}
    return report
