"""Where the last line runs: the launcher Asterisk starts for a call once every FastAGI service has
failed (``ivr.agi.lastline``), and what that process must see.

A classic AGI script runs where Asterisk runs. Asterisk on the host: the host's Python (the one
running ``ivr``), our package on its path. Asterisk in the provisioned sid root: the root's own
python3 with python3-yaml (``ivr.asterisk.provision.ensure_root_python``), and our pure-Python
modules (``ivr`` itself, pyst2, six, structlog) bound in read-only at the same paths, with the
``dialplan/`` and ``sop/`` it reads; ``var/`` is bound already (bytecode is cached under it).
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
from pathlib import Path

import structlog

import ivr
from ivr.asterisk.provision import ROOT_PYTHON, AsteriskInstall, default_cache_dir, find_installed, find_provisioned
from ivr.settings import Settings

log = structlog.get_logger("ivr.asterisk")

# Found by Asterisk in its agi-bin (astagidir): the dialplan names no path.
LAUNCHER = "siaga-lastline"
# What the script imports beyond the standard library and PyYAML (python3-yaml in the root): pure
# Python only, so the host's copies run under the root's Python too. pyst2's module is `asterisk`.
MODULES = ("asterisk", "six", "structlog")


def module_paths() -> list[Path]:
    """Host paths of our package and of the script's pure-Python dependencies (a package's directory,
    a lone module's file). One that is not installed is left out, and said: the script then fails
    and its calls go to the central queue."""
    paths = [Path(ivr.__file__).resolve().parent]
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            log.warning("lastline_module_missing", module=name)
            continue
        origin = Path(spec.origin).resolve()
        paths.append(origin.parent if origin.name == "__init__.py" else origin)
    return paths


def read_only_binds(settings: Settings) -> list[Path]:
    """What a sid root's Asterisk must see, read-only, for the script: the modules and the config.
    Only what exists: bubblewrap refuses to start (and Asterisk with it) on a missing source."""
    wanted = [*module_paths(), settings.root / "dialplan", settings.root / "sop"]
    return [path for path in wanted if path.exists()]


def launcher_path(settings: Settings) -> Path:
    return settings.asterisk_dir / "lib" / "agi-bin" / LAUNCHER


def launcher(settings: Settings, install: AsteriskInstall) -> str:
    """The shell script Asterisk execs (AGI(siaga-lastline,FLOW)): the right Python, the path, the root."""
    python = ROOT_PYTHON if install.rootfs is not None else sys.executable
    search_path = ":".join(dict.fromkeys(str(path.parent) for path in module_paths()))
    cache = settings.var / "lastline" / "pycache"
    return "\n".join(
        [
            "#!/bin/sh",
            "# Rendered by `ivr render`: the last line, a classic AGI script (ivr/agi/lastline.py) that",
            "# Asterisk starts for a call when every FastAGI service has failed. -P: nothing from the",
            "# working directory is imported. Bytecode is cached under var/ whatever the environment says:",
            "# compiling our modules again would cost every call several times its CPU.",
            f"PYTHONPATH={shlex.quote(search_path)} \\",
            f"PYTHONPYCACHEPREFIX={shlex.quote(str(cache))} PYTHONDONTWRITEBYTECODE= \\",
            f'  exec {shlex.quote(python)} -P -m ivr.agi.lastline --root {shlex.quote(str(settings.root))} "$@"',
            "",
        ]
    )


PROBE_TIMEOUT = 30.0


def probe(settings: Settings) -> tuple[bool, str]:
    """Run the rendered launcher as Asterisk would (in its root, with its binds) with ``--probe``:
    (works, what it said). Provisions nothing: no Asterisk found is an answer too."""
    launcher_file = launcher_path(settings)
    if not launcher_file.exists():
        return False, f"{launcher_file} not rendered yet ('ivr render' or 'ivr up' writes it)"
    install = find_installed() or find_provisioned(default_cache_dir())
    if install is None:
        return False, "no Asterisk installed or provisioned yet: nothing to run the script in"
    shell = AsteriskInstall("/bin/sh", "", "", rootfs=install.rootfs)
    argv = shell.command(
        [str(launcher_file), "--probe"], shared_dirs=[settings.var], read_only=read_only_binds(settings)
    )
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    said = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
    try:
        event = json.loads(said[0])
        words = f"python {event['python']}" if done.returncode == 0 else str(event.get("error", said[0]))
    except (ValueError, KeyError, TypeError):
        words = said[0]
    return done.returncode == 0, words
