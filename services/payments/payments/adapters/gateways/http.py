"""One way for gateway adapters to call a PSP over HTTP and classify what went wrong.

Each adapter holds one `gateway_client` for its whole life: its connections are kept alive and
its TLS context is built once, not on every call (building one is most of the CPU a call would
cost). The adapter's `aclose` closes it when the service stops.
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from payments.domain.gateway import GatewayUnavailable

#: an idle connection is dropped before the server would close it (uvicorn closes after 5 s, most
#: servers later): a request on a connection the server is closing fails without an answer
KEEPALIVE_S = 4.0
#: bounded, so a slow PSP makes calls wait (then fail as unavailable) instead of piling up sockets
LIMITS = httpx.Limits(
    max_connections=32, max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_S
)


def gateway_client(timeout: float) -> httpx.AsyncClient:
    """A client for one PSP; `timeout` bounds connecting, each read and write, and the wait for
    a free connection."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=LIMITS,
        headers={"accept": "application/json"},
        # Calls stay independent of each other, as with a client per call: no cookies kept.
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
    )


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST JSON; the status and the decoded answer. No answer, or an unreadable 5xx, is
    `GatewayUnavailable`: the request may or may not have been carried out."""
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise GatewayUnavailable(f"no answer from {url}: {exc!r}") from exc
    try:
        document = response.json()
    except ValueError as exc:
        raise GatewayUnavailable(f"{url} answered {response.status_code}, not JSON") from exc
    if response.status_code >= 500:
        raise GatewayUnavailable(f"{url} answered {response.status_code}: {document}")
    return response.status_code, document
