"""A development mail catcher: prints each received email decoded (recipients, subject, plain
text), so Persian messages are readable in `make run`'s log rather than base64.

    python -m aiosmtpd -n -l 127.0.0.1:1025 -c notifications.devmail.ReadableMail

aiosmtpd is a development dependency only; nothing in the service imports this module.
"""

from __future__ import annotations

import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, TextIO


class ReadableMail:
    """An aiosmtpd handler that accepts every message and prints it."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.out.write(describe(list(envelope.rcpt_tos), message) + "\n")
        self.out.flush()
        return "250 OK"


def describe(recipients: list[str], message: Any) -> str:
    body = ""
    if isinstance(message, EmailMessage):
        plain = message.get_body(("plain",))
        body = plain.get_content() if plain is not None else ""
    # The bidi control characters make a terminal log hard to read; the mail keeps them.
    readable = "".join(c for c in f"{message['Subject']}\n{body}" if c not in "\u202b\u202c")
    return f"--- mail to {', '.join(recipients)}\n{readable.strip()}\n---"
