"""The supervisors' wallboard: one snapshot; ``wallboard.changed`` frames on the agent socket say when to refetch."""

from __future__ import annotations

from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.wallboard import WallboardOut
from contactcenter.domain.enums import Role
from contactcenter.supervision.wallboard import snapshot

api = Api()


@api.route("GET", "/wallboard", summary="Queues, agents, SLA clocks at risk and breached, now", tag="reports",
           role=Role.SUPERVISOR, response=WallboardOut)
async def wallboard(req: ApiRequest) -> WallboardOut:
    async with req.ctx.db.read() as session:
        return WallboardOut.model_validate(await snapshot(session, req.ctx.settings.routing))
