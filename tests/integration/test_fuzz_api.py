"""schemathesis against our OpenAPI description: generated requests to every operation, signed in as an
admin, must never get a 5xx. Deterministic (derandomized hypothesis) and bounded per operation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import requests
import schemathesis
from aiohttp.test_utils import TestClient
from conftest import create_staff
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contactcenter.app import create_app
from contactcenter.context import CTX
from contactcenter.domain.enums import Role
from contactcenter.settings import Settings

EXAMPLES = 12
# Revoking tokens could revoke the admin's own token and end the run early; it is tested on its own.
SKIP = {("DELETE", "/api/v1/me/tokens/{id}")}
WRONG_PASSWORD_401 = {"/api/v1/auth/login", "/api/v1/me/password"}  # 401 means "wrong password" there
CUSTOMER_401 = {"/api/v1/portal/me/tickets", "/api/v1/portal/me/tickets/{id}"}  # a customer cookie, not staff


def fuzz(raw: dict[str, Any], base_url: str, headers: dict[str, str]) -> tuple[list[str], list[int]]:
    schema = schemathesis.openapi.from_dict(raw)
    failures: list[str] = []
    statuses: list[int] = []
    http = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        check = _checker(operation, base_url, headers, http, failures, statuses)
        check()
    return failures, statuses


def _checker(operation: Any, base_url: str, headers: dict[str, str], http: requests.Session,
             failures: list[str], statuses: list[int]) -> Callable[[], None]:
    @given(case=operation.as_strategy(), data=st.data())
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case: Any, data: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
        kwargs.pop("timeout", None)
        response = http.request(**kwargs, timeout=60, allow_redirects=False)
        statuses.append(response.status_code)
        if response.status_code == 401 and operation.path not in WRONG_PASSWORD_401 | CUSTOMER_401:
            failures.append(f"{operation.method.upper()} {operation.path} -> 401 although signed in as admin")
        if response.status_code >= 500:
            failures.append(f"{operation.method.upper()} {operation.path} -> {response.status_code}: "
                            f"{kwargs.get('url')} {str(kwargs.get('json'))[:300]} {response.text[:200]}")
    return check


async def test_no_generated_request_gets_a_5xx(aiohttp_client: Any, settings: Settings) -> None:
    # No relay or workers: nothing generated here may leave the machine (webhooks, replies, calls).
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings, relay=False))
    admin = await create_staff(client.app[CTX], Role.ADMIN)
    raw = await (await client.get("/api/v1/openapi.json")).json()
    base_url = str(client.make_url("")).rstrip("/")
    failures, statuses = await asyncio.to_thread(fuzz, raw, base_url, admin.headers)
    assert failures == []
    assert len(statuses) > 5 * len(raw["paths"])  # the run really exercised the operations...
    assert sum(200 <= s < 300 for s in statuses) > len(raw["paths"])  # ...and got past validation often

