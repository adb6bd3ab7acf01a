"""The OpenAPI description is valid OpenAPI 3.1 and covers every API route the app serves."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate


async def test_the_description_is_valid_and_complete(client: TestClient[Any, Any]) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    validate(spec)
    described = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    served = {(route.method, route.resource.canonical) for route in client.app.router.routes()
              if route.resource is not None and route.resource.canonical.startswith("/api/v1/")
              and route.method not in ("HEAD", "OPTIONS")}
    served.discard(("GET", "/api/v1/openapi.json"))
    assert served == described
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation["summary"], (method, path)
            assert operation["operationId"], (method, path)
