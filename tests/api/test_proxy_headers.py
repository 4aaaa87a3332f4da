"""X-Forwarded-For is believed only from ORFEAS_TRUSTED_PROXIES (issue 16, defect 5), on a real
uvicorn server: with none configured, a local client rotating the header stays one client (and
meets the rate limit); with 127.0.0.1 trusted, each forwarded address is its own client."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orfeas.api.server import uvicorn_options
from orfeas.settings import Settings
from tests.api.conftest import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.security]

LIMIT = 5


def _statuses(server: LiveServer, requests: int) -> list[int]:
    with server.client() as http:
        return [
            http.get("/api/v1/engines", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(requests)
        ]


def test_rotating_x_forwarded_for_does_not_change_the_client_by_default(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server(rate_limit_requests_per_minute=LIMIT)
    statuses = _statuses(server, LIMIT + 5)
    assert statuses[:LIMIT] == [200] * LIMIT
    assert set(statuses[LIMIT:]) == {429}  # one client, whatever the header says


def test_a_trusted_proxy_forwards_the_client_address(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(rate_limit_requests_per_minute=LIMIT, trusted_proxies="127.0.0.1")
    assert _statuses(server, LIMIT + 5) == [200] * (LIMIT + 5)  # each forwarded address its own bucket


@pytest.mark.unit
def test_uvicorn_is_told_to_trust_only_the_configured_proxies() -> None:
    assert uvicorn_options(Settings())["proxy_headers"] is False
    options = uvicorn_options(Settings(trusted_proxies="10.0.0.0/8, 127.0.0.1"))
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == ["10.0.0.0/8", "127.0.0.1"]
