"""The application starts on a migrated database and answers health and OpenAPI requests."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient


async def test_health_and_openapi(client: TestClient[Any, Any]) -> None:
    health = await client.get("/health")
    assert health.status == 200
    assert (await health.json()) == {"status": "ok"}
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/tickets" in spec["paths"]
