"""One way for the HTTP channels (webhooks, SMS) to hold their client.

Each channel keeps one `channel_client` for its whole life: connections to a receiver are kept
alive and the TLS context is built once, not on every message. The channel's `aclose` closes it
when the service stops.
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

#: an idle connection is dropped before the server would close it (uvicorn closes after 5 s, most
#: servers later): a request on a connection the server is closing fails without an answer
KEEPALIVE_S = 4.0
#: bounded, so slow receivers make messages wait (then fail and be retried) instead of piling up
#: sockets; above the delivery batch, which is sent concurrently
LIMITS = httpx.Limits(
    max_connections=32, max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_S
)


def channel_client(timeout_s: float) -> httpx.AsyncClient:
    """A client for one channel; `timeout_s` bounds connecting, each read and write, and the
    wait for a free connection."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        limits=LIMITS,
        # Messages stay independent of each other, as with a client per message: no cookies
        # kept, so one receiver's answer never changes what the next request carries.
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
    )
