"""A throw-away PostgreSQL cluster for tests: Debian's server binaries, a fresh data directory in a
temporary folder, a free port on 127.0.0.1 and a unix socket beside the data, stopped and deleted
at the end. PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
system user (Debian's package creates it) and its commands run through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

# The cluster's superuser: trust authentication, reachable only from this machine.
USER = "siaga"


class PostgresUnavailable(RuntimeError):
    pass


def server_binaries() -> Path:
    """The directory of initdb and pg_ctl: on PATH, or Debian's newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    if not versions:
        raise PostgresUnavailable("no initdb: install Debian's postgresql package (apt-get install postgresql)")
    return Path(versions[-1]).parent


@dataclass(frozen=True)
class Cluster:
    directory: Path
    port: int

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.directory} port={self.port} user={USER} dbname={database}"

    def tcp_dsn(self, database: str = "postgres") -> str:
        """The same server over TCP (what a second host or a container would use)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    binaries = server_binaries()
    directory = Path(tempfile.mkdtemp(prefix="siaga-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as missing:
            raise PostgresUnavailable("running as root and there is no 'postgres' user to own the cluster") from missing
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = directory / "data", free_port()

    log = directory / "server.log"

    def run(*command: str) -> None:
        done = subprocess.run([*as_owner, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            server_said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(command)}: exit {done.returncode}\n{done.stdout}{done.stderr}{server_said}"
            )

    started = False
    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off -c full_page_writes=off"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        started = True
        yield Cluster(directory, port)
    finally:
        if started:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)
