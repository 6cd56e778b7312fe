"""One way for gateway adapters to call a PSP over HTTP and classify what went wrong: no answer
or an unreadable one leaves the outcome unknown (`GatewayUnavailable`); what a readable answer
means is each adapter's to judge (`request_json`), except that `post_json` treats a 5xx as
unknown too.

Each adapter holds one `gateway_client` for its whole life: its connections are kept alive and
its TLS context is built once, not on every call (building one is most of the CPU a call would
cost). The adapter's `aclose` closes it when the service stops. The Stripe adapter is the
exception: Stripe's SDK brings its own client and error classes, read in `stripe.py`.
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


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send `body` as JSON (none when None); the status and the decoded answer, whatever the
    status. No answer, or one that is not JSON, is `GatewayUnavailable`: the request may or may
    not have been carried out."""
    try:
        response = await client.request(method, url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise GatewayUnavailable(f"no answer from {url}: {exc!r}") from exc
    try:
        document = response.json()
    except ValueError as exc:
        raise GatewayUnavailable(f"{url} answered {response.status_code}, not JSON") from exc
    return response.status_code, document


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST JSON; the status and the decoded answer. No answer, an unreadable answer or a 5xx is
    `GatewayUnavailable`: the request may or may not have been carried out."""
    status, document = await request_json(client, "POST", url, body=body, headers=headers)
    if status >= 500:
        raise GatewayUnavailable(f"{url} answered {status}: {document}")
    return status, document
