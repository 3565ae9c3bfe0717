"""The ``ivr`` command. Wiring only: each subcommand calls into the package."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from ivr import logs
from ivr.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(args.root)


def cmd_check(args: argparse.Namespace) -> int:
    from ivr.check import check

    settings = _settings(args)
    result = check(settings.root, settings.sounds_dir)
    for script, paths in sorted(result.paths.items()):
        flow = result.config.flows[script] if result.config else None
        budget = f", emergency budget {flow.emergency_budget:g} s" if flow else ""
        print(f"dialplan/{script}.yaml: {len(paths)} paths, worst case from answer to queue"
              f"{budget} (prompt times {result.timing_source}):")
        for path in sorted(paths, key=lambda p: (not p.emergency, -p.seconds)):
            kind = "DARURAT" if path.emergency else "       "
            print(f"  {path.seconds:5.1f} s  {kind}  {path.language}  {path.describe()}")
    for problem in result.problems:
        print(problem)
    for warning in result.warnings:  # never fatal: the exit code follows the errors alone
        print(warning)
    if result.problems:
        print(f"{len(result.problems)} error(s); nothing was changed", file=sys.stderr)
        return 1
    config = result.config
    assert config is not None
    print(f"ok: {len(config.flows)} flow(s), {len(config.sop.agencies)} agencies, "
          f"{len(config.sop.categories)} categories, {len(config.sop.queues)} queues")
    return 0


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
    store = CallStore(settings.store_file) if settings.store_file.exists() else None
    outcome = simulate(result.config, "".join(args.press), script=args.script, caller=args.caller, at=at,
                       sounds_dir=settings.sounds_dir, store=store)
    if args.json:
        print(json.dumps(outcome, indent=2, ensure_ascii=False))
        return 0
    print(f"caller {outcome['caller']} at {outcome['at']} pressed '{outcome['pressed'] or '(nothing)'}'")
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
    built = build_all(config.prompts, settings.sounds_dir, settings.root / "dialplan" / "recordings",
                      runtime_dirs(settings)["moh_dir"])
    for (prompt, language), timing in sorted(built.items()):
        keys = ", ".join(f"{key}@{offset:.1f}s" for key, offset in timing.key_offsets.items())
        print(f"{language}/{prompt}: {timing.seconds:.2f} s ({timing.source}){'  keys ' + keys if keys else ''}")
    return 0


def _start_asterisk(settings: Settings) -> int:
    from ivr.asterisk.process import start
    from ivr.asterisk.provision import find_or_provision
    from ivr.asterisk.render import render
    from ivr.config import load_config

    config = load_config(settings.root)
    install = find_or_provision()
    conf = render(settings, config.sop, install)
    return start(settings, install, conf)


def cmd_asterisk(args: argparse.Namespace) -> int:
    from ivr.asterisk import process

    settings = _settings(args)
    if args.action == "start":
        pid = _start_asterisk(settings)
        print(f"asterisk running (pid {pid}); AMI {settings.host}:{settings.ami_port}, "
              f"SIP {settings.host}:{settings.sip_port}")
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
    cmd_prompts(args)
    _start_asterisk(settings)
    keys = load_secrets(settings, create=False)
    print(f"""
Siaga 112 is up.
  place a test call:  .venv/bin/ivr call --press 1 2    (darurat, ambulans; add --json for JSON)
  SIP phone:          sip:test112@{settings.host}:{settings.sip_port}
                      password {keys.phone_password}, dial 112
  web:                http://{settings.host}:{settings.web_port}/healthz
  Ctrl-C stops everything.
""", flush=True)
    try:
        run_service(serve(settings))
    except KeyboardInterrupt:
        pass
    finally:
        process.stop(settings)
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from ivr.ami.client import AmiClient
    from ivr.ami.testcall import place_call
    from ivr.asterisk.render import load_secrets

    settings = _settings(args)
    keys = load_secrets(settings, create=False)

    async def run() -> dict[str, object]:
        client = AmiClient(settings.host, settings.ami_port, keys.ami_user, keys.ami_secret)
        await client.connect(timeout=10.0)
        try:
            report = await place_call(client, "".join(args.press), caller=args.caller,
                                      answer_timeout=args.timeout)
        finally:
            await client.close()
        return report.as_dict()

    result = asyncio.run(run())
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        route = result["route"]
        print(f"caller {result['caller']} pressed '{result['pressed'] or '(nothing)'}'")
        print(f"prompts played: {', '.join(result['prompts']) or '(none)'}")  # type: ignore[arg-type]
        print(f"route: {route}")
        print(f"queue joined: {result['queue'] or '(none)'}")
        if result["answered"]:
            print(f"answered by {result['operator']} after {result['seconds_to_answer']}s")
        else:
            print("no operator answered within the timeout")
    return 0 if result["answered"] else 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description="Siaga 112: the 112 line of Kabupaten Tangerang")
    parser.add_argument("--root", default=".", type=Path,
                        help="directory holding dialplan/, sop/, asterisk-config/ (default: .)")
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("check", help="validate dialplan/ and sop/, prove and time every path").set_defaults(
        func=cmd_check)
    simulate = sub.add_parser("simulate", help="where a call would go, without Asterisk")
    simulate.add_argument("--press", nargs="*", default=[], help="keys, e.g. --press 1 2")
    simulate.add_argument("--caller", default="081234567890")
    simulate.add_argument("--at", help="ISO time of the call (default: now)")
    simulate.add_argument("--script", default="112", help="the flow (dialplan/<script>.yaml)")
    simulate.add_argument("--json", action="store_true")
    simulate.set_defaults(func=cmd_simulate)
    schema = sub.add_parser("schema", help="JSON Schema of the YAML files, for editors")
    schema.add_argument("--out", type=Path, help="write <kind>.schema.json files into this directory")
    schema.set_defaults(func=cmd_schema)
    sub.add_parser("render", help="write the runtime Asterisk config").set_defaults(func=cmd_render)
    sub.add_parser("prompts", help="build prompt audio").set_defaults(func=cmd_prompts)
    asterisk = sub.add_parser("asterisk", help="provision and run a real Asterisk")
    asterisk.add_argument("action", choices=("start", "stop", "status"))
    asterisk.set_defaults(func=cmd_asterisk)
    sub.add_parser("serve", help="FastAGI + AMI + web").set_defaults(func=cmd_serve)
    sub.add_parser("up", help="prompts, render, Asterisk, serve").set_defaults(func=cmd_up)

    call = sub.add_parser("call", help="place a test call through the real Asterisk")
    call.add_argument("--press", nargs="*", default=[], help="keys, e.g. --press 1 2")
    call.add_argument("--caller", default="081234567890")
    call.add_argument("--timeout", type=float, default=60.0)
    call.add_argument("--json", action="store_true")
    call.set_defaults(func=cmd_call)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level)
    return int(args.func(args))
