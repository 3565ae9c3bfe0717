"""The last line (ivr/agi/lastline.py) over a fake classic AGI stream: pyst2 reads the environment and
the replies, our flow engine plays the shipped menu, the SOP decides, and the route comes back as the
one IVR_ROUTE; every failure of its own sets no route (the dialplan then queues centrally)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.agi import commands
from ivr.agi.lastline import main
from ivr.asterisk.lastline import launcher, probe, read_only_binds
from ivr.asterisk.provision import ROOT_PYTHON, AsteriskInstall
from ivr.config import load_config
from ivr.routing.route_variable import ROUTE_VARIABLE, split_route
from ivr.settings import Settings
from tests.fakes.classic_agi import AgiPipe, ScriptedAsterisk
from tests.unit.conftest import REPO, given_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The shipped dialplan/ and sop/, and a (silent) sound file for every prompt in every language."""
    given_root(tmp_path, REPO)
    sounds = Settings(root=tmp_path).sounds_dir
    for prompt, texts in load_config(tmp_path).prompts.items():
        for language in texts:
            (sounds / language).mkdir(parents=True, exist_ok=True)
            (sounds / language / f"{prompt}.wav").write_bytes(b"")
    return tmp_path


def given_call(root: Path, asterisk: ScriptedAsterisk) -> int:
    pipe = AgiPipe(asterisk)
    return main(["--root", str(root), "112"], stdin=pipe, stdout=pipe)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]


def prompts(asterisk: ScriptedAsterisk) -> list[str]:
    return ["/".join(c.split('"')[1].split("/")[-2:]) for c in asterisk.commands if c.startswith("STREAM FILE")]


