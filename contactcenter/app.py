"""create_app: the only place that wires things together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy import text

from channels.base import ChannelRegistry
from channels.chat import routes as chat_routes
from channels.chat.sender import ChatSender
from channels.email.acknowledge import Acknowledger
from channels.email.inbox import MailIntake
from channels.email.listener import SmtpListener
from channels.email.sender import EmailSender
from channels.offline import OFFLINE_CHANNELS, OfflineSender
from channels.sms.routes import setup_sms
from channels.sms.sender import SmsSender
from channels.telegram.routes import setup_telegram
from channels.telegram.sender import TelegramSender
from channels.voice import api as voice_api
from channels.voice import routes as voice_routes
from channels.voice.sender import VoiceSender
from channels.webform import api as webform_api
from channels.webform import routes as webform_routes
from channels.webform.sender import PortalSender
from contactcenter.api import agents as agents_api
from contactcenter.api import console as console_api
from contactcenter.api import contacts as contacts_api
from contactcenter.api import customers as customers_api
from contactcenter.api import directory as directory_api
from contactcenter.api import invites as invites_api
from contactcenter.api import kb as kb_api
from contactcenter.api import messaging as messaging_api
from contactcenter.api import notifications as notifications_api
from contactcenter.api import privacy as privacy_api
from contactcenter.api import reports as reports_api
from contactcenter.api import routing as routing_api
from contactcenter.api import session as session_api
from contactcenter.api import sla as sla_api
from contactcenter.api import surveys as surveys_api
from contactcenter.api import tickets as tickets_api
from contactcenter.api import wallboard as wallboard_api
from contactcenter.api import webhooks as webhooks_api
from contactcenter.api.framework import Api, error_middleware, json_response
from contactcenter.cluster import EVENTS, SLA, ClusterHub, PgNotifier
from contactcenter.context import CTX, Context, Limits
from contactcenter.customers.mailer import MagicLinkMailer
from contactcenter.customers.routes import setup_customer_routes
from contactcenter.db.engine import Database
from contactcenter.db.migrate import upgrade
from contactcenter.delivery import DeliveryWorker
from contactcenter.events import ReplyQueued, TicketCreated
from contactcenter.hub import Hub, LocalHub
from contactcenter.intake_queue import IntakeQueue
from contactcenter.notifications import NotificationPusher
from contactcenter.ops.http import request_middleware, setup_ops
from contactcenter.ops.metrics import Metrics
from contactcenter.privacy.datakeys import check_master_key, keyring_from_settings
from contactcenter.privacy.service import RetentionJob
from contactcenter.ratelimit import Backoff, RateLimiter
from contactcenter.relay import Relay
from contactcenter.settings import Settings, secret_key
from contactcenter.sla.push import SlaPusher
from contactcenter.sla.service import SlaService
from contactcenter.storage import AttachmentStore
from contactcenter.supervision.push import WallboardPusher
from contactcenter.surveys.replies import SmsRatings
from contactcenter.surveys.worker import SurveyWorker
from contactcenter.web.help import setup_help
from contactcenter.web.live import ConsolePusher
from contactcenter.web.staff import setup_staff_pages
from contactcenter.web.survey import setup_survey_pages
from contactcenter.web.viewers import ViewersSync
from contactcenter.webhooks.service import Webhooks
from kb.autoanswer import AutoAnswerer, HoldSweeper
from kb.library import ArticleLibrary
from routing.push import OfferPusher
from routing.router import Router

log = logging.getLogger(__name__)

# Issue 8 (web interface, server side): wallboard, reports, surveys, customer sign-in.
UI_MODULES: tuple[Api, ...] = (wallboard_api.api, reports_api.api, surveys_api.api, customers_api.api)
API_MODULES: tuple[Api, ...] = (session_api.api, tickets_api.api, contacts_api.api, directory_api.api,
                                agents_api.api, routing_api.api, webform_api.api, voice_api.api,
                                kb_api.api, messaging_api.api, sla_api.api, privacy_api.api, notifications_api.api,
                                console_api.api, *UI_MODULES, webhooks_api.api, invites_api.api)

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@web.middleware
async def security_headers(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # 404, 405... raised by the router are answers too
        _secure(exc)
        raise
    _secure(response)
    return response


def _secure(response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CSP)


def build_context(settings: Settings) -> Context:
    db = Database(settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo,
                  keyring=keyring_from_settings(settings))
    relay = Relay(db, settings.relay)
    db.on_events_committed(relay.wake)
    notifier = None if db.is_sqlite else PgNotifier(settings.database_url)
    hub: Hub = LocalHub()
    if notifier is not None:  # several processes may share the database: wake and push across them
        db.on_events_committed(notifier.notify_events)
        notifier.on(EVENTS, lambda _: relay.wake())
        hub = ClusterHub(notifier)
    channels = ChannelRegistry()
    channels.register("webform", PortalSender())
    secret = secret_key(settings)
    channels.register("email", EmailSender(settings.email, secret))
    channels.register("chat", ChatSender(db, hub))
    channels.register("voice", VoiceSender())
    channels.register("sms", SmsSender(db, settings))
    channels.register("telegram", TelegramSender(settings))
    for name in OFFLINE_CHANNELS:
        channels.register(name, OfflineSender())
    wf, au, chat = settings.webform, settings.auth, settings.chat
    limits = Limits(
        login_ip=RateLimiter(au.login_attempts * 5, au.login_window_seconds),
        login_email=RateLimiter(au.login_attempts, au.login_window_seconds),
        webform_ip=RateLimiter(wf.rate_per_ip, wf.window_seconds),
        webform_address=RateLimiter(wf.rate_per_address, wf.window_seconds),
        chat_ip=RateLimiter(chat.rate_per_ip, chat.window_seconds),
        chat_visitor=RateLimiter(chat.rate_per_visitor, chat.window_seconds),
        login_backoff=Backoff(au.backoff_free_attempts, au.backoff_base_seconds, au.backoff_max_seconds),
        agent_sends=RateLimiter(settings.limits.agent_sends_per_minute, 60),
        invites=RateLimiter(settings.limits.invites_per_hour, 3600),
    )
    store = AttachmentStore(settings.data_path / "attachments", encrypt=True)
    metrics = Metrics(db) if settings.metrics.enabled else None
    ctx = Context(settings=settings, db=db, store=store, relay=relay, channels=channels, limits=limits,
                  secret=secret, intake=IntakeQueue(db, store, settings), hub=hub,
                  router=Router(db, settings.routing) if settings.routing.enabled else None,
                  sla=SlaService(db, settings.sla) if settings.sla.enabled else None, notifier=notifier,
                  metrics=metrics,
                  webhooks=Webhooks(db, settings.webhooks, metrics) if settings.webhooks.enabled else None,
                  kb=ArticleLibrary(settings.kb.embeddings, settings.kb.semantic_weight,
                                    tuned=settings.data_path / "kb"))  # written by `contactcenter kb tune`
    ctx.intake.sla = ctx.sla
    if ctx.sla is not None and notifier is not None:
        sla = ctx.sla
        sla.due_listeners.append(lambda due: notifier.notify(SLA, due.isoformat()))
        notifier.on(SLA, lambda payload: sla.wake_for(datetime.fromisoformat(payload)))
    setup_subscribers(ctx)
    return ctx


def setup_subscribers(ctx: Context) -> None:
    # Batch subscribers run in this order within a relay batch: automatic answers first (a ticket answered
    # from the knowledge base waits on the customer, so the router must not offer it), then offers (an
    # agent is waiting to be offered the ticket), then the SLA clocks.
    kb = ctx.settings.kb
    if any(kb.threshold(channel) <= 1 for channel in kb.auto_answer_channels):
        AutoAnswerer(ctx.db, ctx.kb, kb, ctx.settings.base_url, ctx.secret).subscribe(ctx.relay)
    if ctx.router is not None:
        ctx.router.subscribe(ctx.relay)
        OfferPusher(ctx.db, ctx.hub).subscribe(ctx.relay)
    if ctx.sla is not None:
        ctx.sla.subscribe(ctx.relay)
        SlaPusher(ctx.db, ctx.hub).subscribe(ctx.relay)
    NotificationPusher(ctx.db, ctx.hub).subscribe(ctx.relay)
    ConsolePusher(ctx.db, ctx.hub).subscribe(ctx.relay)  # ticket changes and mentions to the open consoles
    if ctx.metrics is not None:
        ctx.metrics.subscribe(ctx.relay)
    if ctx.webhooks is not None:
        ctx.webhooks.subscribe(ctx.relay)
    delivery = DeliveryWorker(ctx.db, ctx.channels, ctx.store)
    ctx.relay.subscribe(ReplyQueued.topic, "delivery", delivery.on_reply_queued, on_dead=delivery.on_gave_up)
    mail = ctx.settings.email
    sender = ctx.channels.sender("email")
    if mail.acknowledge and isinstance(sender, EmailSender):
        acknowledger = Acknowledger(ctx.db, sender, mail.acknowledge_per_sender, mail.acknowledge_window_seconds)
        ctx.relay.subscribe(TicketCreated.topic, "email-acknowledgement", acknowledger.on_ticket_created)
    setup_ui_subscribers(ctx)


# --- issue 8: wallboard push, surveys, customer sign-in -------------------------------------------------

def setup_ui_subscribers(ctx: Context) -> None:
    ctx.wallboard = WallboardPusher(ctx.db, ctx.hub, ctx.settings.wallboard.push_interval)
    ctx.wallboard.subscribe(ctx.relay)
    SurveyWorker(ctx.db, ctx.settings, ctx.secret).subscribe(ctx.relay)
    ctx.intake.takers.append(SmsRatings(ctx.db, ctx.settings.surveys).take)
    portal = ctx.settings.portal
    ctx.limits.magic_link_email = RateLimiter(portal.magic_link_per_email, portal.magic_link_window_seconds)
    ctx.limits.magic_link_ip = RateLimiter(portal.magic_link_per_ip, portal.magic_link_window_seconds)
    sender = ctx.channels.sender("email")
    if isinstance(sender, EmailSender):
        MagicLinkMailer(ctx.db, sender, ctx.settings.base_url, ctx.secret, portal.magic_link_minutes).subscribe(
            ctx.relay)


def setup_ui_pages(app: web.Application) -> None:
    """The survey page and the customers' sign-in link (after setup_webform: they use its templates)."""
    setup_survey_pages(app)
    setup_customer_routes(app)


