"""Email over SMTP (aiosmtplib): a plain-text part and an HTML alternative, sent over one kept
connection.

SMTP says which refusals are final: a 5xx reply will be the same next time, a 4xx or a lost
connection may not be, so only the latter are retried (by the delivery loop, with backoff).

The connection is opened (STARTTLS, login) for the first message and reused for the next ones.
An SMTP connection carries one transaction at a time, so messages take turns on it. It is QUIT
when the service stops, and at the next message once it has been idle for `idle_s`: servers drop
idle clients after a few minutes (RFC 5321 §4.5.3.2 suggests 5), and a connection we close first
is not one that fails under the next message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib

from notifications.adapters.channels import ChannelError, Letter


class EmailChannel:
    """One SMTP connection for all messages, not a pool: the relay is usually near (a message
    takes a few round trips of milliseconds, so a delivery batch takes well under a second),
    relays limit and throttle concurrent connections per client, and one session is the
    simplest to keep healthy."""

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
        idle_s: float = 30.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout_s, self.idle_s = starttls, timeout_s, idle_s
        # one TLS context for every connection: the CA bundle is read once
        self.tls = ssl.create_default_context() if starttls else None
        self._connection: _Connection | None = None
        self._last_used = 0.0
        self._turn = asyncio.Lock()

    async def send(self, letter: Letter) -> None:
        message = self.message(letter)
        async with self._my_turn():
            try:
                await self._send(message)
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise _channel_error(exc) from exc

    async def aclose(self) -> None:
        """QUIT the kept connection, after the message being sent if there is one."""
        async with self._turn:
            if self._connection is not None:
                await self._quit(self._connection)

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

    @contextlib.asynccontextmanager
    async def _my_turn(self) -> AsyncIterator[None]:
        """Our turn on the connection. The wait is bounded like any network wait: behind a
        stalled server the queued messages fail soon and are retried later, instead of being
        sent after their delivery's lease ran out (when another worker may send them too)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._turn.acquire()
        except TimeoutError:
            raise ChannelError(f"SMTP: connection still busy after {self.timeout_s} s") from None
        try:
            yield
        finally:
            self._turn.release()

    async def _send(self, message: EmailMessage) -> None:
        """Send over the kept connection, or over a new one.

        A kept connection may have been dropped by the server without our noticing yet (an idle
        timeout, a restart): the message then meets a closed socket, a timeout or a 421 reply.
        Such a failure is retried once, on a new connection, but only if it came before DATA:
        until then the server holds no part of the message, so sending again cannot deliver it
        twice. From DATA on, a lost reply is ambiguous (the server may have taken the message),
        so the failure is raised, as transient, and the delivery loop decides about a resend
        (which carries the same Message-ID). A new connection's failure is the server's answer
        and is raised as it is.
        """
        kept = await self._kept()
        if kept is not None:
            try:
                await self._transact(kept, message)
                return
            except (aiosmtplib.SMTPException, OSError) as exc:
                if kept.data_started or not _hung_up(exc):
                    raise
        await self._transact(await self._connect(), message)

    async def _transact(self, connection: _Connection, message: EmailMessage) -> None:
        """One message over `connection`; a connection left in doubt is closed and forgotten."""
        connection.data_started = False
        reusable = False
        try:
            await connection.send_message(message)
            reusable = True
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as exc:
            # A refusal ends the transaction and aiosmtplib RSETs, so the session is clean for
            # the next message, unless the server is closing it or the RSET failed (closed).
            reusable = not _hung_up(exc)
            raise
        finally:
            self._last_used = time.monotonic()
            if not (reusable and connection.is_connected):
                self._forget(connection)

    async def _kept(self) -> _Connection | None:
        """The open connection, unless the server closed it or it idled past `idle_s`."""
        connection = self._connection
        if connection is None:
            return None
        if not connection.is_connected:
            self._forget(connection)
            return None
        if time.monotonic() - self._last_used > self.idle_s:
            await self._quit(connection)
            return None
        return connection

    async def _connect(self) -> _Connection:
        connection = _Connection(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            tls_context=self.tls,
            timeout=self.timeout_s,
        )
        await connection.connect()  # and STARTTLS, and login; closed again if any fails
        self._connection = connection
        return connection

    async def _quit(self, connection: _Connection) -> None:
        try:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await connection.quit()  # a server already gone has nothing to be told
        finally:
            self._forget(connection)

    def _forget(self, connection: _Connection) -> None:
        connection.close()
        if self._connection is connection:
            self._connection = None


class _Connection(aiosmtplib.SMTP):
    """aiosmtplib's client, knowing whether the current message reached DATA, and closing
    itself when the server would not reset a refused transaction."""

    data_started = False

    async def data(self, message: str | bytes, /, **options: Any) -> aiosmtplib.SMTPResponse:
        # from here on the server may hold the message even if no reply arrives
        self.data_started = True
        return await super().data(message, **options)

    async def rset(self, **options: Any) -> aiosmtplib.SMTPResponse:
        try:
            return await super().rset(**options)
        except aiosmtplib.SMTPResponseException:
            self.close()  # the session's state is unknown: no other message goes over it
            raise


def _channel_error(exc: aiosmtplib.SMTPException | OSError) -> ChannelError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return ChannelError(f"SMTP recipient refused: {exc}", permanent=_final(*codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return ChannelError(f"SMTP {exc.code}: {exc.message}", permanent=_final(exc.code))
    return ChannelError(f"SMTP: {type(exc).__name__}: {exc}")


def _hung_up(exc: BaseException) -> bool:
    """The server dropped the connection or is closing it: a lost or silent socket (timeouts
    are OSErrors too), or a 421 reply."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return any(r.code == aiosmtplib.SMTPStatus.domain_unavailable for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == aiosmtplib.SMTPStatus.domain_unavailable
    return isinstance(exc, OSError)


def _final(*codes: int) -> bool:
    return bool(codes) and all(500 <= code < 600 for code in codes)
