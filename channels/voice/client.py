"""Outbound calls (agents' call-backs) through the real twilio REST client, asynchronously."""

from __future__ import annotations

import logging

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from contactcenter.errors import ActionError
from contactcenter.settings import VoiceSettings

log = logging.getLogger(__name__)
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class ProviderError(ActionError):
    """Twilio refused the request or could not be reached."""

    status = 502
    code = "provider_error"


async def place_call(voice: VoiceSettings, *, to: str, url: str, status_callback: str) -> str:
    """Ask Twilio to call ``to`` from our caller id; ``url`` gives the TwiML once answered. Returns the CallSid."""
    http = AsyncTwilioHttpClient(timeout=15)
    try:
        client = Client(voice.account_sid, voice.auth_token, http_client=http)
        if voice.api_base_url:
            client.api.base_url = voice.api_base_url.rstrip("/")
        call = await client.calls.create_async(
            to=to, from_=voice.caller_id, url=url, method="POST", status_callback=status_callback,
            status_callback_method="POST", status_callback_event=STATUS_EVENTS)
    except TwilioException as exc:
        log.warning("twilio refused a call-back: %s", type(exc).__name__)
        raise ProviderError(f"the phone provider refused the call: {getattr(exc, 'msg', exc)}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("twilio unreachable for a call-back: %s", type(exc).__name__)
        raise ProviderError("the phone provider cannot be reached; try again") from None
    finally:
        await http.close()
    if not call.sid:
        raise ProviderError("the phone provider answered without a call id")
    return str(call.sid)
