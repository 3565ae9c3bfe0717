"""The composition root: builds every part and runs them in one asyncio process.

``serve`` = FastAGI server + AMI connection + web, until cancelled (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import signal
import time
from collections.abc import Callable
from datetime import datetime

import structlog
from aiohttp import web

from ivr.agi.server import AgiServer
from ivr.ami.agents import Agents
from ivr.ami.callback import call_back
from ivr.ami.client import AmiClient, AmiError
from ivr.ami.dtmf import KeyLedger
from ivr.ami.live import LiveQueues
from ivr.ami.ondemand import OnDemandAmi
from ivr.ami.operators import login_sim_operators
from ivr.ami.service_events import SERVICE_EVENTS
from ivr.asterisk import process
from ivr.asterisk.phones import BrowserPhones, PhoneError, reset_credentials, stop_reloading
from ivr.asterisk.provision import AsteriskUnavailable, find_or_provision
from ivr.asterisk.render import load_secrets, render, runtime_dirs
from ivr.asterisk.supervisor import supervise
from ivr.config import Config
from ivr.config.calendar import calendar_warning
from ivr.config.live import LiveConfig
from ivr.logs import report_slow_shutdown
from ivr.operators import PasswordFile
from ivr.operators.auth import SESSION_IDLE
from ivr.operators.floor import Floor
from ivr.service import CallService
from ivr.settings import Settings
from ivr.store.calls import CallStore
from ivr.store.console import ConsoleStore
from ivr.store.incidents import IncidentStore
from ivr.store.lease import Duty, SingleActive, lease_for
from ivr.store.reconcile import AsteriskRecords
from ivr.store.recordings import Recordings
from ivr.store.spool import SpoolingRecords
from ivr.web.app import Routes, build_web_app
from ivr.web.callbacks import Callbacks
from ivr.web.console import Console
from ivr.web.incidents import Incidents
from ivr.web.metrics import Metrics
from ivr.web.recordings import RecordingsWeb
from ivr.web.reports import Reports
from ivr.web.wallboard import Wallboard

log = structlog.get_logger("ivr.app")

QUEUE_EVENTS = (
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentConnect",
    "AgentComplete",
    "AgentRingNoAnswer",
)


async def serve(settings: Settings, with_ami: bool = True, supervise_asterisk: Callable[[], int] | None = None) -> None:
    """Run until SIGINT/SIGTERM. ``supervise_asterisk`` (``ivr up``): restarts a dead Asterisk with it.

    Parts are closed in the reverse order of their start (one exit stack): the web and FastAGI stop
    taking work first, spooled records are written, AMI and the stores close last.
    """
    config = LiveConfig(settings.root, settings.sounds_dir)
    # Duties that two instances must not both do (the other instance takes them over when this one
    # dies, ivr.store.lease): folding Asterisk's records (two folders racing could leave an older
    # state last), pruning recordings, re-rendering Asterisk's config on an edit and reloading it,
    # restarting a dead Asterisk, and pausing an operator who lets a call ring out (``Floor``).
    # Not wrap-up timers: every instance keeps its own (its consoles count down and end it), both act
    # on the same events, and ending one twice is harmless (``Agents.end_wrapup`` reads Asterisk's state).
    duties: list[Duty] = []
    single = SingleActive(lease_for(settings.store_target, settings.var), duties)
    config.appliers.append(lambda new: apply_config(settings, new) if single.active else None)
    async with contextlib.AsyncExitStack() as parts:
        store = CallStore.open(settings.store_target)
        parts.callback(store.close)
        records = SpoolingRecords(store)
        tasks: set[asyncio.Task[object]] = set()

        ami: AmiClient | None = None
        live: LiveQueues | None = None
        ledger: KeyLedger | None = None
        console: Console | None = None
        behind_console: list[Routes] = []
        if with_ami:
            keys = load_secrets(settings, create=False)
            # Boot state, queue/member events, the callers' keys (dtmf: also those Asterisk drops between
            # two AGI commands) and the dialplan's UserEvents (a requeue that paused a lost phone's seat).
            # Not each call's dialplan steps, variables and AGI commands: those would cost ~13 ms of CPU
            # per call (bench/).
            ami = AmiClient(
                settings.ami_address,
                settings.ami_port,
                keys.ami_user,
                keys.ami_secret,
                events="system,agent,dtmf,user",
                only_events=SERVICE_EVENTS,
            )
            parts.push_async_callback(ami.close)
            if settings.dtmf_ledger:
                ledger = KeyLedger(lambda: ami is not None and ami.ready)
                ami.on("DTMFEnd", ledger.on_dtmf_end)
                ami.on_ready(ledger.on_login)
            for name in QUEUE_EVENTS:
                ami.on(name, _log_queue_event)
            live = LiveQueues(ami)
            parts.push_async_callback(live.close)
            tasks.add(asyncio.create_task(live.audit_forever()))
            if settings.sim_operators > 0:
                _log_in_sim_operators_on_every_login(ami, config, settings.sim_operators, tasks)

        # FastAGI first: every moment before it listens, callers get the dialplan's fallback (no menu).
        # Closed after it: the last calls' records are written before the store closes.
        parts.push_async_callback(records.flush)
        parts.push_async_callback(records.settle)
        service = CallService(
            config.current, settings.sounds_dir, records, live.snapshot if live else lambda: None, keys=ledger
        )
        agi = AgiServer(service.handle, settings.service_host, settings.agi_port)
        await agi.start()
        parts.push_async_callback(agi.close)

        if ami is not None and live is not None:
            incidents = IncidentStore(settings.store_target)
            parts.callback(incidents.close)
            console = await _console(settings, config, ami, live, store, records, incidents, parts, tasks, single)
            behind_console = _behind_console(config, ami, console, store, incidents, agi)
            tasks.add(asyncio.create_task(console.sweep_sessions()))
            try:
                await ami.connect(timeout=10.0)
            except AmiError as error:
                # Calls do not depend on AMI: keep serving FastAGI and let panoramisk reconnect.
                log.warning("ami_not_ready_serving_anyway", error=str(error))

        recordings = Recordings(runtime_dirs(settings)["monitor_dir"])
        if console is not None:
            behind_console.append(RecordingsWeb(recordings, console))
            duties.append(functools.partial(_prune_recordings, recordings, config, console))
        app = build_web_app(
            settings, config, agi, ami, records.health, console, behind_console, [lambda: _disk_alarm(recordings)]
        )
        Metrics(agi, ami, live, store, config.current).routes(app)
        runner = web.AppRunner(app)
        await runner.setup()
        parts.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.service_host, settings.web_port)
        await site.start()
        # What start-up built (configuration, modules, the web app) lives as long as the service: out of
        # the cyclic collector's sight, a full collection in a surge walks only the calls' objects
        # (unfrozen, each serve's one full collection froze the loop for 41-193 ms mid-surge,
        # bench/results/surge.md).
        gc.collect()
        gc.freeze()
        log.info("serving", agi_port=agi.port, web_port=settings.web_port, ami_port=settings.ami_port)

        tasks.add(asyncio.create_task(config.watch()))
        tasks.add(asyncio.create_task(_flush_spool(records)))
        tasks.add(asyncio.create_task(_warn_calendar(config)))
        # A fresh reader at each takeover: it reads Asterisk's files whole (every update is idempotent).
        duties.append(lambda: _reconcile(AsteriskRecords(store, settings.asterisk_dir / "log")))
        if supervise_asterisk is not None:
            duties.append(functools.partial(supervise, settings, supervise_asterisk))
        tasks.add(asyncio.create_task(single.run()))
        parts.push_async_callback(_cancel, tasks)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            log.info("shutting_down")
            report_slow_shutdown()
            # A phone reload retrying in a worker thread (refused while a full reload runs) would hold
            # the process's exit for up to its retry bound.
            stop_reloading()


def _disk_alarm(recordings: Recordings) -> str | None:
    if not recordings.low_disk():
        return None
    return f"recordings_disk_low: {recordings.free_share():.1%} free; new calls go on unrecorded when it is full"


async def _prune_recordings(recordings: Recordings, config: LiveConfig, console: Console) -> None:
    """At start and daily: recordings past the SOP's retention period are deleted, and the audit says which."""
    while True:
        try:
            days = config.current().sop.recording_retention_days
            deleted = await asyncio.to_thread(recordings.prune, days)
            if deleted:
                console.sessions.audit("", "recordings_deleted", {"retention_days": days, "uniqueids": deleted})
                log.info("recordings_deleted", count=len(deleted), retention_days=days)
        except Exception as error:  # a full disk or a locked store: tomorrow's round tries again
            log.error("recordings_prune_failed", error=repr(error))
        await asyncio.sleep(24 * 3600)


