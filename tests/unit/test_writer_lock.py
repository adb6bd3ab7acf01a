"""The SQLite writer's turns: urgent work first, background work never starved, cancellation passes the turn."""

from __future__ import annotations

import asyncio

from contactcenter.db.engine import WriterLock


async def _take(lock: WriterLock, name: str, urgent: bool, order: list[str]) -> None:
    async with lock.hold(urgent=urgent):
        order.append(name)
        await asyncio.sleep(0)


async def test_urgent_turns_go_first_but_background_work_gets_every_fourth_turn() -> None:
    lock, order = WriterLock(), []
    async with lock.hold():  # held: everyone below queues
        tasks = [asyncio.create_task(_take(lock, "b1", False, order)),
                 asyncio.create_task(_take(lock, "b2", False, order))]
        tasks += [asyncio.create_task(_take(lock, f"u{i}", True, order)) for i in range(1, 6)]
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["u1", "u2", "u3", "b1", "u4", "u5", "b2"]


async def test_without_urgent_work_turns_are_first_come_first_served() -> None:
    lock, order = WriterLock(), []
    async with lock.hold():
        tasks = [asyncio.create_task(_take(lock, f"b{i}", False, order)) for i in range(3)]
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["b0", "b1", "b2"]


async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock, order = WriterLock(), []
    async with lock.hold():
        doomed = asyncio.create_task(_take(lock, "doomed", True, order))
        after = asyncio.create_task(_take(lock, "after", False, order))
        await asyncio.sleep(0)
        doomed.cancel()
    await after
    assert order == ["after"] and doomed.cancelled()


async def test_a_turn_handed_over_as_the_waiter_is_cancelled_is_passed_on() -> None:
    lock, order = WriterLock(), []
    async with lock.hold():
        doomed = asyncio.create_task(_take(lock, "doomed", True, order))
        after = asyncio.create_task(_take(lock, "after", False, order))
        await asyncio.sleep(0)
    doomed.cancel()  # its turn was already given when the holder left, before it could run
    await after
    assert order == ["after"] and doomed.cancelled()
