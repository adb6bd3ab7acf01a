"""Replies on SMS tickets: sent through the twilio client (async), never to an opted-out number."""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar
from types import SimpleNamespace

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.base import MaybeSent, OutboundMessage, Receipt
from channels.sms.parse import CHANNEL
from channels.sms.routes import STATUS_PATH
from contactcenter.actions.channel_events import is_opted_out
from contactcenter.db.engine import Database
from contactcenter.domain.enums import DeliveryStatus, IdentityKind
from contactcenter.settings import Settings

log = logging.getLogger(__name__)
MAX_SMS_TEXT = 1600  # Twilio refuses longer bodies
_REQUEST_SENT: ContextVar[list[bool] | None] = ContextVar("twilio_request_sent", default=None)


async def _request_sent(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, _params: object) -> None:
    """aiohttp trace hook, run in the sending task: the request's body went out on the connection."""
    sent = _REQUEST_SENT.get()
    if sent is not None:
        sent.append(True)


def _tracing() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(_request_sent)
    return trace


class SmsSender:
    """Sends one SMS per reply. A refusal by Twilio (4xx) is a failed delivery; a network error or a 5xx/429
    is raised so that the relay retries later."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._client: Client | None = None

    def client(self) -> Client:
        """The twilio REST client, made on first use (its HTTP session needs the running event loop)."""
        if self._client is None:
            sms = self.settings.sms
            self._client = Client(sms.account_sid, sms.auth_token,
                                  http_client=AsyncTwilioHttpClient(trace_configs=[_tracing()]))
            if sms.api_base_url:
                self._client.api.base_url = sms.api_base_url.rstrip("/")
        return self._client

    async def send(self, message: OutboundMessage) -> Receipt:
        sms = self.settings.sms
        to = message.conversation_key or next((a.value for a in message.to if a.kind == IdentityKind.PHONE), None)
        if not to:
            return Receipt(DeliveryStatus.FAILED, error="the contact has no phone number")
        if not sms.account_sid or not sms.auth_token or not (sms.from_number or sms.messaging_service_sid):
            return Receipt(DeliveryStatus.FAILED, error="SMS sending is not configured (sms.account_sid, "
                                                        "sms.auth_token, sms.from_number)")
        if len(message.text) > MAX_SMS_TEXT:
            return Receipt(DeliveryStatus.FAILED, error=f"too long for SMS ({len(message.text)} characters, "
                                                        f"at most {MAX_SMS_TEXT})")
        async with self.db.read() as session:
            if await is_opted_out(session, CHANNEL, to):
                return Receipt(DeliveryStatus.FAILED, error="the recipient opted out of SMS (sent STOP)")
        params: dict[str, str] = {"to": to, "body": message.text}
        if sms.messaging_service_sid:
            params["messaging_service_sid"] = sms.messaging_service_sid
        else:
            params["from_"] = sms.from_number
        if sms.status_callbacks:
            params["status_callback"] = self.settings.base_url + STATUS_PATH
        went_out: list[bool] = []
        token = _REQUEST_SENT.set(went_out)
        try:
            # twilio's async HTTP client passes no timeout to aiohttp (its own setting is unused): ours bounds it.
            async with asyncio.timeout(sms.send_timeout):
                sent = await self.client().messages.create_async(**params)
        except aiohttp.ClientConnectorError:
            raise  # no connection, nothing sent: retried
        except (TimeoutError, aiohttp.ServerDisconnectedError) as exc:
            if not went_out:
                raise  # the request never left (no connection in time): nothing sent, retried
            raise MaybeSent(f"Twilio did not answer: {type(exc).__name__}") from exc  # Twilio may have taken it
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise
            return Receipt(DeliveryStatus.FAILED, error=f"Twilio refused the message: {exc.code} {exc.msg}"[:500])
        finally:
            _REQUEST_SENT.reset(token)
        return Receipt(DeliveryStatus.SENT, provider_id=sent.sid)

    async def close(self) -> None:
        if self._client is not None and isinstance(self._client.http_client, AsyncTwilioHttpClient):
            await self._client.http_client.close()
