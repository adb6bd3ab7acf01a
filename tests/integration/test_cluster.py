"""Several processes on one PostgreSQL database: LISTEN/NOTIFY wakes relays and sweepers and carries live
pushes to a WebSocket whichever process it is connected to."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contactcenter.actions.agents import do_create_agent, do_create_skill, do_set_presence
from contactcenter.actions.audit import SYSTEM
from contactcenter.app import build_context
from contactcenter.auth import do_create_token
from contactcenter.cluster import EVENTS, ClusterHub, PgNotifier
from contactcenter.domain.enums import Presence, Role
from contactcenter.hub import Frame
from contactcenter.settings import Settings
from contactcenter.web.viewers import Viewers, ViewersSync, desk_ticket_topic
from tests.servers import serve_processes, wait_healthy


class Inbox:
    """A hub subscriber that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.arrived = asyncio.Event()

    async def deliver(self, frame: Frame) -> bool:
        self.frames.append(frame)
        self.arrived.set()
        return True


async def eventually(check: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
async def two_hubs(settings: Settings) -> AsyncIterator[tuple[ClusterHub, ClusterHub]]:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's (set CC_TEST_DATABASE_URL)")
    hubs = [ClusterHub(PgNotifier(settings.database_url)) for _ in range(2)]
    for hub in hubs:
        await hub.notifier.start()
        await hub.start()
    try:
        yield hubs[0], hubs[1]
    finally:
        for hub in hubs:
            await hub.stop()
            await hub.notifier.stop()


async def test_frames_reach_listeners_of_another_process_in_order(two_hubs: tuple[ClusterHub, ClusterHub]) -> None:
    here, there = two_hubs
    inbox = Inbox()
    assert await here.publish("ticket:1", {"n": 0}) == 0  # nobody anywhere: nothing is sent
    there.subscribe("ticket:1", inbox)
    await eventually(lambda: here.listeners("ticket:1") == 1)
    long = "سلام، این یک پیام طولانی است. " * 600  # far beyond one notification's 8,000 bytes
    for n in range(1, 6):
        await here.publish("ticket:1", {"n": n, "text": long if n == 3 else ""})
    await eventually(lambda: len(inbox.frames) == 5)
    assert [f["n"] for f in inbox.frames] == [1, 2, 3, 4, 5]
    assert inbox.frames[2]["text"] == long
    there.unsubscribe("ticket:1", inbox)
    await eventually(lambda: here.listeners("ticket:1") == 0)


async def test_a_process_that_joins_later_learns_the_listeners(two_hubs: tuple[ClusterHub, ClusterHub],
                                                               settings: Settings) -> None:
    here, _ = two_hubs
    here.subscribe("agent:7", Inbox())
    late = ClusterHub(PgNotifier(settings.database_url))
    await late.notifier.start()
    await late.start()
    try:
        await eventually(lambda: late.listeners("agent:7") == 1)
    finally:
        await late.stop()
        await late.notifier.stop()
    await here.stop()  # "bye": the others forget its listeners at once
    await eventually(lambda: two_hubs[1].listeners("agent:7") == 0)


async def test_committed_events_wake_other_processes(two_hubs: tuple[ClusterHub, ClusterHub]) -> None:
    here, there = two_hubs
    woken = asyncio.Event()
    there.notifier.on(EVENTS, lambda _: woken.set())
    await eventually(lambda: there.notifier._conn is not None and here.notifier._conn is not None)
    here.notifier.notify_events()
    async with asyncio.timeout(5):
        await woken.wait()


OFFERS_WAIT = {"CC_ROUTING__OFFER_TIMEOUT": '{"email": 30}'}  # offered and pushed, not assigned at once


@pytest.fixture
def web_and_worker(settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    # Process 0 serves requests only (no relay): every offer is made and pushed by process 1.
    worker_env = {"CC_ROUTING__TIMER_INTERVAL": "0.2", **OFFERS_WAIT}
    with serve_processes(settings, tmp_path / "worker", 1, worker_env) as worker, \
            serve_processes(settings, tmp_path / "web", 1, {"CC_RELAY__ENABLED": "false", **OFFERS_WAIT}) as web_only:
        yield [web_only[0], worker[0]]


async def test_an_offer_reaches_the_console_on_another_process(settings: Settings,
                                                               web_and_worker: list[str]) -> None:
    web_only, worker = web_and_worker
    ctx = build_context(settings)
    try:
        async with ctx.db.write() as session:
            await do_create_skill(session, name="billing", actor=SYSTEM)
            user = await do_create_agent(session, email="ana@agents.example", name="Ana", role=Role.AGENT,
                                         password=None, skills={"billing": 3}, actor=SYSTEM)
            _, token = await do_create_token(session, user, "console", actor=SYSTEM)
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, [web_only, worker])
            headers = {"Authorization": f"Bearer {token}"}
            async with http.ws_connect(web_only + "/chat/agent/ws", headers=headers) as console:
                assert (await console.receive_json(timeout=5))["type"] == "offers"
                async with ctx.db.write() as session:
                    await do_set_presence(session, user.id, Presence.AVAILABLE, actor=SYSTEM)
                body = {"name": "Cyrus", "email": "cyrus@customers.example", "subject": "Charged twice",
                        "message": "My card was charged twice", "topic": "billing"}
                async with http.post(web_only + "/api/v1/webform", json=body) as response:
                    assert response.status == 201
                    ticket_id = (await response.json())["ticket_number"]
                frames: list[dict[str, Any]] = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(15):
                        while not any(f.get("type") == "offer" for f in frames):
                            frames.append(await console.receive_json())
                assert [(f["type"], f.get("ticket_id"), f.get("status")) for f in frames] == [
                    ("offer", ticket_id, "pending")]
    finally:
        await ctx.db.dispose()


async def test_agents_on_two_processes_see_each_other_on_a_ticket(two_hubs: tuple[ClusterHub, ClusterHub]) -> None:
    # Collision detection across processes: each console's frame lists the viewers of both processes,
    # a process that starts later learns the others' lists, and a silent process is forgotten.
    hub_a, hub_b = two_hubs
    viewers_a, viewers_b = Viewers(), Viewers()
    syncs = [ViewersSync(viewers_a, hub_a, repeat=0.2), ViewersSync(viewers_b, hub_b, repeat=0.2)]
    for sync in syncs:
        sync.start()
    console_a, console_b = Inbox(), Inbox()
    try:
        hub_a.subscribe(desk_ticket_topic(7), console_a)
        hub_b.subscribe(desk_ticket_topic(7), console_b)
        viewers_a.view(7, console_a, 1, "Sara")
        await viewers_a.changed(hub_a, 7)
        await eventually(lambda: bool(console_b.frames) and console_b.frames[-1]["viewers"] == [
            {"id": 1, "name": "Sara", "typing": False}])
        viewers_b.view(7, console_b, 2, "Omid")
        viewers_b.set_typing(7, console_b, True)
        await viewers_b.changed(hub_b, 7)
        both = [{"id": 1, "name": "Sara", "typing": False}, {"id": 2, "name": "Omid", "typing": True}]
        await eventually(lambda: console_a.frames[-1]["viewers"] == both and console_b.frames[-1]["viewers"] == both)
        late = Viewers()  # a third process starting now learns both lists from the repeats
        late.heard(viewers_a.state(), 0.0)
        late.heard(viewers_b.state(), 0.0)
        assert late.frame(7)["viewers"] == both
        await syncs[0].stop()  # process A stops repeating: B forgets Sara
        await eventually(lambda: console_b.frames[-1]["viewers"] == [both[1]])
    finally:
        for sync in syncs:
            await sync.stop()
