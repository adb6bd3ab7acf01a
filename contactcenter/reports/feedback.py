"""What customers said: satisfaction surveys and self-service ("did this help?") answers."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contactcenter.db.models import AuditEvent, KbDeflection, Survey, Ticket, User
from contactcenter.reports.table import Column, Range, Report, ratio
from contactcenter.reports.table import pairs as _pairs

RATINGS = (1, 2, 3, 4, 5)


def _group(ratings: list[int]) -> dict[str, object]:
    return {"responses": len(ratings), "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
            **{f"r{n}": ratings.count(n) for n in RATINGS}}


def satisfaction(session: Session, span: Range) -> Report:
    """Survey answers given in the range (by ``answered_at``, the latest answer), by channel and by agent (the
    ticket's assignee when it was solved); ``sent`` counts surveys sent in the range."""
    rows = session.execute(select(Survey.channel, Survey.user_id, Survey.rating, User.name)
                           .outerjoin(User, User.id == Survey.user_id)
                           .where(Survey.answered_at >= span.start, Survey.answered_at < span.end,
                                  Survey.rating.is_not(None))).all()
    sent = session.scalar(select(func.count()).select_from(Survey)
                          .where(Survey.sent_at >= span.start, Survey.sent_at < span.end)) or 0
    groups: dict[tuple[str, str, int | None], list[int]] = defaultdict(list)
    for channel, user_id, rating, name in rows:
        assert rating is not None
        groups[("channel", channel, None)].append(rating)
        groups[("agent", name or "(unassigned)", user_id)].append(rating)
    report = Report("satisfaction", [Column("dimension", "By", "string"), Column("name", "Name", "string"),
                                     Column("agent_id", "Agent id"), Column("responses", "Responses"),
                                     Column("average", "Average (1-5)", "number"),
                                     *[Column(f"r{n}", f"Rated {n}") for n in RATINGS]])
    for (dimension, name, user_id), ratings in sorted(groups.items(), key=lambda g: (g[0][0] != "channel",
                                                                                       g[0][1], g[0][2] or 0)):
        report.rows.append({"dimension": dimension, "name": name, "agent_id": user_id, **_group(ratings)})
    everything = [int(r.rating) for r in rows]
    report.summary = {**_group(everything), "sent": sent, "response_rate": ratio(len(everything), sent),
                      "distribution": {str(n): everything.count(n) for n in RATINGS}}
    return report


def deflection(session: Session, span: Range) -> Report:
    """Per channel: articles offered by the automatic answer to new tickets (``kb.auto_answered`` audit rows),
    answers to "did this help?" (``kb_deflections``: after an automatic answer, on help pages, in the contact
    form), how many said helpful, and helpful / answers. Suggestions shown while a customer types are not
    recorded as offered: only their answers count."""
    offered = _pairs(session.execute(
        select(Ticket.channel, func.count()).join(AuditEvent, AuditEvent.ticket_id == Ticket.id)
        .where(AuditEvent.action == "kb.auto_answered", AuditEvent.created_at >= span.start,
               AuditEvent.created_at < span.end).group_by(Ticket.channel)))
    answers: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for channel, said_helpful, n in session.execute(
            select(KbDeflection.channel, KbDeflection.helpful, func.count())
            .where(KbDeflection.created_at >= span.start, KbDeflection.created_at < span.end)
            .group_by(KbDeflection.channel, KbDeflection.helpful)):
        answers[str(channel)][0 if said_helpful else 1] += int(n)
    report = Report("deflection", [Column("channel", "Channel", "string"), Column("offered", "Answers offered"),
                                   Column("answers", "Did this help? answers"), Column("helpful", "Helpful"),
                                   Column("not_helpful", "Not helpful"), Column("rate", "Helpful rate", "ratio")])
    for channel in sorted(set(offered) | set(answers)):
        yes, no = answers.get(channel, [0, 0])
        report.rows.append({"channel": channel, "offered": int(offered.get(channel, 0)),
                            "answers": yes + no, "helpful": yes, "not_helpful": no, "rate": ratio(yes, yes + no)})
    total = {k: sum(int(r[k]) for r in report.rows) for k in ("offered", "answers", "helpful", "not_helpful")}
    report.summary = {**total, "rate": ratio(total["helpful"], total["answers"])}
    return report
