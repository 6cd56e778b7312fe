"""SMS through Kavenegar's REST API (https://kavenegar.com/rest.html; see also the request and
sample answer in https://github.com/kavenegar/kavenegar-node's README).

`POST {base}/v1/{API-KEY}/sms/send.json` with the form fields `receptor` (the phone number),
`message` and `sender` (the sending line, optional when the account has a default). The answer
is JSON whose `return.status` is 200 on success, anything else with `return.message` saying why;
`entries` lists the messages queued. The API key sits in the URL path, so it is never written to
an error message.
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
        status, message = _return(answer)
        if status != ACCEPTED:
            # Kavenegar's refusals (no credit, a blocked line, …) are fixed by an operator, not
            # by the message: they are retried on the normal schedule, then recorded as failed.
            raise ChannelError(self._redacted(f"kavenegar {status}: {message}"))

    def _redacted(self, text: str) -> str:
        return text.replace(self.api_key, "***")


def _return(answer: httpx.Response) -> tuple[int | None, str]:
    try:
        document: Any = answer.json()
        outcome = document["return"]
        return int(outcome["status"]), str(outcome.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return None, f"HTTP {answer.status_code} with an unreadable answer"
