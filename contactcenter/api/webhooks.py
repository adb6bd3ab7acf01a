"""Admin API for outbound webhooks: register endpoints, see and re-send their deliveries."""

from __future__ import annotations

from sqlalchemy import select

from contactcenter.actions import webhooks as actions
from contactcenter.api.framework import Api, ApiRequest
from contactcenter.api.schemas.webhooks import DeliveryOut, EventKindsOut, WebhookIn, WebhookOut, WebhookPatch
from contactcenter.db.models import WebhookDelivery, WebhookEndpoint
from contactcenter.domain.enums import Role
from contactcenter.errors import Conflict, NotFound
from contactcenter.events import EVENT_TYPES
from contactcenter.webhooks.guard import Network

api = Api()
TAG = "webhooks"


def webhook_out(endpoint: WebhookEndpoint, secret: str | None = None) -> WebhookOut:
    return WebhookOut(id=endpoint.id, url=endpoint.url, events=list(endpoint.events), description=endpoint.description,
                      is_active=endpoint.is_active, created_at=endpoint.created_at, secret=secret)


def delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(id=d.id, uid=d.uid, topic=d.topic, status=d.status, attempts=d.attempts,
                       next_attempt_at=d.next_attempt_at, last_status_code=d.last_status_code,
                       last_error=d.last_error, created_at=d.created_at, delivered_at=d.delivered_at)


def _allowed(req: ApiRequest) -> tuple[Network, ...]:
    if req.ctx.webhooks is None:
        raise Conflict("webhooks are turned off ([webhooks] enabled = false)")
    return req.ctx.webhooks.allowed


def _changed(req: ApiRequest) -> None:
    if req.ctx.webhooks is not None:
        req.ctx.webhooks.endpoints_changed()


@api.route("GET", "/webhook-events", summary="The event kinds an endpoint can ask for", tag=TAG, role=Role.ADMIN,
           response=EventKindsOut)
async def event_kinds(_: ApiRequest) -> EventKindsOut:
    return EventKindsOut(events=sorted(EVENT_TYPES))


@api.route("GET", "/webhooks", summary="Registered webhook endpoints (never their secrets)", tag=TAG,
           role=Role.ADMIN, response=WebhookOut, list_response=True)
async def list_webhooks(req: ApiRequest) -> list[WebhookOut]:
    async with req.ctx.db.read() as session:
        rows = (await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))).all()
    return [webhook_out(e) for e in rows]


@api.route("POST", "/webhooks", summary="Register an endpoint; the signing secret is in this answer only", tag=TAG,
           role=Role.ADMIN, body=WebhookIn, response=WebhookOut, status=201, responses={409: "webhooks are off"})
async def create_webhook(req: ApiRequest) -> WebhookOut:
    body: WebhookIn = req.body
    allowed = _allowed(req)
    async with req.ctx.db.write() as session:
        endpoint = await actions.do_create_webhook(session, url=body.url, events=body.events,
                                                   description=body.description, secret=body.secret,
                                                   allowed=allowed, actor=req.actor)
    _changed(req)
    return webhook_out(endpoint, endpoint.secret)


@api.route("GET", "/webhooks/{id}", summary="One webhook endpoint", tag=TAG, role=Role.ADMIN, response=WebhookOut)
async def get_webhook(req: ApiRequest) -> WebhookOut:
    async with req.ctx.db.read() as session:
        endpoint = await session.get(WebhookEndpoint, req.path_id())
    if endpoint is None:
        raise NotFound("no such webhook")
    return webhook_out(endpoint)


@api.route("PATCH", "/webhooks/{id}", summary="Change an endpoint's URL, events, description or active flag",
           tag=TAG, role=Role.ADMIN, body=WebhookPatch, response=WebhookOut, responses={409: "webhooks are off"})
async def update_webhook(req: ApiRequest) -> WebhookOut:
    body: WebhookPatch = req.body
    allowed = _allowed(req)
    async with req.ctx.db.write() as session:
        endpoint = await actions.do_update_webhook(session, req.path_id(), url=body.url, events=body.events,
                                                   description=body.description, is_active=body.is_active,
                                                   allowed=allowed, actor=req.actor)
    _changed(req)
    return webhook_out(endpoint)


@api.route("DELETE", "/webhooks/{id}", summary="Remove an endpoint and its deliveries", tag=TAG, role=Role.ADMIN)
async def delete_webhook(req: ApiRequest) -> dict[str, bool]:
    async with req.ctx.db.write() as session:
        await actions.do_delete_webhook(session, req.path_id(), actor=req.actor)
    _changed(req)
    return {"ok": True}


@api.route("GET", "/webhooks/{id}/deliveries", summary="An endpoint's newest 100 deliveries", tag=TAG,
           role=Role.ADMIN, response=DeliveryOut, list_response=True)
async def list_deliveries(req: ApiRequest) -> list[DeliveryOut]:
    endpoint_id = req.path_id()
    async with req.ctx.db.read() as session:
        if await session.get(WebhookEndpoint, endpoint_id) is None:
            raise NotFound("no such webhook")
        rows = (await session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
                                      .order_by(WebhookDelivery.id.desc()).limit(100))).all()
    return [delivery_out(d) for d in rows]


@api.route("POST", "/webhook-deliveries/{id}/retry", summary="Send a dead delivery again", tag=TAG,
           role=Role.ADMIN, response=DeliveryOut, responses={409: "the delivery is not dead"})
async def retry_delivery(req: ApiRequest) -> DeliveryOut:
    async with req.ctx.db.write() as session:
        delivery = await actions.do_retry_delivery(session, req.path_id(), actor=req.actor)
    _changed(req)
    return delivery_out(delivery)
