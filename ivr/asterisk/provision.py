"""Finding a real Asterisk 20+, or provisioning one as a Debian sid root made with debootstrap.

An ``asterisk`` on PATH is used as it is. Otherwise, as root on Debian, a minimal sid root with
``asterisk`` and ``asterisk-modules`` is built once into a cache directory and run under bubblewrap
(private mounts that vanish with the process). The build happens in ``<cache>.partial`` and is renamed
into place only when complete, under a lock: interrupting it and running again is safe.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("ivr.asterisk")

MIN_MAJOR = 20
READY_MARK = ".siaga112-ready"
HOST_PACKAGES = ("debootstrap", "bubblewrap")
# The last line (ivr.agi.lastline) is a classic AGI script: Asterisk starts it inside the root, so the
# root needs a Python with PyYAML (our pure-Python modules are bound in read-only: ivr.asterisk.lastline).
ROOT_PYTHON = "/usr/bin/python3"
ROOT_PYTHON_PACKAGES = ("python3", "python3-yaml")


class AsteriskUnavailable(Exception):
    """Neither an installed Asterisk nor a way to provision one. The message says what to install."""

    code = "asterisk_unavailable"


@dataclass(frozen=True)
class AsteriskInstall:
    """How to run one Asterisk: on the host (``rootfs`` None) or inside a provisioned root."""

    binary: str
    module_dir: str
    version: str
    rootfs: Path | None = None
    # The package's data dir: Asterisk needs its XML documentation to register config options.
    data_dir: str = "/usr/share/asterisk"

    def command(
        self,
        args: Sequence[str],
        shared_dirs: Sequence[Path] = (),
        foreground: bool = False,
        read_only: Sequence[Path] = (),
    ) -> list[str]:
        """The argv that runs ``asterisk ARGS``; ``shared_dirs`` appear at the same path inside, and
        ``read_only`` too, not writable (what the last-line script reads: ivr.asterisk.lastline).

        ``foreground``: Asterisk must not outlive the process a supervisor watches (bubblewrap's
        ``--die-with-parent``); detached (``ivr up``), it must outlive us, so it is not set there.
        """
        if self.rootfs is None:
            return [self.binary, *args]
        argv = [
            "bwrap",
            "--bind",
            str(self.rootfs),
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--share-net",
            *(["--die-with-parent"] if foreground else []),
        ]
        for directory in shared_dirs:
            argv += ["--bind", str(directory), str(directory)]
        for path in read_only:
            argv += ["--ro-bind", str(path), str(path)]
        return [*argv, self.binary, *args]


def default_cache_dir() -> Path:
    configured = os.environ.get("IVR_ASTERISK_ROOTFS")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/siaga112/asterisk-sid")
    return Path.home() / ".cache" / "siaga112" / "asterisk-sid"


def _version(argv: list[str]) -> str:
    done = subprocess.run([*argv, "-V"], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip()


def _major(version: str) -> int:
    match = re.search(r"Asterisk (?:certified-)?(\d+)", version)
    return int(match.group(1)) if match else 0


def _module_dir(root: Path) -> str:
    for candidate in [
        *sorted(root.glob("usr/lib/*/asterisk/modules")),
        root / "usr/lib/asterisk/modules",
        root / "usr/lib64/asterisk/modules",
    ]:
        if (candidate / "res_agi.so").exists():
            return "/" + str(candidate.relative_to(root))
    raise AsteriskUnavailable(f"no Asterisk module directory with res_agi.so under {root}")


def _data_dir(root: Path) -> str:
    for candidate in ("usr/share/asterisk", "var/lib/asterisk", "usr/local/share/asterisk"):
        if (root / candidate / "documentation").is_dir():
            return "/" + candidate
    raise AsteriskUnavailable(f"no Asterisk data directory with documentation/ under {root}")


def find_installed() -> AsteriskInstall | None:
    binary = shutil.which("asterisk")
    if binary is None:
        return None
    version = _version([binary])
    if _major(version) < MIN_MAJOR:
        log.warning("asterisk_too_old", binary=binary, version=version, need=MIN_MAJOR)
        return None
    root = Path("/")
    return AsteriskInstall(binary, _module_dir(root), version, None, _data_dir(root))


def find_provisioned(cache: Path) -> AsteriskInstall | None:
    if not (cache / READY_MARK).exists():
        return None
    install = AsteriskInstall("/usr/sbin/asterisk", _module_dir(cache), "", cache, _data_dir(cache))
    version = _version(install.command([]))
    if _major(version) < MIN_MAJOR:
        return None
    return AsteriskInstall(install.binary, install.module_dir, version, cache, install.data_dir)


def debian_mirror() -> str:
    """The Debian archive this machine's apt sources already use (deb822 or one-line form)."""
    configured = os.environ.get("IVR_DEBIAN_MIRROR")
    if configured:
        return configured
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        if not source.is_file():
            continue
        for line in source.read_text(errors="replace").splitlines():
            line = line.strip()
            urls: list[str] = []
            if line.startswith("URIs:"):
                urls = line.split()[1:]
            elif line.startswith("deb "):
                urls = [part for part in line.split()[1:] if "://" in part][:1]
            for url in urls:
                if url.rstrip("/").endswith("/debian"):
                    return url.rstrip("/")
    raise AsteriskUnavailable("no Debian mirror found in /etc/apt/sources.list*; set IVR_DEBIAN_MIRROR to one")


