"""Real `contactcenter serve` processes for the tests that need several of them on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from contactcenter.privacy.keyring import key_file_keys
from contactcenter.settings import Settings
from tests.ports import free_port

__all__ = ["ROOT", "free_port", "master_keys", "serve_processes", "wait_healthy"]

ROOT = Path(__file__).resolve().parents[1]


def master_keys(settings: Settings) -> str:
    """The master keys the test's own context uses, as configuration: every process must open its data keys."""
    if settings.privacy.master_key:
        return settings.privacy.master_key
    keys = key_file_keys(settings.data_path)
    return ",".join(f"{ident}:{base64.b64encode(key).decode()}" for ident, key in sorted(keys.items()))


@contextmanager
def serve_processes(settings: Settings, data: Path, count: int, env: dict[str, str]) -> Iterator[list[str]]:
    """Start ``count`` server processes on the test's PostgreSQL database (skip on SQLite); yield their URLs."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several server processes share one database on PostgreSQL only (set CC_TEST_DATABASE_URL)")
    urls, processes = [], []
    for n in range(count):
        port = free_port()
        process_env = {**os.environ, "CC_DATABASE__URL": settings.database_url, "CC_SERVER__PORT": str(port),
                       "CC_SERVER__DATA_DIR": str(data / f"server{n}"), "CC_SERVER__LOG_LEVEL": "WARNING",
                       "CC_SERVER__SECRET_KEY": "several-processes-test", "CC_EMAIL__ENABLED": "false",
                       "CC_PRIVACY__MASTER_KEY": master_keys(settings),  # the test's and every process's
                       "CC_WEBFORM__RATE_PER_IP": "0", "CC_WEBFORM__RATE_PER_ADDRESS": "0", **env}
        processes.append(subprocess.Popen([sys.executable, "-m", "contactcenter", "serve"], env=process_env,
                                          cwd=ROOT))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


async def wait_healthy(http: aiohttp.ClientSession, urls: list[str], limit: float = 40.0) -> float:
    """Wait until every server answers /health with 200 (several processes start at once on 2 cores);
    return the seconds it took. The benchmarks use it too."""
    started = time.monotonic()
    for url in urls:
        while True:
            try:
                async with http.get(url + "/health") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() - started > limit:
                raise RuntimeError(f"{url} did not start within {limit:.0f} s")
            await asyncio.sleep(0.1)
    return time.monotonic() - started
