"""The ``ivr`` command. Wiring only: each subcommand calls into the package."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ivr import logs
from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.asterisk.provision import AsteriskInstall

log = structlog.get_logger("ivr.cli")

# Simulated operators per queue in `ivr up --demo` (IVR_SIM_OPERATORS overrides).
DEMO_SEATS = 2


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(args.root)


def cmd_check(args: argparse.Namespace) -> int:
    from ivr.check import check

    settings = _settings(args)
    result = check(settings.root, settings.sounds_dir)
    for script, paths in sorted(result.paths.items()):
        flow = result.config.flows[script] if result.config else None
        budget = f", emergency budget {flow.emergency_budget:g} s" if flow else ""
        print(
            f"dialplan/{script}.yaml: {len(paths)} paths, worst case from answer to queue"
            f"{budget} (prompt times {result.timing_source}):"
        )
        if any(path.came_back for path in paths):
            print("  (⟲: the caller came back from a non-emergency menu; the time counts from that key)")
        for path in sorted(paths, key=lambda p: (not p.emergency, -p.seconds)):
            kind = "DARURAT" if path.emergency else "       "
            since = f"  [{path.from_answer:.1f} s from answer]" if path.came_back else ""
            print(f"  {path.seconds:5.1f} s  {kind}  {path.language}  {path.describe()}{since}")
    for problem in result.problems:
        print(problem)
    for warning in result.warnings:  # never fatal: the exit code follows the errors alone
        print(warning)
    if result.problems:
        print(f"{len(result.problems)} error(s); nothing was changed", file=sys.stderr)
        return 1
    config = result.config
    assert config is not None
    print(
        f"ok: {len(config.flows)} flow(s), {len(config.sop.agencies)} agencies, "
        f"{len(config.sop.categories)} categories, {len(config.sop.queues)} queues, "
        f"{len(config.sop.operators)} operators"
    )
    print(_last_line(settings))
    return 0


def _last_line(settings: Settings) -> str:
    """The path a call takes when every FastAGI service fails, and whether its script starts (never fatal)."""
    from ivr.asterisk.lastline import probe

    works, said = probe(settings)
    tried = ", ".join(settings.agi_urls)
    if works:
        return f"last line: after {tried}, the classic AGI script plays this menu ({said}); then the central queue"
    return (
        f"warning: last line not working ({said}): a call no FastAGI service ({tried}) takes "
        "goes straight to the central queue"
    )


def cmd_passwd(args: argparse.Namespace) -> int:
    from ivr.operators.admin import passwd
    from ivr.store.console import ConsoleStore

    settings = _settings(args)

    def end_sessions(operator: str) -> int:
        # The running service's sweep then takes them out of the queues and revokes their phone.
        sessions = ConsoleStore(settings.console_store_target)
        try:
            return sessions.end_sessions_of(operator)
        finally:
            sessions.close()

    return passwd(
        settings.root,
        settings.passwords_file,
        args.operator,
        stdin=sys.stdin if args.stdin else None,
        show=args.list,
        remove=args.remove,
        end_sessions=end_sessions,
    )


def cmd_schema(args: argparse.Namespace) -> int:
    from ivr.config.schema import SCHEMAS

    if args.out is None:
        print(json.dumps(SCHEMAS, indent=2, ensure_ascii=False))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, schema in SCHEMAS.items():
        (args.out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        print(args.out / f"{name}.schema.json")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from ivr.check import check
    from ivr.flow.simulate import simulate
    from ivr.store.calls import CallStore

    settings = _settings(args)
    result = check(settings.root, settings.sounds_dir)
    if result.config is None:
        for problem in result.problems:
            print(problem)
        return 1
    at = datetime.fromisoformat(args.at) if args.at else datetime.now().astimezone()
    if at.tzinfo is None:
        at = at.replace(tzinfo=result.config.sop.zone())  # a bare time is the regency's local time
    target = settings.store_target
    # A history to simulate with, if there is one: never a new empty SQLite file.
    store = CallStore(target) if not isinstance(target, Path) or target.exists() else None
    try:
        outcome = simulate(
            result.config,
            "".join(args.press),
            script=args.script,
            caller=args.caller,
            at=at,
            sounds_dir=settings.sounds_dir,
            store=store,
            busy=args.busy,
        )
    except KeyError as error:  # an unknown flow or queue named on the command line
        print(f"ivr simulate: {error.args[0]}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(outcome, indent=2, ensure_ascii=False))
        return 0
    print(f"caller {outcome['caller']} at {outcome['at']} pressed '{outcome['pressed'] or '(nothing)'}'")
    if outcome["busy"]:
        print(f"taken as busy (every operator on a call): {', '.join(outcome['busy'])}")
    print(f"nodes: {' → '.join(outcome['nodes'])}")
    for step in outcome["steps"]:
        print(f"  {step['at']:5.1f} s  {step['what']}")
    print(f"category: {outcome['category'] or '(none)'}  ({outcome['exit']})")
    route = outcome["route"]
    limit = f", at most {route['timeout']} s" if route["timeout"] else ""
    print(f"route: {route['action']} {route['target']} (priority {route['priority']}{limit})")
    for reason in route["reason"].split("; "):
        print(f"  because: {reason}")
    print(f"answer → queue: {outcome['seconds']:.1f} s")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from ivr.asterisk.provision import find_or_provision
    from ivr.asterisk.render import render
    from ivr.config import load_config

    settings = _settings(args)
    config = load_config(settings.root)
    install = find_or_provision()
    conf = render(settings, config.sop, install)
    print(f"rendered {conf.parent}")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    from ivr.asterisk.render import runtime_dirs
    from ivr.config import load_config
    from ivr.prompts.build import build_all

    settings = _settings(args)
    config = load_config(settings.root)
    built = build_all(
        config.prompts,
        settings.sounds_dir,
        settings.root / "dialplan" / "recordings",
        runtime_dirs(settings)["moh_dir"],
    )
    for (prompt, language), timing in sorted(built.items()):
        keys = ", ".join(f"{key}@{offset:.1f}s" for key, offset in timing.key_offsets.items())
        print(f"{language}/{prompt}: {timing.seconds:.2f} s ({timing.source}){'  keys ' + keys if keys else ''}")
    return 0


def _render_for_start(settings: Settings, install: AsteriskInstall) -> Path:
    """Render from dialplan/ and sop/; when they do not load (a bad edit), start Asterisk on the last
    good rendering instead: a broken YAML file must never keep the 112 line from coming up."""
    from ivr.asterisk.render import render
    from ivr.config import ConfigError, load_config

    try:
        config = load_config(settings.root)
    except ConfigError as error:
        last_good = settings.asterisk_dir / "etc" / "asterisk.conf"
        if not last_good.exists():
            raise
        log.error(
            "config_invalid_starting_on_last_good_render",
            errors=[str(p) for p in error.problems],
            rendered=str(last_good.parent),
        )
        return last_good
    return render(settings, config.sop, install, config=config)


def _start_asterisk(settings: Settings) -> int:
    from ivr.asterisk.process import start
    from ivr.asterisk.provision import find_or_provision

    install = find_or_provision()
    return start(settings, install, _render_for_start(settings, install))


def cmd_asterisk(args: argparse.Namespace) -> int:
    from ivr.asterisk import process

    settings = _settings(args)
    if args.action == "run":
        from ivr.asterisk.provision import find_or_provision

        install = find_or_provision()
        process.run_foreground(settings, install, _render_for_start(settings, install))
    if args.action == "start":
        pid = _start_asterisk(settings)
        print(
            f"asterisk running (pid {pid}); AMI {settings.ami_address}:{settings.ami_port}, "
            f"SIP {settings.host}:{settings.sip_port}"
        )
        return 0
    if args.action == "stop":
        print("stopped" if process.stop(settings) else "not running")
        return 0
    state = process.status(settings)
    print(state.detail)
    return 0 if state.ready else 3


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run the service on uvloop where installed (1.7x the FastAGI calls/s here, bench/results/agi.md);
    IVR_EVENT_LOOP=asyncio forces the standard loop, which the test suite runs on."""
    factory = None
    if os.environ.get("IVR_EVENT_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def cmd_serve(args: argparse.Namespace) -> int:
    from ivr.app import serve

    run_service(serve(_settings(args)))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from ivr.app import serve
    from ivr.asterisk import process
    from ivr.asterisk.render import load_secrets

    settings = _settings(args)
    if args.demo and not os.environ.get("IVR_SIM_OPERATORS"):
        settings = replace(settings, sim_operators=DEMO_SEATS)
    cmd_prompts(args)
    reused = process.running_pid(settings)
    _start_asterisk(settings)
    keys = load_secrets(settings, create=False)
    operators = (
        f"{settings.sim_operators} simulated operators per queue (demo), rung only when no person can answer"
        if settings.sim_operators
        else "none simulated: calls wait for a real operator (`ivr up --demo` adds simulated ones)"
    )
    login = "operators log in with the password an admin set (`ivr passwd OPERATOR`)"
    if args.demo:
        login = _demo_login(settings)
    print(
        f"""
Siaga 112 is up.
  console:            http://{settings.service_host}:{settings.web_port}/
                      {login}
                      the browser phone connects to {settings.wss_url} (a self-signed certificate:
                      open https://{settings.host}:{settings.wss_port}/ws once and accept it)
  place a test call:  .venv/bin/ivr call --press 1 2 --hold 60    (darurat, ambulans; it stays on
                      the line 60 s for the console to answer; without --hold it hangs up at the answer)
  SIP phone:          sip:test112@{settings.host}:{settings.sip_port}
                      password {keys.phone_password}, dial 112
  operators:          {operators}
  health:             http://{settings.service_host}:{settings.web_port}/healthz
  Ctrl-C stops everything.
""",
        flush=True,
    )
    try:
        run_service(serve(settings, supervise_asterisk=lambda: _start_asterisk(settings)))
    except KeyboardInterrupt:
        pass
    except Exception as error:
        # Our service failed (port in use, ...): Asterisk keeps answering 112 with the dialplan's
        # fallback (every caller to the central call-takers), so it is left running on purpose.
        pid = process.running_pid(settings)
        print(
            f"ivr up: our service failed: {error!r}\n"
            f"Asterisk (pid {pid}) keeps answering 112 without the menu: every caller goes to the central "
            f"call-takers. Fix the error and run `ivr up` again; `ivr asterisk stop` stops the line.",
            file=sys.stderr,
        )
        return 1
    if reused is None:
        process.stop(settings)
    else:
        print(f"Asterisk (pid {reused}) was already running before `ivr up`: left running", file=sys.stderr)
    return 0


def _demo_login(settings: Settings) -> str:
    """The demo's operator gets a fresh password: the one `ivr call --press 1 2` rings."""
    from ivr.config import load_config
    from ivr.operators import PasswordFile
    from ivr.operators.admin import demo_operator

    operator = demo_operator(load_config(settings.root), "12")
    if operator is None:
        return "no roster operator takes the demo call's queue: add one to sop/operators.yaml"
    password = secrets.token_urlsafe(12)
    PasswordFile(settings.passwords_file).set(operator.id, password)
    return f"demo login: {operator.id} ({operator.name}), password {password}"


def describe_route(route: dict[str, str]) -> str:
    """The dialplan's last route decision (a SiagaRoute event) in words."""
    action = route.get("Action", "")
    if not action:
        return "(no route seen)"
    if action == "fallback":
        return (
            f"fallback to the central call-takers (our service gave no route; AGISTATUS {route.get('AgiStatus', '?')})"
        )
    words = f"{action} {route.get('Target', '?')}"
    if route.get("Category"):
        words += f" for '{route['Category']}'"
    if route.get("QueuePriority"):
        words += f", priority {route['QueuePriority']}"
    timeout = route.get("Timeout")
    words += f", at most {timeout} s before the next step" if timeout else ", no time limit"
    return words


def cmd_call(args: argparse.Namespace) -> int:
    from ivr.ami.client import AmiClient, AmiError
    from ivr.ami.testcall import TEST_CALL_EVENTS, TestCallError, place_call, validate_request
    from ivr.asterisk.render import load_secrets

    settings = _settings(args)
    try:
        validate_request("".join(args.press), args.caller)
    except TestCallError as error:
        print(f"ivr call: {error}", file=sys.stderr)
        return 2
    keys = load_secrets(settings, create=False)

    async def run() -> dict[str, object]:
        # Originate and Hangup: the test-call account (the service's may only manage queue members).
        client = AmiClient(
            settings.ami_address, settings.ami_port, keys.test_ami_user, keys.test_ami_secret, events=TEST_CALL_EVENTS
        )
        await client.connect(timeout=10.0)
        try:
            # --hold: the caller stays on the line (and echoes what it hears) for a person to talk to;
            # without it the test hangs up as soon as someone answers.
            report = await place_call(
                client,
                "".join(args.press),
                caller=args.caller,
                answer_timeout=args.timeout,
                hangup=not args.hold,
                hold=args.hold or None,
                audio="echo" if args.hold else "",
            )
        finally:
            await client.close()
        return report.as_dict()

    try:
        result = asyncio.run(run())
    except AmiError as error:
        print(
            f"ivr call: Asterisk's AMI at {settings.ami_address}:{settings.ami_port} did not answer ({error}); "
            f"is `ivr up` running?",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        route: dict[str, str] = result["route"]  # type: ignore[assignment]
        print(f"caller {result['caller']} pressed '{result['pressed'] or '(nothing)'}'")
        print(f"prompts played: {', '.join(result['prompts']) or '(none)'}")  # type: ignore[arg-type]
        print(f"route: {describe_route(route)}")
        print(f"queue joined: {result['queue'] or '(none)'}")
        if result["answered"]:
            print(f"answered by {result['operator']} after {result['seconds_to_answer']}s")
        else:
            print("no operator answered within the timeout")
    return 0 if result["answered"] else 2


def _common_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options every command takes, before or after the subcommand's name (``ivr --root X check``
    and ``ivr check --root X`` are the same). After the name their defaults are suppressed, so they
    do not overwrite a value given before it."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--root",
        default=default(Path(".")),
        type=Path,
        help="directory holding dialplan/, sop/, asterisk-config/ (default: .)",
    )
    parser.add_argument("--log-level", default=default("info"))
    parser.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default=default("auto"),
        help="auto: readable lines on a terminal, JSON when piped",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description="Siaga 112: the 112 line of Kabupaten Tangerang")
    _common_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        subparser = sub.add_parser(name, help=help_text)
        _common_options(subparser, suppress=True)
        return subparser

    command("check", "validate dialplan/ and sop/, prove and time every path").set_defaults(func=cmd_check)
    simulate = command("simulate", "where a call would go, without Asterisk")
    simulate.add_argument("--press", nargs="*", default=[], help="keys, e.g. --press 1 2")
    simulate.add_argument("--caller", default="081234567890")
    simulate.add_argument("--at", help="ISO time of the call (default: now)")
    simulate.add_argument(
        "--busy",
        nargs="*",
        default=[],
        metavar="QUEUE",
        help="queues whose operators are all on a call (e.g. --busy q-bpbd); other queues: state unknown",
    )
    simulate.add_argument("--script", default="112", help="the flow (dialplan/<script>.yaml)")
    simulate.add_argument("--json", action="store_true")
    simulate.set_defaults(func=cmd_simulate)
    passwd = command("passwd", "set an operator's console password (stored hashed under var/)")
    passwd.add_argument("operator", nargs="?", help="the operator's id in the roster (sop/operators.yaml)")
    passwd_mode = passwd.add_mutually_exclusive_group()
    passwd_mode.add_argument("--stdin", action="store_true", help="read the password from one line of stdin")
    passwd_mode.add_argument("--list", action="store_true", help="which roster operators have a password")
    passwd_mode.add_argument("--remove", action="store_true", help="remove the operator's password")
    passwd.set_defaults(func=cmd_passwd)
    schema = command("schema", "JSON Schema of the YAML files, for editors")
    schema.add_argument("--out", type=Path, help="write <kind>.schema.json files into this directory")
    schema.set_defaults(func=cmd_schema)
    command("render", "write the runtime Asterisk config").set_defaults(func=cmd_render)
    command("prompts", "build prompt audio").set_defaults(func=cmd_prompts)
    asterisk = command("asterisk", "provision and run a real Asterisk")
    asterisk.add_argument(
        "action",
        choices=("start", "stop", "status", "run"),
        help="run: in the foreground, for systemd (docker/systemd/)",
    )
    asterisk.set_defaults(func=cmd_asterisk)
    command("serve", "FastAGI + AMI + web").set_defaults(func=cmd_serve)
    up = command("up", "prompts, render, Asterisk, serve")
    up.add_argument(
        "--demo",
        action="store_true",
        help=f"log {DEMO_SEATS} simulated operators into every queue (never in production)",
    )
    up.set_defaults(func=cmd_up)

    call = command("call", "place a test call through the real Asterisk")
    call.add_argument("--press", nargs="*", default=[], help="keys, e.g. --press 1 2")
    call.add_argument("--caller", default="081234567890")
    call.add_argument("--timeout", type=float, default=60.0)
    call.add_argument(
        "--hold", type=float, default=0.0, help="seconds the caller stays on the line (to answer it at the console)"
    )
    call.add_argument("--json", action="store_true")
    call.set_defaults(func=cmd_call)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level, json={"auto": None, "console": False, "json": True}[args.log_format])
    return int(args.func(args))