async def ui_ctx(app: web.Application) -> AsyncIterator[None]:
    """Stops the wallboard's pending push at shutdown."""
    yield
    pusher = app[CTX].wallboard
    if pusher is not None:
        await pusher.close()

# ---------------------------------------------------------------------------------------------------------


def mail_intake(ctx: Context) -> MailIntake:
    """The e-mail channel's inbound path (SMTP listener, mailbox import and replay share it)."""
    return MailIntake(ctx.db, ctx.intake, ctx.settings.email, ctx.secret)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CTX]
    ctx.settings.data_path.mkdir(parents=True, exist_ok=True)
    await upgrade(ctx.db.engine)
    await check_master_key(ctx.db)
    ctx.db.start_checkpoints()
    yield
    await ctx.intake.wait_idle()
    await ctx.db.dispose()


async def cluster_ctx(app: web.Application) -> AsyncIterator[None]:
    """LISTEN/NOTIFY with the other server processes (PostgreSQL), from before the relay to after it."""
    ctx = app[CTX]
    if ctx.notifier is None:
        yield
        return
    await ctx.notifier.start()
    sync = ViewersSync(ctx.viewers, ctx.hub)  # who views which ticket, across processes
    if isinstance(ctx.hub, ClusterHub):
        await ctx.hub.start()
        sync.start()
    yield
    if isinstance(ctx.hub, ClusterHub):
        await sync.stop()
        await ctx.hub.stop()
    await ctx.notifier.stop()


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    relay = app[CTX].relay
    relay.start()
    yield
    try:
        await relay.stop()  # finish the batch in hand, then flush what was committed before shutdown
    except Exception:
        log.exception("outbox drain at shutdown failed; the events stay pending for the next start")