def _is_debian() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    return bool(re.search(r"^(ID|ID_LIKE)=.*debian", text, re.MULTILINE))


def _root_has_python(root: Path) -> bool:
    return (root / ROOT_PYTHON.lstrip("/")).exists() and any(
        root.glob("usr/lib/python3/dist-packages/yaml/__init__.py")
    )


def _install_in_root(root: Path, packages: Sequence[str], step: str) -> None:
    inside = AsteriskInstall("/bin/sh", "", "", rootfs=root)
    # The mirror's sid Release file can be older than this machine's clock.
    _run(inside.command(["-c", "apt-get -o Acquire::Check-Valid-Until=false update -q"]), "apt-get update (sid)")
    _run(
        inside.command(
            ["-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " + " ".join(packages)]
        ),
        step,
    )


def ensure_root_python(install: AsteriskInstall) -> None:
    """A root built before the last line existed gains its Python (once, as root). Never fatal: without
    it the last-line script cannot start and its calls go to the central queue, as they did before."""
    root = install.rootfs
    if root is None or _root_has_python(root):
        return
    if os.geteuid() != 0:
        log.warning("root_python_missing", rootfs=str(root), packages=" ".join(ROOT_PYTHON_PACKAGES))
        return
    with file_lock(root.with_name(root.name + ".lock")):
        if _root_has_python(root):
            return
        try:
            _install_in_root(root, ROOT_PYTHON_PACKAGES, "install python3 (sid, for the last line)")
        except (AsteriskUnavailable, OSError, subprocess.SubprocessError) as error:
            log.warning("root_python_install_failed", rootfs=str(root), error=str(error))


def _run(argv: list[str], step: str, timeout: float = 1800) -> None:
    started = time.monotonic()
    log.info("provision_step", step=step)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise AsteriskUnavailable(f"{step} failed (exit {done.returncode}):\n" + "\n".join(tail))
    log.info("provision_step_done", step=step, seconds=round(time.monotonic() - started, 1))


def _ensure_host_packages() -> None:
    missing = [
        pkg for pkg, tool in zip(HOST_PACKAGES, ("debootstrap", "bwrap"), strict=True) if shutil.which(tool) is None
    ]
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(install, capture_output=True, env=env, check=False).returncode != 0:
        _run(["apt-get", "update", "-q"], "apt-get update")
        _run(install, "install " + " ".join(missing))


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def provision(cache: Path) -> AsteriskInstall:
    """Build the sid root with Asterisk into ``cache`` (once; later calls reuse it)."""
    if os.geteuid() != 0 or not _is_debian():
        raise AsteriskUnavailable(_how_to_install())
    with file_lock(cache.with_name(cache.name + ".lock")):
        ready = find_provisioned(cache)
        if ready is not None:
            return ready
        _ensure_host_packages()
        partial = cache.with_name(cache.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        mirror = debian_mirror()
        _run(["debootstrap", "--variant=minbase", "sid", str(partial), mirror], "debootstrap sid")
        _install_in_root(partial, ("asterisk", "asterisk-modules", *ROOT_PYTHON_PACKAGES), "install asterisk (sid)")
        (partial / READY_MARK).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        partial.rename(cache)
        installed = find_provisioned(cache)
        if installed is None:
            raise AsteriskUnavailable(f"provisioned {cache} but its Asterisk does not run")
        return installed


def _how_to_install() -> str:
    return (
        f"No Asterisk {MIN_MAJOR}+ found. Install one (Debian sid: 'apt-get install asterisk "
        "asterisk-modules'; Ubuntu 24.04 ships 20.x), or run 'ivr asterisk start' as root on "
        "Debian, which provisions a Debian sid root with debootstrap and bubblewrap."
    )


def find_or_provision(cache: Path | None = None) -> AsteriskInstall:
    installed = find_installed()
    if installed is not None:
        return installed
    cache = cache or default_cache_dir()
    provisioned = find_provisioned(cache)
    if provisioned is not None:
        ensure_root_python(provisioned)
        return provisioned
    return provision(cache)
