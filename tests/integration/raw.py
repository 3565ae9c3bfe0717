"""Fault injection without our own client code: raw SIP over UDP from the trunk's address, raw AMI.

Both speak the wire protocol directly, so a test can send what no well-behaved client would (any
request-URI user, escaped newlines in a From header, actions an account should not be allowed).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote

# Left unescaped in a SIP URI's user part (a subset of RFC 3261's); everything else is %-escaped.
SIP_USER_SAFE = "-_.!~*'()+"


@dataclass
class SipMessage:
    first_line: str
    headers: list[tuple[str, str]]
    body: str

    @property
    def status(self) -> int:
        parts = self.first_line.split(" ", 2)
        return int(parts[1]) if parts[0] == "SIP/2.0" else 0

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key.lower() == name.lower()), "")

    @property
    def cseq_method(self) -> str:
        return self.header("CSeq").split()[-1]

    def media(self) -> tuple[str, int]:
        """(address, port) of the SDP's audio stream."""
        address = re.search(r"^c=IN IP4 (\S+)", self.body, re.M)
        port = re.search(r"^m=audio (\d+) ", self.body, re.M)
        assert address and port, self.body
        return address.group(1), int(port.group(1))


def quoted_name(name: str) -> str:
    """A display name as it stands between the quotes of a From header (what Asterisk then holds)."""
    return name.replace("\\", "\\\\").replace('"', '\\"')


