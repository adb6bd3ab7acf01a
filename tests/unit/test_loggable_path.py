"""Portal tokens never reach the logs."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from contactcenter.api.framework import loggable_path


def test_portal_tokens_are_blanked() -> None:
    token = "s3cr3t-t0ken-value"
    for path in (f"/t/{token}", f"/t/{token}/reply", f"/api/v1/portal/{token}/messages",
                 f"/survey/{token}", f"/api/v1/surveys/{token}"):
        assert token not in loggable_path(make_mocked_request("GET", path))
    assert loggable_path(make_mocked_request("GET", "/api/v1/tickets/5")) == "/api/v1/tickets/5"
