"""The webhook parts a running server holds: the fan-out subscriber and the sender."""

from __future__ import annotations

from contactcenter.db.engine import Database
from contactcenter.ops.metrics import Metrics
from contactcenter.relay import Relay
from contactcenter.settings import WebhookSettings
from contactcenter.webhooks.fanout import WebhookFanout
from contactcenter.webhooks.guard import Network, networks
from contactcenter.webhooks.sender import WebhookSender


class Webhooks:
    def __init__(self, db: Database, settings: WebhookSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.allowed: tuple[Network, ...] = networks(settings.allow_private)
        self.sender = WebhookSender(db, settings, metrics)
        self.fanout = WebhookFanout(db, self.sender.wake)

    def subscribe(self, relay: Relay) -> None:
        self.fanout.subscribe(relay)

    def endpoints_changed(self) -> None:
        self.fanout.forget_endpoints()
        self.sender.wake()
