"""Offers pushed live to the agent console, and "away" when the console goes.

The agents' WebSocket (``channels/chat/agent_socket.py``, ``/chat/agent/ws``) subscribes each connection
to the hub topic ``agent:<user id>``. ``OfferPusher`` publishes there every offer made to the agent
and its outcome. When the agent's last connection to this process closes while they are available,
``console_closed`` sets them away, so the router stops offering them work.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from contactcenter.actions.agents import do_set_presence
from contactcenter.actions.audit import SYSTEM
from contactcenter.db.engine import Database
from contactcenter.db.models import Offer, User
from contactcenter.domain.enums import OfferStatus, Presence
from contactcenter.events import Event, OfferDecided, OfferMade
from contactcenter.hub import Hub
from contactcenter.relay import Relay

log = logging.getLogger(__name__)


def agent_topic(user_id: int) -> str:
    return f"agent:{user_id}"


def offer_frame(offer: Offer) -> dict[str, Any]:
    """An offer as the console receives it."""
    return {"type": "offer", "offer_id": offer.id, "ticket_id": offer.ticket_id, "status": offer.status,
            "ring": offer.ring, "expires_at": offer.expires_at.isoformat() if offer.expires_at else None,
            "reason": offer.reason}


async def pending_offers(db: Database, user_id: int) -> list[dict[str, Any]]:
    async with db.read() as session:
        offers = (await session.scalars(select(Offer).where(
            Offer.user_id == user_id, Offer.status == OfferStatus.PENDING).order_by(Offer.id))).all()
    return [offer_frame(o) for o in offers]


class OfferPusher:
    """Relay subscriber: offers and their outcomes to the agents' open consoles."""

    def __init__(self, db: Database, hub: Hub) -> None:
        self.db = db
        self.hub = hub

    def subscribe(self, relay: Relay) -> None:
        relay.subscribe_batch((OfferMade.topic, OfferDecided.topic), "offer-push", self.on_events)

    async def on_events(self, events: list[Event]) -> None:
        wanted = [e for e in events if isinstance(e, OfferMade | OfferDecided)
                  and self.hub.listeners(agent_topic(e.user_id))]
        if not wanted:
            return
        async with self.db.read() as session:
            offers = {o.id: o for o in (await session.scalars(
                select(Offer).where(Offer.id.in_({e.offer_id for e in wanted})))).all()}
        for event in wanted:
            if (offer := offers.get(event.offer_id)) is not None:
                frame = offer_frame(offer) if isinstance(event, OfferMade) else {
                    **offer_frame(offer), "type": "offer.decided"}
                await self.hub.publish(agent_topic(event.user_id), frame)


async def console_closed(db: Database, hub: Hub, user_id: int) -> None:
    """The agent's console connection closed: away, unless another one is still open or they are not available."""
    if hub.listeners(agent_topic(user_id)):
        return
    try:
        async with db.write() as session:
            user = await session.get(User, user_id)
            if user is not None and user.is_active and user.presence == Presence.AVAILABLE:
                await do_set_presence(session, user_id, Presence.AWAY, actor=SYSTEM)
    except Exception:  # e.g. the database is down: presence stays, the router checks it before every offer
        log.exception("could not set agent %s away after the console closed", user_id)
