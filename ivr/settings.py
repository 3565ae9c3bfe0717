"""Where things are and which ports they use: one frozen value built from ``--root`` and the environment.

Every port is on 127.0.0.1 unless configured. AMI and SIP use ports of our own (5038 and 5060 are
often taken on a developer machine). Environment variables let tests and operators move them:
IVR_AGI_PORT, IVR_WEB_PORT, IVR_AMI_PORT, IVR_SIP_PORT, IVR_TRUNK_IP, IVR_SIM_OPERATORS,
IVR_AGI_SESSION_LIMIT, IVR_WSS_PORT, IVR_STORE_DSN, IVR_FASTAGI_URLS.

Addresses, for Asterisk and our service on different hosts (docs/deploy.md): IVR_LISTEN_HOST (where
`ivr serve` listens: FastAGI and web), IVR_AGI_HOST (where Asterisk reaches our FastAGI; the list
IVR_FASTAGI_URLS, when set, says it for every service), IVR_AMI_HOST (Asterisk's AMI: where our
service connects and where Asterisk binds it) and IVR_AMI_PERMIT (the addresses Asterisk accepts our
service's AMI login from). Each defaults to loopback: nothing listens beyond this host unless asked.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise SystemExit(f"{name}={raw!r}: expected a whole number") from error


# A FastAGI service as the dialplan names it: agi://host[:port], nothing that Asterisk's parser would
# read as more (',' ends an argument, '$' starts an expression). The script (/112, /overflow) is added there.
FASTAGI_URL = re.compile(r"agi://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def fastagi_urls(raw: str) -> tuple[str, ...]:
    """IVR_FASTAGI_URLS: comma-separated ``agi://host:port``, tried in this order; ValueError if any is not."""
    urls = tuple(part.strip() for part in raw.split(",") if part.strip())
    bad = [url for url in urls if not FASTAGI_URL.fullmatch(url)]
    if bad:
        raise ValueError(f"expected agi://host:port, comma-separated; not: {', '.join(map(repr, bad))}")
    return urls


# A host as the rendered configuration and the URLs name it: an IP address or a DNS name, nothing else
# (it is written into manager.conf, the dialplan's FastAGI URLs and printed links).
HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")
# "Every interface": fine to listen on, meaningless as an address to reach.
WILDCARDS = ("0.0.0.0", "::")


