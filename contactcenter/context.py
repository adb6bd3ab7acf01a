"""The long-lived parts of a running server, kept under one typed AppKey."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from channels.base import ChannelRegistry
from channels.email.listener import SmtpListener
from contactcenter.cluster import PgNotifier
from contactcenter.db.engine import Database
from contactcenter.hub import Hub, LocalHub
from contactcenter.intake_queue import IntakeQueue
from contactcenter.ops.metrics import Metrics
from contactcenter.ratelimit import Backoff, RateLimiter
from contactcenter.relay import Relay
from contactcenter.settings import Settings
from contactcenter.sla.service import SlaService
from contactcenter.storage import AttachmentStore
from contactcenter.supervision.push import WallboardPusher
from contactcenter.web.viewers import Viewers
from contactcenter.webhooks.service import Webhooks
from kb.library import ArticleLibrary
from routing.router import Router


@dataclass
class Limits:
    login_ip: RateLimiter
    login_email: RateLimiter
    webform_ip: RateLimiter
    webform_address: RateLimiter
    chat_ip: RateLimiter = field(default_factory=lambda: RateLimiter(0, 60))
    chat_visitor: RateLimiter = field(default_factory=lambda: RateLimiter(0, 60))
    kb_feedback_ip: RateLimiter = field(default_factory=lambda: RateLimiter(30, 60))  # "did this help?" answers
    magic_link_email: RateLimiter = field(default_factory=lambda: RateLimiter(3, 3600))  # portal sign-in links
    magic_link_ip: RateLimiter = field(default_factory=lambda: RateLimiter(20, 3600))
    login_backoff: Backoff = field(default_factory=lambda: Backoff(3, 1.0, 300.0))  # per e-mail
    agent_sends: RateLimiter = field(default_factory=lambda: RateLimiter(0, 60))  # e-mail/SMS replies per agent
    invites: RateLimiter = field(default_factory=lambda: RateLimiter(0, 3600))  # invitations per admin


@dataclass
class Context:
    settings: Settings
    db: Database
    store: AttachmentStore
    relay: Relay
    channels: ChannelRegistry
    limits: Limits
    secret: bytes
    intake: IntakeQueue
    hub: Hub = field(default_factory=LocalHub)  # live push to open WebSockets (chat)
    smtp: SmtpListener | None = None  # the e-mail listener, once started (its port is known then)
    router: Router | None = None  # None when routing is turned off
    kb: ArticleLibrary = field(default_factory=ArticleLibrary)  # cached article rankers
    sla: SlaService | None = None  # None when the SLA engine is turned off
    notifier: PgNotifier | None = None  # LISTEN/NOTIFY between server processes (PostgreSQL only)
    wallboard: WallboardPusher | None = None  # wallboard.changed frames to supervisors (set by setup_subscribers)
    viewers: Viewers = field(default_factory=Viewers)  # who has which ticket open in the console (collisions)
    metrics: Metrics | None = None  # None when [metrics] enabled = false
    webhooks: Webhooks | None = None  # None when [webhooks] enabled = false


CTX = web.AppKey("ctx", Context)