async def _cancel(tasks: set[asyncio.Task[object]]) -> None:
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _log_in_sim_operators_on_every_login(
    ami: AmiClient, config: LiveConfig, seats: int, tasks: set[asyncio.Task[object]]
) -> None:
    def log_in_operators() -> None:
        # After every (re)login: a restarted Asterisk has forgotten its dynamic members.
        queues = sorted(config.current().sop.queues)
        task = asyncio.get_running_loop().create_task(login_sim_operators(ami, queues, seats))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    ami.on_ready(log_in_operators)


async def _console(
    settings: Settings,
    config: LiveConfig,
    ami: AmiClient,
    live: LiveQueues,
    store: CallStore,
    records: SpoolingRecords,
    incidents: IncidentStore,
    parts: contextlib.AsyncExitStack,
    tasks: set[asyncio.Task[object]],
    single: SingleActive,
) -> Console:
    """The operators' side: their ACD states in Asterisk, the floor (screen pops, wrap-up), the console."""
    sessions = ConsoleStore(settings.console_store_target)
    parts.callback(sessions.close)
    # Edits of dialplan/ and sop/ (roster included) are made in files, not through the web: the audit
    # log says when each took effect or was refused, beside who did what at the console.
    config.appliers.append(
        lambda new: sessions.audit(
            "", "config_applied", {"categories": len(new.sop.categories), "operators": len(new.sop.operators)}
        )
    )
    config.refusal_listeners.append(lambda problems: sessions.audit("", "config_refused", {"problems": problems[:10]}))
    agents = Agents(ami, live, lambda: config.current().sop.operators, sessions)
    parts.push_async_callback(agents.close)
    # A warm transfer's one action (Bridge) needs `call`, which the session above must not have: an
    # account of its own (asterisk-config/manager.conf says why), logged in only around a transfer,
    # since every logged-in session costs Asterisk CPU on every event of every call (ivr/ami/ondemand.py).
    keys = load_secrets(settings, create=False)
    transfers = OnDemandAmi(
        lambda: AmiClient(
            settings.ami_address, settings.ami_port, keys.transfer_ami_user, keys.transfer_ami_secret, events="system"
        )
    )
    parts.push_async_callback(transfers.close)
    floor = Floor(
        agents,
        live,
        config.current,
        store,
        records.recent,
        sessions,
        incidents.summaries_of_call,
        pauses_ring_outs=lambda: single.active,
        transfers=transfers,
    )
    parts.push_async_callback(floor.close)
    # Browser phones whose console session died with the previous run of the service stop working
    # (in the background: a reload of Asterisk's SIP stack may take seconds).
    tasks.add(asyncio.create_task(_reset_phones(settings, sessions.operators_with_sessions(time.time(), SESSION_IDLE))))
    return Console(floor, sessions, PasswordFile(settings.passwords_file), BrowserPhones(settings))


