"""SMS through Kavenegar's REST API (https://kavenegar.com/rest.html; see also the request and
sample answer in https://github.com/kavenegar/kavenegar-node's README).

`POST {base}/v1/{API-KEY}/sms/send.json` with the form fields `receptor` (the phone number),
`message` and `sender` (the sending line, optional when the account has a default). The answer
is JSON whose `return.status` is 200 on success, anything else with `return.message` saying why;
`entries` lists the messages queued. The API key sits in the URL path, so it is never written to
an error message. An error keeps Kavenegar's documented status code, not its `message` text or
any other part of the answer: what the provider (or anything in between) wrote is not stored.
"""

from __future__ import annotations

from typing import Any

import httpx

from notifications.adapters.channels import ChannelError, Letter
from notifications.adapters.channels.http import channel_client

ACCEPTED = 200


class KavenegarSms:
    def __init__(
        self, *, base_url: str, api_key: str, sender: str | None = None, timeout_s: float = 10.0
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/v1/{api_key}/sms/send.json"
        self.api_key, self.sender = api_key, sender
        self.http = channel_client(timeout_s)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, letter: Letter) -> None:
        form = {"receptor": letter.address, "message": letter.rendered.sms}
        if self.sender:
            form["sender"] = self.sender
        try:
            answer = await self.http.post(self.url, data=form)
        except httpx.HTTPError as exc:
            raise ChannelError(self._redacted(f"sms: {type(exc).__name__}: {exc}")) from exc
        status = _status(answer)
        if status is None:
            raise ChannelError(f"sms: HTTP {answer.status_code} with an unreadable answer")
        if status != ACCEPTED:
            # Kavenegar's refusals (no credit, a blocked line, …) are fixed by an operator, not
            # by the message: they are retried on the normal schedule, then recorded as failed.
            raise ChannelError(f"kavenegar {status}")

    def _redacted(self, text: str) -> str:
        return text.replace(self.api_key, "***")


def _status(answer: httpx.Response) -> int | None:
    """The answer's `return.status` (None when the answer is not Kavenegar's JSON)."""
    try:
        document: Any = answer.json()
        return int(document["return"]["status"])
    except (ValueError, KeyError, TypeError):
        return None
