"""The containers of docker/ as a center runs them: images built with podman, the stack started with
podman-compose, a call placed through the containerised Asterisk to the containerised service and
answered by a queue member, then the stack stopped with nothing left running.

Nothing here skips: a machine where podman cannot run fails this test with the reason.
Slow when cold (debootstrap and apt in the image builds); docker/README.md says what is cached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
# Its own project: its containers and volumes never touch a stack a center runs on this machine.
PROJECT = "siaga112-test"
PROJECT_LABEL = f"label=io.podman.compose.project={PROJECT}"
BUILD_TIMEOUT = 900.0
READY_TIMEOUT = 90.0
# Call records reach the store within seconds (a spool flushed every 5 s, queue_log read every 2 s).
RECORD_TIMEOUT = 30.0
PSQL = ("psql", "-h", "/run/postgresql", "-U", "siaga", "-d", "siaga", "-tA", "-c")


def run(argv: list[str], env: dict[str, str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def compose(env: dict[str, str], *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """docker/compose with the demo's simulated operators, under the test's project name."""
    return run([str(DOCKER / "compose"), "--demo", "-p", PROJECT, *args], env, timeout)


def leftovers(env: dict[str, str]) -> list[str]:
    """The test project's containers and volumes that still exist."""
    containers = run(["podman", "ps", "-a", "--filter", PROJECT_LABEL, "--format", "{{.Names}}"], env).stdout
    volumes = run(["podman", "volume", "ls", "--filter", PROJECT_LABEL, "--format", "{{.Name}}"], env).stdout
    return (containers + volumes).split()


def wait_until_service_ready(health_url: str) -> None:
    """The containerised service answers /healthz with its AMI connection to the containerised Asterisk up."""
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(health_url, timeout=2) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:  # 503: an alarm is raised; the body still tells AMI's state
            body = json.loads(error.read())
        except OSError as error:
            last = repr(error)
            time.sleep(0.5)
            continue
        if body["ami"]["ready"]:
            return
        last = json.dumps(body)
        time.sleep(0.5)
    pytest.fail(f"the service in its container was not ready within {READY_TIMEOUT} s: {last}")


@pytest.fixture(scope="module")
def podman_env() -> dict[str, str]:
    """The environment for podman and docker/compose: free ports for the stack (host networking), and
    this interpreter's directory on PATH for the podman-compose of the test extra."""
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: apt-get install podman runc debootstrap (./siaga test does)")
    ports = (
        "IVR_AGI_PORT",
        "IVR_WEB_PORT",
        "IVR_AMI_PORT",
        "IVR_SIP_PORT",
        "IVR_WSS_PORT",
        "IVR_STANDBY_AGI_PORT",
        "IVR_STANDBY_WEB_PORT",
    )
    return {
        **os.environ,
        **{name: str(free_port()) for name in ports},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }


@pytest.fixture(scope="module")
def stack(podman_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The images built (the base image reused when cached) and the compose stack up; down afterwards,
    with the containers' logs kept for the report of a failure."""
    run([str(DOCKER / "build-images")], podman_env, timeout=BUILD_TIMEOUT)
    try:
        compose(podman_env, "up", "-d")
        wait_until_service_ready(f"http://127.0.0.1:{podman_env['IVR_WEB_PORT']}/healthz")
        wait_until_service_ready(f"http://127.0.0.1:{podman_env['IVR_STANDBY_WEB_PORT']}/healthz")
        yield podman_env
    finally:
        # Shown by pytest only when the test failed.
        for service in ("asterisk", "ivr", "ivr-standby", "postgres"):
            logs = subprocess.run(
                [str(DOCKER / "compose"), "-p", PROJECT, "logs", "--tail", "40", service],
                env=podman_env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(f"--- {service}\n{logs.stdout}{logs.stderr}", file=sys.stderr)
        compose(podman_env, "down", "--volumes")


def test_call_through_the_containers_is_answered_by_a_queue_member(stack: dict[str, str]) -> None:
    """`ivr call --press 1 2` in the service's container: the containerised Asterisk runs the menu on the
    containerised FastAGI server (its prompts are the container's files), queues the caller and a
    queue member answers; the service records it in the containerised PostgreSQL; `down` leaves nothing."""
    call = compose(stack, "exec", "-T", "ivr", "ivr", "call", "--press", "1", "2", "--json", timeout=120)
    report = json.loads(call.stdout)
    prompts = [command for command in report["agi_commands"] if command.startswith("STREAM FILE")]
    assert prompts and all('"/srv/siaga112/var/asterisk/data/sounds/' in command for command in prompts), prompts
    assert report["route"]["Action"] == "queue", report["route"]
    assert report["queue"] == report["route"]["Target"], report
    assert report["answered"], report
    assert report["operator_interface"].startswith("Local/op-"), report

    # The service's store is the containerised PostgreSQL: the call's record, with the queue outcome
    # the service read from Asterisk's queue_log in the shared var volume.
    assert_records(stack, [f"{report['queue']}|answered"])

    # The first service stopped: the dialplan's next FastAGI service, the standby, routes the next
    # caller, and takes over reading Asterisk's records into the same PostgreSQL.
    compose(stack, "stop", "ivr")
    call = compose(stack, "exec", "-T", "ivr-standby", "ivr", "call", "--press", "1", "1", "--json", timeout=120)
    standby = json.loads(call.stdout)
    actions = [route.get("Action") for route in standby["routes"]]
    assert actions == ["agi-failed", "queue"], standby["routes"]
    assert standby["answered"] and standby["queue"] == standby["route"]["Target"], standby
    assert_records(stack, sorted([f"{report['queue']}|answered", f"{standby['queue']}|answered"]))

    compose(stack, "down", "--volumes")
    assert leftovers(stack) == []


def assert_records(stack: dict[str, str], wanted: list[str]) -> None:
    """The calls table holds exactly ``wanted`` (queue|queue_outcome), within RECORD_TIMEOUT."""
    deadline = time.monotonic() + RECORD_TIMEOUT
    rows: list[str] = []
    while time.monotonic() < deadline:
        query = "select queue, queue_outcome from calls order by 1, 2"
        rows = sorted(compose(stack, "exec", "-T", "postgres", *PSQL, query).stdout.split())
        if rows == wanted:
            return
        time.sleep(0.5)
    assert rows == wanted
