"""SQLite's writer thread: units run back to back in one thread, urgent ones first, background work never
starved, a cancelled caller's unit never runs, a turn held on the event loop excludes the thread's units."""

from __future__ import annotations

import asyncio
import threading

import pytest

from contactcenter.db.writer import Writer


@pytest.fixture
async def writer() -> Writer:
    return Writer("test-writer")


async def _unit(writer: Writer, name: str, urgent: bool, order: list[str]) -> str:
    def fn() -> str:
        order.append(name)
        return threading.current_thread().name

    return await writer.run(fn, urgent=urgent)


async def test_urgent_turns_go_first_but_background_work_gets_every_fourth_turn(writer: Writer) -> None:
    order: list[str] = []
    async with writer.hold():  # held: everyone below queues
        tasks = [asyncio.create_task(_unit(writer, "b1", False, order)),
                 asyncio.create_task(_unit(writer, "b2", False, order))]
        tasks += [asyncio.create_task(_unit(writer, f"u{i}", True, order)) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        assert order == []
    threads = await asyncio.gather(*tasks)
    assert order == ["u1", "u2", "u3", "b1", "u4", "u5", "b2"]
    assert set(threads) == {"test-writer"}
    writer.close()


async def test_without_urgent_work_turns_are_first_come_first_served(writer: Writer) -> None:
    order: list[str] = []
    async with writer.hold():
        tasks = [asyncio.create_task(_unit(writer, f"b{i}", False, order)) for i in range(3)]
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["b0", "b1", "b2"]
    writer.close()


async def test_a_cancelled_caller_never_runs_and_does_not_keep_the_turn(writer: Writer) -> None:
    order: list[str] = []
    async with writer.hold():
        doomed = asyncio.create_task(_unit(writer, "doomed", True, order))
        doomed_hold = asyncio.create_task(_hold(writer, "doomed hold", order))
        after = asyncio.create_task(_unit(writer, "after", False, order))
        await asyncio.sleep(0.01)
        doomed.cancel()
        doomed_hold.cancel()
    await after
    assert order == ["after"] and doomed.cancelled() and doomed_hold.cancelled()
    writer.close()


async def _hold(writer: Writer, name: str, order: list[str]) -> None:
    async with writer.hold():
        order.append(name)


async def test_a_held_turn_excludes_the_threads_units_until_it_ends(writer: Writer) -> None:
    order: list[str] = []
    entered = asyncio.Event()
    leave = asyncio.Event()

    async def holder() -> None:
        async with writer.hold():
            order.append("held")
            entered.set()
            await leave.wait()
            order.append("released")

    held = asyncio.create_task(holder())
    await entered.wait()
    unit = asyncio.create_task(_unit(writer, "unit", True, order))
    await asyncio.sleep(0.05)
    assert order == ["held"]  # the unit waits for the held turn
    leave.set()
    await asyncio.gather(held, unit)
    assert order == ["held", "released", "unit"]
    writer.close()


async def test_errors_reach_the_caller_and_the_thread_goes_on(writer: Writer) -> None:
    def fail() -> None:
        raise ValueError("bad unit")

    with pytest.raises(ValueError, match="bad unit"):
        await writer.run(fail)
    assert await writer.run(lambda: 42) == 42
    writer.close()
    assert await writer.run(lambda: "again") == "again"  # a new thread after close
    writer.close()