def parse_sip(data: bytes) -> SipMessage:
    head, _, body = data.decode("utf-8", errors="replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = [(key.strip(), value.strip()) for key, _, value in (line.partition(":") for line in lines[1:])]
    return SipMessage(lines[0], headers, body)


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.messages: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio's own class is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.messages.put_nowait(parse_sip(data))


@dataclass
class TrunkCall:
    """One call from the telco trunk: an INVITE from ``source`` (the trunk's IP) to Asterisk."""

    source: str
    asterisk: tuple[str, int]
    user: str | None  # request-URI user (None: a URI without a user part)
    from_number: str
    from_name: str = "Warga"
    call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    final: SipMessage | None = None
    _inbox: _Inbox = field(default_factory=_Inbox)
    _port: int = 0
    _target: str = ""
    _to: str = ""
    _cseq: int = 1

    async def __aenter__(self) -> TrunkCall:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self._inbox, local_addr=(self.source, 0))
        assert self._inbox.transport is not None
        self._port = self._inbox.transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        try:
            if self.final is not None and self.final.status == 200:
                await self.bye()
        finally:
            if self._inbox.transport is not None:
                self._inbox.transport.close()

    @property
    def request_uri(self) -> str:
        host, port = self.asterisk
        user = "" if self.user is None else quote(self.user, safe=SIP_USER_SAFE) + "@"
        return f"sip:{user}{host}:{port}"

    def _send(self, text: str) -> None:
        assert self._inbox.transport is not None
        self._inbox.transport.sendto(text.replace("\n", "\r\n").encode(), self.asterisk)

    def _headers(self, method: str, cseq: int, branch: str, to: str) -> str:
        number = quote(self.from_number, safe=SIP_USER_SAFE)
        name = quoted_name(self.from_name)
        return (
            f"Via: SIP/2.0/UDP {self.source}:{self._port};branch=z9hG4bK{branch};rport\n"
            f"Max-Forwards: 70\n"
            f'From: "{name}" <sip:{number}@{self.source}>;tag={self.tag}\n'
            f"To: {to}\n"
            f"Call-ID: {self.call_id}@{self.source}\n"
            f"CSeq: {cseq} {method}\n"
            f"Contact: <sip:trunk@{self.source}:{self._port}>\n"
        )

    async def invite(self, timeout: float = 10.0) -> SipMessage:
        """Send the INVITE (retransmitted until answered) and return the final response, ACKed."""
        sdp = (
            f"v=0\no=- 1 1 IN IP4 {self.source}\ns=-\nc=IN IP4 {self.source}\nt=0 0\n"
            f"m=audio {self._port + 2} RTP/AVP 8 0 101\na=rtpmap:8 PCMA/8000\na=rtpmap:0 PCMU/8000\n"
            "a=rtpmap:101 telephone-event/8000\na=sendrecv\n"
        )
        branch = secrets.token_hex(6)
        to = f"<{self.request_uri}>"
        invite = (
            f"INVITE {self.request_uri} SIP/2.0\n"
            + self._headers("INVITE", 1, branch, to)
            + f"Content-Type: application/sdp\nContent-Length: {len(sdp) + sdp.count(chr(10))}\n\n"
            + sdp
        )
        deadline = asyncio.get_running_loop().time() + timeout
        provisional = False
        while self.final is None:
            if not provisional:
                self._send(invite)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no final response to INVITE {self.request_uri} within {timeout}s")
            try:
                message = await asyncio.wait_for(self._inbox.messages.get(), min(0.5, remaining))
            except TimeoutError:
                continue
            if message.cseq_method != "INVITE" or not message.status:
                continue
            provisional = provisional or message.status < 200
            if message.status >= 200:
                self.final = message
        self._to = self.final.header("To")
        if self.final.status >= 300:
            # A transaction-level ACK: same branch, the request-URI of the INVITE.
            self._send(
                f"ACK {self.request_uri} SIP/2.0\n"
                + self._headers("ACK", 1, branch, self._to)
                + "Content-Length: 0\n\n"
            )
            return self.final
        contact = re.search(r"<([^>]+)>", self.final.header("Contact"))
        self._target = contact.group(1) if contact else self.request_uri
        self._send(
            f"ACK {self._target} SIP/2.0\n"
            + self._headers("ACK", 1, secrets.token_hex(6), self._to)
            + "Content-Length: 0\n\n"
        )
        return self.final

    async def bye(self, timeout: float = 5.0) -> None:
        self._cseq += 1
        request = (
            f"BYE {self._target} SIP/2.0\n"
            + self._headers("BYE", self._cseq, secrets.token_hex(6), self._to)
            + "Content-Length: 0\n\n"
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            self._send(request)
            try:
                message = await asyncio.wait_for(self._inbox.messages.get(), 0.5)
            except TimeoutError:
                continue
            if message.cseq_method == "BYE" and message.status >= 200:
                return
            if message.first_line.startswith("BYE "):
                return  # Asterisk ended the call first
        raise AssertionError(f"BYE for {self.call_id} not answered within {timeout}s")


class RawAmi:
    """One AMI session over a plain socket: login, actions, responses (events are not requested)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._next_id = 0

    @classmethod
    async def login(cls, port: int, user: str, secret: str) -> tuple[RawAmi, dict[str, str]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.wait_for(reader.readline(), 5)  # "Asterisk Call Manager/x.y.z"
        session = cls(reader, writer)
        reply = await session.action({"Action": "Login", "Username": user, "Secret": secret, "Events": "off"})
        return session, reply

    async def action(self, fields: dict[str, str], timeout: float = 5.0) -> dict[str, str]:
        self._next_id += 1
        action_id = f"fault-{self._next_id}"
        text = "".join(f"{key}: {value}\r\n" for key, value in {**fields, "ActionID": action_id}.items())
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()
        while True:
            message = await asyncio.wait_for(self._read_message(), timeout)
            if message.get("ActionID") == action_id and "Response" in message:
                return message

    async def _read_message(self) -> dict[str, str]:
        message: dict[str, str] = {}
        while True:
            line = (await self.reader.readline()).decode(errors="replace")
            if not line:
                raise ConnectionError("AMI closed the connection")
            line = line.rstrip("\r\n")
            if not line:
                if message:
                    return message
                continue
            key, _, value = line.partition(":")
            message[key.strip()] = value.strip()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
