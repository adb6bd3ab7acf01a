"""My notifications over the API: only mine, unread filter, read one, read all, pages; the live frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp.test_utils import TestClient

from contactcenter.actions.audit import SYSTEM
from contactcenter.actions.notifications import do_notify
from contactcenter.context import CTX
from routing.push import agent_topic
from tests.conftest import Staff

Client = TestClient[Any, Any]


async def notify(client: Client, user_id: int, text: str, key: str | None = None) -> list[int]:
    ctx = client.app[CTX]
    async with ctx.db.write() as session:
        return await do_notify(session, [user_id], kind="mention", text=text, key=key, actor=SYSTEM)


async def get(client: Client, staff: Staff, path: str, status: int = 200) -> Any:
    response = await client.get("/api/v1" + path, headers=staff.headers)
    assert response.status == status, await response.text()
    return await response.json()


async def post(client: Client, staff: Staff, path: str, status: int = 200) -> Any:
    response = await client.post("/api/v1" + path, headers=staff.headers)
    assert response.status == status, await response.text()
    return await response.json()


class Console:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def deliver(self, frame: Mapping[str, Any]) -> bool:
        self.frames.append(dict(frame))
        return True


async def test_my_notifications_read_one_and_all(client: Client, agent: Staff, supervisor: Staff) -> None:
    console = Console()
    client.app[CTX].hub.subscribe(agent_topic(agent.user_id), console)
    first = (await notify(client, agent.user_id, "one", key="k1"))[0]
    assert await notify(client, agent.user_id, "one again", key="k1") == []  # same key: nothing new
    second = (await notify(client, agent.user_id, "two"))[0]
    theirs = (await notify(client, supervisor.user_id, "for the boss"))[0]
    await client.app[CTX].relay.drain()
    assert [(f["type"], f["id"], f["text"]) for f in console.frames] == [("notification", first, "one"),
                                                                          ("notification", second, "two")]

    page = await get(client, agent, "/me/notifications?unread=1")
    assert [n["id"] for n in page["items"]] == [second, first] and page["unread"] == 2  # newest first
    assert page["items"][0]["read_at"] is None and page["items"][0]["kind"] == "mention"
    read = await post(client, agent, f"/me/notifications/{first}/read")
    assert read["id"] == first and read["read_at"] is not None
    again = await post(client, agent, f"/me/notifications/{first}/read")
    assert again["read_at"] == read["read_at"]  # reading twice changes nothing
    await post(client, agent, f"/me/notifications/{theirs}/read", status=404)  # not mine: as if it did not exist
    await post(client, agent, "/me/notifications/999999/read", status=404)
    await post(client, agent, "/me/notifications/abc/read", status=404)
    assert [n["id"] for n in (await get(client, agent, "/me/notifications?unread=1"))["items"]] == [second]
    everything = await get(client, agent, "/me/notifications?limit=1")
    assert [n["id"] for n in everything["items"]] == [second] and everything["next_cursor"]
    rest = await get(client, agent, f"/me/notifications?limit=1&cursor={everything['next_cursor']}")
    assert [n["id"] for n in rest["items"]] == [first] and rest["next_cursor"] is None
    assert (await post(client, agent, "/me/notifications/read-all"))["marked"] == 1
    assert (await post(client, agent, "/me/notifications/read-all"))["marked"] == 0
    assert (await get(client, agent, "/me/notifications?unread=1")) == {"items": [], "next_cursor": None,
                                                                        "unread": 0}
    boss = await get(client, supervisor, "/me/notifications?unread=true")
    assert [n["id"] for n in boss["items"]] == [theirs] and boss["unread"] == 1


async def test_bad_queries_and_anonymous_callers(client: Client, agent: Staff) -> None:
    await get(client, agent, "/me/notifications?unread=perhaps", status=422)
    await get(client, agent, "/me/notifications?limit=0", status=422)
    await get(client, agent, "/me/notifications?cursor=bm90IGFuIGlk", status=422)
    await get(client, agent, "/me/notifications?colour=red", status=422)
    assert (await client.get("/api/v1/me/notifications")).status == 401
    assert (await client.post("/api/v1/me/notifications/read-all")).status == 401
