"""What one 112 call does in our service: run its flow, decide its route, hand the route back.

The route goes back to the dialplan as channel variables; IVR_ACTION is set last, so a session that
dies half way leaves it empty and the dialplan queues the caller centrally on its own. Every call
is recorded, including one whose caller hung up during the menu.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from ivr.agi.channel import AgiChannel
from ivr.agi.server import AgiSession, ChannelHungUp
from ivr.config import Config
from ivr.flow.engine import FlowEngine
from ivr.routing.decide import Decision, decide
from ivr.store.calls import CallStore, IvrRecord

log = structlog.get_logger("ivr.service")


class CallService:
    def __init__(self, config: Callable[[], Config], sounds_dir: Path, store: CallStore | None = None) -> None:
        self._config = config
        self.sounds_dir = sounds_dir
        self.store = store

    async def handle(self, session: AgiSession) -> None:
        config = self._config()  # one snapshot for the whole call, even if a reload happens
        script = session.env.script
        flow = config.flow_for(script)
        if flow is None:
            log.warning("agi_unknown_script", known=sorted(config.flows))
            session.summary["route"] = "none (unknown script): dialplan falls back"
            return
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        started = time.monotonic()
        channel = AgiChannel(session, self.sounds_dir, flow.default_language)
        engine = FlowEngine(flow)
        decision: Decision | None = None
        outcome = "failed"
        try:
            result = await engine.run(channel)
            decision = decide(result.category, config.sop)
            session.summary.update(
                category=decision.category, queue=decision.target, priority=decision.priority,
                reason=decision.reason,
            )
            await channel.set_variable("IVR_TARGET", decision.target)
            await channel.set_variable("IVR_PRIORITY", str(decision.priority))
            await channel.set_variable("IVR_CATEGORY", decision.category)
            await channel.set_variable("IVR_FLAGS", " ".join(result.flags))
            await channel.set_variable("IVR_ACTION", decision.action)
            outcome = "routed"
        except ChannelHungUp:
            outcome = "abandoned_in_ivr"
            raise
        finally:
            partial = engine.result
            session.summary.update(
                flow=flow.name, keys=partial.keys, nodes=partial.nodes, language=partial.language,
                exit=partial.exit, flags=partial.flags, failed_prompts=channel.failed_prompts,
                ivr_outcome=outcome,
            )
            if self.store is not None:
                await self.store.record(IvrRecord(
                    uniqueid=session.env.uniqueid, started_at=started_at,
                    caller=session.env.caller_number, caller_name=session.env.caller_name,
                    flow=flow.name, keys=partial.keys, language=partial.language, exit=partial.exit,
                    category=decision.category if decision else partial.category,
                    queue=decision.target if decision else "",
                    priority=decision.priority if decision else 0, outcome=outcome,
                    ivr_seconds=round(time.monotonic() - started, 3), nodes=partial.nodes,
                    flags=partial.flags,
                ))
