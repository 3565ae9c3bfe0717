"""The self-signed certificate of Asterisk's WSS server (the operators' browser phones), made at render."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import structlog

from ivr.settings import Settings

log = structlog.get_logger("ivr.asterisk")

CERT_DAYS = 365
# A certificate that expires within a day is made again (Asterisk reads it at start and reload).
CERT_RENEW_BEFORE = 86400


class CertificateError(Exception):
    code = "certificate_failed"


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def tls_certificate(settings: Settings) -> TlsFiles:
    """The WSS server's self-signed certificate for ``settings.host`` under var/asterisk/keys (0600),
    made with the openssl CLI when missing or about to expire, else left as it is (a browser that
    accepted it once keeps accepting it). The openssl CLI and not Python's ``cryptography``: one
    certificate does not justify a compiled dependency, and openssl is on every Debian with
    ca-certificates (``./siaga`` installs it otherwise)."""
    keys = settings.asterisk_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    keys.chmod(0o700)
    # One pair per address: a changed IVR host gets a certificate that names it.
    stem = "wss-" + re.sub(r"[^A-Za-z0-9.]", "_", settings.host)
    files = TlsFiles(keys / f"{stem}.crt", keys / f"{stem}.key")
    if files.key.exists() and _valid(files.cert):
        return files
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateError(
            "openssl not found: install it (Debian: apt-get install openssl) to make the WSS certificate"
        )
    try:
        ipaddress.ip_address(settings.host)
        san = f"IP:{settings.host}"
    except ValueError:
        san = f"DNS:{settings.host}"
    tmp_cert, tmp_key = files.cert.with_suffix(".crt.tmp"), files.key.with_suffix(".key.tmp")
    argv = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", str(CERT_DAYS), "-subj", f"/O=Siaga 112/CN={settings.host}", "-addext", f"subjectAltName={san}",
        "-keyout", str(tmp_key), "-out", str(tmp_cert),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, umask=0o077)
    if done.returncode != 0:
        raise CertificateError(f"openssl could not make the WSS certificate: {done.stderr.strip()[-300:]}")
    for path in (tmp_cert, tmp_key):
        path.chmod(0o600)
    tmp_key.replace(files.key)
    tmp_cert.replace(files.cert)
    log.info("wss_certificate_made", cert=str(files.cert), days=CERT_DAYS)
    return files


def _valid(cert: Path) -> bool:
    if not cert.exists() or shutil.which("openssl") is None:
        return False
    argv = ["openssl", "x509", "-noout", "-checkend", str(CERT_RENEW_BEFORE), "-in", str(cert)]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0
