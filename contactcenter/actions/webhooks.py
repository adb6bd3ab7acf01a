"""Webhook endpoints: register, change, remove; re-send a dead delivery. Admins only (checked by the API)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from contactcenter.actions.audit import Actor, record
from contactcenter.db.models import WebhookDelivery, WebhookEndpoint
from contactcenter.db.types import utcnow
from contactcenter.errors import Conflict, Invalid, NotFound
from contactcenter.events import EVENT_TYPES
from contactcenter.webhooks.guard import Network, UnsafeTarget, check_url

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def _checked(url: str, allowed: Sequence[Network]) -> str:
    try:
        return str(check_url(url, allowed))
    except UnsafeTarget as exc:
        raise Invalid(f"url: {exc}") from None


def _kinds(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise Invalid(f"events: unknown event kind(s) {', '.join(unknown)}; known: {', '.join(sorted(EVENT_TYPES))}")
    return sorted(set(events))


async def do_create_webhook(session: AsyncSession, *, url: str, events: Sequence[str], description: str,
                            secret: str | None, allowed: Sequence[Network], actor: Actor) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(url=_checked(url, allowed), events=_kinds(events), description=description,
                               secret=secret or SECRET_PREFIX + secrets.token_urlsafe(32), is_active=True,
                               created_by=actor.id)
    session.add(endpoint)
    await session.flush()
    record(session, actor, "webhook.created", "webhook", endpoint.id, {"url": endpoint.url, "events": endpoint.events})
    return endpoint


async def _endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook {endpoint_id} not found")
    return endpoint


async def do_update_webhook(session: AsyncSession, endpoint_id: int, *, url: str | None = None,
                            events: Sequence[str] | None = None, description: str | None = None,
                            is_active: bool | None = None, allowed: Sequence[Network],
                            actor: Actor) -> WebhookEndpoint:
    endpoint = await _endpoint(session, endpoint_id)
    changes: dict[str, object] = {}
    if url is not None and url != endpoint.url:
        endpoint.url = changes["url"] = _checked(url, allowed)
    if events is not None:
        kinds = _kinds(events)
        if kinds != endpoint.events:
            endpoint.events = changes["events"] = kinds
    if description is not None and description != endpoint.description:
        endpoint.description = changes["description"] = description
    if is_active is not None and is_active != endpoint.is_active:
        endpoint.is_active = changes["is_active"] = is_active
    if changes:
        record(session, actor, "webhook.updated", "webhook", endpoint.id, changes)
    return endpoint


async def do_delete_webhook(session: AsyncSession, endpoint_id: int, *, actor: Actor) -> None:
    endpoint = await _endpoint(session, endpoint_id)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    await session.delete(endpoint)
    record(session, actor, "webhook.deleted", "webhook", endpoint_id, {"url": endpoint.url})


async def do_retry_delivery(session: AsyncSession, delivery_id: int, *, actor: Actor) -> WebhookDelivery:
    """Send a dead delivery again (from a fresh count of attempts)."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found")
    if delivery.status != "dead":
        raise Conflict(f"delivery {delivery_id} is {delivery.status}, not dead")
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, utcnow()
    record(session, actor, "webhook.delivery_retried", "webhook", delivery.endpoint_id, {"delivery_id": delivery_id})
    return delivery
