"""Webhooks: the CloudEvent, POSTed to the user's URL and signed with the user's secret.

Headers: `x-escrow-timestamp` (Unix seconds) and `x-escrow-signature: sha256=<hex HMAC-SHA256
of timestamp + "." + body>` (see `domain.signing`), `x-escrow-delivery` (one id per delivery, for
the receiver's own deduplication). A 2xx answer is success; 408, 429 and 5xx are retried; any
other 4xx is the receiver refusing the message, which a retry does not change.
"""

from __future__ import annotations

import httpx
from shared.clock import Clock
from shared.contract.envelope import CONTENT_TYPE

from notifications.adapters.channels import ChannelError, Letter
from notifications.adapters.channels.http import channel_client
from notifications.domain.signing import signed_headers

RETRIED_4XX = frozenset({408, 425, 429})


class WebhookChannel:
    def __init__(self, *, clock: Clock, timeout_s: float = 10.0) -> None:
        self.clock = clock
        self.http = channel_client(timeout_s)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, letter: Letter) -> None:
        if not letter.secret:
            raise ChannelError("no webhook secret: refusing to send unsigned", permanent=True)
        body = letter.cloud_event
        headers = {
            "content-type": CONTENT_TYPE,
            "x-escrow-delivery": str(letter.delivery_id),
            **signed_headers(letter.secret, int(self.clock.now().timestamp()), body),
        }
        try:
            answer = await self.http.post(letter.address, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ChannelError(f"webhook: {type(exc).__name__}: {exc}") from exc
        if not answer.is_success:
            raise ChannelError(
                f"webhook answered HTTP {answer.status_code}: {answer.text[:200]}",
                permanent=answer.is_client_error and answer.status_code not in RETRIED_4XX,
            )