async def _reset_phones(settings: Settings, alive: set[str]) -> None:
    try:
        await reset_credentials(settings, keep=alive)
    except PhoneError as error:
        log.error("phone_credentials_reset_failed", error=str(error))


def _behind_console(
    config: LiveConfig, ami: AmiClient, console: Console, store: CallStore, incidents: IncidentStore, agi: AgiServer
) -> list[Routes]:
    """The rest of the center's web, under the console's login: incidents, callbacks, reports, wallboard."""
    return [
        Incidents(incidents, console),
        Callbacks(store, incidents, console, lambda operator, number: call_back(ami, operator, number)),
        Reports(console, store, config.current),
        Wallboard(console, agi, store),
    ]


async def _warn_calendar(config: LiveConfig, interval: float = 24 * 3600) -> None:
    """Once a day: the holiday list must cover the next weeks, or agencies count as open on holidays."""
    while True:
        sop = config.current().sop
        gap = calendar_warning(sop, datetime.now(sop.zone()).date())
        if gap is not None:
            log.warning("holiday_calendar_runs_out", detail=str(gap))
        await asyncio.sleep(interval)


async def _flush_spool(records: SpoolingRecords, interval: float = 5.0) -> None:
    """Records spooled during a store outage are written as soon as the store works again."""
    while True:
        await asyncio.sleep(interval)
        if records.health().spooled:
            await records.settle()
        await records.flush()


async def _reconcile(asterisk_records: AsteriskRecords, interval: float = 2.0) -> None:
    """Fold Asterisk's own records (queue_log, CDR) into the store: queue outcomes, unseen calls."""
    while True:
        try:
            await asyncio.to_thread(asterisk_records.sync)
        except Exception as error:  # a store or file fault: log it, read everything again next round
            log.error("asterisk_records_sync_failed", error=repr(error))
            asterisk_records.reread()
        await asyncio.sleep(interval)


def apply_config(settings: Settings, config: Config) -> None:
    """A changed configuration reaches the running Asterisk: queues (from the SOP) and the session
    bound (from the flows) re-rendered from the checked config, then a reload that keeps calls."""
    try:
        install = find_or_provision()
    except AsteriskUnavailable as error:
        log.error("config_not_applied_to_asterisk", error=str(error))
        return
    render(settings, config.sop, install, config=config)
    if not process.reload(settings):
        log.warning("config_rendered_asterisk_not_running")


def _log_queue_event(fields: dict[str, str]) -> None:
    log.info(
        "queue_event",
        ami_event=fields.get("Event"),
        queue=fields.get("Queue"),
        uniqueid=fields.get("Uniqueid"),
        linkedid=fields.get("Linkedid"),
        member=fields.get("MemberName"),
    )
