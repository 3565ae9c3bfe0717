"""A minimal SIP phone over UDP for the bench's simulated operators: registers with digest auth, rings,
answers when told, hangs up when told, and answers what Asterisk asks of a registered phone (OPTIONS,
BYE, CANCEL). No audio: it answers with a G.711 offer and ignores the RTP that comes (the bench's
operator endpoints have no RTP timeout; see asterisk_run.plain_operator_phones).

Why our own and not sipp or baresip: one asyncio process drives every operator (2 cores shared), and
the bench decides per call when the phone answers and hangs up (the model's answer delay and talk
time), which sipp's scenarios and baresip's auto-answer cannot take from a Python controller without
a control channel of their own. The wire format is tests/integration/raw.py's.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from tests.integration.raw import SipMessage, parse_sip

REGISTER_SECONDS = 60  # the operator AOR's maximum_expiration (ivr.asterisk.phones.REGISTRATION_SECONDS)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest (RFC 2617) is MD5


def digest_authorization(challenge: str, user: str, password: str, method: str, uri: str) -> str:
    """The Authorization header answering a ``WWW-Authenticate: Digest ...`` challenge (qop auth or none)."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = fields["realm"], fields["nonce"]
    ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"{method}:{uri}")
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"', "algorithm=MD5"]
    if "auth" in fields.get("qop", "").split(","):
        cnonce, count = secrets.token_hex(8), "00000001"
        response = _md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    if "opaque" in fields:
        parts.append(f'opaque="{fields["opaque"]}"')
    return "Digest " + ", ".join([*parts, f'response="{response}"'])


@dataclass
class Incoming:
    """A call ringing this phone (an INVITE from Asterisk), then answered or cancelled."""

    invite: SipMessage
    to_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    answered: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class SipPhone(asyncio.DatagramProtocol):
    """One operator's phone: ``await register()``, then ``rings`` yields each incoming call."""

    def __init__(self, asterisk: tuple[str, int], user: str, password: str) -> None:
        self.asterisk = asterisk
        self.user = user
        self.password = password
        self.rings: asyncio.Queue[Incoming] = asyncio.Queue()
        self.calls: dict[str, Incoming] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._replies: asyncio.Queue[SipMessage] = asyncio.Queue()
        self._cseq = 0
        self._call_id = secrets.token_hex(8)

    # asyncio.DatagramProtocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio's own class is not a subclass
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        message = parse_sip(data)
        if message.status:
            self._replies.put_nowait(message)
            return
        method = message.first_line.split(" ", 1)[0]
        call = self.calls.get(message.header("Call-ID"))
        if method == "INVITE" and call is None:
            call = self.calls[message.header("Call-ID")] = Incoming(message)
            self._reply(message, 180, "Ringing", call.to_tag)
            self.rings.put_nowait(call)
        elif method == "INVITE" and call is not None:  # a retransmission
            self._reply(message, 200 if call.answered else 180, "OK" if call.answered else "Ringing", call.to_tag)
        elif method == "CANCEL" and call is not None:
            self._reply(message, 200, "OK")
            self._reply(call.invite, 487, "Request Terminated", call.to_tag)
            self._end(call)
        elif method == "BYE" and call is not None:
            self._reply(message, 200, "OK")
            self._end(call)
        elif method != "ACK":
            self._reply(message, 200, "OK")  # OPTIONS (qualify), or a BYE of a call already ended

    async def register(self, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        if self.transport is None:
            await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        uri = f"sip:{self.asterisk[0]}:{self.asterisk[1]}"
        authorization = ""
        for _attempt in range(2):
            self._cseq += 1
            self._send(
                f"REGISTER {uri} SIP/2.0\r\n"
                + self._via()
                + f"From: <sip:{self.user}@{self.asterisk[0]}>;tag={secrets.token_hex(4)}\r\n"
                + f"To: <sip:{self.user}@{self.asterisk[0]}>\r\n"
                + f"Call-ID: {self._call_id}\r\nCSeq: {self._cseq} REGISTER\r\n"
                + f"Contact: <sip:{self.user}@127.0.0.1:{self.port}>\r\nExpires: {REGISTER_SECONDS}\r\n"
                + (f"Authorization: {authorization}\r\n" if authorization else "")
                + "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            reply = await self._final("REGISTER", timeout)
            if reply.status == 200:
                return
            if reply.status != 401:
                break
            authorization = digest_authorization(
                reply.header("WWW-Authenticate"), self.user, self.password, "REGISTER", uri
            )
        raise ConnectionError(f"REGISTER of {self.user} refused: {reply.first_line}")

    async def keep_registered(self) -> None:
        """Renew the registration before it lapses, as long as the phone lives."""
        while True:
            await asyncio.sleep(REGISTER_SECONDS / 2)
            await self.register()

    def answer(self, call: Incoming) -> None:
        if call.ended.is_set():
            return
        call.answered = True
        sdp = (
            f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {self.port + 2} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
        )
        self._reply(call.invite, 200, "OK", call.to_tag, sdp)

    def hang_up(self, call: Incoming) -> None:
        """BYE in the dialog of an answered call (its end is Asterisk's 200, or its own BYE)."""
        if call.ended.is_set() or not call.answered:
            return
        invite = call.invite
        contact = re.search(r"<([^>]+)>", invite.header("Contact"))
        self._cseq += 1
        self._send(
            f"BYE {contact.group(1) if contact else invite.first_line.split()[1]} SIP/2.0\r\n"
            + self._via()
            + f"From: {invite.header('To')};tag={call.to_tag}\r\nTo: {invite.header('From')}\r\n"
            + f"Call-ID: {invite.header('Call-ID')}\r\nCSeq: {self._cseq} BYE\r\n"
            + "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        self._end(call)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _end(self, call: Incoming) -> None:
        call.ended.set()
        self.calls.pop(call.invite.header("Call-ID"), None)

    def _via(self) -> str:
        return f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"

    def _reply(self, request: SipMessage, status: int, reason: str, to_tag: str = "", sdp: str = "") -> None:
        to = request.header("To")
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        vias = "".join(f"Via: {value}\r\n" for key, value in request.headers if key.lower() in ("via", "v"))
        self._send(
            f"SIP/2.0 {status} {reason}\r\n{vias}"
            + f"From: {request.header('From')}\r\nTo: {to}\r\nCall-ID: {request.header('Call-ID')}\r\n"
            + f"CSeq: {request.header('CSeq')}\r\nContact: <sip:{self.user}@127.0.0.1:{self.port}>\r\n"
            + ("Content-Type: application/sdp\r\n" if sdp else "")
            + f"Content-Length: {len(sdp.encode())}\r\n\r\n{sdp}"
        )

    def _send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), self.asterisk)

    async def _final(self, method: str, timeout: float) -> SipMessage:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no final response to {method} of {self.user} within {timeout}s")
            reply = await asyncio.wait_for(self._replies.get(), remaining)
            if reply.cseq_method == method and reply.status >= 200:
                return reply