async def router_ctx(app: web.Application) -> AsyncIterator[None]:
    """The router's timer (expired offers, ended wrap-ups, overflow steps); events reach it through the relay."""
    router = app[CTX].router
    if router is None:
        yield
        return
    router.start()
    yield
    await router.stop()


async def sla_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SLA sweeper (fires warnings, breaches and escalation steps); clocks are recomputed from relay events."""
    sla = app[CTX].sla
    if sla is None:
        yield
        return
    sla.start()
    yield
    await sla.stop()


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """The retention job (closed tickets past [privacy] retention_days are anonymized or deleted)."""
    ctx = app[CTX]
    job = RetentionJob(ctx.db, ctx.store, ctx.settings.privacy)
    job.start()
    yield
    await job.stop()


async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    """The webhook sender: posts due deliveries until shutdown (what is left is sent after the next start)."""
    webhooks = app[CTX].webhooks
    if webhooks is None:
        yield
        return
    webhooks.sender.start()
    yield
    await webhooks.sender.stop()


async def kb_ctx(app: web.Application) -> AsyncIterator[None]:
    """The knowledge base's hold sweeper (answered tickets whose wait for the customer is over) and the
    background embedding of articles, stopped at shutdown."""
    ctx = app[CTX]
    sweeper = HoldSweeper(ctx.db, ctx.settings.kb) if ctx.settings.kb.answer_hold_seconds > 0 else None
    if sweeper is not None:
        sweeper.start()
    yield
    if sweeper is not None:
        await sweeper.stop()
    await ctx.kb.close()


async def smtp_ctx(app: web.Application) -> AsyncIterator[None]:
    """The SMTP listener, started after the database and stopped before it (mail in hand is finished)."""
    ctx = app[CTX]
    mail = ctx.settings.email
    listener = SmtpListener(mail_intake(ctx), mail, mail.hostname or mail.sender_address.rpartition("@")[2])
    await listener.start()
    ctx.smtp = listener
    yield
    await listener.stop()
    ctx.smtp = None


async def senders_ctx(app: web.Application) -> AsyncIterator[None]:
    """Senders that keep connections (twilio, Telegram) close them at shutdown."""
    yield
    registry = app[CTX].channels
    for name in registry.channels:
        close = getattr(registry.sender(name), "close", None)
        if close is not None:
            try:
                await close()
            except Exception:
                log.exception("closing the %s sender failed", name)


def setup_api(app: web.Application, modules: tuple[Api, ...]) -> None:
    combined = Api()
    for module in modules:
        module.setup(app)
        combined.operations.extend(module.operations)
    description = combined.openapi()

    async def openapi(_: web.Request) -> web.Response:
        return json_response(description)

    async def health(request: web.Request) -> web.Response:
        async with request.app[CTX].db.read() as session:
            await session.execute(text("SELECT 1"))
        return json_response({"status": "ok"})

    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/health", health)


def create_app(settings: Settings, *, context: Context | None = None, relay: bool = True) -> web.Application:
    """The aiohttp application: API, web form and portal, with the database, relay and workers as resources."""
    ctx = context or build_context(settings)
    app = web.Application(client_max_size=settings.server.max_body_bytes,
                          middlewares=[request_middleware(ctx.metrics, settings.logging.access), security_headers,
                                       error_middleware])
    app[CTX] = ctx
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(senders_ctx)  # closed after the relay stopped (cleanup runs in reverse)
    app.cleanup_ctx.append(cluster_ctx)
    app.cleanup_ctx.append(ui_ctx)
    if relay and settings.relay.enabled:
        app.cleanup_ctx.append(relay_ctx)
        app.cleanup_ctx.append(router_ctx)
        app.cleanup_ctx.append(sla_ctx)
        app.cleanup_ctx.append(retention_ctx)
        app.cleanup_ctx.append(webhooks_ctx)
        app.cleanup_ctx.append(kb_ctx)
    if settings.email.enabled:
        app.cleanup_ctx.append(smtp_ctx)
    setup_api(app, API_MODULES)
    setup_ops(app, ctx.metrics)
    webform_routes.setup_webform(app)
    setup_help(app)
    setup_staff_pages(app)  # /console, /wallboard, /reports, /my (after the web form: it owns the templates)
    setup_ui_pages(app)
    chat_routes.setup_chat(app)
    voice_routes.setup_voice(app)
    setup_sms(app)
    setup_telegram(app)
    return app
