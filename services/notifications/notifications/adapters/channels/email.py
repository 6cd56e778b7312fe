"""Email over SMTP (aiosmtplib): a plain-text part and an HTML alternative.

SMTP says which refusals are final: a 5xx reply will be the same next time, a 4xx or a lost
connection may not be, so only the latter are retried.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from notifications.adapters.channels import ChannelError, Letter


class EmailChannel:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 15.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout_s = starttls, timeout_s

    async def send(self, letter: Letter) -> None:
        try:
            await aiosmtplib.send(
                self.message(letter),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise ChannelError(f"SMTP recipient refused: {exc}", permanent=_final(*codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise ChannelError(
                f"SMTP {exc.code}: {exc.message}", permanent=_final(exc.code)
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Nothing to close: each message opens and quits its own SMTP connection."""

    def message(self, letter: Letter) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = letter.address
        message["Subject"] = letter.rendered.subject
        message["Content-Language"] = letter.rendered.language
        # A stable id per delivery lets a mailbox drop the copy a crash mid-send could cause.
        message["Message-ID"] = make_msgid(f"delivery-{letter.delivery_id}", "escrow.notifications")
        message["X-Escrow-Event-Id"] = letter.event_id
        message.set_content(letter.rendered.text)
        message.add_alternative(letter.rendered.html, subtype="html")
        return message


def _final(*codes: int) -> bool:
    return bool(codes) and all(500 <= code < 600 for code in codes)
