"""Running our Asterisk: start (detached, own process group), ready (AMI FullyBooted), status, stop.

The pid file names the process group leader; stop signals the whole group, so bubblewrap and the
Asterisk inside it go together, and escalates to SIGKILL if Asterisk does not exit in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import structlog

from ivr.ami.client import AmiClient, AmiError
from ivr.asterisk.lastline import read_only_binds
from ivr.asterisk.provision import AsteriskInstall
from ivr.asterisk.render import PRIVATE_DIR_MODE, load_secrets, runtime_dirs
from ivr.settings import Settings

log = structlog.get_logger("ivr.asterisk")

# What Asterisk creates (queue_log, CDR, messages.log, astdb) holds caller numbers: owner read-write,
# group read, nothing for others. Asterisk itself sets no umask, so it inherits ours.
ASTERISK_UMASK = 0o027


class AsteriskStartError(Exception):
    code = "asterisk_start_failed"


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    ready: bool
    detail: str


def _pid_file(settings: Settings) -> Path:
    return settings.asterisk_dir / "siaga-asterisk.pid"


def _console_log(settings: Settings) -> Path:
    return settings.asterisk_dir / "log" / "console.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def running_pid(settings: Settings) -> int | None:
    try:
        pid = int(_pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    # The leader (bubblewrap under a sid root) may be gone while Asterisk in its group lives on: that
    # Asterisk still holds the ports, so it is still "running" (and `stop` signals the whole group).
    return pid if _alive(pid) or _group_alive(pid) else None


async def wait_ready(settings: Settings, timeout: float = 30.0, pid: int | None = None) -> None:
    """Ready means: AMI accepts our login and reports FullyBooted."""
    keys = load_secrets(settings, create=False)
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if pid is not None and not _alive(pid):
            raise AsteriskStartError(
                f"Asterisk exited during start-up; see {_console_log(settings)}:\n" + _tail(_console_log(settings))
            )
        client = AmiClient(settings.ami_address, settings.ami_port, keys.ami_user, keys.ami_secret)
        try:
            await client.connect(timeout=min(3.0, max(0.5, deadline - time.monotonic())))
            return
        except (AmiError, OSError) as error:
            last_error = str(error)
        finally:
            await client.close()
        await asyncio.sleep(0.2)
    raise AsteriskStartError(f"Asterisk not ready within {timeout:.0f}s ({last_error}); see {_console_log(settings)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _close_to_others(log_dir: Path) -> None:
    """Logs written by an older version (or another umask) lose their group-write and world bits."""
    for path in (log_dir, *log_dir.rglob("*")):
        mode = path.lstat().st_mode
        if not path.is_symlink() and mode & 0o027:
            path.chmod(mode & 0o7750)


def start(settings: Settings, install: AsteriskInstall, conf: Path, timeout: float = 30.0) -> int:
    """Start Asterisk detached (or reuse the running one) and wait until it is ready."""
    pid = running_pid(settings)
    if pid is None:
        console = _console_log(settings)
        # cdr_csv creates no directory: without this one no call would leave a CDR.
        runtime_dirs(settings)["cdr_csv_dir"].mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        _close_to_others(console.parent)
        argv = install.command(
            ["-C", str(conf), "-f", "-n"], shared_dirs=[settings.var], read_only=read_only_binds(settings)
        )
        with open(os.open(console, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640), "ab") as out:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                umask=ASTERISK_UMASK,
            )
        pid = process.pid
        _pid_file(settings).write_text(f"{pid}\n")
        log.info(
            "asterisk_started", pid=pid, version=install.version, rootfs=str(install.rootfs) if install.rootfs else None
        )
    started = time.monotonic()
    try:
        asyncio.run(wait_ready(settings, timeout, pid))
    except AsteriskStartError:
        stop(settings)
        raise
    log.info(
        "asterisk_ready",
        pid=pid,
        seconds=round(time.monotonic() - started, 2),
        ami_port=settings.ami_port,
        sip_port=settings.sip_port,
    )
    return pid


def stop(settings: Settings, timeout: float = 10.0) -> bool:
    """Stop the whole process group; True if something was running."""
    pid = running_pid(settings)
    if pid is None:
        _pid_file(settings).unlink(missing_ok=True)
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.05)
        if not _group_alive(pid):
            break
        log.warning("asterisk_stop_escalated", pid=pid)
    _reap(pid)
    _pid_file(settings).unlink(missing_ok=True)
    log.info("asterisk_stopped", pid=pid)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _processes() -> Iterator[tuple[int, str, str, int]]:
    """(pid, command name, state, process group) of every process, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat.split("(", 1)[1].rsplit(")", 1)[0]
        fields = stat.rsplit(") ", 1)[1].split()
        yield int(entry.name), name, fields[0], int(fields[2])


def _group_alive(pgid: int) -> bool:
    return any(state != "Z" and group == pgid for _pid, _name, state, group in _processes())


def _asterisk_pid(pgid: int) -> int | None:
    """The Asterisk process itself in our process group (under bubblewrap the leader is bwrap)."""
    return next((pid for pid, name, _state, group in _processes() if name == "asterisk" and group == pgid), None)


def reload(settings: Settings) -> bool:
    """Full reload of the running Asterisk (SIGHUP): calls in progress and AMI sessions survive it.

    SIGHUP goes to Asterisk alone: bubblewrap would take it as a reason to exit.
    """
    leader = running_pid(settings)
    pid = _asterisk_pid(leader) if leader is not None else None
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    log.info("asterisk_reloaded", pid=pid)
    return True


def status(settings: Settings) -> Status:
    pid = running_pid(settings)
    if pid is None:
        return Status(False, None, False, "not running")
    try:
        asyncio.run(wait_ready(settings, timeout=3.0, pid=pid))
    except (AsteriskStartError, OSError) as error:
        return Status(True, pid, False, f"running, AMI not ready: {error}")
    return Status(True, pid, True, f"running (pid {pid}), AMI ready on {settings.ami_address}:{settings.ami_port}")


def run_foreground(settings: Settings, install: AsteriskInstall, conf: Path) -> NoReturn:
    """Become Asterisk (exec), in the foreground: for a supervisor (systemd) that restarts it itself.

    The pid file names this process, so `ivr asterisk status` and `ivr up` see the same Asterisk.
    """
    if (pid := running_pid(settings)) is not None:
        raise AsteriskStartError(f"Asterisk already runs for {settings.root} (pid {pid})")
    argv = install.command(
        ["-C", str(conf), "-f", "-n"], shared_dirs=[settings.var], foreground=True, read_only=read_only_binds(settings)
    )
    # Our own process group, so that `ivr asterisk stop` (killpg) stops Asterisk and nothing else.
    with contextlib.suppress(PermissionError):  # already a group leader (systemd makes it one)
        os.setsid()
    _pid_file(settings).write_text(f"{os.getpid()}\n")
    os.umask(ASTERISK_UMASK)
    log.info("asterisk_exec", pid=os.getpid(), version=install.version)
    os.execvp(argv[0], argv)
