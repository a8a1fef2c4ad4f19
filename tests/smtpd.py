"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, with scripted answers.

`ScriptedHandler` answers each DATA by the next entry of its script:

- ``"ok"``: accept (250) and record the message;
- ``"4xx"``: 451, try later; ``"5xx"``: 550, refused for good;
- ``"mid-data"``: answer DATA with 354, read one line of the message, cut the
  connection: a drop in the middle of DATA;
- ``"drop"``: receive the whole message, then cut the connection without an
  answer and without keeping it;
- ``"accept-drop"``: keep the message, then cut the connection before the 250:
  delivered, but the client never hears so.

An accepted message addressed (by envelope) to `own_address` is also handed
to `deliver_own_copy`, as a real MTA would drop it into the bot's mailbox.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes

    @property
    def message_id(self) -> str:
        return str(message_from_bytes(self.content, policy=policy.default)["Message-ID"]).strip()


@dataclass
class ScriptedHandler:
    """An aiosmtpd handler whose answers to DATA follow a script, then "ok"."""

    own_address: str = ""
    deliver_own_copy: Callable[[bytes], None] | None = None
    script: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            action = self.script.pop(0) if self.script else "ok"
        content = bytes(envelope.original_content or envelope.content)
        if action in ("ok", "accept-drop"):
            self._keep(envelope, content)
        if action in ("drop", "accept-drop"):
            # abort(), not close(): nothing written after this reaches the client.
            server.transport.abort()
            return "250 OK (never seen)"
        if action == "4xx":
            return "451 4.3.0 Temporary local problem, try later"
        if action == "5xx":
            return "550 5.1.1 No such user here"
        return "250 2.0.0 OK"

    def _keep(self, envelope: Any, content: bytes) -> None:
        got = Received(envelope.mail_from, tuple(envelope.rcpt_tos), content)
        with self.lock:
            self.received.append(got)
        if self.deliver_own_copy and self.own_address in envelope.rcpt_tos:
            self.deliver_own_copy(content)

    def next_is(self, action: str) -> bool:
        """Take the next script entry if it is action."""
        with self.lock:
            if self.script and self.script[0] == action:
                self.script.pop(0)
                return True
        return False

    def delivered_to(self, address: str) -> list[str]:
        """Message-IDs accepted for address, in order (repeats show duplicates)."""
        return [r.message_id for r in self.received if address in r.rcpt_tos]


class ScriptedSMTP(SMTP):
    """aiosmtpd's SMTP that can die in the middle of DATA when the script says "mid-data"."""

    async def smtp_DATA(self, arg: str) -> None:
        handler = self.event_handler
        if self.envelope is not None and self.envelope.rcpt_tos and handler.next_is("mid-data"):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readuntil(b"\r\n")
            assert self.transport is not None
            self.transport.abort()
            return
        await super().smtp_DATA(arg)


class ScriptedController(Controller):
    """A Controller serving ScriptedSMTP."""

    def factory(self) -> SMTP:
        return ScriptedSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServer:
    """A running aiosmtpd and its handler."""

    host: str
    port: int
    handler: ScriptedHandler
    controller: ScriptedController


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on a free port of 127.0.0.1 with a ScriptedHandler (script empty: all accepted)."""
    handler = ScriptedHandler()
    port = free_port()
    controller = ScriptedController(handler, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler, controller)
    finally:
        controller.stop()