def _env_host(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip()
    if raw and not HOST.fullmatch(raw):
        raise SystemExit(f"{name}={raw!r}: expected an IP address or a host name")
    return raw or default


def _env_networks(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated addresses or networks (10.0.0.5, 10.0.0.0/24), as Asterisk's permit= takes them."""
    parts = tuple(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())
    for part in parts:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError as error:
            raise SystemExit(f"{name}: {part!r} is not an address or network ({error})") from error
    return parts or default


def _env_urls(name: str) -> tuple[str, ...]:
    try:
        return fastagi_urls(os.environ.get(name, ""))
    except ValueError as error:
        raise SystemExit(f"{name}: {error}") from error


@dataclass(frozen=True)
class Settings:
    root: Path
    # Asterisk's own address for phones: SIP and the browsers' WSS bind there, the WSS certificate and
    # the console's wss:// URL name it. Also the default of listen_host, agi_host and ami_host (below),
    # so a setting made for one host moves everything as before.
    host: str = "127.0.0.1"
    # Where `ivr serve` listens (FastAGI and web). Empty: ``host``. A wildcard (0.0.0.0, ::) needs
    # agi_host (or fastagi_urls): Asterisk cannot dial "every interface".
    listen_host: str = ""
    # Where Asterisk reaches our FastAGI service (the dialplan's agi:// URL). Empty: the listen address.
    agi_host: str = ""
    # Where Asterisk's AMI is: our service connects there, and Asterisk binds it there (manager.conf).
    # Empty: ``host``.
    ami_host: str = ""
    # Addresses or networks Asterisk accepts our service's AMI account from (manager.conf permit=);
    # the service's own address when it runs on another host.
    ami_permit: tuple[str, ...] = ("127.0.0.1",)
    agi_port: int = 4573
    web_port: int = 8112
    ami_port: int = 15038
    sip_port: int = 15060
    # Asterisk's HTTPS server (TLS only, on ``host``): the browser phones' SIP over secure WebSocket.
    wss_port: int = 18089
    # Source address of the telco's 112 trunk; calls from it are identified by IP, not by password.
    trunk_ip: str = "127.0.0.2"
    # Local-channel "operators" that answer and hold a caller in silence: a test and demo device only
    # (`ivr up --demo`, the tests). Never on by default: they would take real 112 callers.
    sim_operators: int = 0
    # Upper bound, in seconds, of one FastAGI session; past it the dialplan queues the caller itself.
    # None (the default): derived at render time from the flows' worst case (ivr.asterisk.render).
    agi_session_limit: int | None = None
    # The address RTP (the callers' audio) binds to and announces in SDP. Loopback unless the trunk's
    # media comes from elsewhere; never all interfaces.
    media_address: str = "127.0.0.1"
    # Keys from AMI's DTMF events (Asterisk drops keys pressed between two AGI commands; AMI does not).
    # Off only to measure what it saves (bench/run_asterisk.py --ledger both).
    dtmf_ledger: bool = True
    # How Asterisk reaches a citizen on a callback; {number} is the checked number. Tests use a
    # simulated callee (Local/{number}@siaga-sim-callee).
    callback_dial: str = "PJSIP/{number}@telco-112"
    # PostgreSQL for every store (calls, flags, incidents, console, audit), e.g.
    # postgresql://siaga@db.example/siaga112: services sharing it see each other's writes. Empty: the
    # SQLite files under var/.
    store_dsn: str = ""
    # The FastAGI services the dialplan tries in order, each at once after the one before refused or
    # ended without a route; empty (the default): our own service only, at ``agi_url``.
    fastagi_urls: tuple[str, ...] = ()

    @classmethod
    def load(cls, root: Path | str = ".") -> Settings:
        base = cls(root=Path(root).resolve())
        loaded = replace(
            base,
            agi_port=_env_int("IVR_AGI_PORT", base.agi_port),
            web_port=_env_int("IVR_WEB_PORT", base.web_port),
            ami_port=_env_int("IVR_AMI_PORT", base.ami_port),
            sip_port=_env_int("IVR_SIP_PORT", base.sip_port),
            wss_port=_env_int("IVR_WSS_PORT", base.wss_port),
            trunk_ip=os.environ.get("IVR_TRUNK_IP", base.trunk_ip),
            sim_operators=_env_int("IVR_SIM_OPERATORS", base.sim_operators),
            agi_session_limit=_env_int("IVR_AGI_SESSION_LIMIT", 0) or None,
            media_address=os.environ.get("IVR_MEDIA_ADDRESS", base.media_address),
            dtmf_ledger=os.environ.get("IVR_DTMF_LEDGER", "1") != "0",
            callback_dial=os.environ.get("IVR_CALLBACK_DIAL", base.callback_dial),
            store_dsn=os.environ.get("IVR_STORE_DSN", "").strip(),
            fastagi_urls=_env_urls("IVR_FASTAGI_URLS"),
            listen_host=_env_host("IVR_LISTEN_HOST", base.listen_host),
            agi_host=_env_host("IVR_AGI_HOST", base.agi_host),
            ami_host=_env_host("IVR_AMI_HOST", base.ami_host),
            ami_permit=_env_networks("IVR_AMI_PERMIT", base.ami_permit),
        )
        if loaded.service_host in WILDCARDS and not (loaded.agi_host or loaded.fastagi_urls):
            raise SystemExit(
                f"IVR_LISTEN_HOST={loaded.service_host}: every interface is no address Asterisk can dial; "
                "set IVR_AGI_HOST (or IVR_FASTAGI_URLS) to the address Asterisk reaches this service at"
            )
        return loaded

    @property
    def service_host(self) -> str:
        """Where `ivr serve` listens: FastAGI and web."""
        return self.listen_host or self.host

    @property
    def ami_address(self) -> str:
        """Asterisk's AMI: where our service (and `ivr call`) connects, and where Asterisk binds it."""
        return self.ami_host or self.host

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def asterisk_dir(self) -> Path:
        """Everything the running Asterisk reads and writes: etc, lib, spool, run, log, data."""
        return self.var / "asterisk"

    @property
    def sounds_dir(self) -> Path:
        return self.asterisk_dir / "data" / "sounds"

    @property
    def store_file(self) -> Path:
        return self.var / "siaga112.sqlite3"

    @property
    def store_target(self) -> Path | str:
        """Where calls, flags and incidents are stored (``ivr.store.db``): the DSN, or the SQLite file."""
        return self.store_dsn or self.store_file

    @property
    def console_store_target(self) -> Path | str:
        """Where console sessions, positions and the audit are stored: the DSN, or their own SQLite file."""
        return self.store_dsn or self.console_store_file

    @property
    def passwords_file(self) -> Path:
        """Operators' console password hashes (``ivr passwd``); the directory is the service's alone (0700)."""
        return self.var / "operators" / "passwords.json"

    @property
    def console_store_file(self) -> Path:
        """Console sessions, operators' positions and the audit log."""
        return self.var / "console.sqlite3"

    @property
    def secrets_file(self) -> Path:
        return self.var / "secrets.json"

    @property
    def wss_url(self) -> str:
        """Where the console's browser phone (JsSIP) connects: Asterisk's ``/ws`` over TLS."""
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address needs brackets in a URL
        return f"wss://{host}:{self.wss_port}/ws"

    @property
    def agi_url(self) -> str:
        """Our own FastAGI service as Asterisk dials it."""
        host = self.agi_host or (self.service_host if self.service_host not in WILDCARDS else "127.0.0.1")
        host = f"[{host}]" if ":" in host else host  # an IPv6 address needs brackets in a URL
        return f"agi://{host}:{self.agi_port}"

    @property
    def agi_urls(self) -> tuple[str, ...]:
        """The FastAGI services to try, in order (at least our own)."""
        return self.fastagi_urls or (self.agi_url,)