def test_one_one_routes_to_the_fire_queue(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Keys 1 then 1 on the shipped menu: kebakaran, queue q-damkar, set as one IVR_ROUTE; one log line
    with the call's uniqueid says where and what it cost."""
    asterisk = ScriptedAsterisk(keys="11", uniqueid="1700000000.42")
    assert given_call(root, asterisk) == 0
    assert prompts(asterisk) == ["id/menu-utama", "id/menu-darurat"]
    assert list(asterisk.variables) == [ROUTE_VARIABLE]
    route = split_route(asterisk.variables[ROUTE_VARIABLE])
    assert (route["IVR_ACTION"], route["IVR_TARGET"], route["IVR_CATEGORY"]) == ("queue", "q-damkar", "kebakaran")
    [end] = [line for line in log_lines(capsys) if line["event"] == "lastline_call_end"]
    assert (end["uniqueid"], end["queue"], end["keys"]) == ("1700000000.42", "q-damkar", "11")
    assert isinstance(end["cpu_seconds"], float) and end["cpu_seconds"] > 0


def test_silence_reaches_the_central_queue_as_an_emergency(root: Path) -> None:
    """No key at all: the menu waits and then routes as the flow says for silence (darurat-umum, q112)."""
    asterisk = ScriptedAsterisk(keys="")
    assert given_call(root, asterisk) == 0
    assert any(command.startswith("WAIT FOR DIGIT ") for command in asterisk.commands)
    route = split_route(asterisk.variables[ROUTE_VARIABLE])
    assert (route["IVR_TARGET"], route["IVR_CATEGORY"]) == ("q112", "darurat-umum")


def test_prompt_paths_are_quoted_commands_of_ours(tmp_path: Path) -> None:
    """A root whose path has a space and a quote still plays: the STREAM FILE line is ours, quoted
    (pyst2's own stream_file would split the path at the space)."""
    odd = tmp_path / 'dir "with" space'
    odd.mkdir()
    for name in ("dialplan", "sop"):
        (odd / name).symlink_to(REPO / name)
    sounds = Settings(root=odd).sounds_dir
    for prompt, texts in load_config(odd).prompts.items():
        for language in texts:
            (sounds / language).mkdir(parents=True, exist_ok=True)
            (sounds / language / f"{prompt}.wav").write_bytes(b"")
    asterisk = ScriptedAsterisk(keys="11")
    assert given_call(odd, asterisk) == 0
    assert asterisk.commands[0] == commands.stream_file(f"{sounds}/id/menu-utama", "0123456789*#")
    assert split_route(asterisk.variables[ROUTE_VARIABLE])["IVR_TARGET"] == "q-damkar"


def test_a_prompt_asterisk_cannot_play_is_skipped(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """result=-1 on the first menu's prompt: logged, and the menu still waits for the caller's key."""
    asterisk = ScriptedAsterisk(keys="", unplayable=("id/menu-utama",))
    assert given_call(root, asterisk) == 0
    assert asterisk.commands[1].startswith("WAIT FOR DIGIT ")
    assert any(line["event"] == "prompt_unplayable" for line in log_lines(capsys))
    assert split_route(asterisk.variables[ROUTE_VARIABLE])["IVR_TARGET"] == "q112"


def test_a_missing_prompt_is_not_sent_to_asterisk(root: Path) -> None:
    """A prompt file that is not there is skipped before Asterisk sees it (a STREAM FILE of a missing
    file would leave AGISTATUS=FAILURE and lose the route)."""
    (Settings(root=root).sounds_dir / "id" / "menu-utama.wav").unlink()
    asterisk = ScriptedAsterisk(keys="")
    assert given_call(root, asterisk) == 0
    assert "id/menu-utama" not in prompts(asterisk)
    assert ROUTE_VARIABLE in asterisk.variables


def test_a_caller_who_hangs_up_gets_no_route(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hung up during the first prompt: exit 1, nothing set, logged as a hang-up and not as an error."""
    asterisk = ScriptedAsterisk(keys="11", hang_up_after=0)
    assert given_call(root, asterisk) == 1
    assert asterisk.variables == {}
    events = [line["event"] for line in log_lines(capsys)]
    assert "lastline_caller_hung_up" in events and "lastline_no_route" not in events


def test_a_broken_configuration_sets_no_route(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An SOP edit that does not load (read fresh for this call): no menu, no route, the error with its
    file and line in the log; the dialplan queues the caller centrally."""
    categories = root / "sop" / "categories.yaml"
    categories.write_text(categories.read_text().replace("\ncategories:", "\ncategries:", 1))
    asterisk = ScriptedAsterisk(keys="11")
    assert given_call(root, asterisk) == 1
    assert asterisk.commands == []
    [failed] = [line for line in log_lines(capsys) if line["event"] == "lastline_no_route"]
    assert "sop/categories.yaml:" in str(failed["error"])


def test_asterisk_gone_mid_call_sets_no_route(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """stdin closed after the environment (Asterisk gone, no SIGHUP seen): exit 1, an error logged."""
    asterisk = ScriptedAsterisk(keys="11")
    pipe = AgiPipe(asterisk)
    pipe.write = lambda text: len(text)  # type: ignore[method-assign]  # nothing ever answers
    assert main(["--root", str(root)], stdin=pipe, stdout=pipe) == 1
    assert any(line["event"] == "lastline_no_route" for line in log_lines(capsys))


def test_the_script_imports_neither_the_service_nor_the_web_nor_the_store() -> None:
    """What a Debian python3 with python3-yaml runs: no aiohttp, panoramisk, uvloop, prometheus, store."""
    probe = "import sys, ivr.agi.lastline; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    loaded = set(done.stdout.split())
    assert {"ivr.agi.lastline", "asterisk.agi", "structlog", "yaml"} <= loaded
    forbidden = {"aiohttp", "panoramisk", "uvloop", "prometheus_client", "ivr.store", "ivr.service", "ivr.ami"}
    assert loaded & forbidden == set()


def test_the_launcher_runs_the_roots_python_or_ours(tmp_path: Path) -> None:
    """Inside the sid root: /usr/bin/python3 with our modules' directories on its path; on a host
    Asterisk: this very Python. Either way the root it reads is ours and cwd imports are off (-P)."""
    settings = Settings(root=tmp_path)
    (tmp_path / "dialplan").mkdir()
    in_root = launcher(settings, AsteriskInstall("/usr/sbin/asterisk", "", "", rootfs=tmp_path / "sid"))
    on_host = launcher(settings, AsteriskInstall("/usr/sbin/asterisk", "", ""))
    assert f"exec {ROOT_PYTHON} -P -m ivr.agi.lastline --root {tmp_path} " in in_root
    assert f"exec {sys.executable} -P -m ivr.agi.lastline --root {tmp_path} " in on_host
    binds = read_only_binds(settings)
    assert {tmp_path / "dialplan", REPO / "ivr"} <= set(binds)
    assert tmp_path / "sop" not in binds  # missing: bubblewrap would refuse to start Asterisk
    assert {path.name for path in binds} >= {"asterisk", "structlog", "six.py"}
    path_line = next(line for line in in_root.splitlines() if line.startswith("PYTHONPATH="))
    assert str(REPO) in path_line.split()[0]


def test_read_only_binds_are_passed_to_bubblewrap(tmp_path: Path) -> None:
    """The root's Asterisk sees the script's files read-only, at the same paths."""
    install = AsteriskInstall("/usr/sbin/asterisk", "", "", rootfs=tmp_path)
    argv = install.command(["-V"], shared_dirs=[tmp_path / "var"], read_only=[tmp_path / "sop"])
    assert argv[argv.index("--ro-bind") : argv.index("--ro-bind") + 3] == ["--ro-bind", *[str(tmp_path / "sop")] * 2]
    assert AsteriskInstall("/usr/sbin/asterisk", "", "").command(["-V"], read_only=[tmp_path]) == [
        "/usr/sbin/asterisk",
        "-V",
    ]


def test_the_probe_says_when_nothing_was_rendered(tmp_path: Path) -> None:
    """`ivr check` before `ivr render`: the last line is reported as not there, not as working."""
    works, said = probe(Settings(root=tmp_path))
    assert not works and "not rendered yet" in said


def test_probe_mode_loads_everything_a_call_needs_but_asterisk(root: Path) -> None:
    """`--probe`: 0 when the configuration and the flow load, 1 when the SOP does not or the flow is unknown."""
    assert main(["--root", str(root), "--probe"]) == 0
    assert main(["--root", str(root), "--probe", "no-such-flow"]) == 1
    categories = root / "sop" / "categories.yaml"
    categories.write_text(categories.read_text().replace("\ncategories:", "\ncategries:", 1))
    assert main(["--root", str(root), "--probe"]) == 1
