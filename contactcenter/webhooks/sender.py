"""Posts due webhook deliveries: signed, no redirects, guarded addresses, timeouts, backoff, dead letters.

Several processes may send from one PostgreSQL database: due rows are claimed with FOR UPDATE SKIP
LOCKED and leased by pushing ``next_attempt_at`` past the request timeout; a process that dies mid-send
leaves rows that another one retries after the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import select, update

from contactcenter.db.engine import Database
from contactcenter.db.models import WebhookDelivery, WebhookEndpoint
from contactcenter.db.types import utcnow
from contactcenter.ops.logs import log_failure
from contactcenter.ops.metrics import Metrics
from contactcenter.settings import WebhookSettings
from contactcenter.webhooks.guard import GuardedResolver, UnsafeTarget, check_url, networks
from contactcenter.webhooks.signing import SIGNATURE_HEADER, signature_header

log = logging.getLogger(__name__)
USER_AGENT = "contactcenter-webhooks/1"


@dataclass(frozen=True, slots=True)
class Due:
    id: int
    uid: str
    topic: str
    payload: dict[str, Any]
    attempts: int
    created_at: str
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    final: bool = False  # no point in retrying (a refused target)


def body_of(item: Due) -> bytes:
    """The JSON every receiver gets: the delivery id, the event kind, when it happened, its data (ids)."""
    return json.dumps({"id": item.uid, "type": item.topic, "created_at": item.created_at, "data": item.payload},
                      separators=(",", ":"), ensure_ascii=False).encode()


class WebhookSender:
    def __init__(self, db: Database, settings: WebhookSettings, metrics: Metrics | None = None) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.allowed = networks(settings.allow_private)
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.allowed), use_dns_cache=False,
                                             limit=20, force_close=True)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  headers={"User-Agent": USER_AGENT})
        return self._session

    async def _claim(self) -> list[Due]:
        now = utcnow()
        query = (select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
                 .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                 .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                        WebhookEndpoint.is_active)
                 .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(self.settings.batch_size))
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        lease = now + timedelta(seconds=self.settings.timeout_seconds * 2 + 30)
        async with self.db.write() as session:
            rows = (await session.execute(query)).all()
            due = [Due(d.id, d.uid, d.topic, dict(d.payload), d.attempts, d.created_at.isoformat(), url, secret)
                   for d, url, secret in rows]
            if due:
                await session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_([d.id for d in due]))
                                      .values(next_attempt_at=lease))
        return due

    async def post(self, item: Due) -> Outcome:
        """One attempt. Only a 2xx answer counts; a redirect is a failure (never followed)."""
        body = body_of(item)
        headers = {"Content-Type": "application/json", "X-CC-Delivery": item.uid, "X-CC-Event": item.topic,
                   SIGNATURE_HEADER: signature_header(item.secret, int(time.time()), body)}
        try:
            url = check_url(item.url, self.allowed)
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
            async with self._client().post(url, data=body, headers=headers, allow_redirects=False,
                                           timeout=timeout) as response:
                await response.content.read(self.settings.max_response_bytes)
                if 200 <= response.status < 300:
                    return Outcome(True, response.status)
                return Outcome(False, response.status, f"HTTP {response.status}")
        except UnsafeTarget as exc:
            return Outcome(False, None, f"refused target: {exc}", final=True)
        except TimeoutError:
            return Outcome(False, None, f"no answer within {self.settings.timeout_seconds:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])

    def retry_delay(self, attempts: int) -> float:
        s = self.settings
        return float(min(s.retry_max_seconds, s.retry_base_seconds * 2 ** (attempts - 1)))

    async def _record(self, results: list[tuple[Due, Outcome]]) -> None:
        now = utcnow()
        async with self.db.write() as session:
            for item, outcome in results:
                attempts = item.attempts + 1
                values: dict[str, Any] = {"attempts": attempts, "last_status_code": outcome.status_code,
                                          "last_error": outcome.error}
                if outcome.ok:
                    values.update(status="delivered", delivered_at=now)
                elif outcome.final or attempts >= self.settings.max_attempts:
                    values.update(status="dead")
                    log.warning("webhook delivery %s (%s) is dead after %d attempts: %s", item.id, item.topic,
                                attempts, outcome.error)
                else:
                    values.update(next_attempt_at=now + timedelta(seconds=self.retry_delay(attempts)))
                await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == item.id).values(**values))
                if self.metrics is not None:
                    self.metrics.webhooks.labels(values.get("status", "retry")).inc()

    async def run_once(self) -> int:
        """Send one batch of due deliveries (concurrently); return how many were attempted."""
        due = await self._claim()
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self.post(item) for item in due))
        await self._record(list(zip(due, outcomes, strict=True)))
        return len(due)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self.run(), name="webhook-sender")

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        if self._task is not None:
            await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                sent = await self.run_once()
            except Exception:
                log_failure(log, "webhook batch failed; retrying")
                sent = 0
            if sent or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval)
