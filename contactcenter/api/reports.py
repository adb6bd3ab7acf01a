"""Supervisor reports: ``GET /reports`` lists them, ``GET /reports/{name}`` computes one (JSON or CSV)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.reports import MAX_DAYS, ReportInfo, ReportOut, ReportQuery
from contactcenter.domain.enums import Role
from contactcenter.errors import Invalid, NotFound
from contactcenter.reports.catalog import REPORTS
from contactcenter.reports.table import Range

api = Api()


def report_range(query: ReportQuery, default_tz: str) -> Range:
    tz = query.tz or default_tz
    until = query.until or (query.since + timedelta(days=29) if query.since else
                            datetime.now(ZoneInfo(tz)).date())
    since = query.since or until - timedelta(days=29)
    if since > until or (until - since).days >= MAX_DAYS:
        raise Invalid(f"since must not be after until, and a report covers at most {MAX_DAYS} days")
    return Range(since, until, tz)


@api.route("GET", "/reports", summary="The reports there are", tag="reports", role=Role.SUPERVISOR,
           response=ReportInfo, list_response=True)
async def list_reports(_: ApiRequest) -> list[ReportInfo]:
    return [ReportInfo(name=e.name, title=e.title, path=f"/api/v1/reports/{e.name}") for e in REPORTS.values()]


@api.route("GET", "/reports/{name}", summary="One report over a date range: columns, rows, summary (or CSV)",
           tag="reports", role=Role.SUPERVISOR, query=ReportQuery, response=ReportOut,
           responses={404: "no report of that name"})
async def one_report(req: ApiRequest) -> ReportOut | web.Response:
    name = req.request.match_info["name"]
    entry = REPORTS.get(name)
    if entry is None:
        raise NotFound(f"no report {name[:40]!r}; see GET /api/v1/reports")
    query: ReportQuery = req.query
    span = report_range(query, req.ctx.settings.hours.timezone)
    async with req.ctx.db.read() as session:
        report = await session.run_sync(lambda sync: entry.build(sync, span))
    if query.format == "csv":
        filename = f"{name}-{span.since.isoformat()}-{span.until.isoformat()}.csv"
        return web.Response(text=report.csv(), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                     "Cache-Control": "no-store"})
    return ReportOut.model_validate(report.out(span))
